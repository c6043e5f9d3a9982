"""The views: an entity's neighbourhood, an explained path, trade flows, a query's graph and
the ontology, each a page built by ``kb.viz.drawing.render``."""

from __future__ import annotations

import re
from collections import defaultdict

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter, NotFound, QueryError
from kb.namespaces import GRAPH, MS, ONTOLOGY_GRAPH
from kb.neighbourhood import ATTRIBUTES as _ATTRIBUTES
from kb.neighbourhood import DEFAULT_MAX_NODES, neighbourhood
from kb.neighbourhood import local_name as _local
from kb.neighbourhood import rows as _rows
from kb.neighbourhood import shorten as _shorten
from kb.neighbourhood import term as _term
from kb.projections import LABELS, RDF_TYPE
from kb.projections import property_labels as _property_labels
from kb.viz.drawing import render

__all__ = ["MAX_QUERY_TRIPLES", "entity_view", "flows_view", "ontology_view", "path_view",
           "query_view"]

#: Triples read from a CONSTRUCT/DESCRIBE answer before the rest is left out (and said so).
MAX_QUERY_TRIPLES = 20_000
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
_LABELS = ("SELECT ?f ?p ?o WHERE {{ VALUES ?f {{ {values} }} ?f ?p ?o FILTER(?p IN (<"
           + LABELS[0] + ">, <" + LABELS[1] + ">)) }}")


def entity_view(kb, iri: str, depth: int = 1, *, max_nodes: int = DEFAULT_MAX_NODES,
                link: str | None = None, view_link: str | None = None) -> str:
    """An entity and its neighbourhood, ``depth`` hops out (1 to 3)."""
    g = neighbourhood(kb, iri, depth, max_nodes=max_nodes)
    label = g.nodes[iri].get("label") or _local(iri)
    return render(g, title=f"{label}", subtitle=f"<{iri}>, {depth} hop{'s' if depth > 1 else ''}",
                  focus=iri, max_nodes=max_nodes, link=link, view_link=view_link,
                  class_labels=_class_labels(kb), graph_labels=_graph_labels(kb))


def path_view(kb, source: str, target: str, *, link: str | None = None,
              max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """The explained path between two entities (``kb.analytics.explain_path``): each hop
    with its property's label and the source document of the statement."""
    from kb import analytics

    _term(source, "source")
    _term(target, "target")
    full = analytics.entity_graph(kb)
    hops = analytics.explain_path(kb, full, source, target)
    g = nx.MultiDiGraph()
    order = [source]
    for h in hops:
        order.append(h.object if h.subject == order[-1] else h.subject)
    for n in order:
        d = full.nodes[n]
        g.add_node(n, label=d.get("label"), types=list(d.get("types", ())),
                   graphs=list(d.get("graphs", ())))
    for i, h in enumerate(hops, 1):
        g.add_edge(h.subject, h.object, key=h.predicate, predicate=h.predicate,
                   label=h.predicate_label, graph=h.graph,
                   tooltip=[f"step {i}"] + ([f"document: <{h.source}>"] if h.source else []))
    positions = {n: (i * 220.0, 0.0 if i % 2 == 0 else 60.0) for i, n in enumerate(order)}
    return render(g, title=f"{_label_of(full, source)} → {_label_of(full, target)}",
                  subtitle=f"{len(hops)} step{'s' if len(hops) != 1 else ''}", focus=source,
                  max_nodes=max_nodes, link=link, physics=False, positions=positions,
                  class_labels=_class_labels(kb), graph_labels=_graph_labels(kb))


def _label_of(g: nx.Graph, n: str) -> str:
    return str(g.nodes[n].get("label") or _local(n)) if n in g else _local(n)


def _human(x: float) -> str:
    for unit, size in (("bn", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.3g}"


def _flow_lines(d: dict, what: str) -> tuple[str, str]:
    """A flow edge of ``kb.analytics.flow_graph`` as text: a short form for the arrow (product,
    number or "unknown", the period's dates) and the full one for the details (the chosen
    figure's source and its alternatives)."""
    from kb.figures import period_text, unit_name

    unit = unit_name(d["unit"])
    in_unit = f" {unit}" if unit else ""
    number = "unknown" if d["amount"] is None else _human(d["amount"]) + in_unit
    short = f"{what}: {number}"
    if d["kind"] != "reported aggregate":
        shipments = f"{d['count']} shipment{'s' if d['count'] != 1 else ''}"
        if d["unknown"]:
            shipments += f", {d['unknown']} without a number"
        short += f" ({d['kind']}, {shipments})"
        if d["start"]:
            short += f", dated {period_text(d['start'], d['end'])}"
        return short, short
    short += f" ({period_text(d['start'], d['end'])})"
    reports = f"{d['count']} report{'s' if d['count'] != 1 else ''}"
    lines = [f"{short}; reported figure chosen from {reports}"
             + (f" (source: {d['source']})" if d["source"] else "")]
    for alt in d["alternatives"]:
        text = f"    alternative: {alt['amount']:,.0f}{in_unit} ({alt['kind'] or 'not said'}: " \
               f"{alt['source']}"
        if alt.get("printed_amount") is not None:
            text += f"; printed {alt['printed_amount']:,.0f}, a misprint corrected"
        lines.append(text + ")")
    return short, "\n".join(lines)


def flows_view(kb, *, product: str | None = None, start: str | None = None,
               end: str | None = None, link: str | None = None,
               max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """Trade flows between countries (and from manufacturers) for a product category and a
    period (``kb.analytics.flow_graph``): one arrow per pair, each product, unit and period on
    its own line (never added), a reported figure with its period's dates and its
    alternatives, an unknown number as "unknown"."""
    from kb import analytics

    for name, value in (("start", start), ("end", end)):
        if value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise InvalidParameter(name, f"{value!r} is not an ISO date (YYYY-MM-DD)")
    if product:
        _term(product, "product")
    flows = analytics.flow_graph(kb, product=product, start=start, end=end)
    labels = _labels(kb, list(flows.nodes) + sorted({d["product"] for *_, d in
                                                     flows.edges(data=True) if d["product"]}))
    # one product in one unit: widths compare like with like; else they count the figures
    by_amount = len({(d["product"], d["unit"]) for *_, d in flows.edges(data=True)}) == 1
    merged: dict[tuple[str, str], list[tuple[str, str, str, float]]] = defaultdict(list)
    order = sorted(flows.edges(data=True), key=lambda e: (
        e[2]["kind"], e[2]["product"], e[2]["unit"], e[2]["start"] or "", e[2]["end"] or ""))
    for s, o, d in order:
        what = labels.get(d["product"], _local(d["product"])) if d["product"] else "no product"
        short, line = _flow_lines(d, what)
        merged[(s, o)].append((d["kind"], short, line, d["amount"] or 0.0))
    types = _types(kb, list(flows.nodes))
    g = nx.MultiDiGraph()
    for (s, o), lines in merged.items():
        for n in (s, o):
            if n not in g:
                g.add_node(n, label=labels.get(n, _local(n)), types=types.get(n, []), graphs=[])
        kinds = ", ".join(sorted({k for k, *_ in lines}))
        edge_label = ("\n".join(short for _, short, _, _ in lines) if len(lines) <= 3
                      else f"{len(lines)} figures, each apart (details)")
        g.add_edge(s, o, key=kinds, label=kinds, predicate=kinds, edge_label=edge_label,
                   weight=max(x for *_, x in lines) if by_amount else float(len(lines)),
                   tooltip=[line for _, _, line, _ in lines])
    what = labels.get(product, _local(product)) if product else "all products"
    dated = "all dates"
    if start or end:
        dated = ("records dated" + (f" from {start}" if start else "")
                 + (f" until {end}" if end else ""))
    widths = "the largest number" if by_amount else "the number of figures"
    return render(g, title=f"Trade flows: {what}",
                  subtitle=f"{dated}; each product, unit and period apart; arrows as wide as "
                           f"{widths}",
                  max_nodes=max_nodes, link=link, size_by="degree", edge_width="weight",
                  class_labels=_class_labels(kb),
                  notes=["Reported figures without a destination point to 'world'.",
                         "Figures of different periods, products or units are shown apart and "
                         "never added; a figure reported by several sources counts once (the "
                         "chosen one, its alternatives listed); an unknown number is 'unknown'."])


def _labels(kb, iris: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f, _p, o, _ in _rows(kb, _LABELS, [i for i in iris if i]):
        if isinstance(o, ox.Literal) and (f not in out or o.language == "en"):
            out[f] = o.value
    return out


def _types(kb, iris: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for f, p, o, _ in _rows(kb, _ATTRIBUTES, iris):
        if p == RDF_TYPE and isinstance(o, ox.NamedNode):
            out[f].append(o.value)
    return out


def query_view(kb, sparql: str, *, link: str | None = None,
               max_nodes: int = DEFAULT_MAX_NODES, client: str | None = None) -> str:
    """The graph of a CONSTRUCT or DESCRIBE query: resources as nodes (labels and types as
    their attributes), other literals as small nodes of their own. The query is the user's:
    it runs as ``/sparql`` queries do (a query worker, its timeout, ``client``'s share).

    Raises:
        QueryError: the query does not parse, fails, or is not CONSTRUCT/DESCRIBE.
    """
    props = _property_labels(kb)
    truncated = [False]

    def consume(raw: object) -> list[tuple[object, str, object]]:
        if isinstance(raw, ox.QuerySolutions | ox.QueryBoolean):
            raise QueryError("Only CONSTRUCT and DESCRIBE queries can be drawn as a graph; "
                             "this one is a " + ("SELECT" if isinstance(raw, ox.QuerySolutions)
                                                 else "ASK") + " query")
        out = []
        for t in raw:  # type: ignore[attr-defined]
            if len(out) >= MAX_QUERY_TRIPLES:
                truncated[0] = True
                break
            out.append((t.subject, t.predicate.value, t.object))
        return out

    triples = kb.run(sparql, consume, isolated=True, client=client)  # a query worker
    g = nx.MultiDiGraph()

    def node(term: object) -> str:
        key = term.value if isinstance(term, ox.NamedNode) else str(term)
        if key in g:
            return key
        if isinstance(term, ox.Literal):
            extra = f", language: {term.language}" if term.language else ""
            g.add_node(key, label=term.value, types=["Literal"], graphs=[], linkable=False,
                       tooltip=[f"literal: {_shorten(term.value, 400)}",
                                f"datatype: {term.datatype.value}{extra}"])
        else:
            g.add_node(key, types=[], graphs=[], tooltip=[],
                       linkable=isinstance(term, ox.NamedNode))
        return key

    for s, p, o in triples:
        sn = node(s)
        if p == RDF_TYPE and isinstance(o, ox.NamedNode):
            g.nodes[sn]["types"].append(o.value)
        elif p in LABELS and isinstance(o, ox.Literal):
            if "label" not in g.nodes[sn] or o.language == "en":
                g.nodes[sn]["label"] = o.value
        else:
            on = node(o)
            g.add_edge(sn, on, key=p, predicate=p, label=props.get(p) or _local(p))
    notes = [f"Only the first {MAX_QUERY_TRIPLES:,} triples are drawn."] if truncated[0] else []
    return render(g, title="Query graph", subtitle=f"{len(triples):,} triples", max_nodes=max_nodes,
                  link=link, class_labels={**_class_labels(kb), "Literal": "Literal"},
                  notes=notes)


def ontology_view(kb, *, link: str | None = None, max_nodes: int = DEFAULT_MAX_NODES) -> str:
    """The ontology's classes (subclass links) and object properties (domain → range)."""
    rows = kb.select(f"""SELECT ?s ?p ?o WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{
        {{ ?s a <{OWL}Class> BIND(<{RDF_TYPE}> AS ?p) BIND(<{OWL}Class> AS ?o) }}
        UNION {{ ?s <{RDFS}subClassOf> ?o FILTER(isIRI(?o)) BIND(<{RDFS}subClassOf> AS ?p) }}
        UNION {{ ?prop a <{OWL}ObjectProperty> ; <{RDFS}domain> ?s ; <{RDFS}range> ?o
                 FILTER(isIRI(?s) && isIRI(?o)) BIND(?prop AS ?p) }}
        UNION {{ ?prop a <{OWL}DatatypeProperty> ; <{RDFS}domain> ?s FILTER(isIRI(?s))
                 BIND(?prop AS ?o) BIND(<{OWL}DatatypeProperty> AS ?p) }} }} }}""")
    if not rows:
        raise NotFound("The store holds no ontology: load ontology/medsupply.ttl into "
                       f"<{ONTOLOGY_GRAPH}>")
    props = _property_labels(kb)
    classes = _class_labels(kb)
    g = nx.MultiDiGraph()

    def node(iri: str) -> None:
        if iri not in g:
            g.add_node(iri, label=classes.get(iri) or _local(iri), graphs=[str(ONTOLOGY_GRAPH)],
                       types=[f"{OWL}Class"] if iri.startswith(str(MS)) else ["external"],
                       tooltip=[])

    for r in rows:
        s, p, o = str(r["s"]), str(r["p"]), str(r["o"])
        node(s)
        if p == RDF_TYPE:
            continue
        if p == f"{OWL}DatatypeProperty":
            g.nodes[s]["tooltip"].append(f"property: {props.get(o) or _local(o)}")
            continue
        node(o)
        label = "subclass of" if p == f"{RDFS}subClassOf" else props.get(p) or _local(p)
        g.add_edge(s, o, key=p, predicate=p, label=label, graph=str(ONTOLOGY_GRAPH))
    return render(g, title="Ontology: classes and properties",
                  subtitle="arrows: subclass of, and object properties from domain to range",
                  max_nodes=max_nodes, link=link, size_by="degree",
                  class_labels={f"{OWL}Class": "class (ms:)", "external": "other vocabulary"},
                  graph_labels={str(ONTOLOGY_GRAPH): "the ontology (ontology/medsupply.ttl)"})


def _graph_labels(kb) -> dict[str, str]:
    """Named graph -> the title (or label) of the source document it was derived from."""
    rows = kb.select(f"""SELECT ?g ?doc (SAMPLE(?t) AS ?title) WHERE {{
        ?g <http://www.w3.org/ns/prov#wasDerivedFrom> ?doc
        FILTER(STRSTARTS(STR(?g), "{GRAPH}"))
        OPTIONAL {{ ?doc <http://purl.org/dc/terms/title>|<{LABELS[0]}> ?t }} }}
        GROUP BY ?g ?doc""")
    out = {}
    for r in rows:
        g, doc = str(r["g"]), str(r["doc"])
        out[g] = f"{r['title']} <{doc}>" if "title" in r else f"<{doc}>"
    return out


def _class_labels(kb) -> dict[str, str]:
    rows = kb.select(f"""SELECT ?c (SAMPLE(?l) AS ?label) WHERE {{
        GRAPH <{ONTOLOGY_GRAPH}> {{ ?c <{LABELS[0]}> ?l FILTER(LANGMATCHES(LANG(?l), "en")) }} }}
        GROUP BY ?c""")
    return {str(r["c"]): str(r["label"]) for r in rows}
