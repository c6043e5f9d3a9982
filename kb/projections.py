"""Projections of the store into networkx graphs, built from SPARQL results.

A projection is never a second store: each one is one or two SPARQL queries whose results
are consumed on the engine thread as they stream (``kb.run(sparql, consume)``), so memory
grows with the projection, not with the store. Nodes are IRIs as ``str``; literals become
node or edge attributes, never nodes; blank nodes (quantities, amounts) are left out.
Every projection is cached per store version (``kb.generation``
and location): a repeated call returns the same object until the data changes, so callers
must not modify what they get (copy it first).

Functions (the names the views and exports use):

- :func:`entity_graph` -- resources and the object properties between them;
- the projections of one topic (trade flows, statements, incidents) are in
  ``kb.topic_graphs``, built with the helpers here.

Node attributes are ``label`` (English label, else any label, else the IRI's local name),
``types`` (class IRIs) and ``graphs`` (named graphs with a statement about the node); edge
attributes are ``predicate`` (IRI), ``label`` (the predicate's label) and ``graph`` (the
named graph holding the statement). Edges are keyed by predicate IRI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx
import pyoxigraph as ox

from kb.namespaces import (
    ANALYTICS_GRAPH,
    GRAPH,
    INFERRED_GRAPH,
    LOADS_GRAPH,
    MS,
    ONTOLOGY_GRAPH,
    local_name,
)

__all__ = [
    "HUBS",
    "LABELS",
    "PROVENANCE",
    "RDF_TYPE",
    "SYSTEM_GRAPHS",
    "WORLD",
    "add_labels_and_types",
    "cached_projection",
    "entity_graph",
    "new_node",
    "property_labels",
    "stream_rows",
]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
LABELS = (f"{RDFS}label", "http://www.w3.org/2004/02/skos/core#prefLabel")
#: Links that say where data came from, not how things relate.
PROVENANCE = ("http://www.w3.org/ns/prov#wasDerivedFrom", "http://purl.org/dc/terms/source",
              "http://www.w3.org/ns/prov#wasAttributedTo", f"{RDFS}isDefinedBy",
              f"{MS}translationOf", f"{MS}mentions")
#: Links to reference-data hubs (concept schemes, units, external matches) that would join
#: everything to everything.
HUBS = ("http://www.w3.org/2004/02/skos/core#inScheme",
        "http://www.w3.org/2004/02/skos/core#topConceptOf",
        "http://www.w3.org/2004/02/skos/core#hasTopConcept", "http://qudt.org/schema/qudt/unit",
        "http://www.w3.org/2004/02/skos/core#exactMatch",
        "http://www.w3.org/2004/02/skos/core#closeMatch")
#: The store's own graphs: load log, reasoning output, analytics results, source catalogue.
SYSTEM_GRAPHS = (str(LOADS_GRAPH), str(INFERRED_GRAPH), str(ANALYTICS_GRAPH), str(GRAPH["sources"]))
#: Where a reported aggregate goes when the figure names no destination.
WORLD = "https://w3id.org/medsupply-kb/id/place/world"

def cached_projection(kb: Any, key: tuple, compute: Callable[[], object]) -> Any:
    """``compute()`` once per store version, in a cache that belongs to ``kb`` (it goes
    with it; another store never sees it). The key holds ``kb.generation`` (bumped on every
    write) read *before* ``compute`` reads the store, so a write meanwhile files the answer
    under the older generation, never a stale one under the newer; an answer finished after
    a newer one was cached neither replaces nor clears it. A remote store's generation
    misses other clients' writes: nothing is cached for it."""
    if not kb.is_local:
        return compute()
    lock, cache = kb.__dict__.setdefault("_projection_cache", (threading.Lock(), {}))
    generation = kb.generation
    full = (generation, *key)
    with lock:
        if full in cache:
            return cache[full]
    value = compute()
    with lock:
        newest = max((k[0] for k in cache), default=generation)
        if generation >= newest:
            for old in [k for k in cache if k[0] < generation]:
                del cache[old]
            if len(cache) >= 64:
                cache.clear()
            cache[full] = value
    return value


def stream_rows(kb: Any, sparql: str, handle: Callable[[Any], None], **bindings: Any) -> None:
    """Run ``sparql`` and call ``handle(solution)`` per row, on the engine thread (the rows
    never leave it; ``handle`` must copy what it keeps as plain values)."""
    def consume(raw: object) -> None:
        for solution in raw:  # type: ignore[attr-defined]
            handle(solution)

    kb.run(sparql, consume, bindings=bindings or None)


def property_labels(kb: Any) -> dict[str, str]:
    """Property IRI -> its English label, from the ontology (``ms:`` terms only)."""
    labels: dict[str, str] = {}

    def handle(row: Any) -> None:
        labels[row["p"].value] = row["l"].value

    stream_rows(kb, f"""SELECT ?p ?l WHERE {{ ?p <{LABELS[0]}> ?l
        FILTER(STRSTARTS(STR(?p), "{MS}") && LANGMATCHES(LANG(?l), "en")) }}""", handle)
    return labels


def new_node(g: nx.MultiDiGraph, node: str) -> None:
    if node not in g:
        g.add_node(node, label=local_name(node), types=[], graphs=[])


# Labels and types of every resource, in one pass (Virtuoso 7 rejects the FILTER inside the
# UNION branch: "sparp_gp_deprecate(): equiv replaces filter").
LABELS_AND_TYPES = f"""SELECT ?s ?k ?v WHERE {{
    {{ ?s <{LABELS[0]}>|<{LABELS[1]}> ?v BIND("label" AS ?k) }}
    UNION {{ ?s a ?v BIND("type" AS ?k) }}
    FILTER(?k = "label" || isIRI(?v)) }}"""


def add_labels_and_types(kb: Any, g: nx.MultiDiGraph, nodes: Iterable[str] | None = None,
                          batch: int = 200) -> None:
    """Fill ``label`` (English preferred) and ``types`` of the nodes of ``g``: one streamed
    pass over the store, or (``nodes`` given) VALUES batches of ``batch`` IRIs."""
    def handle(row: Any) -> None:
        node = row["s"].value
        if node not in g:
            return
        value = row["v"]
        attrs = g.nodes[node]
        if row["k"].value == "label":
            if attrs["label"] == local_name(node) or getattr(value, "language", None) == "en":
                attrs["label"] = value.value
        elif value.value not in attrs["types"]:
            attrs["types"].append(value.value)

    if nodes is None:
        _add_all_labels_and_types(kb, g)
        return
    ordered = sorted(nodes)
    for at in range(0, len(ordered), batch):
        values = " ".join(str(ox.NamedNode(n)) for n in ordered[at:at + batch])
        stream_rows(kb, f"""SELECT ?s ?k ?v WHERE {{ VALUES ?s {{ {values} }}
            {{ ?s <{LABELS[0]}>|<{LABELS[1]}> ?v BIND("label" AS ?k) }}
            UNION {{ ?s a ?v BIND("type" AS ?k) }}
            FILTER(?k = "label" || isIRI(?v)) }}""", handle)


def _add_all_labels_and_types(kb: Any, g: nx.MultiDiGraph) -> None:
    """``_add_labels_and_types`` for every node, in two streamed passes whose rows are
    unpacked positionally (the hot path of a 1M-triple projection)."""
    attrs_of = dict(g.nodes(data=True))

    def labels(raw: object) -> None:
        for s, value in raw:  # type: ignore[attr-defined]
            attrs = attrs_of.get(s.value)
            if attrs is not None and (getattr(value, "language", None) == "en"
                                      or attrs["label"] == local_name(s.value)):
                attrs["label"] = value.value

    def types(raw: object) -> None:
        for s, value in raw:  # type: ignore[attr-defined]
            attrs = attrs_of.get(s.value)
            if attrs is not None and value.value not in attrs["types"]:
                attrs["types"].append(value.value)

    kb.run(f"SELECT ?s ?v WHERE {{ ?s <{LABELS[0]}>|<{LABELS[1]}> ?v }}", labels)
    kb.run("SELECT ?s ?v WHERE { ?s a ?v FILTER(isIRI(?v)) }", types)


# --- the entity graph ---------------------------------------------------------------------------


def entity_graph(
    kb: Any,
    *,
    graphs: list[str] | None = None,
    classes: list[str] | None = None,
    include_types: bool = False,
    include_schema: bool = False,
    include_reference_hubs: bool = False,
    include_provenance: bool = False,
) -> nx.MultiDiGraph:
    """Resources as nodes, object properties as typed, labelled edges.

    One streamed pass over the IRI-to-IRI statements of the named graphs, one over labels
    and types. Literals stay attributes (``label``); blank nodes are left out.

    Args:
        kb: the knowledge base to read. It is not modified.
        graphs: only these named graphs (default: every graph but the store's own ones,
            see ``SYSTEM_GRAPHS``).
        classes: only resources of these classes, and the edges between them.
        include_types: keep ``rdf:type`` edges to classes.
        include_schema: keep the ontology graph's triples.
        include_reference_hubs: keep the reference graphs (``…/graph/reference-*``: every
            organisation's country, the product scheme) and links to unit and scheme hubs
            (``HUBS``), which join everything to everything.
        include_provenance: keep links to source documents (``PROVENANCE``).

    Returns:
        A ``MultiDiGraph`` (cached per store version: do not modify it). Nodes have
        ``label``, ``types`` and ``graphs``; edges are keyed by predicate IRI and have
        ``predicate``, ``label`` and ``graph``.
    """
    key = ("entity", tuple(graphs or ()), tuple(classes or ()), include_types, include_schema,
           include_provenance, include_reference_hubs)
    return cached_projection(kb, key, lambda: _entity_graph(
        kb, graphs, classes, include_types, include_schema, include_provenance,
        include_reference_hubs))


def _entity_graph(kb: Any, graphs: list[str] | None, classes: list[str] | None,
                  include_types: bool, include_schema: bool, include_provenance: bool,
                  include_reference_hubs: bool) -> nx.MultiDiGraph:
    skip_graphs = set(SYSTEM_GRAPHS)
    if not include_schema:
        skip_graphs.add(str(ONTOLOGY_GRAPH))
    skip_predicates = set()
    if not include_types:
        skip_predicates.add(RDF_TYPE)
    if not include_provenance:
        skip_predicates.update(PROVENANCE)
    if not include_reference_hubs:
        skip_predicates.update(HUBS)
        skip_graphs.update(g for g in kb.graphs() if g.startswith(f"{GRAPH}reference-"))
    wanted = set(graphs) if graphs else None
    labels = property_labels(kb)
    g = nx.MultiDiGraph()
    # Filled directly, without add_edge's per-call checks (see _new_node_fast): this loop
    # runs once per row of the store's IRI-to-IRI statements.
    node, succ, pred = g._node, g._succ, g._pred
    node_graphs: dict[str, set[str]] = {}
    named_node = ox.NamedNode
    edge_label: dict[str, str] = {}

    def consume(graph_iri: str) -> Callable[[object], None]:
        def rows(raw: object) -> None:
            for s, p, o in raw:  # type: ignore[attr-defined]
                if type(s) is not named_node:
                    continue
                p_iri = p.value
                if p_iri in skip_predicates:
                    continue
                s_iri, o_iri = s.value, o.value
                out = succ.get(s_iri)
                if out is None:
                    out = _new_node_fast(node, succ, pred, s_iri)
                    node_graphs[s_iri] = {graph_iri}
                else:
                    node_graphs[s_iri].add(graph_iri)
                if o_iri not in succ:
                    _new_node_fast(node, succ, pred, o_iri)
                    node_graphs[o_iri] = set()
                label = edge_label.get(p_iri)
                if label is None:
                    label = edge_label[p_iri] = labels.get(p_iri) or local_name(p_iri)
                keydict = out.get(o_iri)
                if keydict is None:
                    keydict = out[o_iri] = {}
                    pred[o_iri][s_iri] = keydict
                keydict[p_iri] = {"predicate": p_iri, "label": label, "graph": graph_iri}
        return rows

    # One query per graph (a graph's rows need no graph column: a quarter fewer terms to
    # cross into Python), with the predicate filter pushed into SPARQL.
    unwanted = ", ".join(f"<{p}>" for p in sorted(skip_predicates)) or f"<{MS}none>"
    edges = f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(isIRI(?o) && ?p NOT IN ({unwanted})) }}"
    for graph_iri in kb.graphs():
        if graph_iri not in skip_graphs and (wanted is None or graph_iri in wanted):
            kb.run(edges, consume(graph_iri), default_graph=[graph_iri])
    for n, graphs_of_n in node_graphs.items():
        node[n]["graphs"] = sorted(graphs_of_n)
    node_graphs.clear()
    add_labels_and_types(kb, g)
    if classes:
        keep = [n for n, d in g.nodes(data=True) if set(d["types"]) & set(classes)]
        g = g.subgraph(keep).copy()
    return g


def _new_node_fast(node: dict, succ: dict, pred: dict, iri: str) -> dict:
    """Add node ``iri`` to a MultiDiGraph through its adjacency dicts (``g._node``,
    ``g._succ``, ``g._pred``: node -> neighbour -> edge key -> attributes, the key dict shared
    by both directions, the structure networkx documents for subclasses) and return its
    outgoing dict. Building the 1M-triple projection this way instead of with
    ``add_edges_from`` takes a fifth of the time; ``tests/test_analytics.py`` checks the
    result against networkx's own methods."""
    node[iri] = {"label": local_name(iri), "types": [], "graphs": []}
    pred[iri] = {}
    out: dict = {}
    succ[iri] = out
    return out
