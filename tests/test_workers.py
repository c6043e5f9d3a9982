"""Queries in killable worker processes (kb.workers): the same answers as in process, read
your own writes, stopped at the timeout, a crashing query costs one worker, not the server."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kb.errors import (
    InvalidParameter,
    QueryError,
    QueryTimeout,
    ResultTooLarge,
    TooManyQueries,
)
from kb.store import KnowledgeBase
from tests.conftest import serve

DATA = """
INSERT DATA { GRAPH <urn:g:people> {
  <urn:p:ada> <urn:v:name> "Ada" ; <urn:v:knows> <urn:p:bob> .
  <urn:p:bob> <urn:v:name> "Bob" .
} }
"""

# Seven unbound patterns: on ten triples, 10^7 rows to count (seconds of work for the engine).
RUNAWAY = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . "
           "?m ?n2 ?o . ?q ?r ?t . ?u ?v ?w . ?x ?y ?z }")


@pytest.fixture(params=["disk", "memory"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeBase]:
    store = str(tmp_path / "store") if request.param == "disk" else "memory"
    with KnowledgeBase.open(store, query_timeout=1.5, max_result_bytes=4096) as kb:
        kb.update(DATA)
        kb.update("INSERT DATA { GRAPH <urn:g:more> { " + " ".join(
            f"<urn:n:{i}> <urn:v:value> {i} ." for i in range(8)) + " } }")
        kb.start_query_workers(2)
        yield kb


QUERIES = [
    ("SELECT ?n WHERE { ?p <urn:v:name> ?n } ORDER BY ?n", "json"),
    ("SELECT ?n WHERE { ?p <urn:v:name> ?n } ORDER BY ?n", "csv"),
    ("SELECT ?n WHERE { ?p <urn:v:name> ?n } ORDER BY ?n", "xml"),
    ("ASK { <urn:p:ada> <urn:v:knows> ?x }", "json"),
    ("CONSTRUCT { ?s <urn:v:label> ?n } WHERE { ?s <urn:v:name> ?n } ORDER BY ?s", "nt"),
]


@pytest.mark.parametrize(("sparql", "fmt"), QUERIES)
def test_a_worker_answers_what_the_process_answers(kb: KnowledgeBase, sparql: str,
                                                   fmt: str) -> None:
    pooled = kb.query(sparql, format=fmt)
    pool, kb._pool = kb._pool, None
    try:
        local = kb.query(sparql, format=fmt)
    finally:
        kb._pool = pool
    assert (pooled.kind, pooled.media_type, pooled.data) == (local.kind, local.media_type,
                                                             local.data)
    assert pooled.data  # something was answered


def test_dataset_options_reach_the_worker(kb: KnowledgeBase) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    assert b"11" in kb.query(count, format="csv").data  # the union of both graphs
    assert b"3" in kb.query(count, format="csv", default_graph=["urn:g:people"]).data
    named = kb.query("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } LIMIT 1", format="csv",
                     named_graphs=["urn:g:more"])
    assert b"urn:g:more" in named.data and b"people" not in named.data


def test_a_client_reads_its_own_writes(kb: KnowledgeBase) -> None:
    ask = "ASK { <urn:p:cy> <urn:v:name> 'Cy' }"
    assert b"false" in kb.query(ask).data
    kb.update("INSERT DATA { GRAPH <urn:g:people> { <urn:p:cy> <urn:v:name> 'Cy' } }")
    assert b"true" in kb.query(ask).data
    kb.update("DROP GRAPH <urn:g:people>")
    assert b"false" in kb.query(ask).data


def test_errors_come_back_as_in_process(kb: KnowledgeBase) -> None:
    bad = "SELECT * WHERE {\n  ?s ?p }"
    with pytest.raises(QueryError) as pooled:
        kb.query(bad)
    pool, kb._pool = kb._pool, None
    try:
        with pytest.raises(QueryError) as local:
            kb.query(bad)
    finally:
        kb._pool = pool
    assert str(pooled.value) == str(local.value)
    assert pooled.value.line == 2 and pooled.value.column is not None
    with pytest.raises(InvalidParameter, match="format"):
        kb.query("CONSTRUCT WHERE { ?s ?p ?o }", format="csv")


def test_a_runaway_query_is_stopped_and_the_pool_recovers(kb: KnowledgeBase) -> None:
    with pytest.raises(QueryTimeout, match=r"1\.5 s"):  # the query alone runs far longer
        kb.query(RUNAWAY)
    # the killed worker is replaced: both workers answer again
    assert b"true" in kb.query("ASK { ?s ?p ?o }").data
    deadline = time.monotonic() + 30
    while kb._pool._idle.qsize() < 2 and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert kb._pool._idle.qsize() == 2  # type: ignore[union-attr]


def test_a_query_that_kills_its_worker_costs_only_that_worker(kb: KnowledgeBase) -> None:
    # Past kb.safety's nesting limit (which refuses it up front), the engine itself
    # overflows even a 256 MB stack: call the pool directly to get there.
    deep = "SELECT * WHERE { FILTER(" + "(" * 200_000 + "1" + ")" * 200_000 + ") }"
    kb._pool.timeout = 60  # type: ignore[union-attr]  # the crash, not the timeout, on a busy machine
    with pytest.raises(QueryError, match="worker process died"):
        kb._pool.query(deep, lambda kind: __import__("pyoxigraph").QueryResultsFormat.JSON)  # type: ignore[union-attr]
    assert b"true" in kb.query("ASK { ?s ?p ?o }").data


def test_an_answer_over_the_size_cap_is_refused(kb: KnowledgeBase) -> None:
    big = "SELECT ?s ?p ?o ?x WHERE { ?s ?p ?o . ?a ?b ?x }"  # 121 rows, well over 4 KB
    with pytest.raises(ResultTooLarge, match="4,096 bytes"):
        kb.query(big)
    assert kb.query("SELECT ?s WHERE { ?s ?p ?o } LIMIT 2").data


def test_snapshots_go_away_with_the_pool(tmp_path: Path) -> None:
    store = tmp_path / "store"
    kb = KnowledgeBase.open(str(store))
    kb.update(DATA)
    kb.start_query_workers(1)
    for _ in range(3):
        kb.update("INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> <urn:c> } }")
        kb.query("ASK { ?s ?p ?o }")
    snapshots = tmp_path / "store.snapshots"
    assert len(list(snapshots.iterdir())) <= 2  # the newest, and the one the worker has open
    kb.close()
    assert not snapshots.exists()


def test_a_killed_server_takes_its_workers_along(tmp_path: Path) -> None:
    """SIGKILL of the server leaves no worker behind, not even one in the middle of a
    runaway query (each worker watches its parent)."""
    store = tmp_path / "store"
    with KnowledgeBase.open(str(store)) as kb:
        kb.update(DATA)
    before = set(_children(os.getpid()))
    with serve(store, query_timeout="60") as url:
        (server,) = set(_children(os.getpid())) - before
        workers = _children(server)
        assert len(workers) >= 1
        busy = threading.Thread(target=_swallow, args=(url,), daemon=True)
        busy.start()
        time.sleep(1.0)  # the runaway query is running in a worker
        os.kill(server, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _swallow(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{url}/sparql", params={"query": RUNAWAY}, timeout=30)


def test_answers_are_cached_until_the_next_write(kb: KnowledgeBase) -> None:
    names = "SELECT ?n WHERE { ?p <urn:v:name> ?n } ORDER BY ?n"
    first = kb.query(names, format="csv")
    assert kb.query(names, format="csv") is first  # answered without a worker
    assert kb.query(names, format="tsv") is not first  # another format, another answer
    assert kb.query(names, format="csv", default_graph=["urn:g:more"]) is not first
    kb.update("INSERT DATA { GRAPH <urn:g:people> { <urn:p:cy> <urn:v:name> 'Cy' } }")
    fresh = kb.query(names, format="csv")
    assert fresh is not first and b"Cy" in fresh.data and b"Cy" not in first.data


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    with KnowledgeBase.open("memory", result_cache_bytes=0) as kb:
        kb.update(DATA)
        kb.start_query_workers(1)
        ask = "ASK { ?s ?p ?o }"
        assert kb.query(ask) is not kb.query(ask)


# --- memory cap, fair share, caches, leftovers ------------------------------------------------


def _memory_bomb(doublings: int) -> str:
    binds = " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(doublings))
    seed = "x" * 1000
    return f'SELECT (STRLEN(?s{doublings}) AS ?n) WHERE {{ BIND("{seed}" AS ?s0) {binds} }}'


@pytest.mark.parametrize("store", ["disk", "memory"])
def test_a_query_over_the_memory_cap_is_refused_and_its_worker_replaced(
        tmp_path: Path, store: str) -> None:
    location = str(tmp_path / "store") if store == "disk" else "memory"
    with KnowledgeBase.open(location, query_memory_bytes=1024 * 1024 * 1024) as kb:
        kb.update(DATA)
        kb.start_query_workers(1)
        with pytest.raises(ResultTooLarge, match="1,024 MB of memory"):
            kb.query(_memory_bomb(21))  # 2 GB of string
        assert b'"8000"' in kb.query(_memory_bomb(3)).data  # a fresh worker answers


def test_a_client_holds_at_most_its_share_of_the_workers(kb: KnowledgeBase) -> None:
    """Two workers, one each per client: a second query of the same client is refused at
    once while its first runs; another client is served."""
    kb._pool.per_client = 1  # type: ignore[union-attr]
    deadline = time.monotonic() + 60  # the second worker starts behind the first: on a busy
    while kb._pool._idle.qsize() < 2:  # type: ignore[union-attr]  # machine, past the timeout
        assert time.monotonic() < deadline, "the second worker never started"
        time.sleep(0.02)
    with ThreadPoolExecutor(1) as pool:
        runaway = pool.submit(_swallow_kb, kb, RUNAWAY, "greedy")
        deadline = time.monotonic() + 10
        while not kb._pool._clients and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.02)
        with pytest.raises(TooManyQueries, match="share") as refused:
            kb.query("ASK { ?s ?p ?o }", client="greedy")
        assert refused.value.retry_after >= 1
        assert b"true" in kb.query("ASK { ?s ?p ?o }", client="other").data
        assert isinstance(runaway.result(timeout=10), QueryTimeout)
    assert b"true" in kb.query("ASK { ?p <urn:v:name> 'Ada' }", client="greedy").data


def _swallow_kb(kb: KnowledgeBase, sparql: str, client: str) -> Exception | None:
    try:
        kb.query(sparql, client=client)
    except Exception as e:
        return e
    return None


def test_a_slow_answer_of_an_older_generation_keeps_the_newer_cache() -> None:
    from kb.result_cache import ResultCache as _ResultCache
    from kb.store import Result

    cache = _ResultCache(1024 * 1024)
    fresh = Result("ask", __import__("pyoxigraph").QueryResultsFormat.JSON, b"new")
    stale = Result("ask", __import__("pyoxigraph").QueryResultsFormat.JSON, b"old")
    cache.put((2, "ASK {}", None, None, ()), fresh)
    cache.put((1, "ASK {}", None, None, ()), stale)  # finished late, from before a write
    assert cache.get((2, "ASK {}", None, None, ())) is fresh
    assert cache.get((1, "ASK {}", None, None, ())) is None


def test_the_cache_keeps_the_recently_used_answers_within_its_bytes() -> None:
    import pyoxigraph as ox

    from kb.result_cache import ResultCache
    from kb.store import Result

    cache = ResultCache(800)  # answers of up to 100 bytes are kept, 800 bytes in all
    answers = {n: Result("ask", ox.QueryResultsFormat.JSON, bytes(100)) for n in range(9)}
    for n in range(8):
        cache.put((1, f"q{n}"), answers[n])
    assert cache.get((1, "q0")) is answers[0]  # used: now the most recent
    cache.put((1, "q8"), answers[8])  # 900 bytes: the least recently used goes
    assert cache.get((1, "q1")) is None
    assert all(cache.get((1, f"q{n}")) is answers[n] for n in (0, 2, 3, 4, 5, 6, 7, 8))
    big = Result("ask", ox.QueryResultsFormat.JSON, bytes(101))
    assert cache.put((1, "big"), big) is big and cache.get((1, "big")) is None  # over 1/8


def test_each_store_has_its_own_projections() -> None:
    """Sixty short-lived in-memory stores in a row, each with its own statement: each gets
    its own entity graph (a cache keyed by id(kb) gave most of them an earlier store's)."""
    from kb.analytics import entity_graph

    for i in range(60):
        with KnowledgeBase.open("memory") as kb:
            kb.update(f"INSERT DATA {{ GRAPH <urn:g:{i}> {{ <urn:a:{i}> <urn:v:knows> <urn:b:{i}> }} }}")
            g = entity_graph(kb)
            assert set(g.nodes) == {f"urn:a:{i}", f"urn:b:{i}"}, (i, set(g.nodes))


def test_projections_are_not_cached_for_a_remote_store(remote_kb: KnowledgeBase,
                                                       oxigraph_server: str) -> None:
    """Writes by other clients of a remote store never change this KnowledgeBase's
    generation: the projections are built afresh every time."""
    from kb.analytics import entity_graph

    def other_client_inserts(s: str, o: str) -> None:
        httpx.post(f"{oxigraph_server}/update", data={
            "update": f"INSERT DATA {{ GRAPH <urn:g> {{ <{s}> <urn:v:knows> <{o}> }} }}"},
        ).raise_for_status()

    other_client_inserts("urn:a", "urn:b")
    assert set(entity_graph(remote_kb).nodes) == {"urn:a", "urn:b"}
    other_client_inserts("urn:c", "urn:d")
    assert set(entity_graph(remote_kb).nodes) == {"urn:a", "urn:b", "urn:c", "urn:d"}


def test_snapshots_of_a_killed_server_are_removed_when_it_restarts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with KnowledgeBase.open(str(store)) as kb:
        kb.update(DATA)
    snapshots = tmp_path / "store.snapshots"
    before = set(_children(os.getpid()))
    with serve(store) as url:
        (server,) = set(_children(os.getpid())) - before
        assert httpx.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"}).status_code == 200
        left = {p.name for p in snapshots.iterdir()}
        assert left
        os.kill(server, signal.SIGKILL)
        time.sleep(0.5)
    assert {p.name for p in snapshots.iterdir()} == left  # a killed server cleans nothing
    with serve(store):
        assert not {p.name for p in snapshots.iterdir()} & left


def test_snapshots_of_a_killed_in_memory_store_are_removed_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    import tempfile

    script = ("import os, signal\nfrom kb.store import KnowledgeBase\n"
              "if __name__ == '__main__':\n"
              "    kb = KnowledgeBase.open('memory')\n"
              "    kb.update(\"INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> 'c' } }\")\n"
              "    kb.start_query_workers(1)\n"
              "    kb.query('ASK { ?s ?p ?o }')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    killed = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    left = list(tmp_path.glob("kb-snapshots-*"))
    assert left and any(p.iterdir() for p in left)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with KnowledgeBase.open("memory") as kb:
        kb.start_query_workers(1)
        assert not [p for p in left if p.exists()]
