"""Graph analytics: projections of the store into networkx, and measures on them.

Projections are built from SPARQL results, streamed on the engine thread (memory grows with
the projection, not the store); heavy aggregation (shares, counts) is pushed down to SPARQL.
Results are cached per store version (``kb.generation``), so a repeated call is free until
the data changes.

>>> import networkx as nx
>>> g = nx.MultiDiGraph([("a", "b"), ("b", "c")])
>>> sorted(centrality(g, "degree").items())[0]
('a', 0.5)
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter, NotFound
from kb.namespaces import ANALYTICS_GRAPH, GRAPH, MS, local_name
from kb.neighbourhood import neighbourhood
from kb.projections import (  # noqa: F401 -- re-exported: the projections used to live here
    HUBS,
    LABELS,
    PROVENANCE,
    RDF_TYPE,
    SYSTEM_GRAPHS,
    WORLD,
    XSD,
    cached_projection,
    entity_graph,
    property_labels,
)
from kb.topic_graphs import flow_graph, incident_graph, statement_graph  # noqa: F401

MEASURES = ("degree", "betweenness", "pagerank", "eigenvector")


# --- measures ---------------------------------------------------------------------------------


def centrality(g: nx.Graph, measure: str = "pagerank", *, k: int | None = None,
               seed: int = 42) -> dict[str, float]:
    """Centrality of every node: degree, betweenness (sampled over ``k`` sources when
    given), pagerank or eigenvector (on the undirected simple graph)."""
    if measure not in MEASURES:
        raise InvalidParameter("measure", f"{measure!r} is not one of {', '.join(MEASURES)}")
    if g.number_of_nodes() == 0:
        return {}
    simple = nx.Graph(g.to_undirected())
    if measure == "degree":
        return nx.degree_centrality(simple)
    if measure == "betweenness":
        sample = min(k, simple.number_of_nodes()) if k else None
        return nx.betweenness_centrality(simple, k=sample, seed=seed)
    if measure == "pagerank":
        return nx.pagerank(simple)
    # ARPACK (scipy) first: the power iteration took 220 s on the 1M-triple entity graph.
    # ARPACK needs three nodes or more (scipy warns and falls back below that).
    if simple.number_of_nodes() >= 3:
        try:
            return nx.eigenvector_centrality_numpy(simple)
        except (ImportError, nx.NetworkXException):
            pass
    return nx.eigenvector_centrality(simple, max_iter=1000)


@dataclass(frozen=True)
class Communities:
    communities: list[list[str]]
    modularity: float


def communities(g: nx.Graph, *, seed: int = 42, resolution: float = 1.0) -> Communities:
    """Louvain communities (largest first, each sorted) and their modularity."""
    simple = nx.Graph(g.to_undirected())
    if simple.number_of_nodes() == 0:
        return Communities([], 0.0)
    found = nx.community.louvain_communities(simple, seed=seed, resolution=resolution)
    ordered = sorted((sorted(c) for c in found), key=lambda c: (-len(c), c))
    return Communities(ordered, nx.community.modularity(simple, found))


def components(g: nx.Graph) -> list[list[str]]:
    """Connected components (directions ignored), largest first."""
    return sorted((sorted(c) for c in nx.connected_components(nx.Graph(g.to_undirected()))),
                  key=lambda c: (-len(c), c))


def ego(g: nx.Graph, node: str, radius: int = 1) -> nx.Graph:
    """The neighbourhood of ``node`` within ``radius`` hops (directions ignored)."""
    if node not in g:
        raise NotFound(f"<{node}> is not in the graph", iri=node)
    return nx.ego_graph(g, node, radius=radius, undirected=True)


@dataclass(frozen=True)
class Hop:
    subject: str
    predicate: str
    predicate_label: str
    object: str
    graph: str
    source: str | None  # the source document of that graph

    @property
    def as_dict(self) -> dict[str, str | None]:
        return self.__dict__.copy()


def explain_path(kb, g: nx.MultiDiGraph, source: str, target: str) -> list[Hop]:
    """The most specific path between two entities (directions ignored): the shortest once
    each hop costs the mean degree of its two ends, so that a path runs through the events
    and statements that join two entities rather than through hubs (a country linked to
    every shipment). Each hop comes with its predicate's label and the source document of
    the statement.

    Raises:
        NotFound: an entity is not in the graph, or no path joins them.
    """
    for node in (source, target):
        if node not in g:
            raise NotFound(f"<{node}> is not in the graph", iri=node)
    simple = nx.Graph(g.to_undirected())
    degree = dict(simple.degree())
    try:
        nodes = nx.shortest_path(simple, source, target,
                                 weight=lambda u, v, _: (degree[u] + degree[v]) / 2)
    except nx.NetworkXNoPath:
        raise NotFound(f"No path joins <{source}> and <{target}>", iri=target) from None
    documents = _graph_sources(kb)
    hops = []
    for a, b in itertools.pairwise(nodes):
        if g.has_edge(a, b):
            s, o, data = a, b, next(iter(g.get_edge_data(a, b).values()))
        else:
            s, o, data = b, a, next(iter(g.get_edge_data(b, a).values()))
        hops.append(Hop(s, data["predicate"], data["label"], o, data["graph"],
                        documents.get(data["graph"])))
    return hops


def _graph_sources(kb) -> dict[str, str]:
    rows = kb.select("SELECT ?g ?doc WHERE { ?g <http://www.w3.org/ns/prov#wasDerivedFrom> ?doc "
                     f"FILTER(STRSTARTS(STR(?g), \"{GRAPH}\")) }}")
    return {str(r["g"]): str(r["doc"]) for r in rows}


# --- domain indicators, pushed down to SPARQL ---------------------------------------------------

INDICATORS = {
    # distinct shipments, one number each, summed per unit (counts and values never added);
    # shipments without a number are left out of the sums, not counted as 0
    "exporter-shares": f"""
        PREFIX ms: <{MS}>
        PREFIX qudt: <http://qudt.org/schema/qudt/>
        SELECT ?exporter ?destination ?product ?unit (SUM(?q) AS ?quantity)
               (SUM(?q) / MAX(?total) AS ?share) WHERE {{
          {{ SELECT ?exporter ?product ?unit (SUM(?q2) AS ?total) WHERE {{
               {{ SELECT ?x2 ?exporter ?product ?unit (MAX(?v2) AS ?q2) WHERE {{
                 ?x2 a ms:Shipment ; ms:origin ?exporter ; ms:productCategory ?product ;
                     ms:quantity ?m2 . ?m2 qudt:numericValue ?v2
                 OPTIONAL {{ ?m2 qudt:unit ?u2 }} BIND(COALESCE(STR(?u2), "") AS ?unit)
               }} GROUP BY ?x2 ?exporter ?product ?unit }} }} GROUP BY ?exporter ?product ?unit }}
          {{ SELECT ?x ?exporter ?destination ?product ?unit (MAX(?v) AS ?q) WHERE {{
            ?x a ms:Shipment ; ms:origin ?exporter ; ms:destination ?destination ;
               ms:productCategory ?product ; ms:quantity ?m . ?m qudt:numericValue ?v
            OPTIONAL {{ ?m qudt:unit ?u }} BIND(COALESCE(STR(?u), "") AS ?unit)
          }} GROUP BY ?x ?exporter ?destination ?product ?unit }}
        }} GROUP BY ?exporter ?destination ?product ?unit
        ORDER BY ?exporter ?product ?unit DESC(?share)""",
    "incidents-by-country": f"""
        PREFIX ms: <{MS}>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?country (COUNT(DISTINCT ?i) AS ?incidents) WHERE {{
          ?i a/rdfs:subClassOf* ms:QualityIncident ; ms:actorCountry ?country }}
        GROUP BY ?country ORDER BY DESC(?incidents) ?country""",
    "incidents-by-manufacturer": f"""
        PREFIX ms: <{MS}>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?manufacturer (COUNT(DISTINCT ?i) AS ?incidents) WHERE {{
          ?i a/rdfs:subClassOf* ms:QualityIncident ; ms:manufacturer ?manufacturer }}
        GROUP BY ?manufacturer ORDER BY DESC(?incidents) ?manufacturer""",
    "incidents-by-standard": f"""
        PREFIX ms: <{MS}>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?standard (COUNT(DISTINCT ?i) AS ?incidents) WHERE {{
          ?i a/rdfs:subClassOf* ms:QualityIncident ; ms:standardNotMet ?standard }}
        GROUP BY ?standard ORDER BY DESC(?incidents) ?standard""",
    "conflicts": f"""
        PREFIX ms: <{MS}>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?conflict ?claim ?source WHERE {{
          ?conflict a ms:Conflict ; ms:conflictingClaim ?claim .
          OPTIONAL {{ ?claim prov:wasDerivedFrom ?source }} }} ORDER BY ?conflict ?claim""",
}


#: Indicators computed in Python: the reported figures need the choice among their sources.
FIGURE_INDICATORS = ("figures",)


def indicator(kb, name: str) -> list[dict[str, str]]:
    """A domain indicator as rows of strings: exporter-shares, incidents-by-country,
    incidents-by-manufacturer, incidents-by-standard, conflicts, figures (the chosen
    reported figures and their alternatives; an unknown number is an empty cell)."""
    if name not in INDICATORS and name not in FIGURE_INDICATORS:
        raise InvalidParameter("indicator", f"{name!r} is not one of "
                                            f"{', '.join([*INDICATORS, *FIGURE_INDICATORS])}")
    if name == "figures":
        return cached_projection(kb, ("indicator", name), lambda: [
            {k: "" if v is None else str(v) for k, v in row.items()}
            for row in figures_report(kb)])  # type: ignore[return-value]
    return cached_projection(kb, ("indicator", name), lambda: [
        {k: str(v) for k, v in row.items()} for row in kb.select(INDICATORS[name])])  # type: ignore[return-value]


# --- writing results back ------------------------------------------------------------------------


def save_scores(kb, algorithm: str, parameters: dict, scores: dict[str, float],
                *, input_graphs: list[str] | None = None) -> str:
    """Write scores (or community numbers) into the ``analytics`` graph as RDF, with a PROV
    activity (algorithm, parameters, time, input graphs); returns the activity's IRI.
    Earlier results of the same algorithm are replaced."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    run = f"{GRAPH}analytics#{algorithm}"
    g = ox.NamedNode(str(ANALYTICS_GRAPH))
    activity = ox.NamedNode(run)
    prov = "http://www.w3.org/ns/prov#"
    quads = [
        ox.Quad(activity, ox.NamedNode(RDF_TYPE), ox.NamedNode(MS + "AnalysisRun"), g),
        # stated as well as implied (AnalysisRun is a prov:Activity) so that SPARQL without
        # reasoning finds the run as PROV
        ox.Quad(activity, ox.NamedNode(RDF_TYPE), ox.NamedNode(prov + "Activity"), g),
        ox.Quad(activity, ox.NamedNode(MS + "algorithm"), ox.Literal(algorithm), g),
        ox.Quad(activity, ox.NamedNode(MS + "parameters"),
                ox.Literal(json.dumps(parameters, sort_keys=True)), g),
        ox.Quad(activity, ox.NamedNode(prov + "endedAtTime"),
                ox.Literal(now, datatype=ox.NamedNode(XSD + "dateTime")), g),
    ]
    for used in input_graphs or []:
        quads.append(ox.Quad(activity, ox.NamedNode(prov + "used"), ox.NamedNode(used), g))
    for i, (node, score) in enumerate(sorted(scores.items())):
        result = ox.NamedNode(f"{run}-{i}")
        quads += [
            ox.Quad(result, ox.NamedNode(RDF_TYPE), ox.NamedNode(MS + "Score"), g),
            ox.Quad(result, ox.NamedNode(MS + "scoreOf"), ox.NamedNode(node), g),
            ox.Quad(result, ox.NamedNode(MS + "scoreValue"),
                    ox.Literal(repr(float(score)), datatype=ox.NamedNode(XSD + "double")), g),
            ox.Quad(result, ox.NamedNode(prov + "wasGeneratedBy"), activity, g),
        ]
    before = (f"DELETE WHERE {{ GRAPH <{ANALYTICS_GRAPH}> {{ ?r <{prov}wasGeneratedBy> <{run}> ;"
              f" ?p ?o }} }} ; DELETE WHERE {{ GRAPH <{ANALYTICS_GRAPH}> {{ <{run}> ?p ?o }} }}")
    kb.write(quads, before=before)
    return run


def _input_graphs(g: nx.MultiDiGraph) -> list[str]:
    """The named graphs whose statements a projection holds (for ``prov:used``)."""
    return sorted({d["graph"] for _, _, d in g.edges(data=True) if "graph" in d})


def top(scores: dict[str, float], n: int) -> list[tuple[str, float]]:
    """The ``n`` highest scores, ties broken by IRI."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]



# --- reports: rows for the CLI and the API --------------------------------------------------------


def _label(g: nx.Graph, node: str) -> str:
    return g.nodes[node].get("label", local_name(node)) if node in g else local_name(node)


def centrality_report(kb, measure: str = "pagerank", *, top_n: int = 20,
                      k: int | None = None, classes: list[str] | None = None,
                      save: bool = False) -> list[dict[str, object]]:
    """The ``top_n`` most central entities (optionally only of ``classes``); ``save``
    writes every score into the analytics graph."""
    if top_n < 1:
        raise InvalidParameter("top", "must be at least 1")
    g = entity_graph(kb)
    scores = cached_projection(kb, ("centrality", measure, k), lambda: centrality(g, measure, k=k))
    assert isinstance(scores, dict)
    if save:
        save_scores(kb, measure, {"k": k, "seed": 42 if measure == "betweenness" else None},
                    scores, input_graphs=_input_graphs(g))
    chosen = {n: v for n, v in scores.items()
              if not classes or set(g.nodes[n]["types"]) & set(classes)}
    return [{"rank": i + 1, "iri": n, "label": _label(g, n), "score": round(v, 6)}
            for i, (n, v) in enumerate(top(chosen, top_n))]


def communities_report(kb, *, seed: int = 42, save: bool = False) -> list[dict[str, object]]:
    g = entity_graph(kb)
    found = cached_projection(kb, ("louvain", seed), lambda: communities(g, seed=seed))
    if save:
        membership = {n: i for i, c in enumerate(found.communities) for n in c}
        save_scores(kb, "louvain", {"seed": seed, "modularity": round(found.modularity, 6)},
                    membership, input_graphs=_input_graphs(g))
    return [{"community": i, "size": len(c), "modularity": round(found.modularity, 6),
             "members": " | ".join(_label(g, n) for n in c[:12]) + (" …" if len(c) > 12 else "")}
            for i, c in enumerate(found.communities)]


def path_report(kb, source: str, target: str) -> list[dict[str, object]]:
    g = entity_graph(kb)
    if source not in g or target not in g:  # e.g. an agency or post of the reference graphs
        g = entity_graph(kb, include_reference_hubs=True)
    return [{"step": i + 1, "subject": h.subject, "subject_label": _label(g, h.subject),
             "predicate": h.predicate, "predicate_label": h.predicate_label,
             "object": h.object, "object_label": _label(g, h.object),
             "graph": h.graph, "source": h.source}
            for i, h in enumerate(explain_path(kb, g, source, target))]


def components_report(kb) -> list[dict[str, object]]:
    g = entity_graph(kb)
    return [{"component": i, "size": len(c),
             "example": " | ".join(_label(g, n) for n in c[:5])}
            for i, c in enumerate(cached_projection(kb, ("components",), lambda: components(g)))]


def ego_report(kb, iri: str, radius: int = 1) -> list[dict[str, object]]:
    """The links of ``iri``'s neighbourhood within ``radius`` hops: the same neighbourhood
    (``kb.neighbourhood``) the entity view draws, so the two show the same entities."""
    if not 1 <= radius <= 3:
        raise InvalidParameter("radius", "must be 1, 2 or 3")
    sub = neighbourhood(kb, iri, radius)
    return [{"subject": s, "predicate_label": d["label"], "object": o, "graph": d["graph"]}
            for s, o, d in sorted(sub.edges(data=True),
                                  key=lambda e: (e[0], e[2]["label"], e[1], e[2]["graph"] or ""))]


def _alternative_text(a: dict[str, object], unit: str) -> str:
    amount = float(a["amount"])  # type: ignore[arg-type]
    text = f"{amount:,.0f}{' ' + unit if unit else ''} ({a['kind'] or 'not said'}: {a['source']}"
    if a.get("printed_amount") is not None:
        text += f"; printed {float(a['printed_amount']):,.0f}, a misprint corrected"  # type: ignore[arg-type]
    return text + ")"


def flows_report(kb, *, product: str | None = None, start: str | None = None,
                 end: str | None = None) -> list[dict[str, object]]:
    """The trade flows as rows: one per shipment edge (distinct shipments summed per product
    and unit) and one per reported figure (exporter, destination, product, unit, period:
    the figure chosen among its sources, the alternatives beside it). ``amount`` is None
    when no number is known (``unknown`` counts the shipments without one); figures of
    different periods, products or units are separate rows, never added."""
    from kb.figures import unit_name

    g = flow_graph(kb, product=product, start=start, end=end)
    rows = []
    for s, o, d in g.edges(data=True):
        unit = unit_name(d["unit"])
        rows.append({
            "kind": d["kind"], "from": s, "to": o, "product": d["product"],
            "unit": unit or ("items" if d["unit"] else ""), "start": d["start"], "end": d["end"],
            "amount": d["amount"], "count": d["count"], "unknown": d["unknown"],
            "source": d["source"],
            "alternatives": "; ".join(_alternative_text(a, unit) for a in d["alternatives"]),
        })
    return sorted(rows, key=lambda r: (r["kind"], r["from"], r["to"], r["product"], r["unit"],
                                       r["start"] or "", r["end"] or ""))  # type: ignore[arg-type, return-value]


def figures_report(kb, *, product: str | None = None) -> list[dict[str, object]]:
    """The reported figures (``kb.figures``) as rows: the chosen number with its source and
    period, and the alternatives beside it."""
    from kb.figures import figures, unit_name

    rows = []
    for f in figures(kb, product=product):
        unit = unit_name(f.unit)
        rows.append({
            "origin": f.origin, "destination": f.destination or WORLD, "product": f.product,
            "unit": unit or "items", "start": f.start, "end": f.end, "amount": f.amount,
            "source": f.chosen.source, "kind": f.chosen.kind,
            "alternatives": "; ".join(_alternative_text(a.as_dict, unit) for a in f.alternatives),
        })
    return rows
