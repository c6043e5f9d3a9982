"""SHACL validation with pySHACL: it reads and reports, and never changes the store.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     validate_store(kb).conforms
True
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import pyshacl
from rdflib import RDF, RDFS, Graph, Namespace, URIRef

from kb.bundled import SHAPES_FILE
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


@dataclass(frozen=True)
class Shapes:
    graph: Graph
    local: bool
    advanced: bool  # uses SHACL Advanced Features (rules, SPARQL targets, functions)
    classes: frozenset[str]  # the objects of sh:class
    objects_of: frozenset[str]  # the objects of sh:targetObjectsOf
    inverse: frozenset[str]  # the predicates of sh:inversePath paths (links into a node)


_shapes_cache: dict[Path, tuple[float, Shapes]] = {}
_ADVANCED_CLASSES = (SH.SPARQLFunction, SH.SPARQLTarget, SH.SPARQLTargetType, SH.SPARQLRule,
                     SH.TripleRule, SH.JSFunction, SH.JSTarget, SH.JSRule)
_pyshacl_lock = threading.Lock()


def load_shapes(shapes: Path) -> Shapes:
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
        cached = _shapes_cache[shapes] = (mtime, Shapes(
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
    rules = load_shapes(shapes)
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
    from kb.engine import result_graph
    from kb.reason import asserted_graphs

    graphs = asserted_graphs(kb)
    data = Graph()
    if graphs:
        data = kb.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", result_graph,
                      default_graph=graphs)
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
