"""Projections of one topic into networkx graphs, built like those of ``kb.projections``
(streamed SPARQL, cached per store version; callers must not modify what they get):

- :func:`flow_graph` -- trade flows, shipments and reported aggregates apart;
- :func:`statement_graph` -- who said what, about whom, echoing or replying to whom;
- :func:`incident_graph` -- returns and recalls with their products, makers, standards,
  countries and shipments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter
from kb.namespaces import MS, local_name
from kb.projections import (
    RDFS,
    WORLD,
    add_labels_and_types,
    cached_projection,
    new_node,
    property_labels,
    stream_rows,
)

__all__ = ["flow_graph", "incident_graph", "statement_graph"]


# --- trade flows -----------------------------------------------------------------------------

# Shipments, once each however many sources describe them: per shipment, its ends, product,
# unit (a quantity's unit IRI, or a value's currency code, the end of its concept's IRI;
# unbound when the shipment has no number) and one number per unit (a shipment told with
# different numbers counts once, at the largest); then summed per edge. Unknown numbers are
# counted apart (``?known``), never as 0.
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
      {{ ?x ms:tradeValue ?mv . ?mv schema:value ?a ; ms:currency ?c
         BIND(REPLACE(STR(?c), "^.*/", "") AS ?unit) }}
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
    return cached_projection(kb, ("flows", product, start, end),
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
        new_node(g, source.value)
        new_node(g, target.value)
        g.add_edge(source.value, target.value, key=f"{kind.value}|{prod_iri}|{unit_key}",
                   kind=kind.value, product=prod_iri, unit=unit_key,
                   start=first.value if first is not None else None,
                   end=last.value if last is not None else None,
                   amount=float(total.value) if int(known.value) else None,
                   count=int(count.value), unknown=int(count.value) - int(known.value),
                   source=None, alternatives=[])

    stream_rows(kb, SHIPMENT_TOTALS.replace("{filters}", "\n  ".join(filters)), handle, **bindings)
    for f in figures(kb, product=product, start=start, end=end):
        target = f.destination or WORLD
        new_node(g, f.origin)
        new_node(g, target)
        g.add_edge(f.origin, target, key=f"{FIGURE_KIND}|{f.product}|{f.unit}|{f.start}|{f.end}",
                   kind=FIGURE_KIND, product=f.product, unit=f.unit, start=f.start, end=f.end,
                   amount=f.amount, count=1 + len(f.alternatives), unknown=0,
                   source=f.chosen.source, alternatives=[a.as_dict for a in f.alternatives])
    add_labels_and_types(kb, g, g.nodes)
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
    return cached_projection(kb, ("statements",), lambda: _statement_graph(kb))


def _statement_graph(kb: Any) -> nx.MultiDiGraph:
    def link(g: nx.MultiDiGraph, st: str, p: str, o: str, graph: str, label: str) -> None:
        if p == f"{MS}speaker":
            g.add_edge(o, st, key=p, predicate=p, label="said", graph=graph)
        else:
            g.add_edge(st, o, key=p, predicate=p, label=label, graph=graph)

    columns = {"date": ("date", str), "quotation": ("quotation", str)}
    return _topic_graph(kb, STATEMENTS, "st", columns, link)


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
    return cached_projection(kb, ("incidents",), lambda: _incident_graph(kb))


def _incident_graph(kb: Any) -> nx.MultiDiGraph:
    def link(g: nx.MultiDiGraph, s: str, p: str, o: str, graph: str, label: str) -> None:
        if not g.has_edge(s, o, key=p):  # the first source graph found names the edge
            g.add_edge(s, o, key=p, predicate=p, label=label, graph=graph)

    columns = {"date": ("date", str), "quantity": ("affected_quantity", float)}
    return _topic_graph(kb, INCIDENTS, "s", columns, link)


Link = Callable[[nx.MultiDiGraph, str, str, str, str, str], None]


def _topic_graph(kb: Any, sparql: str, subject: str,
                 attributes: dict[str, tuple[str, Callable[[str], object]]],
                 link: Link) -> nx.MultiDiGraph:
    """The graph of the rows of ``sparql``: ``?<subject> ?p ?o`` read in ``GRAPH ?g``.

    Both ends become nodes; the subject's node lists the graphs it was read in and takes
    the first value found of each column named in ``attributes`` (column -> attribute
    name, conversion of the literal's text). ``link(g, s, p, o, graph, label)`` draws the
    edge, ``label`` being the property's label. Then every node gets its label, types and
    ``kind``."""
    labels = property_labels(kb)
    g = nx.MultiDiGraph()

    def handle(row: Any) -> None:
        s, p, o, graph = row[subject].value, row["p"].value, row["o"].value, row["g"].value
        new_node(g, s)
        new_node(g, o)
        attrs = g.nodes[s]
        if graph not in attrs["graphs"]:
            attrs["graphs"].append(graph)
        for column, (name, convert) in attributes.items():
            if row[column] is not None and name not in attrs:
                attrs[name] = convert(row[column].value)
        link(g, s, p, o, graph, labels.get(p, local_name(p)))

    stream_rows(kb, sparql, handle)
    add_labels_and_types(kb, g, g.nodes)
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
    return local_name(specific[0]) if specific else ""
