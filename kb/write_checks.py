"""SHACL checks of writes: a write (a SPARQL Update, a Graph Store write, a load) is refused
when it would add violations, and the store is never touched to find out. Only the nodes a
write can affect are validated, before and after it, each with its neighbourhood (an overlay
over the store, or an in-memory copy of it). The shapes and pySHACL's runs are
``kb.validate``'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyoxigraph as ox
from rdflib import RDF, RDFS, Graph

from kb.bundled import SHAPES_FILE
from kb.errors import ValidationFailed
from kb.formats import EXTENSIONS
from kb.namespaces import INFERRED_GRAPH
from kb.terms import to_rdflib
from kb.validate import Problem, Shapes, ValidationReport, load_shapes, validate, validate_store


def refuse_nonconforming_write(kb, apply: Callable[[ox.Store], None], *,
                               shapes: Path = SHAPES_FILE, whole: bool = False) -> None:
    """Raise ValidationFailed, with the SHACL report, if ``apply`` (a write, given a store)
    would add violations to ``kb``'s asserted graphs (those the data already has do not
    block other writes). The store itself is not touched: ``apply`` runs on an in-memory
    copy, and the caller holds ``kb``'s write lock, so the copy is what the write will meet.

    Only the nodes the write can affect are validated (see ``_affected``), before and after
    the write, each with its neighbourhood: past the copy, the cost follows the size of the
    change, not of the store. A change to the class hierarchy, shapes that look further than
    a node's values (see ``load_shapes``), or ``whole`` validate the whole store instead.
    """
    from kb.engine import run_in_engine_thread

    rules = load_shapes(shapes)
    change = run_in_engine_thread(_write_on_copy, kb.backend, apply, rules, whole)
    if change is None:
        return  # nothing asserted changed
    _refuse_added(*change, shapes=shapes)


def _refuse_added(before_graph: Graph, after_graph: Graph, focus: NodeSet | None, *,
                  shapes: Path) -> None:
    """Raise ValidationFailed if ``after_graph`` has violations (on ``focus`` nodes, or any)
    that ``before_graph`` has not."""
    after = validate(after_graph, shapes=shapes)
    before = validate(before_graph, shapes=shapes)
    keep = None if focus is None else {node.value for node in focus}

    def violations(report: ValidationReport) -> list[Problem]:
        return [p for p in report.problems if p.severity == "Violation"
                and (keep is None or p.focus in keep)]

    known = {_key(p) for p in violations(before)}
    added = [p for p in violations(after) if _key(p) not in known]
    if added:
        shown = "\n".join(str(p) for p in added[:20])
        more = f"\n… and {len(added) - 20} more" if len(added) > 20 else ""
        raise ValidationFailed(
            f"The write was refused: it would break {len(added)} SHACL constraint(s); "
            f"nothing changed.\n{shown}{more}", report_text=after.text,
            report=[{"focus": p.focus, "path": p.path, "message": p.message} for p in added])


def refuse_nonconforming_quads(kb, quads: list[ox.Quad], *, before: str | None = None,
                               shapes: Path = SHAPES_FILE) -> None:
    """``refuse_nonconforming_write`` for a write that adds ``quads`` after the update
    ``before``. When ``before`` is None or drops one graph (a Graph Store PUT, a graph
    replaced) and the store is local, the change is known without running it: the store is
    not copied, and validation reads it through the change (see ``_Overlay``)."""
    from kb.engine import run_in_engine_thread

    def apply(store: ox.Store) -> None:
        if before:
            store.update(before)
        store.extend(quads)

    from kb.backends import OxigraphBackend

    dropped = re.fullmatch(r"DROP SILENT GRAPH <([^>]*)>", before.strip()) if before else None
    rules = load_shapes(shapes)
    change: object = "copy"
    if (before is None or dropped) and isinstance(kb.backend, OxigraphBackend) and rules.local:
        change = run_in_engine_thread(_write_through_overlay, kb.backend.store, quads,
                                      dropped.group(1) if dropped else None, rules)
    if change == "copy":
        refuse_nonconforming_write(kb, apply, shapes=shapes)
    elif change is not None:
        _refuse_added(*change, shapes=shapes)  # type: ignore[misc]


class _Overlay:
    """A store as it will be after a write: ``store`` without ``removed``, with ``added``
    (quads it does not hold yet); only ``quads_for_pattern`` on subject, predicate and
    object, enough for ``_affected`` and ``_neighbourhood``."""

    def __init__(self, store: ox.Store, removed: set[ox.Quad], added: list[ox.Quad]) -> None:
        self.store, self.removed, self.added = store, removed, added
        self.by_subject: dict[object, list[ox.Quad]] = {}
        self.by_object: dict[object, list[ox.Quad]] = {}
        for q in added:
            self.by_subject.setdefault(q.subject, []).append(q)
            self.by_object.setdefault(q.object, []).append(q)

    def quads_for_pattern(self, subject=None, predicate=None, object=None) -> Iterator[ox.Quad]:
        for q in self.store.quads_for_pattern(subject, predicate, object):
            if q not in self.removed:
                yield q
        if subject is not None:
            candidates = self.by_subject.get(subject, [])
        elif object is not None:
            candidates = self.by_object.get(object, [])
        else:
            candidates = self.added
        for q in candidates:
            if ((predicate is None or q.predicate == predicate)
                    and (object is None or q.object == object)):
                yield q


def _write_through_overlay(store: ox.Store, quads: list[ox.Quad],
                           graph: str | Iterable[str] | None, rules: Shapes):
    """What to validate for a write that drops ``graph`` (if any: one or several) and adds
    ``quads``: ``(before, after, focus)`` for ``_refuse_added``, None when nothing asserted
    changes, or ``"copy"`` when the change needs the whole store validated (engine
    thread)."""
    new = set(quads)
    removed: set[ox.Quad] = set()
    for g in [graph] if isinstance(graph, str) else graph or ():
        removed.update(q for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g))
                       if q not in new)
    added = [q for q in new if q not in store]
    changed = [q for q in (*removed, *added) if _asserted_graph(q.graph_name)]
    if not changed:
        return None
    if any(q.predicate == _SUBCLASS for q in changed):
        return "copy"
    after = _Overlay(store, removed, added)
    focus = _affected(changed, (store, after), rules)  # type: ignore[arg-type]
    return (_neighbourhood(store, focus, rules),
            _neighbourhood(after, focus, rules), focus)  # type: ignore[arg-type]


def _key(problem: Problem) -> tuple[str, str | None, str]:
    return (problem.focus, problem.path, problem.message)


_NQ = ox.RdfFormat.N_QUADS
_TYPE = ox.NamedNode(str(RDF.type))
_SUBCLASS = ox.NamedNode(str(RDFS.subClassOf))
NodeSet = set[ox.NamedNode | ox.BlankNode]


def _write_on_copy(backend, apply: Callable[[ox.Store], None], rules: Shapes,
                   whole: bool) -> tuple[Graph, Graph, NodeSet | None] | None:
    """Run ``apply`` on an in-memory copy of ``backend`` and return what to validate:
    ``(before, after, focus nodes)``, graphs holding the focus nodes' neighbourhoods, or
    ``(before, after, None)``, the whole asserted graphs; None when no asserted triple
    changed. Runs on the engine thread."""
    from kb.backends import OxigraphBackend

    # local: the whole store, with the union in its default graph that the change keeps
    dumped = (backend.store.dump(format=_NQ) if isinstance(backend, OxigraphBackend)
              else backend.dump(None, _NQ, None))
    candidate = ox.Store()
    candidate.bulk_extend(ox.parse(dumped, format=_NQ))  # blank node labels kept
    if not isinstance(backend, OxigraphBackend) and backend.keeps_union:
        candidate.update("INSERT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }")  # the union
    apply(candidate)
    before_lines = set(dumped.splitlines())
    after_lines = set(candidate.dump(format=_NQ).splitlines())
    changed = [q for q in ox.parse(b"\n".join(before_lines ^ after_lines), format=_NQ)
               if _asserted_graph(q.graph_name)]
    if not changed:
        return None
    if isinstance(backend, OxigraphBackend):
        original = backend.store  # read only, under the write lock
    else:
        original = ox.Store()
        original.bulk_extend(ox.parse(dumped, format=_NQ))
    if whole or not rules.local or any(q.predicate == _SUBCLASS for q in changed):
        return _asserted(original), _asserted(candidate), None
    focus = _affected(changed, (original, candidate), rules)
    return (_neighbourhood(original, focus, rules),
            _neighbourhood(candidate, focus, rules), focus)


def _asserted_graph(graph: object) -> bool:
    return isinstance(graph, ox.NamedNode) and graph.value != str(INFERRED_GRAPH)


def _quads(store: ox.Store, subject=None, predicate=None, object=None) -> Iterator[ox.Quad]:
    return (q for q in store.quads_for_pattern(subject, predicate, object)
            if _asserted_graph(q.graph_name))


def _affected(changed: list[ox.Quad], stores: tuple[ox.Store, ...],
              rules: Shapes) -> NodeSet:
    """The nodes whose validation a change can alter, with local shapes (see ``load_shapes``):
    the subjects of the changed triples, their objects where the predicate is one of
    ``sh:targetObjectsOf`` or of an inverse path, and the nodes with a value whose type
    changed (``sh:class``)."""
    nodes: NodeSet = set()
    retyped: NodeSet = set()
    objects_of = rules.objects_of | rules.inverse
    for q in changed:
        nodes.add(q.subject)  # type: ignore[arg-type]
        if q.predicate.value in objects_of and not isinstance(q.object, ox.Literal):
            nodes.add(q.object)  # type: ignore[arg-type]
        if q.predicate == _TYPE:
            retyped.add(q.subject)  # type: ignore[arg-type]
    for store in stores:
        for node in retyped:
            nodes.update(q.subject for q in _quads(store, object=node))  # type: ignore[misc]
    return nodes


def _neighbourhood(store: ox.Store, focus: NodeSet, rules: Shapes) -> Graph:
    """What validating ``focus`` needs to read: the focus nodes' triples, the links into
    them by the predicates of inverse paths, the class hierarchy (for ``sh:targetClass`` and
    ``sh:class``), and the types of their values that ``sh:class`` asks for (other types
    would make the values targets of shapes, validated for nothing)."""
    g = Graph()

    def add(q: ox.Quad) -> None:
        g.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))  # type: ignore[arg-type]

    subclasses: dict[str, set[str]] = {}
    for q in _quads(store, predicate=_SUBCLASS):
        add(q)
        subclasses.setdefault(q.object.value, set()).add(q.subject.value)
    wanted, todo = set(), list(rules.classes)
    while todo:  # the classes sh:class names, and their subclasses
        c = todo.pop()
        if c not in wanted:
            wanted.add(c)
            todo.extend(subclasses.get(c, ()))
    values: NodeSet = set()
    for node in focus:
        for q in _quads(store, subject=node):
            add(q)
            if isinstance(q.object, ox.NamedNode | ox.BlankNode):
                values.add(q.object)
        for predicate in rules.inverse:
            for q in _quads(store, predicate=ox.NamedNode(predicate), object=node):
                add(q)
    for node in values - focus:
        for q in _quads(store, subject=node, predicate=_TYPE):
            if q.object.value in wanted:
                add(q)
    return g


def _asserted(store: ox.Store) -> Graph:
    """The union of ``store``'s named graphs but the ``inferred`` one, as an rdflib graph
    (call on the engine thread)."""
    from kb.backends import query_store
    from kb.engine import result_graph

    graphs = [g.value for g in store.named_graphs() if _asserted_graph(g)]
    if not graphs:
        return Graph()
    return result_graph(query_store(store, "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }",
                              default_graph=graphs))




def refuse_nonconforming(kb, *, shapes: Path = SHAPES_FILE):
    """A ``check`` for ``kb.load``: raises ValidationFailed, naming the shape's message, the
    focus node and the file, if the store with the files loaded (replacing the graphs they
    loaded before) would break a shape on a node the files touch (their subjects, and the
    nodes that ``_affected`` adds).

    Only those nodes are validated, each with its neighbourhood (see
    ``refuse_nonconforming_write``): the cost follows the files, not the store. Violations
    the files do not touch are ``kb validate``'s to report. A remote store, a change to the
    class hierarchy, or shapes that look further than a node's values validate the whole
    store with the files instead, and any violation refuses the files."""
    from kb.backends import OxigraphBackend
    from kb.engine import run_in_engine_thread
    from kb.load_records import file_graph, file_unit, previous_loads

    def parse(paths: list[Path]) -> dict[Path, list[ox.Quad]]:
        out = {}
        for path in paths:
            graph = ox.NamedNode(file_graph(path))
            out[path] = [q if isinstance(q, ox.Quad) and not isinstance(
                q.graph_name, ox.DefaultGraph) else ox.Quad(q.subject, q.predicate, q.object,
                                                              graph)
                         for q in ox.parse(path=path, format=EXTENSIONS.get(
                             path.suffix.lower()), rename_blank_nodes=True)]
        return out

    def check(paths: list[Path]) -> None:
        files = run_in_engine_thread(parse, paths)
        quads = [q for qs in files.values() for q in qs]
        rules = load_shapes(shapes)
        change: object = "copy"
        if isinstance(kb.backend, OxigraphBackend) and rules.local:
            # what kb.load drops first: the graphs the files filled, a triple file's own graph
            previous = previous_loads(kb, [file_unit(p) for p in paths])
            replaced = {g for _, graphs, _ in previous.values() for g in graphs}
            replaced.update(file_graph(p) for p in paths if not getattr(
                EXTENSIONS.get(p.suffix.lower()), "supports_datasets", False))
            change = run_in_engine_thread(_write_through_overlay, kb.backend.store, quads,
                                          sorted(replaced), rules)
        if change is None:
            return  # the asserted triples stay as they are
        if change == "copy":
            extra = Graph()
            for q in quads:
                extra.add((to_rdflib(q.subject), to_rdflib(q.predicate),  # type: ignore[arg-type]
                           to_rdflib(q.object)))
            report = validate_store(kb, extra=extra, shapes=shapes)
            keep = None
        else:
            _, after, focus = change  # type: ignore[misc]
            report = validate(after, shapes=shapes)
            keep = {str(to_rdflib(node)) for node in focus}
        violations = [p for p in report.problems if p.severity == "Violation"
                      and (keep is None or p.focus in keep)]
        if not violations:
            return
        subjects = {path: {str(to_rdflib(q.subject)) for q in qs} for path, qs in files.items()}
        lines = []
        for problem in violations[:20]:
            named = [p.name for p, nodes in subjects.items() if problem.focus in nodes]
            lines.append(f"{', '.join(named or ['store'])}: {problem}")
        more = f"\n… and {len(violations) - 20} more" if len(violations) > 20 else ""
        raise ValidationFailed(
            f"{len(violations)} SHACL violation(s); nothing was loaded:\n"
            + "\n".join(lines) + more, report_text=report.text,
            report=[{"focus": p.focus, "path": p.path, "message": p.message}
                    for p in violations])

    return check
