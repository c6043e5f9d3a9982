"""Analytics benchmark: building the entity-graph projection from the on-disk store, and
PageRank, Louvain and sampled betweenness on it, next to the naive way (every triple
through rdflib into networkx, as kglab does) in the same run.

    python -m bench analytics --size 1m

Each step runs in its own process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.generate import generate, parse_size

OURS = """
import json, resource, sys, time
from kb import KnowledgeBase
from kb import analytics, projections
from kb.neighbourhood import neighbourhood
out = {}

def timed(name, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    out[name] = time.perf_counter() - start
    print(json.dumps(out), flush=True)  # partial results survive a time-out
    return value

with KnowledgeBase.open(sys.argv[1]) as kb:
    g = timed("projection", analytics.entity_graph, kb)
    out["nodes"], out["edges"] = g.number_of_nodes(), g.number_of_edges()
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed("cached", analytics.entity_graph, kb)
    hub = "https://w3id.org/medsupply-kb/id/country/CN"
    # the one neighbourhood (the entity view's and the ego report's): up to 2,000 links of
    # the hub read (4 x max_nodes)
    timed("neighbourhood1", neighbourhood, kb, hub, 1, max_nodes=500)
    timed("neighbourhood2", neighbourhood, kb, hub, 2, max_nodes=500)
    timed("flows", projections.flow_graph, kb)
    timed("statements", projections.statement_graph, kb)
    timed("incidents", projections.incident_graph, kb)
    timed("pagerank", analytics.centrality, g, "pagerank")
    timed("eigenvector", analytics.centrality, g, "eigenvector")
    timed("louvain", analytics.communities, g, seed=42)
    try:
        import graphblas_algorithms  # noqa: F401 -- networkx backend, optional
        import networkx as nx
        nx.config.warnings_to_ignore.add("cache")
        simple = nx.Graph(g.to_undirected())
        timed("pagerank_nx_simple", nx.pagerank, simple)
        timed("pagerank_graphblas", nx.pagerank, simple, backend="graphblas")
    except ImportError:
        pass
    if len(sys.argv) > 2:
        timed("betweenness", analytics.centrality, g, "betweenness", k=int(sys.argv[2]))
print(json.dumps(out))
"""

NAIVE = """
import json, resource, sys, time
import networkx as nx, rdflib
out = {}
t = time.perf_counter()
graph = rdflib.Graph(); graph.parse(sys.argv[1], format="nt")
out["parse"] = time.perf_counter() - t
t = time.perf_counter()
g = nx.MultiDiGraph()
for s, p, o in graph:
    if isinstance(o, rdflib.URIRef) and isinstance(s, rdflib.URIRef) and p != rdflib.RDF.type:
        g.add_edge(str(s), str(o), key=str(p))
out["projection"] = time.perf_counter() - t
out["nodes"], out["edges"] = g.number_of_nodes(), g.number_of_edges()
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench analytics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m")
    parser.add_argument("--k", type=int, default=500,
                        help="sources sampled for betweenness (0 skips it: minutes at 1M)")
    parser.add_argument("--store", type=Path,
                        help="reuse this store folder (loaded with the same data when missing)")
    args = parser.parse_args(argv)
    data = generate(parse_size(args.size))
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        store = args.store or Path(tmp) / "store"
        if not store.exists():
            subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load",
                            "--quiet", str(data)], check=True)
        ours = run(OURS, str(store), *([str(args.k)] if args.k else []))
    naive = run(NAIVE, str(data))
    naive_total = naive["parse"] + naive["projection"]
    print(f"\nEntity-graph projection of {data.name}\n")  # noqa: T201
    print(f"{'':34}{'seconds':>9}{'peak MB':>9}{'nodes':>9}{'edges':>9}")  # noqa: T201
    print(f"{'kb (SPARQL over the on-disk store)':34}{ours['projection']:>9.2f}"  # noqa: T201
          f"{ours['peak_mb']:>9,.0f}{ours['nodes']:>9,}{ours['edges']:>9,}")
    print(f"{'naive: rdflib parse + iterate':34}{naive_total:>9.2f}"  # noqa: T201
          f"{naive['peak_mb']:>9,.0f}{naive['nodes']:>9,}{naive['edges']:>9,}")
    print(f"{'  of which iterate only':34}{naive['projection']:>9.2f}")  # noqa: T201
    between = (f"{ours['betweenness']:.2f}" if args.k and "betweenness" in ours
               else "skipped")
    print(f"\n{'step (kb)':34}{'seconds':>9}")  # noqa: T201
    for name, what in [("cached", "entity graph again (cached)"),
                       ("neighbourhood1", "neighbourhood of CN, depth 1"),
                       ("neighbourhood2", "neighbourhood of CN, depth 2"),
                       ("flows", "flow graph"), ("statements", "statement graph"),
                       ("incidents", "incident graph"), ("pagerank", "PageRank"),
                       ("eigenvector", "eigenvector centrality"), ("louvain", "Louvain"),
                       ("pagerank_nx_simple", "PageRank, networkx (simple graph)"),
                       ("pagerank_graphblas", "PageRank, graphblas (with conversion)")]:
        if name in ours:
            print(f"{what:34}{ours[name]:>9.2f}")  # noqa: T201
    print(f"{f'betweenness (k={args.k})':34}{between:>9}")  # noqa: T201
    if "pagerank_graphblas" not in ours:
        print("(graphblas-algorithms not installed: no backend comparison)")  # noqa: T201
    print(f"\nprojection: {naive_total / ours['projection']:.1f}x faster than the naive way "  # noqa: T201
          f"(target >= 5); {ours['projection']:.1f} s (target <= 15 s); "
          f"{ours['peak_mb']:,.0f} MB peak (target <= 1,536 MB); naive peak "
          f"{naive['peak_mb']:,.0f} MB ({naive['peak_mb'] / ours['peak_mb']:.1f}x ours)")
    return 0
