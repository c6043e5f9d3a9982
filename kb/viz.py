"""Interactive relationship graphs: a networkx projection -> one self-contained HTML page.

pyvis builds the network (nodes, edges, options); the page is this module's own template:
vis-network inline (the copy pyvis ships), no other host, and every piece of data passed as
JSON in a ``<script type="application/json">`` block (``<`` escaped), rendered by the page's
script with ``textContent`` — never as markup. Tooltips are plain text. The page never writes
files; callers decide where the HTML goes.

Big graphs are capped (``max_nodes``, default 300): the least central neighbours are folded
into "N more" nodes that expand on click; physics stabilises, then stops.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from pathlib import Path

import networkx as nx

#: Most nodes one "N more" node expands to.
FOLD_LIMIT = 1000

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295"]


@cache
def vis_network_js() -> str:
    """vis-network as shipped inside the pyvis package (no CDN)."""
    import pyvis

    path = Path(pyvis.__file__).parent / "lib" / "vis-9.1.2" / "vis-network.min.js"
    return path.read_text(encoding="utf-8")


APP_JS = (Path(__file__).parent / "static" / "viz.js").read_text(encoding="utf-8")

CSS = (Path(__file__).parent / "static" / "viz.css").read_text(encoding="utf-8")

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head><body>
<header><h1>{title}</h1>
<input id="kb-search" type="search" placeholder="Find a node" aria-label="Find a node">
<label>Class <select id="kb-class"><option value="">all</option></select></label>
<label>Source <select id="kb-source"><option value="">all</option></select></label>
<span>{summary}</span></header>
<div id="kb-graph"></div>
<ul id="kb-legend"></ul>
<script id="kb-data" type="application/json">{data}</script>
<script>{vis}</script>
<script>{app}</script>
</body></html>
"""


def script_hashes() -> list[str]:
    """CSP ``'sha256-…'`` sources for the page's two scripts (they never change)."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in (vis_network_js(), APP_JS)]


def content_security_policy() -> str:
    """The policy the pages are served with: nothing from another host, only these scripts."""
    return ("default-src 'none'; script-src " + " ".join(script_hashes())
            + "; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def _local(iri: str) -> str:
    return iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def render(
    g: nx.MultiDiGraph,
    *,
    title: str,
    scores: dict[str, float] | None = None,
    focus: str | None = None,
    max_nodes: int = 300,
    link: str | None = "/resource?iri=",
    sources: dict[str, str] | None = None,
) -> str:
    """The graph as an interactive page (an HTML string).

    Args:
        g: nodes are IRIs with ``label``, ``types``, ``graphs``; edges have ``label`` and
            ``graph`` (and optionally ``value`` for the arrow width).
        title: the page heading (escaped).
        scores: a centrality per node: node size, and which nodes to keep when folding.
        focus: a node always kept (the entity of an entity view).
        max_nodes: most nodes drawn at first; the rest fold into "N more" nodes.
        link: where a click on a node goes (IRI appended, URL-encoded); None for no links.
        sources: graph IRI -> source document IRI, for tooltips.
    """
    from urllib.parse import quote

    from pyvis.network import Network

    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")
    if scores is None:
        simple = nx.Graph(g.to_undirected())
        scores = nx.degree_centrality(simple) if len(simple) > 1 else dict.fromkeys(g, 1.0)
    ranked = sorted(g.nodes, key=lambda n: (n != focus, -scores.get(n, 0.0), n))
    shown = set(ranked[:max_nodes])
    classes = sorted({t for _, d in g.nodes(data=True) for t in d.get("types", [])[:1]})
    color = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
    top = max(scores.values(), default=1.0) or 1.0
    sources = sources or {}

    def node_data(n: str) -> dict:
        d = g.nodes[n]
        types = d.get("types", [])
        kind = types[0] if types else None
        label = str(d.get("label", _local(n)))
        tip = f"{label}\n{', '.join(_local(t) for t in types) or 'resource'}\n{n}"
        return {"id": n, "label": label[:60], "title": tip,
                "color": color.get(kind, "#999999"), "value": 1 + 20 * scores.get(n, 0) / top,
                "classes": types, "graphs": d.get("graphs", []),
                "href": f"{link}{quote(n, safe='')}" if link and n.startswith("http") else None}

    def edge_data(s: str, o: str, key: object, d: dict) -> dict:
        graph = d.get("graph", "")
        tip = f"{d.get('label', '')}\nsource: {sources.get(graph, graph)}"
        return {"id": f"{s}|{key}|{o}", "from": s, "to": o, "label": str(d.get("label", ""))[:40],
                "title": tip, "arrows": "to",
                **({"value": d["value"]} if isinstance(d.get("value"), int | float) else {})}

    net = Network(directed=True)  # pyvis holds nodes, edges and the vis options
    net.nodes = [node_data(n) for n in ranked if n in shown]
    net.edges = [edge_data(s, o, k, d) for s, o, k, d in g.edges(keys=True, data=True)
                 if s in shown and o in shown]
    folded: dict[str, dict[str, list]] = {}
    for n in [n for n in ranked if n in shown]:
        hidden = [m for m in nx.all_neighbors(g, n) if m not in shown]
        if not hidden:
            continue
        more = f"more:{n}"
        net.nodes.append({"id": more, "label": f"{len(set(hidden))} more", "more": True,
                          "shape": "box", "color": "#dddddd", "title": "Click to expand"})
        net.edges.append({"id": f"{more}|edge", "from": n, "to": more, "dashes": True})
        # a click expands the most central ones (at most FOLD_LIMIT, to keep pages small)
        members = sorted(set(hidden), key=lambda m: (-scores.get(m, 0.0), m))[:FOLD_LIMIT]
        folded[more] = {
            "nodes": [node_data(m) for m in members],
            "edges": [edge_data(s, o, k, d) for s, o, k, d in g.edges(keys=True, data=True)
                      if (s == n and o in members) or (o == n and s in members)],
        }
    options = {
        "physics": {"stabilization": {"enabled": True, "iterations": 300},
                    "barnesHut": {"gravitationalConstant": -8000, "springLength": 140}},
        "nodes": {"shape": "dot", "font": {"size": 13}, "scaling": {"min": 8, "max": 40}},
        "edges": {"font": {"size": 10, "align": "middle"}, "smooth": False,
                  "scaling": {"min": 1, "max": 8}},
        "interaction": {"hover": True, "tooltipDelay": 150},
    }
    payload = {
        "nodes": net.nodes, "edges": net.edges, "folded": folded, "options": options,
        "legend": [{"label": _local(c), "color": color[c]} for c in classes],
        "classes": [{"label": _local(c), "value": c} for c in classes],
        "graphs": [{"label": _local(x), "value": x} for x in sorted(
            {x for _, d in g.nodes(data=True) for x in d.get("graphs", [])})],
    }
    data = json.dumps(payload, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    summary = (f"{len(shown)} of {g.number_of_nodes()} nodes shown"
               if g.number_of_nodes() > len(shown) else f"{g.number_of_nodes()} nodes")
    return TEMPLATE.format(title=html.escape(title), css=CSS, summary=html.escape(summary),
                           data=data.replace("&", "\\u0026"), vis=vis_network_js(), app=APP_JS)


# --- views of the knowledge base ------------------------------------------------------------------


def _sources(kb) -> dict[str, str]:
    from kb.analytics import _graph_sources

    return _graph_sources(kb)


def entity_view(kb, iri: str, *, depth: int = 1, max_nodes: int = 300,
                link: str | None = "/resource?iri=") -> str:
    """An entity and its neighbourhood, ``depth`` 1 to 3."""
    from kb.analytics import neighbourhood

    # read a few times what will be drawn: enough to choose the most central and to fold
    g = neighbourhood(kb, iri, depth, max_edges=max(4 * max_nodes, 500))
    label = g.nodes[iri].get("label", _local(iri))
    return render(g, title=f"{label}: neighbourhood, depth {depth}", focus=iri,
                  max_nodes=max_nodes, link=link, sources=_sources(kb))


def path_view(kb, source: str, target: str, *, link: str | None = "/resource?iri=") -> str:
    """The explained path between two entities."""
    from kb.analytics import entity_graph, explain_path

    g = entity_graph(kb)
    hops = explain_path(kb, g, source, target)
    path = nx.MultiDiGraph()
    for hop in hops:
        for node in (hop.subject, hop.object):
            path.add_node(node, **g.nodes[node])
        path.add_edge(hop.subject, hop.object, key=hop.predicate, label=hop.predicate_label,
                      graph=hop.graph)
    title = f"From {g.nodes[source]['label']} to {g.nodes[target]['label']}"
    return render(path, title=title, focus=source, link=link, sources=_sources(kb))


def flows_view(kb, *, product: str | None = None, start: str | None = None,
               end: str | None = None, max_nodes: int = 300,
               link: str | None = "/resource?iri=") -> str:
    """Trade flows between countries, arrows weighted by quantity."""
    from kb.analytics import flow_graph

    flows = flow_graph(kb, product=product, start=start, end=end)
    g = nx.MultiDiGraph()
    labels = {str(r["c"]): str(r["l"]) for r in kb.select(
        "SELECT ?c ?l WHERE { ?c a <https://w3id.org/medsupply-kb/ontology#Country> ; "
        "<http://www.w3.org/2000/01/rdf-schema#label> ?l }")}
    for s, o, d in flows.edges(data=True):
        if d["kind"] == "manufacturer":
            continue
        for node in (s, o):
            g.add_node(node, label=labels.get(node, _local(node)),
                       types=["https://w3id.org/medsupply-kb/ontology#Country"], graphs=[])
        g.add_edge(s, o, key=f"{d['kind']}|{d['product']}", value=d["quantity"],
                   label=f"{_local(d['product'])}: {d['quantity']:,.0f}", graph=d["kind"])
    title = "Trade flows" + (f" of {_local(product)}" if product else "")
    return render(g, title=title, max_nodes=max_nodes, link=link)


def query_view(kb, query: str, *, max_nodes: int = 300,
               link: str | None = "/resource?iri=") -> str:
    """The graph a CONSTRUCT or DESCRIBE query returns (literals become node details)."""
    result = kb.construct(query)
    g = nx.MultiDiGraph()
    from rdflib import Literal, URIRef
    from rdflib.namespace import RDF, RDFS

    def ensure(node: str) -> None:
        if node not in g:
            g.add_node(node, label=_local(node), types=[], graphs=[])

    for s, p, o in result:
        if not isinstance(s, URIRef):
            continue
        ensure(str(s))
        if p == RDFS.label and isinstance(o, Literal):
            g.nodes[str(s)]["label"] = str(o)
        elif p == RDF.type and isinstance(o, URIRef):
            g.nodes[str(s)]["types"].append(str(o))
        elif isinstance(o, URIRef):
            ensure(str(o))
            g.add_edge(str(s), str(o), key=str(p), label=_local(p), graph="")
    return render(g, title="Query result", max_nodes=max_nodes, link=link)


def ontology_view(kb, *, link: str | None = "/resource?iri=") -> str:
    """The ontology's classes (subclass links) and its object properties (domain -> range)."""
    ms = "https://w3id.org/medsupply-kb/ontology#"
    g = nx.MultiDiGraph()
    rows = kb.select(f"""PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        PREFIX owl: <http://www.w3.org/2002/07/owl#>
        SELECT ?kind ?a ?p ?b WHERE {{
          {{ ?a a owl:Class ; rdfs:subClassOf ?b FILTER(isIRI(?b)) BIND("sub" AS ?kind) }}
          UNION {{ ?p a owl:ObjectProperty ; rdfs:domain ?a ; rdfs:range ?b
                   FILTER(isIRI(?a) && isIRI(?b)) BIND("prop" AS ?kind) }}
          FILTER(STRSTARTS(STR(?a), "{ms}")) }}""")
    for row in rows:
        a, b = str(row["a"]), str(row["b"])
        for node in (a, b):
            if node not in g:
                g.add_node(node, label=_local(node), graphs=[],
                           types=["http://www.w3.org/2002/07/owl#Class"] if node.startswith(ms)
                           else ["http://www.w3.org/2000/01/rdf-schema#Resource"])
        label = "subclass of" if str(row["kind"]) == "sub" else _local(str(row["p"]))
        g.add_edge(a, b, key=label, label=label, graph="ontology")
    return render(g, title="The medsupply-kb ontology", link=link)
