"""SHACL validation with pySHACL: it reads and reports, and never changes the store.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     validate_store(kb).conforms
True
"""

from __future__ import annotations

from collections.abc import Iterable
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
