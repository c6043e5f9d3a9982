"""The query workers' in-memory copies of an on-disk store (kb.snapshots): answers from
memory once a copy is loaded, every acknowledged write read back at once, and the store on
disk (said in /health and the log) when the copies would not fit the memory budget."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from kb.store import KnowledgeBase
from tests.conftest import serve

NAMES = "SELECT ?n WHERE { ?p <urn:v:name> ?n } ORDER BY ?n"


def _names(kb: KnowledgeBase) -> list[str]:
    return kb.query(NAMES, format="csv").data.decode().split()[1:]


def _from_memory(kb: KnowledgeBase, expected: list[str]) -> None:
    """Query until the (single) worker answers from its memory copy, with ``expected``."""
    deadline = time.monotonic() + 60
    while True:
        assert _names(kb) == expected  # from disk or memory, always the acknowledged state
        status = kb.query_workers_status()
        assert status is not None
        if status["mode"] == "memory" and status["answering_from_memory"] == 1:
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_workers_answer_from_memory_and_read_every_acknowledged_write(tmp_path: Path) -> None:
    with KnowledgeBase.open(str(tmp_path / "store"), result_cache_bytes=0) as kb:
        kb.update("INSERT DATA { GRAPH <urn:g:a> { <urn:p:ada> <urn:v:name> 'Ada' } }")
        kb.start_query_workers(1)
        _from_memory(kb, ["Ada"])
        expected = ["Ada"]
        for name in ("Bob", "Cy"):  # each write is seen by the very next query
            kb.update(f"INSERT DATA {{ GRAPH <urn:g:b> {{ <urn:p:{name}> <urn:v:name> "
                      f"'{name}' }} }}")
            expected.append(name)
            assert _names(kb) == expected
            _from_memory(kb, expected)
        kb.update("DELETE WHERE { <urn:p:ada> <urn:v:name> ?n }")
        assert _names(kb) == ["Bob", "Cy"]
        _from_memory(kb, ["Bob", "Cy"])
        status = kb.query_workers_status()
        assert status is not None and status["workers_rss_bytes"] > 0


def test_over_the_memory_budget_the_workers_read_the_disk_and_the_log_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kb.snapshots")
    with KnowledgeBase.open(str(tmp_path / "store"), replica_memory_bytes=100) as kb:
        kb.update("INSERT DATA { GRAPH <urn:g:a> { <urn:p:ada> <urn:v:name> 'Ada' } }")
        kb.start_query_workers(1)
        deadline = time.monotonic() + 60
        while (status := kb.query_workers_status())["mode"] == "loading":  # type: ignore[index]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["mode"] == "disk"  # type: ignore[index]
        assert "over the memory budget" in status["reason"]  # type: ignore[index]
        assert any("answer from the store on disk" in r.getMessage() for r in caplog.records)
        kb.update("INSERT DATA { GRAPH <urn:g:a> { <urn:p:bob> <urn:v:name> 'Bob' } }")
        assert _names(kb) == ["Ada", "Bob"]
        assert kb.query_workers_status()["answering_from_memory"] == 0  # type: ignore[index]


def test_health_says_where_the_workers_answer_from(people_store: Path) -> None:
    with serve(people_store, replica_memory_bytes="0", update_token="s3cret") as url:
        queries = httpx.get(f"{url}/health").json()["queries"]
        assert queries["mode"] == "disk"
        assert "KB_REPLICA_MEMORY_BYTES=0" in queries["reason"]
        auth = {"Authorization": "Bearer s3cret"}
        r = httpx.post(f"{url}/sparql", headers=auth, data={
            "update": "INSERT DATA { GRAPH <urn:g:x> { <urn:x:a> <urn:x:b> 'fresh' } }"})
        assert r.status_code < 300, r.text
        r = httpx.get(f"{url}/sparql", params={"query": "ASK { ?s ?p 'fresh' }"},
                      headers={"Accept": "application/sparql-results+json"})
        assert r.json()["boolean"] is True


@pytest.mark.parametrize("seed", range(16))
def test_memory_images_hold_every_quad_with_the_default_graph_last(tmp_path: Path,
                                                                   seed: int) -> None:
    """The image a worker loads is the store's dump reordered (the in-memory store answers
    default-graph LIMIT queries fast only when that graph was loaded last): every quad is
    there once, whatever the sizes of the lines, and no default-graph triple comes first."""
    import random

    import pyoxigraph as ox

    from kb.snapshots import default_graph_last

    rng = random.Random(seed)
    store = ox.Store(str(tmp_path / "store"))  # its dump, in the on-disk engine's order
    for i in range(rng.randrange(6)):
        store.add(ox.Quad(ox.NamedNode(f"urn:s:{i}"), ox.NamedNode("urn:p"),
                          ox.Literal("d" * rng.randrange(9000))))
    for i in range(rng.randrange(6)):
        store.add(ox.Quad(ox.BlankNode(f"b{i}"), ox.NamedNode("urn:p"),
                          ox.Literal("n\n" * rng.randrange(5000)), ox.NamedNode(f"urn:g:{i % 2}")))
    store.dump(str(tmp_path / "dump.nq"), format=ox.RdfFormat.N_QUADS)
    default_graph_last(tmp_path / "dump.nq", tmp_path / "image.nq")
    quads = list(ox.parse(path=str(tmp_path / "image.nq"), format=ox.RdfFormat.N_QUADS))
    assert sorted(map(str, quads)) == sorted(map(str, store))
    in_default = [isinstance(q.graph_name, ox.DefaultGraph) for q in quads]
    assert in_default == sorted(in_default)
