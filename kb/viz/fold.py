"""Which nodes a view draws at first: the most central, within the page's cap, the rest
folded into "N more" nodes (``fold``); and the leaves of one class around one node, gathered
into one cluster node with their count (``clusters``).
"""

from __future__ import annotations

import heapq
from collections import defaultdict

import networkx as nx


def scores(graph: nx.MultiDiGraph, size_by: str) -> dict[str, float]:
    if size_by == "degree":
        return {n: float(graph.degree(n) + int(graph.nodes[n].get("more", 0) or 0))
                for n in graph}
    from kb.analytics import centrality

    return centrality(graph, size_by)


def fold(graph: nx.MultiDiGraph, scores: dict[str, float], focus: str | None,
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



#: Leaves of one class around one node are gathered into a cluster once there are this many.
CLUSTER_MIN = 2


def clusters(graph: nx.MultiDiGraph, kept: set[str], classes: dict[str, str],
             focus: str | None, keep: set[str]) -> list[tuple[str, str, list[str]]]:
    """The leaves drawn around each drawn node, gathered per class: (the node, the class,
    its leaves of that class), for each class with at least ``CLUSTER_MIN`` of them.

    A leaf is a drawn node with one drawn neighbour, not the focus and not in ``keep``
    (the nodes with a "more" node of their own, which must stay to be opened).
    ``classes`` gives each node's class (the one it is coloured by).
    """
    undirected = graph.to_undirected(as_view=True)
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for n in sorted(kept):
        if n == focus or n in keep:
            continue
        near = {m for m in undirected[n] if m in kept and m != n}
        if len(near) == 1:
            groups[(near.pop(), classes[n])].append(n)
    return [(parent, cls, members) for (parent, cls), members in sorted(groups.items())
            if len(members) >= CLUSTER_MIN]
