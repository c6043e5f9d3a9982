"""The neighbourhood of one entity: what links to it or from it, a few hops out.

One function for every reader of it: the entity view (``kb.viz.entity_view``, ``/viz/entity``)
draws it and the ego report (``kb.analytics.ego_report``, ``/analytics/ego``, ``kb analytics
ego``) lists its links, so both show the same entities for the same IRI and depth.

The links are those of the entity projection (``kb.projections.entity_graph`` with its
defaults): statements between IRIs in the domain's named graphs, without the store's own
graphs (loads, inferred, analytics, the source catalogue), the ontology, the reference graphs
(every organisation's country, the product scheme), ``rdf:type``, provenance links and links
to unit and scheme hubs, which would join everything to everything.

Pushed down to the store: each hop is one query per 200 nodes (SPARQL 1.2 ``LATERAL`` caps
the links read per node), so a hub with 100,000 links costs what 1,200 do; the links not read
are counted (the node's ``more``).

>>> local_name("https://w3id.org/medsupply-kb/ontology#respondsTo")
'respondsTo'
>>> shorten("a  very\\nlong text", 9)
'a very l…'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter, NotFound, QueryError
from kb.namespaces import GRAPH, ONTOLOGY_GRAPH
from kb.projections import HUBS, LABELS, PROVENANCE, RDF_TYPE, SYSTEM_GRAPHS, property_labels

__all__ = ["DEFAULT_MAX_NODES", "MAX_DEPTH", "local_name", "neighbourhood", "shorten"]

#: The most nodes a view draws at first (and so the most expanded per hop).
DEFAULT_MAX_NODES = 300
MAX_DEPTH = 3
_CHUNK = 200

_OUT = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} LATERAL {{ SELECT ?f ?p ?o ?g "
        "WHERE {{ GRAPH ?g {{ ?f ?p ?o }} {skip} }} LIMIT {k} }} }}")
_IN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} LATERAL {{ SELECT ?f ?p ?o ?g "
       "WHERE {{ GRAPH ?g {{ ?o ?p ?f }} {skip} }} LIMIT {k} }} }}")
#: The same without SPARQL 1.2 LATERAL, for endpoints that lack it: one cap for the chunk.
_OUT_PLAIN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} GRAPH ?g {{ ?f ?p ?o }} "
              "{skip} }} LIMIT {k_all}")
_IN_PLAIN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} GRAPH ?g {{ ?o ?p ?f }} "
             "{skip} }} LIMIT {k_all}")
_COUNT_IN = ("SELECT ?f ?p ?o WHERE {{ {{ SELECT ?f (COUNT(*) AS ?o) WHERE {{ "
             "VALUES ?f {{ {values} }} GRAPH ?g {{ ?o ?p ?f }} {skip} FILTER(isIRI(?o)) }} "
             "GROUP BY ?f }} BIND(\"\" AS ?p) }}")
ATTRIBUTES = ("SELECT ?f ?p ?o WHERE {{ VALUES ?f {{ {values} }} ?f ?p ?o FILTER(?p IN (<"
              + RDF_TYPE + ">, <" + LABELS[0] + ">, <" + LABELS[1] + ">)) }}")


def local_name(iri: str) -> str:
    """The part of an IRI after its last ``#`` or ``/`` (the IRI itself if that is empty)."""
    tail = iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    return tail or iri


def shorten(text: str, n: int = 160) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def term(iri: str, name: str) -> ox.NamedNode:
    """``iri`` as a NamedNode, or InvalidParameter naming the parameter ``name``."""
    try:
        return ox.NamedNode(iri)
    except ValueError as e:
        raise InvalidParameter(name, f"{iri!r} is not an IRI: {e}") from None


def _chunks(nodes: list[str], size: int = _CHUNK) -> Iterable[str]:
    for i in range(0, len(nodes), size):
        yield " ".join(str(ox.NamedNode(n)) for n in nodes[i:i + size])


def rows(kb, template: str, nodes: list[str], **fmt: object) -> list[tuple]:
    """(f, p, o, g) tuples of plain values for ``template`` over ``nodes`` (200 a query);
    ``o`` is an ox term (its kind matters), the others strings."""

    def consume(raw: object) -> list[tuple]:
        with_graph = any(v.value == "g" for v in raw.variables)  # type: ignore[attr-defined]
        return [(s["f"].value, s["p"].value, s["o"], s["g"].value if with_graph else None)
                for s in raw]  # type: ignore[attr-defined]

    out: list[tuple] = []
    for values in _chunks(nodes):
        out += kb.run(template.format(values=values, **fmt), consume)
    return out


def _skip(kb) -> str:
    """The filter of the links left out: the store's own graphs, the ontology, the reference
    graphs, provenance and hub links (what ``entity_graph`` leaves out by default)."""
    graphs = [*SYSTEM_GRAPHS, str(ONTOLOGY_GRAPH),
              *(g for g in kb.graphs() if g.startswith(f"{GRAPH}reference-"))]
    predicates = [*PROVENANCE, *HUBS]
    return ("FILTER(?g NOT IN ({}) && ?p NOT IN ({}))".format(
        ", ".join(f"<{g}>" for g in graphs), ", ".join(f"<{p}>" for p in predicates)))


def neighbourhood(kb, iri: str, depth: int = 1, *,
                  max_nodes: int = DEFAULT_MAX_NODES) -> nx.MultiDiGraph:
    """The entity ``iri`` and what links to it or from it, ``depth`` hops out (directions
    ignored), as a MultiDiGraph in the shape ``kb.viz.render`` takes.

    At most ``max_nodes`` nodes per hop are expanded, most linked first, and ``8 *
    max_nodes`` read in all; the links of a node not read are counted (``more``). rdf:type
    and labels (from any graph) become the attributes ``types`` and ``label``, literals of
    the kept graphs lines of ``tooltip``; ``graphs`` lists the graphs with a statement about
    the node, ``depth`` its distance and ``parent`` the node it was reached from. Edges are
    keyed by (predicate, graph) with ``predicate``, ``label`` and ``graph``.

    Raises:
        InvalidParameter: depth is not 1 to 3, or the IRI is not an IRI.
        NotFound: nothing in the store mentions the IRI.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidParameter("depth", f"must be 1, 2 or {MAX_DEPTH}, not {depth}")
    focus = term(iri, "iri")
    if not kb.ask("ASK { { ?f ?p ?o } UNION { ?s ?p ?f } }", f=focus):  # type: ignore[arg-type]
        raise NotFound(f"Nothing in the knowledge base mentions <{iri}>", iri=iri)
    props = property_labels(kb)
    skip = _skip(kb)
    g = nx.MultiDiGraph()
    g.add_node(iri, depth=0, types=[], graphs=[], tooltip=[], parent=None)
    fetched_in: dict[str, int] = defaultdict(int)
    truncated: set[str] = set()
    max_known = 8 * max_nodes  # nodes read at most, drawn or folded
    frontier = [iri]
    for level in range(1, depth + 1):
        if not frontier:
            break
        k_focus = 4 * max_nodes
        k = k_focus if frontier == [iri] else max(10, min(40, 4 * max_nodes // len(frontier)))
        try:
            out_rows = rows(kb, _OUT, frontier, k=k, skip=skip)
            in_rows = rows(kb, _IN, frontier, k=k, skip=skip)
        except QueryError:
            if kb.is_local:
                raise
            # a remote endpoint without LATERAL: one cap per chunk (a hub may crowd out
            # its neighbours in that chunk; what is left out is still counted)
            k_all = k * min(len(frontier), _CHUNK)
            out_rows = rows(kb, _OUT_PLAIN, frontier, k_all=k_all, skip=skip)
            in_rows = rows(kb, _IN_PLAIN, frontier, k_all=k_all, skip=skip)
        per_node: dict[tuple[str, str], int] = defaultdict(int)
        for f, p, o, gr in out_rows:
            per_node[(f, "out")] += 1
            _attribute(g, f, p, o, gr, props)
            if isinstance(o, ox.NamedNode) and p != RDF_TYPE:
                _link(g, f, p, o.value, gr, props, level, f, max_known)
        for f, p, o, gr in in_rows:
            per_node[(f, "in")] += 1
            if isinstance(o, ox.NamedNode) and p != RDF_TYPE:
                fetched_in[f] += 1
                _link(g, o.value, p, f, gr, props, level, f, max_known)
        truncated.update(f for (f, _), n in per_node.items() if n >= k)
        nxt = [n for n, d in g.nodes(data=True) if d["depth"] == level]
        nxt.sort(key=lambda n: -g.degree(n))
        frontier = nxt[:max_nodes]
    # labels and types, from whichever graph holds them (a country's are in the reference
    # graph the links leave out)
    for f, p, o, gr in rows(kb, ATTRIBUTES, list(g)):
        _attribute(g, f, p, o, gr, props)
    if truncated:
        for f, _, n, _ in rows(kb, _COUNT_IN, sorted(truncated), skip=skip):
            more = int(n.value) - fetched_in.get(f, 0)
            if more > 0 and f in g:
                g.nodes[f]["more"] = more
    for n in g:
        g.nodes[n]["graphs"] = sorted(set(g.nodes[n]["graphs"]))
    g.graph["focus"] = iri
    return g


def _attribute(g: nx.MultiDiGraph, f: str, p: str, o: object, graph: str | None,
               props: dict[str, str]) -> None:
    if f not in g:
        return
    d = g.nodes[f]
    if graph and graph not in d["graphs"]:
        d["graphs"].append(graph)
    if p == RDF_TYPE and isinstance(o, ox.NamedNode):
        if o.value not in d["types"]:
            d["types"].append(o.value)
    elif p in LABELS and isinstance(o, ox.Literal):
        if "label" not in d or (o.language in ("en", None) and not d.get("_label_en")):
            d["label"] = o.value
            d["_label_en"] = o.language == "en"
    elif isinstance(o, ox.Literal) and graph and len(d["tooltip"]) < 8:
        d["tooltip"].append(f"{props.get(p) or local_name(p)}: {shorten(o.value)}")


def _link(g: nx.MultiDiGraph, s: str, p: str, o: str, graph: str | None, props: dict[str, str],
          level: int, reached_from: str, max_known: int) -> None:
    other = o if s == reached_from else s
    if other not in g:
        if g.number_of_nodes() >= max_known:
            g.nodes[reached_from]["more"] = g.nodes[reached_from].get("more", 0) + 1
            return
        g.add_node(other, depth=level, types=[], graphs=[], tooltip=[], parent=reached_from)
    if g.has_edge(s, o, key=(p, graph)):
        return
    g.add_edge(s, o, key=(p, graph), predicate=p, label=props.get(p) or local_name(p), graph=graph)
