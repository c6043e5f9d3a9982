"""SPARQL query-mix benchmark: kb's ``/sparql`` over its on-disk store, next to the Oxigraph
server (``oxigraph serve``, on disk and in memory) and rdflib-endpoint, on the same generated
data, on the same machine, in the same run.

    python -m bench sparql [--size 100k|1m] [--repeat 20] [--seconds 20] [--clients 4]
                           [--skip-rdflib] [--store DIR]

One server runs at a time (loopback only); kb runs twice, with its result cache (the
default: a repeated query is answered from memory until the next write) and without (every
request runs the query in a worker process). For each: a 2 s warm-up, the median latency of
``--repeat`` sequential requests per query of ``bench.mix.MIX`` (after a warm-up request, which also
checks that the answer is not empty), then ``--clients`` clients cycling over the mix for
``--seconds``: requests per second. Printed: the table of medians with ratios, the geometric
means, the throughputs, the API's own overhead on a trivial query (``ASK {}`` over HTTP, minus
the same query on an in-process pyoxigraph store), and the targets of the SPARQL service with
PASS or FAIL. Ratios are what to read: absolute times move with the machine's load.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyoxigraph as ox

from bench.generate import generate, parse_size
from bench.mix import MIX

GRAPH = "https://w3id.org/medsupply-kb/graph/file/bench"
JSON = "application/sparql-results+json"
NT = "application/n-triples"


@dataclass
class Server:
    name: str
    url: str  # the query endpoint
    process: subprocess.Popen
    medians: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    throughput: float = float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KB_")}


def start_ours(store: Path, data: Path, *, cache: bool = True) -> Server:
    """``kb serve`` over ``store``; ``cache=False`` turns its result cache off, so that
    every request runs the query in a worker."""
    if not store.exists():
        subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet",
                        "--graph", GRAPH, str(data)], check=True, env=_env())
    port = _free_port()
    env = _env() | ({} if cache else {"KB_RESULT_CACHE_BYTES": "0"})
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/sparql"
    _wait(url, process, 120)
    return Server("kb /sparql" if cache else "kb, no cache", url, process)


def _oxigraph() -> str:
    return shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))


def start_oxigraph(data: Path, location: Path | None) -> Server:
    port = _free_port()
    command = [_oxigraph(), "serve", "--bind", f"127.0.0.1:{port}", "--union-default-graph"]
    if location is not None:
        subprocess.run([_oxigraph(), "load", "--location", str(location), "--file", str(data),
                        "--graph", GRAPH], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        command += ["--location", str(location)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    _wait(f"{base}/query", process, 120)
    if location is None:
        with data.open("rb") as body:
            r = httpx.post(f"{base}/store", params={"graph": GRAPH}, content=body,
                           headers={"Content-Type": NT}, timeout=600)
            r.raise_for_status()
    kind = "disk" if location is not None else "memory"
    return Server(f"oxigraph serve ({kind})", f"{base}/query", process)


def start_rdflib(data: Path) -> Server:
    port = _free_port()
    command = [str(Path(sys.executable).with_name("rdflib-endpoint")), "serve", "--host",
               "127.0.0.1", "--port", str(port), str(data)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    _wait(url, process, 900)  # it parses the whole file into memory first
    return Server("rdflib-endpoint", url, process)


def _ask(http: httpx.Client, url: str, name: str) -> httpx.Response:
    accept = NT if name == "construct" else JSON
    r = http.get(url, params={"query": MIX[name]}, headers={"Accept": accept})
    r.raise_for_status()
    return r


def _size(name: str, r: httpx.Response) -> int:
    """Rows (SELECT), 1 for a true ASK, triples (CONSTRUCT): an empty answer is a bug."""
    if name == "construct":
        return sum(1 for line in r.text.splitlines() if line.strip())
    body = r.json()
    if "boolean" in body:
        return int(body["boolean"])
    return len(body["results"]["bindings"])


def measure_latency(server: Server, repeat: int, timeout: float) -> None:
    with httpx.Client(timeout=timeout) as http:
        for name in MIX:
            try:
                server.sizes[name] = _size(name, _ask(http, server.url, name))  # warm-up
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    _ask(http, server.url, name)
                    times.append(time.perf_counter() - started)
                server.medians[name] = statistics.median(times)
            except httpx.TimeoutException:
                server.medians[name] = timeout  # at least this long
                server.sizes[name] = -1
            if server.sizes[name] == 0:
                raise SystemExit(f"{server.name}: {name} answered nothing; fix the mix")


def measure_throughput(server: Server, clients: int, seconds: float, timeout: float) -> None:
    names = list(MIX)
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        with httpx.Client(timeout=timeout) as http:
            i = k
            while time.monotonic() < deadline:
                try:
                    _ask(http, server.url, names[i % len(names)])
                    done[k] += 1
                except httpx.HTTPError:
                    pass
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.throughput = sum(done) / (time.monotonic() - started)


def in_process_ask() -> float:
    store = ox.Store()
    times = []
    for _ in range(200):
        started = time.perf_counter()
        store.query("ASK {}").serialize(format=ox.QueryResultsFormat.JSON)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def http_ask(url: str) -> float:
    with httpx.Client() as http:
        for _ in range(50):
            http.get(url, params={"query": "ASK {}"}, headers={"Accept": JSON})
        times = []
        for _ in range(500):
            started = time.perf_counter()
            http.get(url, params={"query": "ASK {}"}, headers={"Accept": JSON})
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def report(servers: list[Server], triples: int, overhead: float, peer_ask: float) -> bool:
    ours, uncached, ox_disk, ox_mem, *rest = servers
    rdflib = rest[0] if rest else None
    names = list(MIX)
    print(f"\nQuery mix on {triples:,} triples: median ms of sequential requests\n")  # noqa: T201
    head = f"{'query':<10}{'rows':>6}" + "".join(f"{s.name[:22]:>24}" for s in servers)
    head += f"{'ours/mem':>10}{'nocache/mem':>12}" + (f"{'rdflib/ours':>12}" if rdflib else "")
    print(head)  # noqa: T201
    for name in names:
        line = f"{name:<10}{ours.sizes[name]:>6}"
        line += "".join(f"{s.medians[name] * 1e3:>24.2f}" for s in servers)
        line += f"{ours.medians[name] / ox_mem.medians[name]:>10.2f}"
        line += f"{uncached.medians[name] / ox_mem.medians[name]:>12.2f}"
        if rdflib:
            line += f"{rdflib.medians[name] / ours.medians[name]:>12.1f}"
        print(line)  # noqa: T201
    vs_mem = geomean([ours.medians[n] / ox_mem.medians[n] for n in names])
    cold = geomean([uncached.medians[n] / ox_mem.medians[n] for n in names])
    vs_disk = geomean([uncached.medians[n] / ox_disk.medians[n] for n in names])
    print(f"\ngeometric mean ours/oxigraph-memory {vs_mem:.2f}; without the result cache "  # noqa: T201
          f"{cold:.2f} (and {vs_disk:.2f} against oxigraph on disk)")
    mismatched = [n for n in names for s in servers[1:]
                  if s.sizes.get(n, -1) >= 0 and s.sizes[n] != ours.sizes[n]]
    if mismatched:
        print(f"answers of different sizes (check): {sorted(set(mismatched))}")  # noqa: T201
    print("\nthroughput, " + ", ".join(f"{s.name}: {s.throughput:.0f} req/s"  # noqa: T201
                                       for s in servers))
    print(f"API overhead on ASK {{}}: {overhead * 1e3:.2f} ms (over HTTP "  # noqa: T201
          f"{(overhead + peer_ask) * 1e3:.2f} ms, minus {peer_ask * 1e3:.3f} ms in process)")
    checks = [
        ("geometric mean ours/oxigraph-memory <= 1.0", vs_mem <= 1.0),
        ("4-client throughput >= 1.0x oxigraph-memory",
         ours.throughput >= ox_mem.throughput),
        ("API overhead on a trivial query <= 1.5 ms", overhead <= 1.5e-3),
    ]
    if rdflib:
        vs_rdflib = geomean([rdflib.medians[n] / ours.medians[n] for n in names])
        print(f"geometric mean rdflib-endpoint/ours {vs_rdflib:.1f}")  # noqa: T201
        checks += [("geometric mean >= 12x rdflib-endpoint", vs_rdflib >= 12),
                   ("no query slower than rdflib-endpoint's",
                    all(ours.medians[n] <= rdflib.medians[n] for n in names))]
    print()  # noqa: T201
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")  # noqa: T201
    return all(ok for _, ok in checks)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sparql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="100k", help="triples: 100k, 1m, or a number")
    parser.add_argument("--repeat", type=int, default=20, help="requests per query and server")
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput run length")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one request may take (rdflib-endpoint at 1M is slow)")
    parser.add_argument("--skip-rdflib", action="store_true", help="leave rdflib-endpoint out")
    parser.add_argument("--store", type=Path,
                        help="kb store folder to reuse (loaded with the data when missing)")
    args = parser.parse_args(argv)
    triples = parse_size(args.size)
    data = generate(triples)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-sparql-") as tmp:
        store = args.store or Path(tmp) / "store"
        starts = [lambda: start_ours(store, data),
                  lambda: start_ours(store, data, cache=False),
                  lambda: start_oxigraph(data, Path(tmp) / "oxigraph"),
                  lambda: start_oxigraph(data, None)]
        if not args.skip_rdflib:
            starts.append(lambda: start_rdflib(data))
        overhead = peer = float("nan")
        for start in starts:
            server = start()
            try:
                print(f"{server.name}: measuring", file=sys.stderr)  # noqa: T201
                measure_throughput(server, args.clients, 2.0, args.timeout)  # warm-up
                repeat = args.repeat if server.name != "rdflib-endpoint" else max(
                    3, args.repeat // 4)
                measure_latency(server, repeat, args.timeout)
                measure_throughput(server, args.clients, args.seconds, args.timeout)
                if not servers:
                    peer = in_process_ask()
                    overhead = http_ask(server.url) - peer
            finally:
                server.stop()
            servers.append(server)
    ok = report(servers, triples, overhead, peer)
    print(f"\ndata: bench/out/{data.name}")  # noqa: T201
    return 0 if ok else 1
