"""SHACL validation with pySHACL: it reads and reports, and never changes the store.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     validate_store(kb).conforms
True
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import pyshacl
from rdflib import RDF, RDFS, Graph, Namespace, URIRef

from kb.bundled import SHAPES_FILE
from kb.errors import ValidationFailed
from kb.formats import EXTENSIONS
from kb.namespaces import INFERRED_GRAPH
from kb.terms import to_rdflib

SH = Namespace("http://www.w3.org/ns/shacl#")


@dataclass(frozen=True)
class Problem:
    """One validation result: the node, the property path, and what to fix."""

    focus: str
    path: str | None
    message: str
    severity: str

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"<{self.focus}>{where}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    conforms: bool
    graph: Graph  # the SHACL results graph
    text: str  # pySHACL's report
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _Shapes:
    graph: Graph
    local: bool
    advanced: bool  # uses SHACL Advanced Features (rules, SPARQL targets, functions)
    classes: frozenset[str]  # the objects of sh:class
    objects_of: frozenset[str]  # the objects of sh:targetObjectsOf
    inverse: frozenset[str]  # the predicates of sh:inversePath paths (links into a node)


_shapes_cache: dict[Path, tuple[float, _Shapes]] = {}
_ADVANCED_CLASSES = (SH.SPARQLFunction, SH.SPARQLTarget, SH.SPARQLTargetType, SH.SPARQLRule,
                     SH.TripleRule, SH.JSFunction, SH.JSTarget, SH.JSRule)
_pyshacl_lock = threading.Lock()


def _shapes(shapes: Path) -> _Shapes:
    """The shapes graph (parsed once per file version); whether every shape is *local*: it
    reads a focus node's own triples, the types of its values and the class hierarchy, and
    nothing further, so that validating the nodes a write touches is enough; and the
    classes that ``sh:class`` asks values to have.

    An inverse path of one predicate (``[ sh:inversePath ms:reportsStatistic ]``: is the node
    told by a report?) is local too: the links into a focus node by that predicate are part
    of its neighbourhood, and a changed link makes its object a focus node.

    Not local: other property paths, ``sh:node`` and qualified shapes
    (they read the values' triples), logical constraints on a property shape's values, and
    SPARQL-based targets. SPARQL constraints are taken to read ``$this``'s own triples, as
    those of ontology/shapes.ttl do.
    """
    mtime = shapes.stat().st_mtime
    cached = _shapes_cache.get(shapes)
    if cached is None or cached[0] != mtime:
        g = Graph().parse(shapes, format="turtle")
        inverse = {p: g.value(p, SH.inversePath) for p in g.objects(None, SH.path)
                   if not isinstance(p, URIRef) and len(list(g.predicate_objects(p))) == 1}
        local = (all(isinstance(p, URIRef) or isinstance(inverse.get(p), URIRef)
                     for p in g.objects(None, SH.path))
                 and not any((None, p, None) in g for p in (
                     SH.node, SH.qualifiedValueShape, SH.target))
                 and not any((s, SH.path, None) in g
                             for p in (SH["or"], SH["and"], SH["not"], SH.xone, SH.property)
                             for s in g.subjects(p, None)))
        advanced = (any((None, p, None) in g for p in (SH.rule, SH.target))
                    or any((None, RDF.type, c) in g for c in _ADVANCED_CLASSES))
        classes = frozenset(str(c) for c in g.objects(None, SH["class"]))
        objects_of = frozenset(str(p) for p in g.objects(None, SH.targetObjectsOf))
        cached = _shapes_cache[shapes] = (mtime, _Shapes(
            g, local, advanced, classes, objects_of,
            frozenset(str(p) for p in inverse.values() if isinstance(p, URIRef))))
    return cached[1]


class _DataGraph(Graph):
    """A view of an rdflib graph (same triples, not copied) whose SPARQL queries are parsed
    once per text: pySHACL runs a SPARQL constraint's query for each focus node, with the
    node bound, and rdflib parses the text every time (most of the time of validating the
    bundled data went to the parser)."""

    def __init__(self, data: Graph) -> None:
        super().__init__(store=data.store, identifier=data.identifier,
                         namespace_manager=data.namespace_manager)

    def query(self, query_object, *args, initNs=None, **kwargs):
        if isinstance(query_object, str):
            namespaces = tuple(sorted((str(k), str(v)) for k, v in (
                initNs.items() if initNs else self.namespaces())))
            query_object = _prepared(query_object, namespaces)
        return super().query(query_object, *args, initNs=initNs, **kwargs)


@functools.lru_cache(maxsize=256)
def _prepared(text: str, namespaces: tuple[tuple[str, str], ...]):
    from rdflib.plugins.sparql import prepareQuery

    return prepareQuery(text, initNs=dict(namespaces))


def validate(data: Graph, *, shapes: Path = SHAPES_FILE) -> ValidationReport:
    """Validate an rdflib graph against the shapes. Warnings do not break conformance."""
    rules = _shapes(shapes)
    with _pyshacl_lock:  # pySHACL adds a few triples to the (shared) shapes graph
        # Without advanced features pySHACL validates the graph in place (no copy); with
        # them it copies the data graph first (rules may add triples to it). A dataset is
        # passed as it is (a view would see one of its graphs).
        conforms, results, text = pyshacl.validate(
            _DataGraph(data) if type(data) is Graph else data, shacl_graph=rules.graph,
            inference="none", allow_warnings=True, advanced=rules.advanced,
        )
    problems = []
    for result in results.subjects(SH.resultSeverity, None):
        severity = str(results.value(result, SH.resultSeverity)).rsplit("#", 1)[-1]
        path = results.value(result, SH.resultPath)
        problems.append(Problem(
            focus=str(results.value(result, SH.focusNode)),
            path=str(path) if isinstance(path, URIRef) else None,
            message=str(results.value(result, SH.resultMessage) or "does not conform"),
            severity=severity,
        ))
    problems.sort(key=lambda p: (p.severity != "Violation", p.focus, p.path or ""))
    return ValidationReport(bool(conforms), results, text, problems)


def validate_store(kb, *, shapes: Path = SHAPES_FILE, extra: Graph | None = None) -> ValidationReport:  # noqa: E501
    """Validate the union of the store's asserted graphs (not the ``inferred`` one), plus
    ``extra`` triples (not stored)."""
    from kb.engine import _graph
    from kb.reason import asserted_graphs

    graphs = asserted_graphs(kb)
    data = Graph()
    if graphs:
        data = kb.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", _graph, default_graph=graphs)
    if extra is not None:
        data += extra
    report = validate(data, shapes=shapes)
    missing = facts_without_evidence(kb)
    if not missing:
        return report
    problems = sorted([*report.problems, *missing],
                      key=lambda p: (p.severity != "Violation", p.focus, p.path or ""))
    return ValidationReport(False, report.graph, report.text, problems)


#: The classes of fact nodes that carry evidence in each source graph that states them. An export
#: statistic may instead have it on its reports (ms:StatisticReport, each in its source's graph).
FACT_CLASSES = ("Claim", "Shipment", "QualityIncident", "Statement", "ExportRegulation")


def facts_without_evidence(kb) -> list[Problem]:
    """The fact nodes that lack evidence in a source graph that states them: neither
    ``ms:evidence`` nor ``ms:evidenceUnavailable`` in that graph (the shapes see only the
    union of the graphs, where another source's evidence would hide the gap), and export
    statistics none of whose reports quotes its source."""
    from kb.namespaces import PREFIXES

    ms, gsrc = PREFIXES["ms"], PREFIXES["gsrc"]
    classes = " ".join(f"<{ms}{c}>" for c in FACT_CLASSES)
    rows = kb.select(f"""
        SELECT DISTINCT ?s ?g WHERE {{
          GRAPH ?g {{ ?s ?p ?o }}
          FILTER(STRSTARTS(STR(?g), "{gsrc}"))
          ?s a/<{RDFS.subClassOf}>* ?class . VALUES ?class {{ {classes} }}
          FILTER NOT EXISTS {{ GRAPH ?g {{ ?s <{ms}evidence>|<{ms}evidenceUnavailable> ?e }} }}
          FILTER NOT EXISTS {{ ?s a/<{RDFS.subClassOf}>* <{ms}ExportStatistic> .
                               ?report <{ms}reportsStatistic> ?s ; <{ms}evidence> ?words }}
        }} ORDER BY ?s ?g""")
    return [Problem(focus=str(r["s"]), path=f"{ms}evidence", severity="Violation",
                    message=f"No evidence in the graph <{r['g']}>: give the words of that source "
                            "(ms:evidence \"…\"@en, with ms:evidenceLocator) or why there are none "
                            "(ms:evidenceUnavailable), in that graph.")
            for r in rows]


def refuse_nonconforming_write(kb, apply: Callable[[ox.Store], None], *,
                               shapes: Path = SHAPES_FILE, whole: bool = False) -> None:
    """Raise ValidationFailed, with the SHACL report, if ``apply`` (a write, given a store)
    would add violations to ``kb``'s asserted graphs (those the data already has do not
    block other writes). The store itself is not touched: ``apply`` runs on an in-memory
    copy, and the caller holds ``kb``'s write lock, so the copy is what the write will meet.

    Only the nodes the write can affect are validated (see ``_affected``), before and after
    the write, each with its neighbourhood: past the copy, the cost follows the size of the
    change, not of the store. A change to the class hierarchy, shapes that look further than
    a node's values (see ``_shapes``), or ``whole`` validate the whole store instead.
    """
    from kb.engine import run_in_engine_thread

    rules = _shapes(shapes)
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
    rules = _shapes(shapes)
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
                           graph: str | Iterable[str] | None, rules: _Shapes):
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


def _write_on_copy(backend, apply: Callable[[ox.Store], None], rules: _Shapes,
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
              rules: _Shapes) -> NodeSet:
    """The nodes whose validation a change can alter, with local shapes (see ``_shapes``):
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


def _neighbourhood(store: ox.Store, focus: NodeSet, rules: _Shapes) -> Graph:
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
    from kb.engine import _graph

    graphs = [g.value for g in store.named_graphs() if _asserted_graph(g)]
    if not graphs:
        return Graph()
    return _graph(query_store(store, "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }",
                              default_graph=graphs))


def parse_files(paths: Iterable[Path]) -> dict[Path, Graph]:
    """Each RDF file as an rdflib graph (graphs of TriG files merged), parsed by pyoxigraph."""
    out = {}
    for path in paths:
        g = Graph()
        fmt = EXTENSIONS.get(path.suffix.lower())
        for q in ox.parse(path=path, format=fmt, rename_blank_nodes=True):
            g.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))  # type: ignore[arg-type]
        out[path] = g
    return out


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
    from kb.load import _previous_loads, file_graph, file_unit

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
        rules = _shapes(shapes)
        change: object = "copy"
        if isinstance(kb.backend, OxigraphBackend) and rules.local:
            # what kb.load drops first: the graphs the files filled, a triple file's own graph
            previous = _previous_loads(kb, [file_unit(p) for p in paths])
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
