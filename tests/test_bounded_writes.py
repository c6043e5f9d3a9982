"""Writes bounded in time (KB_UPDATE_TIMEOUT), costly JSON-LD refused, and the fair share
of query workers behind a trusted reverse proxy (KB_TRUSTED_PROXIES), against a live server
(and the library, which `kb update` and `kb load` use).

Liveness, not latency: /health must answer while an attack runs (a generous client
timeout), and every bound is shown by its status code and by what the store holds after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase, LoadError, QueryTimeout, ResultTooLarge
from tests.conftest import DATA
from tests.test_security import (
    AUTH,
    RUNAWAY,
    Live,
    _make_store,
    assert_health,
    client_at,
    live,
    quads,
)

#: A SPARQL Update whose WHERE is a cartesian product of the store with itself, eight times:
#: over the 14 triples of people.ttl alone, 14**8 (1.5 billion) rows to count for one new
#: triple, minutes on any machine. (Six times, 7.5 million rows, finished under the 2 s
#: timeout on a fast, quiet machine.)
RUNAWAY_UPDATE = (
    "INSERT { GRAPH <http://example.org/graph/count> { <http://example.org/n> "
    "<http://example.org/count> ?n } } WHERE { SELECT (COUNT(*) AS ?n) WHERE { "
    "?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o . ?q ?r ?t . ?u ?v ?w . "
    "?x ?y ?z } }"
)
SPARQL_UPDATE = {**AUTH, "Content-Type": "application/sparql-update"}
PROXY, OTHER = "127.0.0.2", "127.0.0.3"  # a trusted reverse proxy, and a client that is not


def costly_jsonld(terms: int = 3000, uses: int = 3000) -> bytes:
    """A JSON-LD document whose property ``p`` carries a scoped context of ``terms`` terms,
    used by ``uses`` nodes: the context is processed at each use, quadratic work (3,000 x
    3,000: about 180 KB, and 15-30 s of a processor's time)."""
    scoped = {f"t{i}": f"http://example.org/t{i}" for i in range(terms)}
    nodes = [{"@id": f"http://example.org/n{j}", "p": {"t0": "x"}} for j in range(uses)]
    return json.dumps(
        {"@context": {"p": {"@id": "http://example.org/p", "@context": scoped}}, "@graph": nodes}
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Writes on, 3 s for an update or a parse and for a query, four workers, one per client;
    127.0.0.2 is a trusted proxy; 50 rows in views."""
    store = _make_store(tmp_path_factory.mktemp("bounded"))
    with live(
        store,
        update_token="s3cret",
        update_timeout="3",
        query_timeout="3",
        query_workers="4",
        query_workers_per_client="1",
        trusted_proxies=PROXY,
        max_body_bytes=str(4 * 1024 * 1024),
        max_rows="50",
    ) as s:
        yield s


@pytest.mark.reliability
def test_a_runaway_update_is_stopped_and_changes_nothing(server: Live) -> None:
    """An update that would run for hours: 503 naming KB_UPDATE_TIMEOUT, /health answers
    while it runs, the store holds the same quads after, and the next write succeeds."""
    url = server.url
    before = quads(url)
    with ThreadPoolExecutor(1) as pool:
        update = pool.submit(
            httpx.post, f"{url}/sparql", content=RUNAWAY_UPDATE, headers=SPARQL_UPDATE, timeout=60
        )
        assert_health(url)
        assert (
            httpx.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=20).json()[
                "boolean"
            ]
            is True
        )
        r = update.result()
    assert r.status_code == 503, r.text
    assert "KB_UPDATE_TIMEOUT" in r.json()["error"] and "nothing changed" in r.json()["error"]
    assert quads(url) == before
    after = httpx.post(
        f"{url}/sparql",
        headers=SPARQL_UPDATE,
        timeout=30,
        content=(
            "INSERT { GRAPH <http://example.org/graph/next> { ?s <http://example.org/seen> true } } "
            "WHERE { ?s a ?type } "
        ),
    )
    assert after.status_code == 204, after.text
    assert len(quads(url)) > len(before)
    server.assert_alive()


@pytest.mark.reliability
def test_a_jsonld_upload_with_costly_scoped_contexts_is_refused(server: Live) -> None:
    """A 180 KB JSON-LD document that costs quadratic time to parse: refused with 400 naming
    the limit once it is reached, /health answers meanwhile, nothing is written; a small
    document with a scoped context is still taken."""
    url = server.url
    graph = "http://example.org/graph/costly"
    with ThreadPoolExecutor(1) as pool:
        put = pool.submit(
            httpx.put,
            f"{url}/store",
            params={"graph": graph},
            content=costly_jsonld(),
            timeout=60,
            headers={**AUTH, "Content-Type": "application/ld+json"},
        )
        assert_health(url)
        r = put.result()
    assert r.status_code == 400, r.text
    assert "KB_UPDATE_TIMEOUT" in r.json()["error"] and "@context" in r.json()["error"]
    assert httpx.get(f"{url}/store", params={"graph": graph}, timeout=20).status_code == 404
    small = httpx.put(
        f"{url}/store",
        params={"graph": graph},
        content=costly_jsonld(3, 2),
        headers={**AUTH, "Content-Type": "application/ld+json"},
        timeout=30,
    )
    assert small.status_code == 201, small.text
    got = httpx.get(
        f"{url}/store",
        params={"graph": graph},
        timeout=20,
        headers={"Accept": "application/n-triples"},
    )
    assert got.text.count("<http://example.org/t0>") == 2
    server.assert_alive()


def _runaways(origin: str, forwarded: list[str], url: str) -> list[int]:
    """Statuses of runaway queries sent at once from ``origin``, one per X-Forwarded-For."""

    def ask(client: str) -> int:
        with client_at(origin) as http:
            return http.get(
                f"{url}/sparql", params={"query": RUNAWAY}, headers={"X-Forwarded-For": client}
            ).status_code

    with ThreadPoolExecutor(len(forwarded)) as pool:
        return sorted(pool.map(ask, forwarded))


@pytest.mark.reliability
def test_forwarded_for_counts_only_from_a_trusted_proxy(server: Live) -> None:
    """One worker per client: two clients behind the trusted proxy each get theirs (both
    runaways run to the timeout, 503); the same header from an untrusted address is ignored,
    so its two queries share one share (one 429)."""
    url = server.url
    assert _runaways(PROXY, ["203.0.113.1", "203.0.113.2"], url) == [503, 503]
    assert _runaways(OTHER, ["203.0.113.1", "203.0.113.2"], url) == [429, 503]
    assert _runaways(PROXY, ["203.0.113.7", "203.0.113.7"], url) == [429, 503]


def test_a_resource_with_many_statements_is_described_within_the_row_cap(server: Live) -> None:
    """A node that 80 others point to: its RDF view holds KB_MAX_ROWS (50) statements and
    says so in X-Truncated (the engine stops there, at any size: it used to build every
    statement); its page still lists them."""
    url = server.url
    hub = "http://example.org/hub"
    members = " ".join(f"<http://example.org/m{i}> a <{hub}> ." for i in range(80))
    r = httpx.post(f"{url}/sparql", headers=SPARQL_UPDATE, timeout=30,
                   content=f"INSERT DATA {{ GRAPH <http://example.org/graph/hub> {{ {members} }} }}")
    assert r.status_code == 204, r.text
    rdf = httpx.get(f"{url}/resource", params={"iri": hub}, timeout=30,
                    headers={"Accept": "application/n-triples"})
    assert rdf.status_code == 200 and rdf.headers["x-truncated"] == "50"
    assert len(rdf.text.strip().splitlines()) == 50
    page = httpx.get(f"{url}/resource", params={"iri": hub}, timeout=30)
    assert page.status_code == 200 and "http://example.org/m79" in page.text


@pytest.mark.reliability
def test_the_library_and_command_line_are_bounded_too(tmp_path: Path) -> None:
    """Without a server (`kb update`, `kb load` read the same setting): a runaway update and
    a costly JSON-LD file fail after KB_UPDATE_TIMEOUT, saying so, and the store on disk is
    as it was; an update over the memory cap fails with it (413 over HTTP), changing
    nothing."""
    costly = tmp_path / "costly.jsonld"
    costly.write_bytes(costly_jsonld())
    with KnowledgeBase.open(str(tmp_path / "store"), update_timeout=2) as kb:
        kb.load([DATA / "people.ttl"])
        before = len(kb)
        with pytest.raises(QueryTimeout, match="KB_UPDATE_TIMEOUT"):
            kb.update(RUNAWAY_UPDATE)
        with pytest.raises(LoadError, match=r"costly\.jsonld.*KB_UPDATE_TIMEOUT"):
            kb.load([costly])
        assert len(kb) == before
        kb.update("DELETE WHERE { ?s <http://example.org/knows> ?o }")  # rehearsed, applied
        assert len(kb) < before
    bomb = " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(20))
    with KnowledgeBase.open("memory", query_memory_bytes=2**30) as kb:  # a 1 GB string
        with pytest.raises(ResultTooLarge, match="1,024 MB"):
            kb.update('INSERT { <urn:a> <urn:n> ?n } WHERE { BIND("' + "x" * 1000
                      + f'" AS ?s0) {bomb} BIND(STRLEN(?s20) AS ?n) }}')
        assert len(kb) == 0
