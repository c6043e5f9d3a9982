"""Load benchmark: ``kb load`` into a fresh on-disk store (with its search index, and without it:
``KB_SEARCH_INDEX=off``, like for like, since Oxigraph keeps none), next to Oxigraph's own
``oxigraph load`` (the engine's limit) and rdflib's N-Triples parser, in the same run.

``kb load`` puts a file's triples into a named graph of its own and keeps the set union of
the named graphs in the engine's default graph (``kb.union``): each triple is written twice,
into the graph's six indexes and the default graph's three. The like-for-like baseline is
Oxigraph loading that same dataset: ``oxigraph load`` of an N-Quads file that holds each
triple in the named graph and in the default graph (written beforehand, not timed). Also
printed: ``oxigraph load --graph`` into the named graph alone (what a store without the set
union holds) and Oxigraph's load into its default graph alone.

    python -m bench load --size 1m

Each tool runs in its own process; the figures are wall time, triples per second and the
peak resident memory of that process. ``--rdflib-lines N`` parses only the first N lines
with rdflib (its rate is what the ratio compares) when the whole file would take too long.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyoxigraph as ox_

from bench.generate import generate, parse_size
from kb.load_records import file_graph
from kb.twice import TwiceReader

MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{code} {elapsed:.3f} {peak:.0f}")
"""

RDFLIB_PARSE = """
import sys, rdflib
g = rdflib.Graph()
g.parse(sys.argv[1], format="nt")
assert len(g) > 0
"""


def measure(command: list[str]) -> tuple[float, float]:
    """Run ``command`` in a fresh process; return (seconds, peak RSS in MB)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                         text=True, check=True).stdout.split()
    code, seconds, peak = int(out[0]), float(out[1]), float(out[2])
    if code != 0:
        raise SystemExit(f"{command[0]} failed with exit code {code}")
    return seconds, peak


def oxigraph_binary() -> str:
    found = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which(
        "oxigraph")
    if found is None:
        raise SystemExit("the oxigraph server/CLI is not installed: pip install -e '.[bench]'")
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m", help="10k, 100k, 1m or a number of triples")
    parser.add_argument("--rdflib-lines", type=int, default=0,
                        help="parse only this many lines with rdflib (0: the whole file)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (best is kept)")
    args = parser.parse_args(argv)

    data = generate(parse_size(args.size))
    with data.open("rb") as f:
        n = sum(1 for _ in f)
    sample = data
    if args.rdflib_lines and args.rdflib_lines < n:
        sample = data.with_name(f"{data.stem}-head{args.rdflib_lines}.nt")
    if not sample.exists():
        with data.open("rb") as src, sample.open("wb") as dst:
            for i, line in enumerate(src):
                if i >= args.rdflib_lines:
                    break
                dst.write(line)
    n_sample = min(n, args.rdflib_lines or n)

    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        def best(make_command) -> tuple[float, float]:
            results = []
            for k in range(args.repeat):
                store = Path(tmp) / f"store-{len(rows)}-{k}"
                results.append(measure(make_command(store)))
                shutil.rmtree(store, ignore_errors=True)
            return min(results)

        kb_cmd = [sys.executable, "-m", "kb"]
        t, peak = best(lambda s: [*kb_cmd, "--store", str(s), "load", "--quiet", str(data)])
        rows.append(("kb load (on disk)", n, t, peak))
        # Oxigraph keeps no full-text index: kb's loader alone is the like-for-like figure
        t, peak = best(lambda s: ["env", "KB_SEARCH_INDEX=off", *kb_cmd, "--store", str(s),
                                  "load", "--quiet", str(data)])
        rows.append(("kb load, no search index", n, t, peak))
        ox = oxigraph_binary()
        same = Path(tmp) / "same-dataset.nq"
        with data.open("rb") as src, same.open("wb") as out:
            shutil.copyfileobj(TwiceReader(src, ox_.NamedNode(file_graph(data))), out, 1 << 20)
        t, peak = best(lambda s: [ox, "load", "--location", str(s), "--file", str(same)])
        rows.append(("oxigraph, same dataset", n, t, peak))
        same.unlink()
        graph = "https://w3id.org/medsupply-kb/graph/file/" + data.name
        t, peak = best(lambda s: [ox, "load", "--location", str(s), "--file", str(data),
                                  "--graph", graph])
        rows.append(("oxigraph load (on disk)", n, t, peak))
        t, peak = best(lambda s: [ox, "load", "--location", str(s), "--file", str(data)])
        rows.append(("oxigraph load, default g.", n, t, peak))
        t, peak = best(lambda s: [sys.executable, "-c", RDFLIB_PARSE, str(sample)])
        rows.append(("rdflib parse (memory)", n_sample, t, peak))

    rate = {name: count / seconds for name, count, seconds, _ in rows}
    print(f"\nLoad of {data.name} ({n:,} triples), best of {args.repeat}\n")  # noqa: T201
    print(f"{'tool':<26}{'triples':>11}{'seconds':>9}{'triples/s':>11}{'peak MB':>9}")  # noqa: T201
    for name, count, seconds, peak in rows:
        print(f"{name:<26}{count:>11,}{seconds:>9.2f}{rate[name]:>11,.0f}{peak:>9,.0f}")  # noqa: T201
    ours, alone = rate["kb load (on disk)"], rate["kb load, no search index"]
    same = rate["oxigraph, same dataset"]
    print(  # noqa: T201
        f"\nkb load without the search index / oxigraph load of the same dataset (named graph "
        f"+ union), like for like: {alone / same:.2f}x (target >= 0.9)\n"
        f"kb load with the search index / the same: {ours / same:.2f}x (the index's share of "
        f"the load: {1 - ours / alone:.0%})\n"
        f"the set union's cost in the engine itself (oxigraph load of the same dataset / "
        f"--graph, in time): {rate['oxigraph load (on disk)'] / same:.2f}x\n"
        f"kb load / oxigraph load --graph (the named graph alone): "
        f"{ours / rate['oxigraph load (on disk)']:.2f}x\n"
        f"kb load / oxigraph load into the default graph (3 indexes instead of 6): "
        f"{ours / rate['oxigraph load, default g.']:.2f}x\n"
        f"kb load / rdflib parse: {ours / rate['rdflib parse (memory)']:.1f}x (target >= 10)\n"
        f"kb load peak memory: {rows[0][3]:,.0f} MB (target <= 1024)\n"
        f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    return 0
