"""A load killed at a random moment leaves a store that opens and holds all of the file
or none of it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.generate import generate
from kb import KnowledgeBase

pytestmark = pytest.mark.reliability


def count(store: Path, graph: str) -> int:
    """Triples in ``graph``, checking that the union (what queries see) agrees."""
    with KnowledgeBase.open(str(store)) as kb:
        rows = kb.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        union = kb.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        everything = kb.select("SELECT (COUNT(DISTINCT *) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    assert int(union[0]["n"]) == int(everything[0]["n"]), "the union lost or kept triples"
    return int(rows[0]["n"])


def test_sigkill_during_load_is_all_or_nothing(tmp_path: Path) -> None:
    data = generate(200_000, tmp_path / "big.nt")
    total = len(data.read_bytes().splitlines())
    graph = "https://w3id.org/medsupply-kb/graph/file/big.nt"
    store = tmp_path / "store"
    rng = random.Random(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    outcomes = []
    for _ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet", "--force",
             str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        n = count(store, graph)  # the store opens after every kill
        assert n in (0, total), f"a killed load left {n} triples: neither none nor all"
        if total in outcomes:  # a killed reload keeps the complete load it replaces
            assert n == total, "a killed --force reload lost a previously complete load"
        outcomes.append(n)
    with KnowledgeBase.open(str(store)) as kb:
        report = kb.load([data])
    assert count(store, graph) == total
    assert report.triples in (0, total)  # skipped when a killed run had completed


# --- the server killed during writes -----------------------------------------------------------

WRITES = "https://w3id.org/medsupply-kb/graph/test-writes"
PER_WRITE = 5  # triples each update adds: a partial write shows as a count between 0 and 5


def _update(k: int) -> str:
    triples = " ".join(f"<urn:w:{k}> <urn:p:{j}> {k} ." for j in range(PER_WRITE))
    return f"INSERT DATA {{ GRAPH <{WRITES}> {{ {triples} }} }}"


def _writes_in(store: Path) -> dict[int, int]:
    """Write number -> how many of its triples the store holds."""
    with KnowledgeBase.open(str(store)) as kb:
        rows = kb.select(f"SELECT ?s (COUNT(*) AS ?n) WHERE {{ GRAPH <{WRITES}> {{ ?s ?p ?o }} }} GROUP BY ?s")
    return {int(str(r["s"]).rsplit(":", 1)[1]): int(r["n"]) for r in rows}


@pytest.mark.server
def test_server_killed_during_writes_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    """Clients send SPARQL updates in a loop; the server is SIGKILLed at a random moment,
    three times. The store reopens each time, holds every write that was answered 2xx, and
    no write is partial. After a clean stop (SIGTERM) nothing is lost either."""
    import threading

    import httpx

    from tests.conftest import free_port, wait_for_http

    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["KB_UPDATE_TOKEN"] = "s3cret"
    headers = {"Authorization": "Bearer s3cret", "content-type": "application/sparql-update"}
    rng = random.Random(8)
    acknowledged: set[int] = set()
    next_write = 0
    lock = threading.Lock()

    def start() -> tuple[subprocess.Popen, str]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        return process, f"http://127.0.0.1:{port}"

    def client(url: str, stop: threading.Event) -> None:
        nonlocal next_write
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                with lock:
                    k = next_write
                    next_write += 1
                try:
                    r = http.post(f"{url}/sparql", content=_update(k), headers=headers)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 204:
                    with lock:
                        acknowledged.add(k)

    for round_ in range(3):
        process, url = start()
        stop = threading.Event()
        clients = [threading.Thread(target=client, args=(url, stop)) for _ in range(3)]
        for t in clients:
            t.start()
        time.sleep(rng.uniform(0.8, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for t in clients:
            t.join(10)
        held = _writes_in(store)  # the store opens after the kill
        partial = {k: n for k, n in held.items() if n != PER_WRITE}
        assert partial == {}, f"round {round_}: partial writes {partial}"
        lost = acknowledged - set(held)
        assert lost == set(), f"round {round_}: acknowledged writes lost: {sorted(lost)[:10]}"
        assert len(acknowledged) > 10 * (round_ + 1), "too few writes to mean anything"

    # a clean stop loses nothing
    process, url = start()
    for k in range(next_write, next_write + 20):
        r = httpx.post(f"{url}/sparql", content=_update(k), headers=headers)
        assert r.status_code == 204
        acknowledged.add(k)
    before = httpx.get(f"{url}/export", params={"format": "nq"}).content
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0  # a clean stop (see tests/test_shutdown.py)
    held = _writes_in(store)
    assert acknowledged <= set(held) and all(n == PER_WRITE for n in held.values())
    with KnowledgeBase.open(str(store)) as kb:
        after = kb.dump("nq")
    assert sorted(after.splitlines()) == sorted(before.splitlines())


PUT_GRAPH = "https://w3id.org/medsupply-kb/graph/test-put"
PUT_SIZE = 300  # triples of each version of the graph


def _version(k: int) -> str:
    typed = f'"{k}"^^<http://www.w3.org/2001/XMLSchema#integer>'
    return "".join(f"<urn:put:{i}> <urn:p:version> {typed} .\n" for i in range(PUT_SIZE))


@pytest.mark.server
@pytest.mark.slow
def test_server_killed_during_graph_replacements_keeps_one_whole_version(tmp_path: Path):
    """A client replaces one graph (Graph Store PUT) again and again; the server is
    SIGKILLed at a random moment, 20 times. Each time the store reopens with one whole
    version of the graph: the last acknowledged one or the one in flight, never an empty or
    partial graph, and the union (what queries see) agrees with it."""
    import httpx

    from tests.conftest import free_port, wait_for_http

    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["KB_UPDATE_TOKEN"] = "s3cret"
    headers = {"Authorization": "Bearer s3cret", "content-type": "application/n-triples"}
    rng = random.Random(14)
    k = 0
    for round_ in range(20):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health", process)
        acknowledged = None
        deadline = time.monotonic() + rng.uniform(0.3, 1.2)
        with httpx.Client(timeout=5) as http:
            while acknowledged is None or time.monotonic() < deadline:
                k += 1
                r = http.put(f"{url}/store", params={"graph": PUT_GRAPH}, content=_version(k),
                             headers=headers)
                assert r.status_code in (201, 204), r.text
                acknowledged = k
            k += 1  # one more, killed while in flight (or not yet read)
            sent = threading.Thread(target=_swallow_put, args=(http, url, k, headers))
            sent.start()
            time.sleep(rng.uniform(0, 0.05))
            process.send_signal(signal.SIGKILL)
            process.wait()
            sent.join(10)
        with KnowledgeBase.open(str(store)) as kb:
            rows = kb.select(f"SELECT ?v (COUNT(*) AS ?n) WHERE {{ GRAPH <{PUT_GRAPH}> "
                             "{ ?s ?p ?v } } GROUP BY ?v")
            union = kb.select("SELECT ?v (COUNT(*) AS ?n) WHERE { ?s <urn:p:version> ?v } "
                              "GROUP BY ?v")
        versions = {int(r["v"]): int(r["n"]) for r in rows}
        assert len(versions) == 1, (
            f"round {round_}: versions mixed or graph empty: {versions}, acked {acknowledged}")
        (version, n), = versions.items()
        assert n == PUT_SIZE, f"round {round_}: version {version} has {n} of {PUT_SIZE} triples"
        assert version in (acknowledged, k), f"round {round_}: {version}, acked {acknowledged}"
        assert {int(r["v"]): int(r["n"]) for r in union} == versions


def _swallow_put(http, url: str, k: int, headers: dict[str, str]) -> None:
    import contextlib

    import httpx

    with contextlib.suppress(httpx.HTTPError):
        http.put(f"{url}/store", params={"graph": PUT_GRAPH}, content=_version(k),
                 headers=headers)
