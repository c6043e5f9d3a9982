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
- :func:`flow_graph` -- trade flows, shipments and reported aggregates apart;
- :func:`statement_graph` -- who said what, about whom, echoing or replying to whom;
- :func:`incident_graph` -- returns and recalls with their products, makers, standards,
  countries and shipments.

Node attributes are ``label`` (English label, else any label, else the IRI's local name),
``types`` (class IRIs) and ``graphs`` (named graphs with a statement about the node); edge
attributes are ``predicate`` (IRI), ``label`` (the predicate's label) and ``graph`` (the
named graph holding the statement). Edges are keyed by predicate IRI.

>>> _local("https://w3id.org/medsupply-kb/ontology#respondsTo")
'respondsTo'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter
from kb.namespaces import ANALYTICS_GRAPH, GRAPH, INFERRED_GRAPH, LOADS_GRAPH, MS, ONTOLOGY_GRAPH

__all__ = [
    "HUBS",
    "LABELS",
    "PROVENANCE",
    "RDF_TYPE",
    "SYSTEM_GRAPHS",
    "WORLD",
    "entity_graph",
    "flow_graph",
    "incident_graph",
    "property_labels",
    "statement_graph",
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

def _cached(kb: Any, key: tuple, compute: Callable[[], object]) -> Any:
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


def _local(iri: str) -> str:
    return iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _stream(kb: Any, sparql: str, handle: Callable[[Any], None], **bindings: Any) -> None:
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

    _stream(kb, f"""SELECT ?p ?l WHERE {{ ?p <{LABELS[0]}> ?l
        FILTER(STRSTARTS(STR(?p), "{MS}") && LANGMATCHES(LANG(?l), "en")) }}""", handle)
    return labels


def _new_node(g: nx.MultiDiGraph, node: str) -> None:
    if node not in g:
        g.add_node(node, label=_local(node), types=[], graphs=[])


# Labels and types of every resource, in one pass (Virtuoso 7 rejects the FILTER inside the
# UNION branch: "sparp_gp_deprecate(): equiv replaces filter").
LABELS_AND_TYPES = f"""SELECT ?s ?k ?v WHERE {{
    {{ ?s <{LABELS[0]}>|<{LABELS[1]}> ?v BIND("label" AS ?k) }}
    UNION {{ ?s a ?v BIND("type" AS ?k) }}
    FILTER(?k = "label" || isIRI(?v)) }}"""


def _add_labels_and_types(kb: Any, g: nx.MultiDiGraph, nodes: Iterable[str] | None = None,
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
            if attrs["label"] == _local(node) or getattr(value, "language", None) == "en":
                attrs["label"] = value.value
        elif value.value not in attrs["types"]:
            attrs["types"].append(value.value)

    if nodes is None:
        _add_all_labels_and_types(kb, g)
        return
    ordered = sorted(nodes)
    for at in range(0, len(ordered), batch):
        values = " ".join(str(ox.NamedNode(n)) for n in ordered[at:at + batch])
        _stream(kb, f"""SELECT ?s ?k ?v WHERE {{ VALUES ?s {{ {values} }}
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
                                      or attrs["label"] == _local(s.value)):
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
    return _cached(kb, key, lambda: _entity_graph(
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
                    label = edge_label[p_iri] = labels.get(p_iri) or _local(p_iri)
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
    _add_labels_and_types(kb, g)
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
    node[iri] = {"label": _local(iri), "types": [], "graphs": []}
    pred[iri] = {}
    out: dict = {}
    succ[iri] = out
    return out


# --- trade flows -----------------------------------------------------------------------------

# Shipments, once each however many sources describe them: per shipment, its ends, product,
# unit (a quantity's unit IRI or a value's currency; unbound when the shipment has no number)
# and one number per unit (a shipment told with different numbers counts once, at the
# largest); then summed per edge. Unknown numbers are counted apart (``?known``), never as 0.
SHIPMENT_TOTALS = f"""PREFIX ms: <{MS}>
PREFIX qudt: <http://qudt.org/schema/qudt/>
PREFIX schema: <https://schema.org/>
SELECT ?kind ?from ?to ?product ?unit (COUNT(?x) AS ?count) (COUNT(?amount) AS ?known)
  (SUM(?amount) AS ?total) (MIN(?first) AS ?start) (MAX(?last) AS ?end)
WHERE {{
  {{ SELECT ?x ?kind ?from ?to ?product ?unit (MAX(?a) AS ?amount) (MIN(?d) AS ?first)
           (MAX(?d) AS ?last) WHERE {{
    {{ ?x a ms:Shipment ; ms:origin ?from ; ms:destination ?to . BIND("shipment" AS ?kind) }}
    UNION
    {{ ?x a ms:Shipment ; ms:manufacturer ?from ; ms:destination ?to .
       BIND("manufacturer" AS ?kind) }}
    OPTIONAL {{ ?x ms:productCategory ?product }}
    OPTIONAL {{ ?x ms:date ?d }}
    OPTIONAL {{
      {{ ?x ms:quantity ?qv . ?qv qudt:numericValue ?a OPTIONAL {{ ?qv qudt:unit ?u }}
         BIND(COALESCE(STR(?u), "") AS ?unit) }}
      UNION
      {{ ?x ms:tradeValue ?mv . ?mv schema:value ?a ; schema:currency ?c BIND(STR(?c) AS ?unit) }}
    }}
  }} GROUP BY ?x ?kind ?from ?to ?product ?unit }}
  {{filters}}
}} GROUP BY ?kind ?from ?to ?product ?unit"""

#: The kind of the edges that carry reported figures (``ms:ExportStatistic``).
FIGURE_KIND = "reported aggregate"


def flow_graph(kb: Any, *, product: str | None = None, start: str | None = None,
               end: str | None = None) -> nx.MultiDiGraph:
    """Trade flows between countries, and from manufacturers to countries.

    Edges are of three kinds, never added to each other:

    - ``"shipment"`` (country -> country) and ``"manufacturer"`` (manufacturer -> country):
      individual ``ms:Shipment`` records, summed per product and unit over distinct
      shipments (a shipment told by several sources counts once); keyed
      ``"{kind}|{product}|{unit}"``;
    - ``"reported aggregate"``: one edge per reported figure (``kb.figures``: one per
      exporter, destination, product, unit and period, chosen among the sources that report
      it, the others in ``alternatives``), to ``WORLD`` when the figure names no
      destination; keyed ``"{kind}|{product}|{unit}|{start}|{end}"``.

    Edge attributes: ``kind``, ``product`` (IRI, ``""`` when none), ``unit`` (a unit IRI or a
    currency code; ``""`` when not given), ``start`` and ``end`` (ISO dates or None: the
    figure's period, or the first and last shipment dates), ``amount`` (the sum of the known
    numbers, or None when none is known: unknown is never 0), ``count`` (shipments, or
    reports of the figure), ``unknown`` (shipments without a number), ``source`` (the
    chosen figure's source document) and ``alternatives`` (the other reports, as dicts).

    Args:
        kb: the knowledge base to read.
        product: only this product category (IRI).
        start: only records dated (shipment date or period start) on or after this ISO date.
        end: only records dated on or before this ISO date. Undated records are kept.

    Returns:
        A ``MultiDiGraph`` of IRIs (cached per store version: do not modify it).
    """
    return _cached(kb, ("flows", product, start, end),
                   lambda: _flow_graph(kb, product, start, end))


def _flow_graph(kb: Any, product: str | None, start: str | None,
                end: str | None) -> nx.MultiDiGraph:
    from kb.figures import figures

    filters, bindings = [], {}
    if product:
        filters.append("FILTER(?product = ?only_product)")
        try:
            bindings["only_product"] = ox.NamedNode(product)
        except ValueError as e:
            raise InvalidParameter("product", f"{product!r} is not an IRI: {e}") from None
    if start:
        filters.append("FILTER(!BOUND(?first) || STR(?first) >= ?from_date)")
        bindings["from_date"] = ox.Literal(start)
    if end:
        filters.append("FILTER(!BOUND(?first) || STR(?first) <= ?to_date)")
        bindings["to_date"] = ox.Literal(end)
    g = nx.MultiDiGraph()

    def handle(row: Any) -> None:
        kind, source, target, prod, unit, count, known, total, first, last = row
        prod_iri = prod.value if prod is not None else ""
        unit_key = unit.value if unit is not None else ""
        _new_node(g, source.value)
        _new_node(g, target.value)
        g.add_edge(source.value, target.value, key=f"{kind.value}|{prod_iri}|{unit_key}",
                   kind=kind.value, product=prod_iri, unit=unit_key,
                   start=first.value if first is not None else None,
                   end=last.value if last is not None else None,
                   amount=float(total.value) if int(known.value) else None,
                   count=int(count.value), unknown=int(count.value) - int(known.value),
                   source=None, alternatives=[])

    _stream(kb, SHIPMENT_TOTALS.replace("{filters}", "\n  ".join(filters)), handle, **bindings)
    for f in figures(kb, product=product, start=start, end=end):
        target = f.destination or WORLD
        _new_node(g, f.origin)
        _new_node(g, target)
        g.add_edge(f.origin, target, key=f"{FIGURE_KIND}|{f.product}|{f.unit}|{f.start}|{f.end}",
                   kind=FIGURE_KIND, product=f.product, unit=f.unit, start=f.start, end=f.end,
                   amount=f.amount, count=1 + len(f.alternatives), unknown=0,
                   source=f.chosen.source, alternatives=[a.as_dict for a in f.alternatives])
    _add_labels_and_types(kb, g, g.nodes)
    return g


# --- statements and incidents --------------------------------------------------------------------

STATEMENT_LINKS = ("speaker", "onBehalfOf", "madeAt", "about", "respondsTo", "echoes")

STATEMENTS = f"""
PREFIX ms: <{MS}>
SELECT DISTINCT ?st ?p ?o ?g ?date ?quotation WHERE {{
  ?st a ms:Statement .
  GRAPH ?g {{ ?st ?p ?o }}
  VALUES ?p {{ {" ".join(f"ms:{p}" for p in STATEMENT_LINKS)} }}
  FILTER(isIRI(?o))
  OPTIONAL {{ ?st ms:date ?date }}
  OPTIONAL {{ ?st ms:quotation ?quotation }}
}}"""


def statement_graph(kb: Any) -> nx.MultiDiGraph:
    """Who said what, about whom, echoing or replying to whom.

    Statements (``ms:Statement``) and what they link to as nodes. Edges: speaker ->
    statement (predicate ``ms:speaker``, label ``"said"``; reversed so that paths read
    person -> statement -> topic), and statement -> x for ``ms:onBehalfOf``, ``ms:madeAt``,
    ``ms:about``, ``ms:respondsTo`` and ``ms:echoes``. Statement nodes also carry ``date``
    and ``quotation`` (literals as attributes; the first found when sources differ); every
    node has ``kind``, the local name of its most specific ``ms:`` class.

    Returns:
        A ``MultiDiGraph`` with the attributes of :func:`entity_graph` (cached per store
        version: do not modify it).
    """
    return _cached(kb, ("statements",), lambda: _statement_graph(kb))


def _statement_graph(kb: Any) -> nx.MultiDiGraph:
    labels = property_labels(kb)
    g = nx.MultiDiGraph()

    def handle(row: Any) -> None:
        st, p, o, graph = row["st"].value, row["p"].value, row["o"].value, row["g"].value
        _new_node(g, st)
        _new_node(g, o)
        attrs = g.nodes[st]
        if graph not in attrs["graphs"]:
            attrs["graphs"].append(graph)
        for name in ("date", "quotation"):
            if row[name] is not None and name not in attrs:
                attrs[name] = row[name].value
        if p == f"{MS}speaker":
            g.add_edge(o, st, key=p, predicate=p, label="said", graph=graph)
        else:
            g.add_edge(st, o, key=p, predicate=p, label=labels.get(p, _local(p)), graph=graph)

    _stream(kb, STATEMENTS, handle)
    _add_labels_and_types(kb, g, g.nodes)
    for _, attrs in g.nodes(data=True):
        attrs["kind"] = _kind(attrs["types"])
    return g


INCIDENT_LINKS = ("actor", "actorCountry", "concerns", "manufacturer", "productCategory",
                  "standardNotMet")
SHIPMENT_LINKS = ("origin", "destination", "manufacturer", "productCategory")

INCIDENTS = f"""
PREFIX ms: <{MS}>
PREFIX rdfs: <{RDFS}>
SELECT DISTINCT ?s ?p ?o ?g ?date ?quantity WHERE {{
  ?i a/rdfs:subClassOf* ms:QualityIncident .
  {{ GRAPH ?g {{ ?i ?p ?o }} BIND(?i AS ?s)
     VALUES ?p {{ {" ".join(f"ms:{p}" for p in INCIDENT_LINKS)} }}
     OPTIONAL {{ ?i ms:date ?day }} OPTIONAL {{ ?i ms:datePrinted ?printed }}
     BIND(COALESCE(STR(?day), STR(?printed)) AS ?date)  # never an invented day
     OPTIONAL {{ ?i ms:affectedQuantity ?quantity }} }}
  UNION
  {{ ?i ms:concerns ?s . GRAPH ?g {{ ?s ?p ?o }}
     VALUES ?p {{ {" ".join(f"ms:{p}" for p in SHIPMENT_LINKS)} }} }}
  FILTER(isIRI(?o))
}}"""


def incident_graph(kb: Any) -> nx.MultiDiGraph:
    """Returns, recalls and rejections linked to what they concern.

    Incidents (any subclass of ``ms:QualityIncident``) as nodes with edges to their actor,
    actor country, manufacturer, product category, the standard not met and the shipment
    concerned; those shipments with edges to their origin, destination, manufacturer and
    product category. Incident nodes also carry ``date`` and ``affected_quantity`` (the
    first found when sources differ); every node has ``kind``, the local name of its most
    specific ``ms:`` class (``"Recall"``, ``"Return"``, ``"Shipment"``, ``"Country"``…).

    Returns:
        A ``MultiDiGraph`` with the attributes of :func:`entity_graph` (cached per store
        version: do not modify it).
    """
    return _cached(kb, ("incidents",), lambda: _incident_graph(kb))


def _incident_graph(kb: Any) -> nx.MultiDiGraph:
    labels = property_labels(kb)
    g = nx.MultiDiGraph()

    def handle(row: Any) -> None:
        s, p, o, graph = row["s"].value, row["p"].value, row["o"].value, row["g"].value
        _new_node(g, s)
        _new_node(g, o)
        attrs = g.nodes[s]
        if graph not in attrs["graphs"]:
            attrs["graphs"].append(graph)
        if row["date"] is not None and "date" not in attrs:
            attrs["date"] = row["date"].value
        if row["quantity"] is not None and "affected_quantity" not in attrs:
            attrs["affected_quantity"] = float(row["quantity"].value)
        if not g.has_edge(s, o, key=p):
            g.add_edge(s, o, key=p, predicate=p, label=labels.get(p, _local(p)), graph=graph)

    _stream(kb, INCIDENTS, handle)
    _add_labels_and_types(kb, g, g.nodes)
    for _, attrs in g.nodes(data=True):
        attrs["kind"] = _kind(attrs["types"])
    return g


def _kind(types: list[str]) -> str:
    """The local name of the most specific ``ms:`` class among ``types`` ("" if none).

    >>> _kind([MS + "QualityIncident", MS + "Recall"])
    'Recall'
    """
    ours = sorted(t for t in types if t.startswith(MS))
    specific = [t for t in ours if t != f"{MS}QualityIncident"] or ours
    return _local(specific[0]) if specific else ""
