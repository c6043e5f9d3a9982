"""SPARQL query-mix benchmark: kb's ``/sparql`` over its on-disk store, next to the Oxigraph
server (``oxigraph serve``, on disk and in memory) and rdflib-endpoint, on the same generated
data, on the same machine, in the same run.

    python -m bench sparql [--size 100k|1m|10m] [--repeat 20] [--seconds 20] [--clients 4]
                           [--skip-rdflib] [--memory-wait 900] [--store DIR]

One server runs at a time (loopback only); kb runs three times: with its result cache (the
default), without it (every request runs the query in a worker process, from the workers'
in-memory copies of the store when they fit the memory budget), and without it on the store
on disk (``KB_REPLICA_MEMORY_BYTES=0``, the fallback). Every request draws its own
parameters (``bench.mix.varied``: a country, a week, a word, an offset), so that a cache
cannot answer it; the cached server shows what its cache does for such a mix. For each
server: its start until it answers (and, for kb, until its workers answer from memory), a
warm-up of 2 s (``--seconds`` if shorter), the median latency of ``--repeat`` sequential
requests per query (after a warm-up request with the fixed text of ``bench.mix.MIX``, which
also checks that the answer is not empty), then ``--clients`` clients (each from its own
loopback address, as different users) cycling over the mix for ``--seconds``: requests per
second, and the resident memory of the server with its query workers. Printed: the table of
medians with ratios, the geometric means, the throughputs, the API's own overhead on a
trivial query (``ASK {}`` over HTTP, minus the same query on an in-process pyoxigraph
store), the load average, and the targets with PASS or FAIL. Ratios are what to read:
absolute times move with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
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
from bench.mix import MIX, varied

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
    started: float = 0.0  # seconds until it answered
    ready: float = 0.0  # kb: seconds until its workers answered from memory (0: never)
    rss: int = 0  # bytes, with the query workers

    def memory(self) -> int:
        """Resident bytes of the server and its children (the query workers)."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096
            except (OSError, ValueError, IndexError):
                pass
        return total

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


def start_ours(store: Path, data: Path, *, cache: bool = True, memory: bool = True,
               memory_wait: float = 900) -> Server:
    """``kb serve`` over ``store``; ``cache=False`` turns its result cache off, so that
    every request runs the query in a worker; ``memory=False`` keeps the workers on the
    store on disk. Returns once the workers answer from memory (when they may)."""
    if not store.exists():
        subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet",
                        "--graph", GRAPH, str(data)], check=True, env=_env())
    port = _free_port()
    env = _env() | ({} if cache else {"KB_RESULT_CACHE_BYTES": "0"}) | (
        {} if memory else {"KB_REPLICA_MEMORY_BYTES": "0"})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/sparql"
    _wait(url, process, 600)
    name = "kb, cache" if cache else "kb, no cache" if memory else "kb, no cache, disk"
    server = Server(name, url, process, started=time.monotonic() - started)
    if memory:
        server.ready = _wait_for_memory(f"http://127.0.0.1:{port}", url, memory_wait) - started
    return server


def _client(k: int, timeout: float) -> httpx.Client:
    """An HTTP client from loopback address 127.0.0.(k + 2): the clients of a run are
    different users to the server, which holds each to its share of the workers."""
    return httpx.Client(timeout=timeout,
                        transport=httpx.HTTPTransport(local_address=f"127.0.0.{k + 2}"))


def _wait_for_memory(base: str, url: str, seconds: float = 900) -> float:
    """Query until every worker answered from its memory copy (or the server says it
    cannot); the monotonic time then."""
    deadline = time.monotonic() + seconds
    rng = random.Random(0)

    def busy(k: int) -> None:  # a slow query: the clients' requests overlap
        with _client(k, 120) as http, contextlib.suppress(httpx.HTTPError):
            _ask(http, url, "count", rng)

    with httpx.Client(timeout=120) as http:
        while time.monotonic() < deadline:
            status = http.get(f"{base}/health").json().get("queries", {})
            if status.get("mode") == "disk":
                print(f"kb: workers on disk: {status.get('reason')}", file=sys.stderr)  # noqa: T201
                return float("nan")
            if status.get("workers") and status.get("answering_from_memory") == status["workers"]:
                return time.monotonic()
            threads = [threading.Thread(target=busy, args=(k,))
                       for k in range(status.get("workers") or 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(1)  # /health counts the triples: not too often
    # a worker the pool never picked has not answered yet: measured as it is, and said
    print(f"kb: not every worker answered from memory within {seconds:.0f} s",  # noqa: T201
          file=sys.stderr)
    return float("nan")


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
    started = time.monotonic()
    _wait(f"{base}/query", process, 600)
    if location is None:
        with data.open("rb") as body:
            r = httpx.post(f"{base}/store", params={"graph": GRAPH}, content=body,
                           headers={"Content-Type": NT}, timeout=600)
            r.raise_for_status()
    kind = "disk" if location is not None else "memory"
    return Server(f"oxigraph serve ({kind})", f"{base}/query", process,
                  started=time.monotonic() - started)


def start_rdflib(data: Path) -> Server:
    port = _free_port()
    command = [str(Path(sys.executable).with_name("rdflib-endpoint")), "serve", "--host",
               "127.0.0.1", "--port", str(port), str(data)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    _wait(url, process, 900)  # it parses the whole file into memory first
    return Server("rdflib-endpoint", url, process)


def _ask(http: httpx.Client, url: str, name: str,
         rng: random.Random | None = None) -> httpx.Response:
    """``name`` of the mix, with parameters drawn from ``rng`` (the fixed text without)."""
    accept = NT if name == "construct" else JSON
    text = MIX[name] if rng is None else varied(name, rng)
    r = http.get(url, params={"query": text}, headers={"Accept": accept})
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
    rng = random.Random(42)  # the same draws for every server
    with httpx.Client(timeout=timeout) as http:
        for name in MIX:
            try:
                server.sizes[name] = _size(name, _ask(http, server.url, name))  # warm-up
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    _ask(http, server.url, name, rng)
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
        rng = random.Random(k)
        with _client(k, timeout) as http:
            i = k
            while time.monotonic() < deadline:
                try:
                    _ask(http, server.url, names[i % len(names)], rng)
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
    ours, uncached, on_disk, ox_disk, ox_mem, *rest = servers
    rdflib = rest[0] if rest else None
    names = list(MIX)
    print(f"\nQuery mix on {triples:,} triples, parameters drawn per request: median ms of "  # noqa: T201
          "sequential requests\n")
    head = f"{'query':<10}{'rows':>6}" + "".join(f"{s.name[:20]:>21}" for s in servers)
    head += f"{'nocache/mem':>12}{'disk/oxdisk':>12}"
    print(head)  # noqa: T201
    for name in names:
        line = f"{name:<10}{ours.sizes[name]:>6}"
        line += "".join(f"{s.medians[name] * 1e3:>21.2f}" for s in servers)
        line += f"{uncached.medians[name] / ox_mem.medians[name]:>12.2f}"
        line += f"{on_disk.medians[name] / ox_disk.medians[name]:>12.2f}"
        print(line)  # noqa: T201

    def vs(a: Server, b: Server) -> float:
        return geomean([a.medians[n] / b.medians[n] for n in names])

    print(f"\ngeometric mean / oxigraph in memory: kb with cache {vs(ours, ox_mem):.2f}, "  # noqa: T201
          f"no cache {vs(uncached, ox_mem):.2f}, no cache on disk {vs(on_disk, ox_mem):.2f}; "
          f"oxigraph on disk {vs(ox_disk, ox_mem):.2f}")
    print(f"kb no cache on disk / oxigraph on disk: {vs(on_disk, ox_disk):.2f}")  # noqa: T201
    mismatched = [n for n in names for s in servers[1:]
                  if s.sizes.get(n, -1) >= 0 and s.sizes[n] != ours.sizes[n]]
    if mismatched:
        print(f"answers of different sizes (check): {sorted(set(mismatched))}")  # noqa: T201
    print(f"\n{'server':<24}{'req/s':>8}{'vs mem':>8}{'MB':>8}{'start s':>9}{'memory s':>10}")  # noqa: T201
    for s in servers:
        print(f"{s.name[:24]:<24}{s.throughput:>8.1f}{s.throughput / ox_mem.throughput:>8.2f}"  # noqa: T201
              f"{s.rss / 2**20:>8.0f}{s.started:>9.1f}{s.ready:>10.1f}")
    print(f"API overhead on ASK {{}}: {overhead * 1e3:.2f} ms (over HTTP "  # noqa: T201
          f"{(overhead + peer_ask) * 1e3:.2f} ms, minus {peer_ask * 1e3:.3f} ms in process)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")  # noqa: T201
    checks = [
        ("no cache: geometric mean <= 1.5x oxigraph in memory", vs(uncached, ox_mem) <= 1.5),
        ("no cache: 4-client throughput >= 0.8x oxigraph in memory",
         uncached.throughput >= 0.8 * ox_mem.throughput),
        ("on-disk fallback: geometric mean <= 1.0x oxigraph on disk",
         vs(on_disk, ox_disk) <= 1.0),
        ("on-disk fallback: 4-client throughput >= 1.0x oxigraph on disk",
         on_disk.throughput >= ox_disk.throughput),
        ("API overhead on a trivial query <= 1.5 ms", overhead <= 1.5e-3),
    ]
    if rdflib:
        vs_rdflib = vs(rdflib, uncached)
        print(f"geometric mean rdflib-endpoint / kb no cache {vs_rdflib:.1f}")  # noqa: T201
        checks += [("geometric mean >= 12x rdflib-endpoint", vs_rdflib >= 12)]
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
    parser.add_argument("--memory-wait", type=float, default=900.0,
                        help="seconds to wait for every worker to answer from memory")
    parser.add_argument("--store", type=Path,
                        help="kb store folder to reuse (loaded with the data when missing)")
    args = parser.parse_args(argv)
    triples = parse_size(args.size)
    data = generate(triples)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-sparql-") as tmp:
        store = args.store or Path(tmp) / "store"
        wait = args.memory_wait
        starts = [lambda: start_ours(store, data, memory_wait=wait),
                  lambda: start_ours(store, data, cache=False, memory_wait=wait),
                  lambda: start_ours(store, data, cache=False, memory=False),
                  lambda: start_oxigraph(data, Path(tmp) / "oxigraph"),
                  lambda: start_oxigraph(data, None)]
        if not args.skip_rdflib:
            starts.append(lambda: start_rdflib(data))
        overhead = peer = float("nan")
        for start in starts:
            server = start()
            try:
                print(f"{server.name}: measuring", file=sys.stderr)  # noqa: T201
                warm_up = min(2.0, args.seconds)
                measure_throughput(server, args.clients, warm_up, args.timeout)
                repeat = args.repeat if server.name != "rdflib-endpoint" else max(
                    3, args.repeat // 4)
                measure_latency(server, repeat, args.timeout)
                measure_throughput(server, args.clients, args.seconds, args.timeout)
                server.rss = server.memory()
                if not servers:
                    peer = in_process_ask()
                    overhead = http_ask(server.url) - peer
            finally:
                server.stop()
            servers.append(server)
    ok = report(servers, triples, overhead, peer)
    print(f"\ndata: bench/out/{data.name}")  # noqa: T201
    return 0 if ok else 1
