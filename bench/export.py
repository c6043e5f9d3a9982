"""Export benchmark: ``kb export`` of 1M triples in every RDF format, next to rdflib's
serializers on the same data and the engine's own unsorted dump, in the same run.

    python -m bench export --size 1m [--rdflib-triples 200000] [--formats nq,ttl]

Each dump runs in its own process; the figures are wall time, triples per second and the
peak resident memory of that process. ``kb export`` is measured end to end (open the on-disk
store, dump, label blank nodes, sort, serialize, write the file). rdflib's time is its
``serialize`` alone, on a graph already parsed in memory (the parse is not counted); rdflib
runs on the first ``--rdflib-triples`` triples (its whole-file runs take many minutes) and
the ratio compares rates (triples per second); "ratio e2e" counts rdflib's parse of the
N-Triples too (rdflib has to get the data from somewhere; ``kb export`` reads the store). Its
peak memory includes the parsed graph, which its serializers need.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.generate import generate, parse_size

FORMATS = ("nq", "trig", "nt", "ttl", "jsonld", "rdfxml")
DATASET = ("nq", "trig", "jsonld")
RDFLIB_NAMES = {"nq": "nquads", "trig": "trig", "nt": "nt", "ttl": "turtle",
                "jsonld": "json-ld", "rdfxml": "xml"}

KB_EXPORT = """
import resource, sys, time
from kb import KnowledgeBase
from kb.export import export
store, fmt, graph, out = sys.argv[1:5]
start = time.perf_counter()
with KnowledgeBase.open(store) as kb, open(out, "wb") as f:
    export(kb, fmt, graph=graph or None, output=f)
elapsed = time.perf_counter() - start
print(f"{elapsed:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""

LOAD = """
import sys
from kb import KnowledgeBase
with KnowledgeBase.open(sys.argv[1]) as kb:
    kb.load([sys.argv[2]])
    print(len(kb))
"""

ENGINE_DUMP = """
import resource, sys, time
import pyoxigraph as ox
store, out = sys.argv[1:3]
start = time.perf_counter()
s = ox.Store.read_only(store)
s.dump(out, ox.RdfFormat.N_QUADS)
elapsed = time.perf_counter() - start
print(f"{elapsed:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""

RDFLIB_SERIALIZE = """
import itertools, json, resource, sys, time
import rdflib
path, fmt, n, out, graph = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open(path, "rb") as f:
    data = b"".join(itertools.islice(f, n))
parse_start = time.perf_counter()
if fmt in ("nquads", "trig"):
    g = rdflib.Dataset()
    g.graph(rdflib.URIRef(graph)).parse(data=data, format="nt")
else:
    g = rdflib.Graph()
    g.parse(data=data, format="nt")
start = time.perf_counter()
parsed = start - parse_start
if fmt == "json-ld":
    context = json.load(open("ontology/context.jsonld"))["@context"]
    g.serialize(out, format=fmt, context=context)
else:
    g.serialize(out, format=fmt)
elapsed = time.perf_counter() - start
print(f"{elapsed:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} {len(g)} "
      f"{parsed:.3f}")
"""


def _run(code: str, *args: str) -> list[float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return [float(x) for x in done.stdout.split()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m", help="triples: 10k, 100k, 1m or a number")
    parser.add_argument("--rdflib-triples", type=int, default=200_000,
                        help="rdflib serializes only this many triples (0: skip rdflib)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args(argv)
    n = parse_size(args.size)
    formats = [f for f in args.formats.split(",") if f]
    source = generate(n)

    from kb.load_records import file_graph

    graph = file_graph(source)
    with tempfile.TemporaryDirectory(prefix="kb-bench-export-") as tmp:
        store = Path(tmp) / "store"
        # Loaded in a child process: a child's peak RSS starts from its parent's, so the
        # parent must stay small for the per-process figures to mean anything.
        total = int(_run(LOAD, str(store), str(source))[0])
        print(f"{total:,} triples in an on-disk store ({source.name} and its load record)")  # noqa: T201
        engine = _run(ENGINE_DUMP, str(store), str(Path(tmp) / "engine.nq"))
        print(f"engine's own N-Quads dump (unsorted, no blank-node labelling): "  # noqa: T201
              f"{engine[0]:.2f} s, {engine[1]:.0f} MB peak")
        header = (f"{'format':<8}{'kb s':>9}{'kb MB':>8}{'kb tr/s':>12}{'rdflib s':>10}"
                  f"{'rdflib MB':>10}{'rdflib tr/s':>13}{'ratio':>8}{'ratio e2e':>11}")
        print(header)  # noqa: T201
        for fmt in formats:
            out = Path(tmp) / f"dump.{fmt}"
            kb_s, kb_mb = _run(KB_EXPORT, str(store), fmt, "" if fmt in DATASET else graph,
                               str(out))
            count = total if fmt in DATASET else n
            kb_rate = count / kb_s
            out.unlink()
            line = f"{fmt:<8}{kb_s:>9.2f}{kb_mb:>8.0f}{kb_rate:>12,.0f}"
            if args.rdflib_triples:
                r_s, r_mb, r_n, r_parse = _run(RDFLIB_SERIALIZE, str(source), RDFLIB_NAMES[fmt],
                                               str(min(args.rdflib_triples, n)), str(out), graph)
                r_rate = r_n / r_s
                e2e_rate = r_n / (r_s + r_parse)
                line += (f"{r_s:>10.2f}{r_mb:>10.0f}{r_rate:>13,.0f}{kb_rate / r_rate:>7.1f}x"
                         f"{kb_rate / e2e_rate:>10.1f}x")
            print(line, flush=True)  # noqa: T201
    print("ratio: kb export (store to file) / rdflib serialize (graph already in memory); "  # noqa: T201
          "ratio e2e: / rdflib parse N-Triples + serialize. Targets: >= 10x rdflib; "
          "<= 300 MB peak for N-Quads.")
    return 0
