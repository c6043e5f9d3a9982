"""Restart benchmark: what a user waits for on the bundled data, each step in its own
process, as they run it.

* ``make serve`` until ``/health`` answers: the first start on an empty store, a restart
  with nothing changed, and the same restart over a store whose inferred graph has no
  record of its inputs (so ``kb reason`` works again, as every restart did before);
* ``kb reason`` with nothing changed, against ``kb reason --force``;
* ``kb validate`` of the store, against pySHACL called as before (advanced mode, each
  SPARQL constraint parsed per focus node) on the same triples;
* ``kb load --validate`` of a 3-triple file (the nodes it touches), against ``kb validate``
  of the store with the file (the whole store, what the check did before) and the old
  pySHACL call on the same triples;
* ``kb --help``: the cost of starting the CLI, the floor of every step above.

    python -m bench restart --repeat 3

Medians of ``--repeat`` runs; the machine's load average is printed, since wall time on
shared cores follows it. Targets: a restart with nothing changed ready in 3 s, ``kb
validate`` in 2 s, ``kb load --validate`` of a small file in 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
INFERRED = "https://w3id.org/medsupply-kb/graph/inferred"
SMALL = """@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/medsupply-kb/id/org/bench-maker-{n}> a ms:Manufacturer ;
    rdfs:label "Bench maker {n}"@en ; rdfs:comment "A manufacturer of the benchmark." .
"""

#: pySHACL as kb validate called it before (the baseline): the asserted graphs through
#: rdflib, advanced mode, and rdflib parsing each SPARQL constraint for every focus node.
OLD_VALIDATE = """
import sys, pyshacl
from rdflib import Graph
from kb import KnowledgeBase
from kb.bundled import SHAPES_FILE
from kb.reason import asserted_graphs
from kb.engine import result_graph
with KnowledgeBase.open(sys.argv[1]) as kb:
    data = kb.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", result_graph,
                  default_graph=asserted_graphs(kb))
for path in sys.argv[2:]:
    data.parse(path)
conforms, _, _ = pyshacl.validate(data, shacl_graph=Graph().parse(SHAPES_FILE),
                                  inference="none", allow_warnings=True, advanced=True)
sys.exit(0 if conforms else 1)
"""


def kb(store: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--store", str(store), *args]


def run(command: list[str], *, ok: tuple[int, ...] = (0,)) -> float:
    """Seconds that ``command`` took (run from the repository's root)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready(store: Path) -> float:
    """Seconds from ``make serve`` to the first answer of ``/health``; then stops it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    start = time.perf_counter()
    make = subprocess.Popen(
        ["make", "-s", "serve", f"STORE={store}", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            if make.poll() is not None:
                raise SystemExit(f"make serve exited {make.returncode}:\n"
                                 f"{make.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.02)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(30)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(fn, repeat: int) -> tuple[float, float]:
    """Median wall seconds of ``fn()`` and median CPU seconds of the processes it ran."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu = children_cpu()
        walls.append(fn())
        cpus.append(children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench restart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per step (median kept)")
    args = parser.parse_args(argv)
    n = args.repeat
    load_before = os.getloadavg()[0]
    Figures = tuple[float, float]  # wall and CPU seconds
    rows: list[tuple[str, Figures, Figures | None, str]] = []  # step, figures, baseline's
    with tempfile.TemporaryDirectory(prefix="kb-bench-restart-") as tmp:
        store = Path(tmp) / "store"
        rows.append(("make serve, first start", median(lambda: serve_ready(store), 1), None, ""))
        unchanged = median(lambda: serve_ready(store), n)

        def unrecorded() -> float:
            forget = f"DELETE WHERE {{ GRAPH <{INFERRED}> {{ <{INFERRED}> ?p ?o }} }}"
            run(kb(store, "update", forget))
            return serve_ready(store)

        rows.append(("make serve, nothing changed", unchanged, median(unrecorded, n),
                     "reasoning again"))
        rows.append(("kb reason, nothing changed", median(lambda: run(kb(store, "reason")), n),
                     median(lambda: run(kb(store, "reason", "--force")), n), "--force"))
        rows.append(("kb validate", median(lambda: run(kb(store, "validate")), n),
                     median(lambda: run([sys.executable, "-c", OLD_VALIDATE, str(store)]), n),
                     "pySHACL as before"))

        copies = iter(range(10_000))

        def load_small() -> float:
            copy = Path(tmp) / f"copy-{next(copies)}"
            shutil.copytree(store, copy)
            small = Path(tmp) / "bench-small.ttl"
            small.write_text(SMALL.format(n=copy.name))
            try:
                return run(kb(copy, "load", "--quiet", "--validate", str(small)))
            finally:
                shutil.rmtree(copy)

        small = Path(tmp) / "bench-small.ttl"
        small.write_text(SMALL.format(n="whole"))
        loaded = median(load_small, n)
        rows.append(("kb load --validate, 3 triples", loaded,
                     median(lambda: run(kb(store, "validate", str(small))), n),
                     "kb validate FILE"))
        rows.append(("kb load --validate, 3 triples", loaded,
                     median(lambda: run([sys.executable, "-c", OLD_VALIDATE, str(store),
                                         str(small)]), n), "pySHACL as before"))
        rows.append(("kb --help (starting the CLI)", median(lambda: run(
            [sys.executable, "-m", "kb", "--help"]), n), None, ""))
    print(f"\nRestart on the bundled data, median of {n}; wall and CPU seconds (CPU: the "  # noqa: T201
          f"processes run, with make serve's query workers); load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print(f"{'step':<32}{'wall':>6}{'CPU':>6}  {'baseline':<18}{'wall':>6}{'CPU':>6}"  # noqa: T201
          f"{'ratio':>7}")
    for step, (wall, cpu), base, name in rows:
        line = f"{step:<32}{wall:>6.2f}{cpu:>6.2f}"
        if base is not None:
            line += f"  {name:<18}{base[0]:>6.2f}{base[1]:>6.2f}{base[0] / wall:>6.1f}x"
        print(line)  # noqa: T201
    targets = [("make serve, nothing changed", 3.0), ("kb validate", 2.0),
               ("kb load --validate, 3 triples", 1.0)]
    print()  # noqa: T201
    for step, limit in targets:
        wall = next(figures[0] for name, figures, _, _ in rows if name == step)
        verdict = "PASS" if wall <= limit else "FAIL"
        print(f"{verdict} {step}: {wall:.2f} s (target <= {limit:g} s)")  # noqa: T201
    return 0
