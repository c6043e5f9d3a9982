"""Interactive relationship graphs: projections of the store drawn as self-contained HTML pages.

Every function returns the page as a string; nothing here writes files, copies assets into
the working directory or opens a browser (the CLI and the API decide where a page goes).

The pages are built from a networkx graph (``render``) by pyvis: a ``Network`` of the nodes
and edges drawn at first (``add_nodes``, ``add_edge``), vis-network's options through
``set_options``, and the page from ``generate_html`` with our template
(``kb/viz_assets/page.html``, set with ``set_template_dir``; it autoescapes) and
``cdn_resources="in_line"``: vis-network 9.1.2 (from the pyvis package, Apache-2.0 / MIT) is
inlined, nothing is loaded from another host. Every label, tooltip and IRI reaches the page as
JSON data (``<``, ``>``, ``&`` and ``'`` escaped) read by a fixed script (``view.js``) that
only ever writes text into the DOM; the nodes folded away travel beside pyvis's network in
the same form. Tooltips are plain text (vis-network sets them with ``innerText``); pyvis's
``innerHTML`` tooltip path is never used. The page's scripts and styles are fixed, so
``CSP`` allows exactly them by hash.

A page never draws more than ``max_nodes`` nodes (default 300): the least central neighbours
fold into "N more" nodes that expand on click; physics stops once the layout has settled.

>>> import networkx as nx
>>> page = render(nx.MultiDiGraph([("urn:a", "urn:b")]), title="<b>x</b>")
>>> "<b>x</b>" in page, "&lt;b&gt;x&lt;/b&gt;" in page
(False, True)
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import networkx as nx
import pyoxigraph as ox

from kb.errors import InvalidParameter, NotFound, QueryError
from kb.namespaces import ANALYTICS_GRAPH, GRAPH, INFERRED_GRAPH, LOADS_GRAPH, MS, ONTOLOGY_GRAPH

DEFAULT_MAX_NODES = 300
MAX_DEPTH = 3
#: Triples read from a CONSTRUCT/DESCRIBE answer before the rest is left out (and said so).
MAX_QUERY_TRIPLES = 20_000

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
LABELS = (RDFS + "label", SKOS + "prefLabel")
#: Graphs that describe the store, not the domain.
SYSTEM_GRAPHS = (str(LOADS_GRAPH), str(INFERRED_GRAPH), str(ANALYTICS_GRAPH))
#: Links to hubs that would join everything to everything (units, the product scheme).
HUB_PREDICATES = frozenset({SKOS + "inScheme", SKOS + "topConceptOf", SKOS + "hasTopConcept",
                            "http://qudt.org/schema/qudt/unit"})

#: Class colours, in order of how many nodes of a class a page shows.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
           "#ff9da7", "#9c755f", "#2f4b7c", "#a05195", "#665191", "#d45087", "#003f5c",
           "#8cd17d", "#b6992d", "#499894", "#86bcb6", "#f1ce63", "#d37295")
OTHER_COLOUR = "#bab0ac"
FOLD_COLOUR = "#d9d9d9"
ASSETS = Path(__file__).parent / "viz_assets"


# --- assets and the page ----------------------------------------------------------------------


@cache
def _vis_assets() -> tuple[str, str]:
    """vis-network's script and stylesheet, from the pyvis package."""
    try:
        lib = resources.files("pyvis") / "lib" / "vis-9.1.2"
    except ModuleNotFoundError as e:  # pragma: no cover - pyvis is a dependency
        raise ImportError("kb.viz needs pyvis (pip install pyvis)") from e
    return ((lib / "vis-network.min.js").read_text("utf-8"),
            (lib / "vis-network.css").read_text("utf-8"))


@cache
def _page_parts() -> dict[str, str]:
    js, css = _vis_assets()
    return {"vis_js": js, "vis_css": css,
            "app_js": (ASSETS / "view.js").read_text("utf-8"),
            "app_css": (ASSETS / "view.css").read_text("utf-8")}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def content_security_policy(*, meta: bool = False) -> str:
    """The Content-Security-Policy of the view pages: nothing from anywhere, except the page's
    own (fixed) scripts and styles, allowed by hash, and vis-network's inline images.
    ``meta`` leaves out what a ``<meta>`` policy may not hold (frame-ancestors)."""
    parts = _page_parts()
    scripts = f"{_sha256(parts['vis_js'])} {_sha256(parts['app_js'])}"
    styles = _sha256(parts["vis_css"] + parts["app_css"])
    policy = (f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; "
              "base-uri 'none'; form-action 'none'; object-src 'none'")
    return policy if meta else policy + "; frame-ancestors 'none'"



# --- labels and classes -----------------------------------------------------------------------


def _local(iri: str) -> str:
    tail = iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    return tail or iri


def _is_http(iri: str) -> bool:
    return iri.startswith(("http://", "https://"))


def _primary_class(types: Iterable[str]) -> str:
    """The class a node is coloured by: the project's own (most specific by name order)
    before any other vocabulary's."""
    types = sorted(types)
    own = [t for t in types if t.startswith(str(MS))]
    return (own or types or [""])[0]


def _shorten(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# --- the generic renderer ---------------------------------------------------------------------


def render(
    graph: nx.MultiDiGraph,
    *,
    title: str,
    subtitle: str = "",
    focus: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    link: str | None = None,
    view_link: str | None = None,
    size_by: str = "degree",
    class_labels: dict[str, str] | None = None,
    graph_labels: dict[str, str] | None = None,
    physics: bool = True,
    positions: dict[str, tuple[float, float]] | None = None,
    edge_width: str | None = None,
    notes: Iterable[str] = (),
) -> str:
    """The page for ``graph``.

    Nodes may carry ``label``, ``types`` (class IRIs), ``graphs``, ``tooltip`` (lines of
    text), ``more`` (neighbours known but not fetched), ``parent`` (the node it was reached
    from); edges ``label``, ``predicate``, ``graph``, ``source``, ``tooltip`` and a weight
    named by ``edge_width``.

    Args:
        title: the page heading (text).
        focus: the node the view is about (always drawn, highlighted).
        max_nodes: the most nodes drawn at first, "N more" nodes included (at least 10).
        link: a URL prefix; clicking a node with an http(s) IRI opens prefix + the
            IRI (URL-encoded). None: a click shows the node's details on the page.
        view_link: a URL prefix to open another node's own view (for "more" nodes whose
            neighbours were not fetched), or None.
        size_by: the centrality that sizes the nodes: degree (the store's degree, as far as
            known), pagerank, betweenness or eigenvector (on the drawn projection).
        positions: fixed positions (physics then off for those nodes).
    """
    if max_nodes < 10:
        raise InvalidParameter("max_nodes", f"must be at least 10, not {max_nodes}")
    scores = _scores(graph, size_by)
    kept, folds = _fold(graph, scores, focus, max_nodes)
    graph_labels = graph_labels or {}
    class_labels = class_labels or {}

    # classes: colour by how many drawn (then known) nodes have them
    primary = {n: _primary_class(graph.nodes[n].get("types", ())) for n in graph}
    counts: dict[str, int] = defaultdict(int)
    for n in graph:
        counts[primary[n]] += 1
    order = sorted(counts, key=lambda c: (c == "", -counts[c], c))
    colours = {c: (PALETTE[i] if i < len(PALETTE) and c else OTHER_COLOUR)
               for i, c in enumerate(order)}
    classes = [{"key": c, "label": class_labels.get(c) or (_local(c) if c else "(no class)"),
                "colour": colours[c], "count": counts[c]} for c in order]

    graph_keys: dict[str, int] = {}

    def graph_index(g: str | None) -> int | None:
        if not g:
            return None
        return graph_keys.setdefault(g, len(graph_keys))

    def node_data(n: str) -> dict[str, object]:
        """The node as vis-network draws it, with what the page's script needs beside."""
        d = graph.nodes[n]
        label = str(d.get("label") or _local(n))
        types = list(d.get("types", ()))
        lines = [label]
        if types:
            lines.append("type: " + ", ".join(class_labels.get(t) or _local(t) for t in types))
        lines.append(n)
        lines += [str(x) for x in d.get("tooltip", ())]
        srcs = [graph_labels.get(g, g) for g in d.get("graphs", ())]
        if srcs:
            lines.append("source: " + "; ".join(_shorten(s, 90) for s in srcs[:4])
                         + (f" (+{len(srcs) - 4})" if len(srcs) > 4 else ""))
        c = colours[primary[n]]
        out: dict[str, object] = {
            "id": n, "label": _shorten(label, 40), "title": "\n".join(lines),
            "value": round(scores.get(n, 0.0), 6) + 1, "cls": primary[n],
            "color": {"background": c, "border": "#111111"} if n == focus else c,
            **({"borderWidth": 4} if n == focus else {}),
            "href": (link + quote(n, safe="")
                     if link and _is_http(n) and d.get("linkable", True) else None),
            "graphs": [i for g in d.get("graphs", ()) if (i := graph_index(g)) is not None]}
        if positions and n in positions:
            out.update(x=positions[n][0], y=positions[n][1], fixed=not physics)
        return out

    # parallel edges (same direction) merge into one, their labels joined
    merged: dict[tuple[str, str], dict[str, object]] = {}
    for s, o, d in graph.edges(data=True):
        key = (s, o)
        label = str(d.get("label") or _local(str(d.get("predicate", ""))))
        lines = [f"{label}: {graph.nodes[s].get('label') or _local(s)} → "
                 f"{graph.nodes[o].get('label') or _local(o)}"]
        lines += [str(x) for x in d.get("tooltip", ())]
        g = d.get("graph")
        if g:
            lines.append("source: " + _shorten(graph_labels.get(g, g), 120))
        if key in merged:
            e = merged[key]
            if label not in e["_labels"]:  # type: ignore[operator]
                e["_labels"].append(label)  # type: ignore[union-attr]
            e["title"] = f"{e['title']}\n{chr(10).join(lines)}"
            if (i := graph_index(g)) is not None and i not in e["graphs"]:  # type: ignore[operator]
                e["graphs"].append(i)  # type: ignore[union-attr]
            if edge_width:
                e["value"] = float(e.get("value", 0)) + float(d.get(edge_width, 0) or 0)  # type: ignore[arg-type]
        else:
            i = graph_index(g)
            merged[key] = {"from": s, "to": o, "_labels": [label], "title": "\n".join(lines),
                           "graphs": [i] if i is not None else [],
                           **({"value": float(d.get(edge_width, 0) or 0)} if edge_width else {})}
    for i, e in enumerate(merged.values()):
        labels = e.pop("_labels")
        e["id"] = f"e{i}"
        e["label"] = _shorten(", ".join(labels), 48)  # type: ignore[arg-type]
    if edge_width:
        for (s, o), e in merged.items():
            fmt = graph.edges[s, o, next(iter(graph[s][o]))].get("edge_label")
            if fmt:
                e["label"] = fmt

    nodes = {n: node_data(n) for n in graph}
    drawn = [n for n in graph if n in kept]
    net = _network(title, [nodes[n] for n in drawn],
                   [e for e in merged.values() if e["from"] in kept and e["to"] in kept],
                   _options(len(kept), physics, bool(edge_width)))
    fold_data = {}
    for parent, (members, unfetched) in folds.items():
        fold_data["" if parent is None else parent] = {"members": members, "unfetched": unfetched}
    # what the page's script needs beside pyvis's network: the nodes and edges folded away
    # (drawn when a "more" node is opened), the folds, the filters' classes and sources
    net.templateEnv.globals.update(
        view={"focus": focus, "limit": max_nodes, "link": link, "viewLink": view_link,
              "physics": physics, "sizeBy": size_by, "folds": fold_data, "classes": classes,
              "folded": {n: nodes[n] for n in graph if n not in kept},
              "edges": [e for e in merged.values()
                        if e["from"] not in kept or e["to"] not in kept],
              "graphs": [{"key": g, "label": _shorten(graph_labels.get(g, g), 80)}
                         for g in graph_keys]},
        subtitle=subtitle, notes=list(notes),
        home="/" if link and link.startswith("/") else None)  # served: a way back
    return net.generate_html()


def _network(title: str, nodes: list[dict[str, object]], edges: list[dict[str, object]],
             options: dict[str, object]):
    """pyvis's Network of the nodes and edges drawn at first, rendered by our template.

    pyvis's ``add_nodes`` and ``add_edge`` each scan its list of node ids (``add_edges`` is a
    loop over ``add_edge`` that carries only a width, so labels need ``add_edge``). Measured
    (bench/viz.py, the CN projection of 8,569 nodes on 200k triples): 0.004 s at the 300-node
    cap, 0.1 s at 2,000 (of a 0.6 s page); 2,000 densely linked nodes (6,000 edges) 0.6 s.
    Only the drawn nodes (at most ``max_nodes``) go through it, never the folded ones.
    """
    from markupsafe import Markup
    from pyvis.network import Network

    net = Network(directed=True, heading=title, cdn_resources="in_line")
    ids = [n["id"] for n in nodes]
    net.add_nodes(ids, **{k: [n[k] for n in nodes] for k in ("label", "title", "value", "color")})
    for n in nodes:  # what add_nodes does not take: vis-network's own and ours, for the script
        net.get_node(n["id"]).update({k: v for k, v in n.items() if k not in _NODE_ARGS})
    for e in edges:
        net.add_edge(e["from"], e["to"], **{k: v for k, v in e.items() if k not in ("from", "to")})
    net.set_options(json.dumps(options))
    # our template, in pyvis's own hook; its environment is pyvis's (one per Network, no
    # autoescape: the template turns autoescape on for the whole page). vis-network comes
    # from pyvis's package, inline ("in_line"), passed in already read: pyvis's template
    # ``{% include %}``s it, which compiles its 470 KB as a template for every Network
    # (0.25 s a page, measured)
    net.set_template_dir(str(ASSETS) + "/", "page.html")
    parts = _page_parts()
    net.templateEnv.policies["json.dumps_kwargs"] = {"ensure_ascii": False,
                                                     "separators": (",", ":")}
    net.templateEnv.globals.update(
        csp=content_security_policy(meta=True), vis_js=Markup(parts["vis_js"]),
        app_js=Markup(parts["app_js"]), styles=Markup(parts["vis_css"] + parts["app_css"]))
    return net


_NODE_ARGS = frozenset({"id", "label", "title", "value", "color"})


def _options(n_nodes: int, physics: bool, weighted: bool) -> dict[str, object]:
    """vis-network's options (no spaces in any string: pyvis's ``set_options`` drops them)."""
    return {
        "physics": {
            "enabled": physics,
            "solver": "forceAtlas2Based",
            "forceAtlas2Based": {"gravitationalConstant": -60, "springLength": 110,
                                 "avoidOverlap": 0.2},
            "stabilization": {"enabled": physics, "iterations": 250 if n_nodes > 150 else 400,
                              "updateInterval": 50, "fit": True},
            "minVelocity": 1.0,
        },
        "edges": {"arrows": {"to": {"enabled": True, "scaleFactor": 0.5}},
                  "smooth": {"enabled": True, "type": "continuous", "roundness": 0.2},
                  "font": {"size": 10, "align": "middle", "color": "#444"},
                  "color": {"color": "#9aa5b1", "highlight": "#333"},
                  **({"scaling": {"min": 1, "max": 14, "label": {"enabled": False}}}
                     if weighted else {})},
        "nodes": {"shape": "dot", "scaling": {"min": 8, "max": 36, "label": {"enabled": False}},
                  "font": {"size": 12, "face": "sans-serif"}},
        "interaction": {"hover": True, "tooltipDelay": 150, "hideEdgesOnDrag": n_nodes > 150,
                        "navigationButtons": False, "keyboard": False},
        "layout": {"improvedLayout": n_nodes <= 100, "randomSeed": 7},
        "configure": {"enabled": False},
    }


def _scores(graph: nx.MultiDiGraph, size_by: str) -> dict[str, float]:
    if size_by == "degree":
        return {n: float(graph.degree(n) + int(graph.nodes[n].get("more", 0) or 0))
                for n in graph}
    from kb.analytics import centrality

    return centrality(graph, size_by)


def _fold(graph: nx.MultiDiGraph, scores: dict[str, float], focus: str | None,
          max_nodes: int) -> tuple[set[str], dict[str | None, tuple[list[str], int]]]:
    """Choose the nodes drawn at first: best-first from the roots (the focus, then the most
    central node of each other component, largest first) along a spanning tree, most
    central first, while the drawn nodes plus one "more" node per node with hidden
    children stay within ``max_nodes``.

    The tree is the one the projection was reached by (a ``parent`` attribute) where there
    is one, else breadth-first from the roots. Returns the kept nodes and, per parent (None
    for the components left out), its hidden children, most central first, and how many of
    its neighbours were not read (``more``).
    """
    undirected = graph.to_undirected(as_view=True)
    roots: list[str] = [focus] if focus is not None and focus in graph else []
    for component in sorted(nx.connected_components(undirected), key=len, reverse=True):
        if focus not in component:
            roots.append(max(component, key=lambda n: (scores.get(n, 0), n)))
    parent: dict[str, str | None] = {}
    for root in roots:
        parent[root] = None
        for a, b in nx.bfs_edges(undirected, root):
            parent.setdefault(b, a)
    for n, d in graph.nodes(data=True):
        p = d.get("parent")
        if p is not None and p in graph and n not in roots:
            parent[n] = p
    children: dict[str | None, list[str]] = defaultdict(list)
    for n, p in parent.items():
        if p is not None:
            children[p].append(n)
    for members in children.values():
        members.sort(key=lambda n: (-scores.get(n, 0), n))
    unfetched = {n: int(d.get("more", 0) or 0) for n, d in graph.nodes(data=True)}

    kept: set[str] = set()
    pending: dict[str, int] = {}  # kept node -> its children not kept yet
    folds_shown = 0  # kept nodes that need a "more" node
    heap: list[tuple[float, str]] = []
    next_root = 1
    if roots:
        heapq.heappush(heap, (-scores.get(roots[0], 0), roots[0]))
    while True:
        if not heap and next_root < len(roots):
            heapq.heappush(heap, (-scores.get(roots[next_root], 0), roots[next_root]))
            next_root += 1
        if not heap:
            break
        n = heap[0][1]
        p = parent.get(n)
        # keeping n: its parent's "more" node may go, n may need one of its own, and the
        # components not reached yet need one
        delta = 1
        if p is not None and pending[p] == 1 and not unfetched.get(p):
            delta -= 1
        if children.get(n) or unfetched.get(n):
            delta += 1
        later_roots = 1 if next_root < len(roots) or (p is None and len(heap) > 1) else 0
        if kept and len(kept) + folds_shown + delta + later_roots > max_nodes:
            break
        heapq.heappop(heap)
        kept.add(n)
        folds_shown += delta - 1
        if p is not None:
            pending[p] -= 1
        pending[n] = len(children.get(n, ()))
        for c in children.get(n, ()):
            heapq.heappush(heap, (-scores.get(c, 0), c))

    folds: dict[str | None, tuple[list[str], int]] = {}
    for n in graph:
        hidden = [c for c in children.get(n, ()) if c not in kept]
        if hidden or unfetched.get(n):
            folds[n] = (hidden, unfetched.get(n, 0))
    left = [r for r in roots if r not in kept]
    if left:
        folds[None] = (left, 0)
    return kept, folds


# --- projections ------------------------------------------------------------------------------


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


def _term(iri: str, name: str) -> ox.NamedNode:
    try:
        return ox.NamedNode(iri)
    except ValueError as e:
        raise InvalidParameter(name, f"{iri!r} is not an IRI: {e}") from None


_GRAPH_FILTER = "FILTER(?g NOT IN ({}))".format(", ".join(f"<{g}>" for g in SYSTEM_GRAPHS))
_OUT = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} LATERAL {{ SELECT ?f ?p ?o ?g "
        "WHERE {{ GRAPH ?g {{ ?f ?p ?o }} " + _GRAPH_FILTER + " }} LIMIT {k} }} }}")
_IN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} LATERAL {{ SELECT ?f ?p ?o ?g "
       "WHERE {{ GRAPH ?g {{ ?o ?p ?f }} " + _GRAPH_FILTER + " }} LIMIT {k} }} }}")
#: The same without SPARQL 1.2 LATERAL, for endpoints that lack it: one cap for the chunk.
_OUT_PLAIN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} GRAPH ?g {{ ?f ?p ?o }} "
              + _GRAPH_FILTER + " }} LIMIT {k_all}")
_IN_PLAIN = ("SELECT ?f ?p ?o ?g WHERE {{ VALUES ?f {{ {values} }} GRAPH ?g {{ ?o ?p ?f }} "
             + _GRAPH_FILTER + " }} LIMIT {k_all}")
_COUNT_IN = ("SELECT ?f ?p ?o WHERE {{ {{ SELECT ?f (COUNT(*) AS ?o) WHERE {{ "
             "VALUES ?f {{ {values} }} GRAPH ?g {{ ?s ?q ?f }} " + _GRAPH_FILTER
             + " }} GROUP BY ?f }} BIND(\"\" AS ?p) }}")
_ATTRIBUTES = ("SELECT ?f ?p ?o WHERE {{ VALUES ?f {{ {values} }} ?f ?p ?o FILTER(?p IN (<"
               + RDF_TYPE + ">, <" + LABELS[0] + ">, <" + LABELS[1] + ">)) }}")
_LABELS = ("SELECT ?f ?p ?o WHERE {{ VALUES ?f {{ {values} }} ?f ?p ?o FILTER(?p IN (<"
           + LABELS[0] + ">, <" + LABELS[1] + ">)) }}")
_CHUNK = 200


def _chunks(nodes: list[str], size: int = _CHUNK) -> Iterable[str]:
    for i in range(0, len(nodes), size):
        yield " ".join(str(ox.NamedNode(n)) for n in nodes[i:i + size])


def _rows(kb, template: str, nodes: list[str], **fmt: object) -> list[tuple]:
    """(f, p, o, g) tuples of plain values for ``template`` over ``nodes``; ``o`` is an ox
    term (its kind matters), the others strings."""

    def consume(raw: object) -> list[tuple]:
        with_graph = any(v.value == "g" for v in raw.variables)  # type: ignore[attr-defined]
        return [(s["f"].value, s["p"].value, s["o"], s["g"].value if with_graph else None)
                for s in raw]  # type: ignore[attr-defined]

    rows: list[tuple] = []
    for values in _chunks(nodes):
        rows += kb.run(template.format(values=values, **fmt), consume)
    return rows


def neighbourhood(kb, iri: str, depth: int = 1, *,
                  max_nodes: int = DEFAULT_MAX_NODES) -> nx.MultiDiGraph:
    """The entity ``iri`` and what links to it or from it, ``depth`` hops out (directions
    ignored), as a MultiDiGraph in the shape ``render`` takes.

    Pushed down to the store: each hop is one query per 200 nodes (SPARQL 1.2 ``LATERAL``
    caps the links read per node), so a hub with 100,000 links costs what 1,200 do; the
    links not read are counted (``more``). At most ``max_nodes`` nodes per hop are expanded,
    most linked first. rdf:type and labels become attributes, literals lines of the tooltip;
    blank nodes, the store's own graphs (loads, inferred, analytics) and links to unit and
    scheme hubs are left out.

    Raises:
        InvalidParameter: depth is not 1 to 3, or the IRI is not an IRI.
        NotFound: nothing in the store mentions the IRI.
    """
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidParameter("depth", f"must be 1, 2 or {MAX_DEPTH}, not {depth}")
    focus = _term(iri, "iri")
    if not kb.ask("ASK { { ?f ?p ?o } UNION { ?s ?p ?f } }", f=focus):  # type: ignore[arg-type]
        raise NotFound(f"Nothing in the knowledge base mentions <{iri}>", iri=iri)
    props = _property_labels(kb)
    g = nx.MultiDiGraph()
    g.add_node(iri, depth=0, types=[], graphs=[], tooltip=[], parent=None)
    attrs_known: set[str] = set()
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
            out_rows = _rows(kb, _OUT, frontier, k=k)
            in_rows = _rows(kb, _IN, frontier, k=k)
        except QueryError:
            if kb.is_local:
                raise
            # a remote endpoint without LATERAL: one cap per chunk (a hub may crowd out
            # its neighbours in that chunk; what is left out is still counted)
            k_all = k * min(len(frontier), _CHUNK)
            out_rows = _rows(kb, _OUT_PLAIN, frontier, k_all=k_all)
            in_rows = _rows(kb, _IN_PLAIN, frontier, k_all=k_all)
        per_node: dict[tuple[str, str], int] = defaultdict(int)
        for f, p, o, gr in out_rows:
            per_node[(f, "out")] += 1
            _attribute(g, f, p, o, gr, props)
            attrs_known.add(f)
            if isinstance(o, ox.NamedNode) and p != RDF_TYPE and p not in HUB_PREDICATES:
                _link(g, f, p, o.value, gr, props, level, f, max_known)
        for f, p, o, gr in in_rows:
            per_node[(f, "in")] += 1
            fetched_in[f] += 1
            if isinstance(o, ox.NamedNode) and p not in HUB_PREDICATES and p != RDF_TYPE:
                _link(g, o.value, p, f, gr, props, level, f, max_known)
        truncated.update(f for (f, _), n in per_node.items() if n >= k)
        nxt = [n for n, d in g.nodes(data=True) if d["depth"] == level]
        nxt.sort(key=lambda n: -g.degree(n))
        frontier = nxt[:max_nodes]
    # labels and types of the nodes not expanded
    rest = [n for n in g if n not in attrs_known]
    for f, p, o, gr in _rows(kb, _ATTRIBUTES, rest):
        _attribute(g, f, p, o, gr, props)
    if truncated:
        for_count = sorted(truncated)
        for f, _, n, _ in _rows(kb, _COUNT_IN, for_count):
            more = int(n.value) - fetched_in.get(f, 0)
            if more > 0 and f in g:
                g.nodes[f]["more"] = more
    for n in g:
        g.nodes[n]["graphs"] = sorted(set(g.nodes[n]["graphs"]))
    g.graph["focus"] = iri
    return g


def _property_labels(kb) -> dict[str, str]:
    rows = kb.select(f"""SELECT ?p (SAMPLE(?l) AS ?label) WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{
        ?p <{LABELS[0]}> ?l FILTER(LANGMATCHES(LANG(?l), "en")) }} }} GROUP BY ?p""")
    return {str(r["p"]): str(r["label"]) for r in rows}


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
    elif isinstance(o, ox.Literal) and len(d["tooltip"]) < 8:
        d["tooltip"].append(f"{props.get(p) or _local(p)}: {_shorten(o.value)}")


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
    g.add_edge(s, o, key=(p, graph), predicate=p, label=props.get(p) or _local(p), graph=graph)


# --- the views --------------------------------------------------------------------------------


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


__all__ = ["DEFAULT_MAX_NODES", "MAX_DEPTH", "content_security_policy", "entity_view", "flows_view",
           "neighbourhood", "ontology_view", "path_view", "query_view", "render"]
