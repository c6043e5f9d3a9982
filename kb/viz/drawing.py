"""The generic renderer: a networkx graph as a view page (``render``).

Nodes are coloured by class, from a fixed qualitative palette (no colour twice in a legend);
the leaves of one class around one node are gathered into a cluster node with their count
(vis-network's clustering, opened by a click); only hubs carry a label (at most
``MAX_LABELS``; every node on a small page), the others show theirs on hover. Every label,
tooltip and IRI reaches the page as JSON data read by a fixed script (``view.js``) that only
ever writes text into the DOM; tooltips are plain text (vis-network sets them with
``innerText``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from urllib.parse import quote

import networkx as nx

from kb.errors import InvalidParameter
from kb.namespaces import MS
from kb.neighbourhood import DEFAULT_MAX_NODES
from kb.neighbourhood import local_name as _local
from kb.neighbourhood import shorten as _shorten
from kb.viz.fold import clusters as leaf_clusters
from kb.viz.fold import fold as fold_nodes
from kb.viz.fold import scores as node_scores
from kb.viz.page import network, options

#: Class colours, in order of how many nodes of a class a page shows: a fixed qualitative
#: palette, Tableau 10 without its grey (kept for "other"), then eleven high-contrast colours
#: (after Kelly's) chosen to stand apart from those. No colour twice.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
           "#ff9da7", "#9c755f", "#882d17", "#8db600", "#604e97", "#2b3d26", "#c2b280",
           "#a1caf1", "#b3446c", "#17becf", "#000075", "#f032e6", "#5f6b6d")
#: The colour of the nodes with no class, and of the classes past the palette (one entry).
OTHER_COLOUR = "#bab0ac"
#: A page with at most this many nodes drawn labels them all; a larger one only its hubs.
LABEL_ALL = 30
#: The most labelled nodes on a page, cluster nodes included (hubs most central first; at
#: least 5 hubs however many clusters).
MAX_LABELS = 30
#: The longest label drawn on a page with more than ``LABEL_ALL`` nodes (the whole on hover).
SHORT_LABEL = 28
#: A node is a hub (labelled) from this many links.
HUB_DEGREE = 3


def _is_http(iri: str) -> bool:
    return iri.startswith(("http://", "https://"))


def _primary_class(types: Iterable[str]) -> str:
    """The class a node is coloured by: the project's own (most specific by name order)
    before any other vocabulary's."""
    types = sorted(types)
    own = [t for t in types if t.startswith(str(MS))]
    return (own or types or [""])[0]


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
    scores = node_scores(graph, size_by)
    kept, folds = fold_nodes(graph, scores, focus, max_nodes)
    graph_labels = graph_labels or {}
    class_labels = class_labels or {}
    primary, classes = _classes(graph, class_labels)
    colours = {c["key"]: c["colour"] for c in classes}
    # leaves of one class around one node: one cluster node each (a node with a "more" node
    # of its own stays apart, to be opened)
    gathered = leaf_clusters(graph, kept, primary, focus,
                                 {p for p in folds if p is not None})
    in_cluster = {m for _, _, members in gathered for m in members}
    labelled = _labelled(graph, [n for n in kept if n not in in_cluster], scores, focus,
                         max(5, MAX_LABELS - len(gathered)))
    short = 40 if len(kept) - len(in_cluster) <= LABEL_ALL else SHORT_LABEL

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
            "id": n, "name": _shorten(label, 40), "title": "\n".join(lines), "group": primary[n],
            "value": round(scores.get(n, 0.0), 6) + 1, "cls": primary[n],
            "color": {"background": c, "border": "#111111"} if n == focus else c,
            **({"borderWidth": 4} if n == focus else {}),
            "href": (link + quote(n, safe="")
                     if link and _is_http(n) and d.get("linkable", True) else None),
            "graphs": [i for g in d.get("graphs", ()) if (i := graph_index(g)) is not None]}
        if n in labelled:
            out["label"] = _shorten(label, short)
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
    net = network(title, [nodes[n] for n in drawn],
                       [e for e in merged.values() if e["from"] in kept and e["to"] in kept],
                       options(len(kept), physics, bool(edge_width), colours))
    cluster_data = [{"id": f"kb-cluster:{i}", "parent": parent, "cls": cls, "members": members,
                     "colour": colours[cls],
                     "label": f"{len(members)} × {_class_name(cls, class_labels)}"}
                    for i, (parent, cls, members) in enumerate(gathered)]
    fold_data = {}
    for parent, (members, unfetched) in folds.items():
        fold_data["" if parent is None else parent] = {"members": members, "unfetched": unfetched}
    # what the page's script needs beside pyvis's network: the nodes and edges folded away
    # (drawn when a "more" node is opened), the folds, the filters' classes and sources
    net.templateEnv.globals.update(
        view={"focus": focus, "limit": max_nodes, "link": link, "viewLink": view_link,
              "physics": physics, "sizeBy": size_by, "folds": fold_data, "classes": classes,
              "clusters": cluster_data, "edgeLabels": len(kept) <= LABEL_ALL,
              "folded": {n: nodes[n] for n in graph if n not in kept},
              "edges": [e for e in merged.values()
                        if e["from"] not in kept or e["to"] not in kept],
              "graphs": [{"key": g, "label": _shorten(graph_labels.get(g, g), 80)}
                         for g in graph_keys]},
        subtitle=subtitle, notes=list(notes),
        home="/" if link and link.startswith("/") else None)  # served: a way back
    return net.generate_html()



def _class_name(cls: str, class_labels: dict[str, str]) -> str:
    return class_labels.get(cls) or (_local(cls) if cls else "(no class)")


def _classes(graph: nx.MultiDiGraph, class_labels: dict[str, str]
             ) -> tuple[dict[str, str], list[dict[str, object]]]:
    """Each node's class (the one it is coloured by) and the legend: a colour of the palette
    per class, most nodes first; the nodes of no class and of the classes past the palette
    share one entry (so no colour is in the legend twice)."""
    primary = {n: _primary_class(graph.nodes[n].get("types", ())) for n in graph}
    counts: dict[str, int] = defaultdict(int)
    for c in primary.values():
        counts[c] += 1
    order = sorted(counts, key=lambda c: (c == "", -counts[c], c))
    named = [c for c in order if c][: len(PALETTE)]
    rest = set(order) - set(named)
    if rest:
        for n, c in primary.items():
            if c in rest:
                primary[n] = ""
    legend: list[dict[str, object]] = [
        {"key": c, "label": _class_name(c, class_labels), "colour": PALETTE[i],
         "count": counts[c]} for i, c in enumerate(named)]
    if rest:
        legend.append({"key": "", "label": "(other classes)" if rest - {""} else "(no class)",
                       "colour": OTHER_COLOUR, "count": sum(counts[c] for c in rest)})
    return primary, legend


def _labelled(graph: nx.MultiDiGraph, drawn: list[str], scores: dict[str, float],
              focus: str | None, most: int) -> set[str]:
    """The nodes whose label is drawn: all of a small page's; on a larger one the focus and
    the hubs (``HUB_DEGREE`` links or more), most central first, ``most`` in all."""
    if len(drawn) <= LABEL_ALL:
        return set(drawn)
    hubs = sorted((n for n in drawn if n != focus
                   and graph.degree(n) + int(graph.nodes[n].get("more", 0) or 0) >= HUB_DEGREE),
                  key=lambda n: (-scores.get(n, 0.0), n))
    return ({focus} if focus in drawn else set()) | set(hubs[: most - 1])
