"""SHACL validation with pySHACL: it reads and reports, and never changes the store.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     validate_store(kb).conforms
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import pyshacl
from rdflib import Graph, Namespace, URIRef

from kb.bundled import SHAPES_FILE
from kb.errors import ValidationFailed
from kb.formats import EXTENSIONS
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


def _shapes(shapes: Path) -> Graph:
    return Graph().parse(shapes, format="turtle")


def validate(data: Graph, *, shapes: Path = SHAPES_FILE) -> ValidationReport:
    """Validate an rdflib graph against the shapes. Warnings do not break conformance."""
    conforms, results, text = pyshacl.validate(
        data, shacl_graph=_shapes(shapes), inference="none", allow_warnings=True,
        advanced=True,
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
    from kb.reason import asserted_graphs
    from kb.store import _graph

    graphs = asserted_graphs(kb)
    data = Graph()
    if graphs:
        data = kb.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", _graph, default_graph=graphs)
    if extra is not None:
        data += extra
    return validate(data, shapes=shapes)


def refuse_nonconforming_write(kb, apply: Callable[[ox.Store], None], *,
                               shapes: Path = SHAPES_FILE) -> None:
    """Raise ValidationFailed, with the SHACL report, if ``apply`` (a write, given a store)
    would add violations to ``kb``'s asserted graphs (those the data already has do not
    block other writes). ``apply`` runs on an in-memory copy of the store, which is
    validated whole; the store itself is not touched. The caller holds ``kb``'s write lock,
    so the copy is what the write will meet."""
    candidate = ox.Store()
    candidate.load(kb.dump("nq"), format=ox.RdfFormat.N_QUADS)
    before = _violations(kb, candidate, shapes)

    def write_and_read() -> Graph:
        apply(candidate)
        return _asserted(candidate)

    from kb.store import run_in_engine_thread

    report = validate(run_in_engine_thread(write_and_read), shapes=shapes)
    violations = [p for p in report.problems if p.severity == "Violation"]
    added = [p for p in violations if _key(p) not in before]
    if added:
        shown = "\n".join(str(p) for p in added[:20])
        more = f"\n… and {len(added) - 20} more" if len(added) > 20 else ""
        raise ValidationFailed(
            f"The write was refused: it would break {len(added)} SHACL constraint(s); "
            f"nothing changed.\n{shown}{more}", report_text=report.text,
            report=[{"focus": p.focus, "path": p.path, "message": p.message} for p in added])
    # what the store will hold once the write is done (the generation after it)
    kb._violations = (kb.generation + 1, {_key(p) for p in violations})


def _key(problem: Problem) -> tuple[str, str | None, str]:
    return (problem.focus, problem.path, problem.message)


def _violations(kb, store: ox.Store, shapes: Path) -> set[tuple[str, str | None, str]]:
    """The violations ``store`` (a copy of ``kb``) has, remembered per store generation."""
    cached = getattr(kb, "_violations", None)
    if cached is not None and cached[0] == kb.generation:
        return cached[1]
    from kb.store import run_in_engine_thread

    report = validate(run_in_engine_thread(_asserted, store), shapes=shapes)
    keys = {_key(p) for p in report.problems if p.severity == "Violation"}
    kb._violations = (kb.generation, keys)
    return keys


def _asserted(store: ox.Store) -> Graph:
    """The union of ``store``'s named graphs but the ``inferred`` one, as an rdflib graph
    (call on the engine thread)."""
    from kb.backends import query_store
    from kb.namespaces import INFERRED_GRAPH
    from kb.store import _graph

    graphs = [g.value for g in store.named_graphs()
              if isinstance(g, ox.NamedNode) and g.value != str(INFERRED_GRAPH)]
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


def refuse_nonconforming(kb):
    """A ``check`` for ``kb.load``: validates the files together with the store and raises
    ValidationFailed naming the shape's message, the focus node and the file."""

    def check(paths: list[Path]) -> None:
        graphs = parse_files(paths)
        extra = Graph()
        for g in graphs.values():
            extra += g
        report = validate_store(kb, extra=extra)
        violations = [p for p in report.problems if p.severity == "Violation"]
        if not violations:
            return
        lines = []
        for problem in violations[:20]:
            node = URIRef(problem.focus)
            files = [p.name for p, g in graphs.items() if (node, None, None) in g] or ["store"]
            lines.append(f"{', '.join(files)}: {problem}")
        more = f"\n… and {len(violations) - 20} more" if len(violations) > 20 else ""
        raise ValidationFailed(
            f"{len(violations)} SHACL violation(s); nothing was loaded:\n"
            + "\n".join(lines) + more,
            report_text=report.text,
        )

    return check
