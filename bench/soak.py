"""Soak: N concurrent clients for T seconds on a query mix against ``kb serve`` (loopback
only, bounded in time and requests), with the server's memory sampled all along.

    python -m bench soak [--triples 100000] [--clients 16] [--seconds 60] [--max-requests N]
                         [--hostile]

Prints errors, per-query and overall p50/p99 latency, throughput, and the server's RSS at
the start of the run (after a warm-up), its peak and its end, with the growth in percent.
The baseline of the ratios is the same server answering one client alone, in the same run.
Each client has its own loopback address (127.0.1.N), as users have theirs.

``--hostile`` runs the normal users twice on the same server, quiet and then beside
attackers, each from its own address: a runaway cartesian COUNT in a loop, a CONCAT memory
bomb in a loop, slow readers that ask for an 8 MB answer and read nothing, and one greedy
client with eight connections. It prints the normal users' errors and p50/p99 in both runs
(the goal: no errors, p99 within 2x), and what the attackers got (status counts).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.generate import OUT, generate
from bench.mix import MIX


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its children (the server's query workers), in KB."""
    total = 0
    for proc in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a worker replaced meanwhile
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_clients(url: str, clients: int, seconds: float, max_requests: int,
                pid: int | None = None) -> dict:
    """``clients`` threads, each cycling over the mix until the time or the request budget
    is spent. Returns latencies per query, errors, request count, RSS samples."""
    names = list(MIX)
    latencies: dict[str, list[float]] = {n: [] for n in names}
    errors: list[str] = []
    budget = [max_requests]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    rss: list[int] = []

    def client(offset: int) -> None:
        i = offset
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{offset % 250 + 1}")
        with httpx.Client(timeout=30, transport=transport) as http:
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                name = names[i % len(names)]
                i += 1
                started = time.perf_counter()
                try:
                    r = http.get(f"{url}/sparql", params={"query": MIX[name]})
                    ok = r.status_code == 200
                except httpx.HTTPError as e:
                    ok, r = False, e
                elapsed = time.perf_counter() - started
                with lock:
                    if ok:
                        latencies[name].append(elapsed)
                    else:
                        errors.append(f"{name}: {getattr(r, 'status_code', r)}")

    def sampler() -> None:
        while time.monotonic() < deadline and pid is not None:
            rss.append(rss_kb(pid))
            time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=sampler))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": latencies, "errors": errors, "rss": rss,
            "elapsed": time.monotonic() - started}


# --- the hostile mix ---------------------------------------------------------------------------

RUNAWAY = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . "
           "?m ?n2 ?o . ?q ?r ?t . ?u ?v ?w }")
#: A 1 KB string doubled 21 times: 2 GB, over the workers' memory cap.
BOMB = ('SELECT (STRLEN(?s21) AS ?n) WHERE { BIND("' + "x" * 1000 + '" AS ?s0) '
        + " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(21)) + " }")
_VALUES = " ".join(f'"value-{i:05d}-padding-padding"' for i in range(250))
#: 62,500 rows from VALUES alone: about 8 MB of SPARQL JSON.
BIG = f"SELECT ?x ?y WHERE {{ VALUES ?x {{ {_VALUES} }} VALUES ?y {{ {_VALUES} }} }}"


def run_attackers(url: str, seconds: float, slow_readers: int = 3,
                  greedy_connections: int = 8) -> tuple[list[threading.Thread], dict]:
    """Start the attackers (threads, stopping at the deadline); returns them and the
    status counts each kind of attacker gets."""
    from collections import Counter
    from urllib.parse import urlencode, urlsplit

    deadline = time.monotonic() + seconds
    outcomes: dict[str, Counter] = {k: Counter() for k in ("runaway", "bomb", "slow", "greedy")}
    lock = threading.Lock()

    def record(kind: str, outcome: object) -> None:
        with lock:
            outcomes[kind][str(outcome)] += 1

    def loop(kind: str, address: str, query: str, bust: bool = False) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(timeout=60, transport=transport) as http:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                text = f"{query} # {n} {threading.get_ident()}" if bust else query  # no cache
                try:
                    record(kind, http.get(f"{url}/sparql", params={"query": text}).status_code)
                except httpx.HTTPError as e:
                    record(kind, type(e).__name__)
                    time.sleep(0.2)

    def slow(address: str) -> None:
        """Ask for 8 MB, read the head, then nothing for 5 s; then see how much comes."""
        import re
        import socket

        parts = urlsplit(url)
        path = "/sparql?" + urlencode({"query": BIG})
        while time.monotonic() < deadline - 6:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.bind((address, 0))
                sock.connect((parts.hostname, parts.port))
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                sock.settimeout(30)
                try:
                    received = sock.recv(4096)
                    time.sleep(5)
                    while chunk := sock.recv(1 << 20):
                        received += chunk
                except OSError as e:
                    record("slow", type(e).__name__)
                    continue
                length = re.search(rb"content-length: (\d+)", received, re.IGNORECASE)
                body = received.partition(b"\r\n\r\n")[2]
                status = received[9:12].decode(errors="replace")
                record("slow", "cut off" if length and len(body) < int(length.group(1))
                       else status)

    threads = [threading.Thread(target=loop, args=("runaway", "127.0.2.1", RUNAWAY)),
               threading.Thread(target=loop, args=("bomb", "127.0.2.2", BOMB))]
    threads += [threading.Thread(target=slow, args=(f"127.0.2.{3 + k}",))
                for k in range(slow_readers)]
    threads += [threading.Thread(target=loop, args=("greedy", "127.0.2.100", MIX["aggregate"],
                                                    True)) for _ in range(greedy_connections)]
    for t in threads:
        t.start()
    return threads, outcomes


def _attack(url: str, seconds: float, results: object) -> None:
    threads, outcomes = run_attackers(url, seconds)
    for t in threads:
        t.join()
    results.put({kind: dict(counts) for kind, counts in outcomes.items()})  # type: ignore[attr-defined]


def attack_in_another_process(url: str, seconds: float):
    """The attackers in a process of their own, so that their threads do not slow the
    normal users' (the same interpreter would share one GIL); returns the process and a
    queue that receives the status counts when it ends."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_attack, args=(url, seconds, results), daemon=True)
    process.start()
    return process, results


def hostile_report(quiet: dict, hostile: dict, outcomes: dict) -> bool:
    """Print the normal users' errors and latencies, quiet and under attack; True when
    they saw no error and a p99 within 2x of the quiet run's."""
    rows = []
    for label, run in (("quiet", quiet), ("hostile", hostile)):
        every = [x for v in run["latencies"].values() for x in v]
        rows.append((label, len(every), len(run["errors"]), pct(every, .5), pct(every, .99)))
    print(f"{'normal users':<13} {'answers':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")  # noqa: T201
    for label, n, errors, p50, p99 in rows:
        print(f"{label:<13} {n:>8} {errors:>7} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f}")  # noqa: T201
    ratio = rows[1][4] / rows[0][4]
    print(f"p99 under attack / quiet: {ratio:.2f} (goal <= 2)")  # noqa: T201
    for kind, counts in outcomes.items():
        print(f"attacker {kind:<8} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))  # noqa: T201
    if hostile["errors"]:
        print("normal users' errors:", hostile["errors"][:10])  # noqa: T201
    return not hostile["errors"] and ratio <= 2


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--no-cache", action="store_true",
                        help="turn the server's result cache off: every request runs its query")
    parser.add_argument("--hostile", action="store_true",
                        help="run the normal users quiet, then beside attackers (runaway "
                        "queries, memory bombs, slow readers, one greedy client)")
    parser.add_argument("--store", type=Path, default=None,
                        help="an existing store to reuse (default: bench/out/soak-<n>)")
    args = parser.parse_args(argv)

    store = args.store or OUT / f"soak-{args.triples}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    if not store.exists():
        data = generate(args.triples)
        subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet",
                        str(data)], check=True, env=env)
    port = _free_port()
    if args.no_cache:
        env["KB_RESULT_CACHE_BYTES"] = "0"
    if args.hostile:  # shorter limits, so that the attacks cycle within a brief run
        env.update(KB_QUERY_TIMEOUT="5", KB_IO_TIMEOUT="3",
                   KB_QUERY_MEMORY_BYTES=str(1024 * 1024 * 1024))
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                triples = httpx.get(f"{url}/health", timeout=2).json()["triples"]
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        run_clients(url, 4, 3.0, 10_000)  # warm-up
        if args.hostile:
            quiet = run_clients(url, args.clients, args.seconds, args.max_requests)
            attackers, results = attack_in_another_process(url, args.seconds + 2.0)
            time.sleep(2.0)  # the attacks are under way
            hostile = run_clients(url, args.clients, args.seconds, args.max_requests)
            outcomes = results.get(timeout=120)
            attackers.join(30)
            return 0 if hostile_report(quiet, hostile, outcomes) else 1
        single = run_clients(url, 1, min(10.0, args.seconds / 4), 10_000)
        start_rss = rss_kb(server.pid)
        soak = run_clients(url, args.clients, args.seconds, args.max_requests, server.pid)
        end_rss = rss_kb(server.pid)
    finally:
        server.terminate()
        server.wait(15)

    lat = soak["latencies"]
    base = single["latencies"]
    every = [x for v in lat.values() for x in v]
    requests = len(every) + len(soak["errors"])
    print(f"soak: {args.clients} clients, {soak['elapsed']:.0f} s, {triples:,} triples, "  # noqa: T201
          f"{requests:,} requests, {len(soak['errors'])} errors, "
          f"{len(every) / soak['elapsed']:.0f} req/s")
    print(f"{'query':<10} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'1-client p50':>13} {'ratio':>6}")  # noqa: T201
    for name in MIX:
        p50, p99, b50 = pct(lat[name], .5), pct(lat[name], .99), pct(base[name], .5)
        print(f"{name:<10} {len(lat[name]):>6} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f} "  # noqa: T201
              f"{b50 * 1e3:>13.1f} {p50 / b50:>6.1f}")
    print(f"{'all':<10} {len(every):>6} {pct(every, .5) * 1e3:>8.1f} {pct(every, .99) * 1e3:>8.1f}")  # noqa: T201
    peak = max([start_rss, end_rss, *soak["rss"]])
    samples = soak["rss"] or [start_rss]
    # growth over the run: from the first tenth (all clients connected, threads started) to
    # the last few samples
    ramped = statistics.median(samples[len(samples) // 10:len(samples) // 10 + 5])
    tail = statistics.median(samples[-5:])
    growth = (tail - ramped) / ramped * 100
    print(f"server RSS (with its query workers): before {start_rss / 1024:.0f} MB, "  # noqa: T201
          f"after ramp-up {ramped / 1024:.0f} MB, "
          f"peak {peak / 1024:.0f} MB, end {end_rss / 1024:.0f} MB; growth over the run "
          f"{growth:+.1f}% (limit +10%)")
    if soak["errors"]:
        print("errors:", soak["errors"][:10])  # noqa: T201
    return 0 if not soak["errors"] and growth <= 10 else 1
