"""Attacks on a live server (``kb serve`` in a subprocess, over loopback only): outbound
requests (SSRF, local files), process-killing inputs, unbounded work, writes without the
token, markup in the data, and the headers the pages carry.

A canary HTTP listener on 127.0.0.1 stands for "any other host": every test that must not
reach out checks that it received nothing; a canary file stands for local secrets.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.conftest import DATA, free_port, run_kb, wait_for_http

pytestmark = [pytest.mark.security, pytest.mark.server]

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EX = "http://example.org/"
SECRET = "INTERNAL-SECRET"
FILE_SECRET = "LOCAL-FILE-SECRET"

# Markup, script IRIs and invisible characters in the data, all to be shown as text.
EVIL = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:xss rdfs:label "<script>alert('label')</script>" ;
    ex:note "\\"><img src=x onerror=alert('note')>" ;
    ex:link <javascript:alert('link')> ;
    ex:rtl "abc\u202edcba\u200b\u200fzz" ;
    ex:knows <http://example.org/a%22onmouseover=alert(1)> .
<javascript:alert('subject')> rdfs:label "js subject" ; ex:knows ex:xss .
"""


# --- the canary: a loopback listener that must receive nothing ----------------------------------


class Canary:
    """An HTTP listener on loopback that records every request line it receives and answers
    like a SPARQL endpoint / RDF server holding a secret."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(f"{self.command} {self.path}")
                if "sparql" in self.path:
                    body = ('{"head":{"vars":["leak"]},"results":{"bindings":[{"leak":'
                            f'{{"type":"literal","value":"{SECRET}"}}}}]}}}}').encode()
                    ctype = "application/sparql-results+json"
                elif self.path.endswith(".jsonld"):
                    body = b'{"@context": {"name": "http://example.org/name"}}'
                    ctype = "application/ld+json"
                else:
                    body = f'<http://example.org/s> <http://example.org/p> "{SECRET}" .'.encode()
                    ctype = "text/turtle"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def canary_server() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def canary(canary_server: Canary) -> Iterator[Canary]:
    """The canary, emptied; the test fails if anything reached it."""
    canary_server.hits.clear()
    yield canary_server
    assert canary_server.hits == [], f"outbound requests reached the canary: {canary_server.hits}"


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "secret.nt"
    path.write_text(f'<http://example.org/s> <http://example.org/p> "{FILE_SECRET}" .\n')
    return path


# --- a live server whose process we watch -------------------------------------------------------


@dataclass
class Live:
    url: str
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    def assert_alive(self) -> None:
        """The same process is still running and answers /health."""
        assert self.process.poll() is None, f"the server died (exit {self.process.returncode})"
        r = httpx.get(f"{self.url}/health", timeout=10)
        assert r.status_code == 200 and r.json()["ok"] is True

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def live(store: Path, environ: dict[str, str] | None = None, **settings: str) -> Iterator[Live]:
    """``kb serve`` over ``store`` with ``KB_*`` settings (and other ``environ`` variables);
    killed (SIGKILL) at the end so that a query still running cannot hold up the suite."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({f"KB_{k.upper()}": v for k, v in settings.items()})
    env.update(environ or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield Live(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def _make_store(tmp: Path) -> Path:
    store = tmp / "store"
    evil = tmp / "evil.ttl"
    evil.write_text(EVIL)
    loaded = run_kb("load", str(DATA / "people.ttl"), str(evil), store=store)
    assert loaded.returncode == 0, loaded.stderr
    return store


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the module: writes on (token ``s3cret``), nothing allow-listed."""
    store = _make_store(tmp_path_factory.mktemp("security"))
    with live(store, update_token=TOKEN, max_body_bytes=str(4 * 1024 * 1024),
              header_timeout="2") as s:
        yield s
    assert s.process.returncode == -signal.SIGKILL  # it was alive until we killed it


@pytest.fixture(scope="module")
def readonly_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The same data, no update token: writes are off."""
    with live(_make_store(tmp_path_factory.mktemp("readonly"))) as s:
        yield s


def dump(url: str) -> list[bytes]:
    r = httpx.get(f"{url}/store", params={"default": ""}, headers={"Accept": "application/n-triples"})
    assert r.status_code == 200
    return sorted(r.content.splitlines())


def quads(url: str) -> list[str]:
    """Every quad, sorted (graphs included, so a write to any graph shows)."""
    r = httpx.get(f"{url}/sparql", params={
        "query": "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"},
        headers={"Accept": "text/tab-separated-values"})
    assert r.status_code == 200
    return sorted(r.text.splitlines()[1:])


# === 1. No outbound requests ====================================================================


def _queries(c: str, secret: Path) -> list[str]:
    return [
        f"SELECT ?leak WHERE {{ SERVICE <{c}/sparql> {{ ?s ?p ?leak }} }}",
        f"SELECT ?leak WHERE {{ SERVICE SILENT <{c}/sparql> {{ ?s ?p ?leak }} }}",
        f"select ?leak where {{ service  <{c}/sparql> {{ ?s ?p ?leak }} }}",
        f"SELECT ?leak WHERE {{ SERVICE # a comment\n <{c}/sparql> {{ ?s ?p ?leak }} }}",
        f"SELECT ?leak WHERE {{ SERVICE <{c}/\\u0073parql> {{ ?s ?p ?leak }} }}",
        f"SELECT ?leak WHERE {{ \\u0053ERVICE <{c}/sparql> {{ ?s ?p ?leak }} }}",
        f"PREFIX c: <{c}/> SELECT ?leak WHERE {{ SERVICE c:sparql {{ ?s ?p ?leak }} }}",
        f"BASE <{c}/> SELECT ?leak WHERE {{ SERVICE <sparql> {{ ?s ?p ?leak }} }}",
        "SELECT ?leak WHERE { BIND(<http://x/> AS ?e) SERVICE ?e { ?s ?p ?leak } }",
        f"SELECT * FROM <{c}/from.ttl> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM NAMED <{c}/named.ttl> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
        f"SELECT * FROM <{secret.as_uri()}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * WHERE {{ SERVICE <{secret.as_uri()}> {{ ?s ?p ?o }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{c}/sparql> {{ ?s ?p ?o }} }}",
        f"ASK {{ SERVICE <http://[::1]:{urlsplit(c).port}/sparql> {{ ?s ?p ?o }} }}",
    ]


@pytest.mark.parametrize("index", range(15))
def test_queries_make_no_outbound_request(server: Live, canary: Canary, secret_file: Path,
                                          index: int) -> None:
    """SERVICE (any spelling, prefixed, BASE-relative, escaped, a variable), FROM and FROM NAMED
    to another host or a local file: 400 before the engine sees it, nothing fetched."""
    query = _queries(canary.url, secret_file)[index]
    for r in (httpx.get(f"{server.url}/sparql", params={"query": query}),
              httpx.post(f"{server.url}/sparql", content=query,
                         headers={"content-type": "application/sparql-query"})):
        assert r.status_code == 400, (query, r.status_code, r.text)
        assert SECRET not in r.text and FILE_SECRET not in r.text
        assert r.json()["type"] in ("QueryRefused", "QueryError")
    time.sleep(0.05)  # a request in flight would reach the canary by now


@pytest.mark.parametrize("template", [
    "LOAD <{c}/load.ttl>",
    "LOAD SILENT <{c}/load.ttl> INTO GRAPH <http://example.org/g>",
    "LOAD <{f}> INTO GRAPH <http://example.org/g>",
    "INSERT {{ <urn:x> <urn:leaked> ?leak }} WHERE {{ SERVICE <{c}/sparql> {{ ?s ?p ?leak }} }}",
    "INSERT {{ <urn:x> <urn:leaked> ?o }} USING <{c}/using.ttl> WHERE {{ ?s ?p ?o }}",
    "INSERT {{ <urn:x> <urn:leaked> ?o }} USING <{f}> WHERE {{ ?s ?p ?o }}",
    "INSERT DATA {{ GRAPH <http://example.org/g> {{ <urn:a> <urn:b> 1 }} }} ; LOAD <{c}/x.ttl>",
])
def test_updates_make_no_outbound_request(server: Live, canary: Canary, secret_file: Path,
                                          template: str) -> None:
    """LOAD, USING and SERVICE inside updates, even with the right token: 400, store unchanged."""
    before = quads(server.url)
    update = template.format(c=canary.url, f=secret_file.as_uri())
    r = httpx.post(f"{server.url}/sparql", data={"update": update}, headers=AUTH)
    assert r.status_code == 400, r.text
    assert quads(server.url) == before
    time.sleep(0.05)


def _xml_bombs(c: str, secret: Path) -> dict[str, bytes]:
    rdf = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           'xmlns:ex="http://example.org/"><rdf:Description rdf:about="http://example.org/s">'
           '<ex:p>{}</ex:p></rdf:Description></rdf:RDF>')
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return {
        "xxe-http": (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{c}/xxe">]>'
                     + rdf.format("&x;")).encode(),
        "xxe-file": (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
                     + rdf.format("&x;")).encode(),
        "xxe-parameter": (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "{c}/dtd"> %p;]>'
                          + rdf.format("x")).encode(),
        "external-dtd": (f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{c}/dtd">'
                         + rdf.format("x")).encode(),
        "billion-laughs": ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY lol0 "lol">' + lol + "]>"
                           + rdf.format("&lol9;")).encode(),
        "quadratic": ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "' + "a" * 50_000 + '">]>'
                      + rdf.format("&a;" * 50_000)).encode(),
        "deep-100k": (rdf.format("<ex:x>" * 100_000 + "</ex:x>" * 100_000)).encode(),
    }


@pytest.mark.parametrize("case", ["xxe-http", "xxe-file", "xxe-parameter", "external-dtd",
                                  "billion-laughs", "quadratic", "deep-100k"])
def test_rdfxml_bombs_are_refused(server: Live, canary: Canary, secret_file: Path,
                                  case: str) -> None:
    """XXE (http, file, parameter entity, external DTD), billion laughs, quadratic blowup and
    100,000-deep nesting: a clear 400 in well under a second, nothing fetched, the same
    process alive and small."""
    body = _xml_bombs(canary.url, secret_file)[case]
    r = httpx.put(f"{server.url}/store", params={"graph": f"{EX}xml"}, content=body,
                  headers={**AUTH, "content-type": "application/rdf+xml"}, timeout=30)
    assert r.status_code == 400, r.text  # within the client's 30 s: a bomb never ends
    assert r.json()["type"] == "LoadError" and FILE_SECRET not in r.text
    server.assert_alive()
    assert server.rss_mb() < 1024
    assert httpx.get(f"{server.url}/store", params={"graph": f"{EX}xml"}).status_code == 404


@pytest.mark.parametrize("context", [
    '"{c}/ctx.jsonld"',
    '["{c}/ctx.jsonld", {{"name": "http://example.org/name"}}]',
    '{{"@import": "{c}/ctx.jsonld"}}',
    '"{f}"',
])
def test_jsonld_remote_context_is_refused(server: Live, canary: Canary, secret_file: Path,
                                          context: str) -> None:
    doc = ('{"@context": ' + context.format(c=canary.url, f=secret_file.as_uri())
           + ', "@id": "http://example.org/j", "name": "x"}')
    r = httpx.put(f"{server.url}/store", params={"graph": f"{EX}jsonld"}, content=doc,
                  headers={**AUTH, "content-type": "application/ld+json"})
    assert r.status_code == 400, r.text
    assert "context" in r.json()["error"] and FILE_SECRET not in r.text


def test_iris_naming_local_files_or_hosts_are_data_not_fetched(
        server: Live, canary: Canary, secret_file: Path) -> None:
    """Turtle whose @base and IRIs point at a local file or another host (owl:imports too) is
    stored as IRIs; the file is never read and the host never asked."""
    turtle = (f"@base <{secret_file.parent.as_uri()}/> .\n"
              f"<secret.nt> <http://www.w3.org/2002/07/owl#imports> <{canary.url}/onto.ttl> .\n"
              f"<{secret_file.as_uri()}> <http://example.org/p> <{canary.url}/x> .\n")
    graph = f"{EX}base"
    r = httpx.put(f"{server.url}/store", params={"graph": graph}, content=turtle,
                  headers={**AUTH, "content-type": "text/turtle"})
    assert r.status_code == 201, r.text
    got = httpx.get(f"{server.url}/store", params={"graph": graph},
                    headers={"Accept": "application/n-triples"}).text
    assert got.count(secret_file.as_uri()) == 2 and FILE_SECRET not in got
    everything = httpx.get(f"{server.url}/export", params={"format": "nq"}).text
    assert FILE_SECRET not in everything and SECRET not in everything
    for path in (f"/resource?iri={secret_file.as_uri()}", f"/viz/entity?iri={secret_file.as_uri()}"):
        assert FILE_SECRET not in httpx.get(server.url + path).text
    assert httpx.delete(f"{server.url}/store", params={"graph": graph}, headers=AUTH).status_code == 204


def test_allow_list_turns_one_host_on(tmp_path: Path, canary_server: Canary) -> None:
    """With KB_ALLOW_HOSTS=127.0.0.1, SERVICE reaches that host (the canary sees the request
    and its answer comes back); another name for the same machine is still refused."""
    canary_server.hits.clear()
    store = _make_store(tmp_path)
    with live(store, allow_hosts="127.0.0.1") as s:
        q = f"SELECT ?leak WHERE {{ SERVICE <{canary_server.url}/sparql> {{ ?s ?p ?leak }} }}"
        r = httpx.get(f"{s.url}/sparql", params={"query": q}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["results"]["bindings"][0]["leak"]["value"] == SECRET
        assert canary_server.hits and canary_server.hits[0].startswith(("GET /sparql", "POST /sparql"))
        canary_server.hits.clear()
        other = q.replace("127.0.0.1", "localhost")
        r = httpx.get(f"{s.url}/sparql", params={"query": other})
        assert r.status_code == 400 and "allow-listed" in r.json()["error"]
        time.sleep(0.05)
        assert canary_server.hits == []


# === 2. No request can kill the server ==========================================================


def _deep_queries() -> dict[str, str]:
    return {
        "5000-parens": "SELECT * WHERE { ?s ?p ?o FILTER(" + "(" * 5000 + "1" + ")" * 5000 + ") }",
        "2500-braces": "SELECT * WHERE " + "{ " * 2500 + "?s ?p ?o" + " }" * 2500,
        "9500-bangs": "SELECT * WHERE { ?s ?p ?o FILTER(" + "!" * 9500 + "true) }",
        "union-chain": "SELECT * WHERE { " + " UNION ".join(["{ ?s ?p ?o }"] * 6600) + " }",
        "and-chain": "SELECT * WHERE { ?s ?p ?o FILTER(" + " && ".join(["true"] * 9500) + ") }",
        "path-alternatives": "SELECT * WHERE { ?s " + "|".join(["<urn:p>"] * 11000) + " ?o }",
        "quoted-triples": "SELECT * WHERE { " + "<< " * 3000 + "<urn:a> <urn:b> <urn:c>" + " >> <urn:p> <urn:o>" * 3000 + " }",
        "small-but-64-deep": "SELECT * WHERE { ?s ?p ?o FILTER(" + "(" * 70 + "1" + ")" * 70 + ") }",
    }


@pytest.mark.reliability
@pytest.mark.parametrize("name", list(_deep_queries()))
def test_deep_or_long_queries_cannot_kill_the_server(server: Live, name: str) -> None:
    """Each of these crashed pyoxigraph 0.5.13 (stack overflow): now a 400 (or an answer),
    and the same process answers afterwards."""
    query = _deep_queries()[name]
    r = httpx.post(f"{server.url}/sparql", data={"query": query}, timeout=60)
    assert r.status_code == 400 or r.status_code == 200, (r.status_code, r.text[:300])
    if r.status_code == 400:
        assert r.json()["type"] in ("QueryRefused", "QueryError")
    server.assert_alive()
    # the same as an update (the token lets it reach the parser)
    update = "INSERT { <urn:a> <urn:b> <urn:c> } " + query[query.index("WHERE"):]
    r = httpx.post(f"{server.url}/sparql", data={"update": update}, headers=AUTH, timeout=120)
    # 503: stopped at KB_UPDATE_TIMEOUT (the 6,600-branch UNION takes the engine 30 s of
    # CPU on a busy machine, before it changes anything)
    assert r.status_code in (400, 204, 503), (r.status_code, r.text[:300])
    assert r.status_code != 503 or r.json()["type"] == "QueryTimeout"
    server.assert_alive()


def _deep_uploads() -> dict[str, tuple[str, bytes]]:
    return {
        "jsonld-3500-objects": ("application/ld+json", (
            '{"@context": {"@vocab": "http://example.org/"}, "@id": "http://example.org/j", '
            + '"p": {' * 3500 + '"q": 1' + "}" * 3500 + "}").encode()),
        "jsonld-3500-arrays": ("application/ld+json", (
            '{"@id": "http://example.org/j", "http://example.org/p": '
            + "[" * 3500 + "1" + "]" * 3500 + "}").encode()),
        "turtle-20k-bnodes": ("text/turtle", (
            "<http://example.org/s> <http://example.org/p> " + "[ <http://example.org/p> " * 20_000
            + "1" + " ]" * 20_000 + " .").encode()),
        "turtle-20k-lists": ("text/turtle", (
            "<http://example.org/s> <http://example.org/p> " + "( " * 20_000 + "1"
            + " )" * 20_000 + " .").encode()),
        "turtle-quoted-triples": ("text/turtle", (
            "<< " * 5000 + "<urn:a> <urn:b> <urn:c>" + " >> <urn:p> <urn:o>" * 5000
            + " <urn:q> 1 .").encode()),
    }


@pytest.mark.reliability
@pytest.mark.parametrize("name", list(_deep_uploads()))
def test_deep_uploads_cannot_kill_the_server(server: Live, name: str) -> None:
    ctype, body = _deep_uploads()[name]
    graph = {"graph": f"{EX}deep"}
    r = httpx.put(f"{server.url}/store", params=graph, content=body,
                  headers={**AUTH, "content-type": ctype}, timeout=60)
    assert r.status_code in (400, 201, 204), (r.status_code, r.text[:300])
    server.assert_alive()
    httpx.delete(f"{server.url}/store", params=graph, headers=AUTH, timeout=60)


# === 3. Bounded work ============================================================================


@pytest.mark.reliability
def test_huge_query_text_is_refused(server: Live) -> None:
    query = "SELECT * WHERE { " + " ".join(f"?s{i} ?p ?o ." for i in range(4000)) + " }"
    r = httpx.post(f"{server.url}/sparql", data={"query": query})
    assert r.status_code == 400 and "limit is 32,768 bytes" in r.json()["error"]
    update = "INSERT DATA { " + " ".join(f"<urn:s{i}> <urn:p> {'x' * 200!r} ." for i in range(6000)) + " }"
    r = httpx.post(f"{server.url}/sparql", data={"update": update}, headers=AUTH)
    assert r.status_code in (400, 413), r.text
    server.assert_alive()


def _raw_request(url: str, head: str, body_parts: list[bytes], timeout: float = 5.0) -> tuple[bytes, int]:
    """Send a request over a raw socket: the head, then body parts for as long as the server
    has not answered; returns the answer and how many body bytes were sent."""
    import select

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode())
        sent = 0
        for part in body_parts:
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break
            try:
                sock.sendall(part)
            except OSError:
                break
            sent += len(part)
        answer = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        return answer, sent


@pytest.mark.reliability
def test_body_over_the_cap_is_refused_without_reading_it(server: Live) -> None:
    """A declared 1 GB body gets 413 at once (nothing of it sent); a chunked body with no
    length gets 413 once the cap is passed, long before the client is done."""
    host = urlsplit(server.url).netloc
    head = (f"POST /store?graph={EX}big HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: text/turtle\r\nContent-Length: 1000000000\r\n\r\n")
    started = time.monotonic()
    answer, _ = _raw_request(server.url, head, [])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 15  # a liveness bound: the body never comes
    chunk = b"# " + b"x" * (256 * 1024 - 2)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = (f"POST /sparql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/sparql-query\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    answer, sent = _raw_request(server.url, head, [framed] * 400, timeout=10)  # 100 MB offered
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent <= 40 * len(framed)  # at most 10 of the 100 MB went out: the cap is 4 MB
    server.assert_alive()


@pytest.mark.reliability
def test_an_answer_over_the_result_cap_is_413_and_says_what_to_do(tmp_path: Path) -> None:
    """Protocol formats are never cut short: an answer larger than KB_MAX_RESULT_BYTES is
    refused with 413 (the saved-query views cut at KB_MAX_ROWS and say so instead)."""
    with live(_make_store(tmp_path), max_result_bytes="3000") as s:
        big = "SELECT * WHERE { ?s ?p ?o . ?a ?b ?c } LIMIT 5000"
        for accept in ("application/sparql-results+json", "text/csv"):
            r = httpx.get(f"{s.url}/sparql", params={"query": big}, headers={"Accept": accept})
            assert r.status_code == 413, r.text
            assert "3,000 bytes" in r.json()["error"] and "LIMIT" in r.json()["error"]
        r = httpx.get(f"{s.url}/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
        assert r.status_code == 200 and len(r.json()["results"]["bindings"]) == 3
        s.assert_alive()


def _closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed ``sock`` (leftover answer bytes are read first)."""
    sock.settimeout(0.05)
    try:
        while sock.recv(65536):
            pass
        return True
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


@pytest.mark.reliability
def test_idle_and_trickling_connections_do_not_starve_others_and_are_closed(server: Live) -> None:
    """Slowloris, bounded (150 sockets that never send a byte, 20 that trickle a header line
    every 0.3 s, 5 that trickle after a first complete request; loopback only, 4 s): other
    clients keep their answers meanwhile, and the server hangs up on every slow socket once
    its request head is 2 s late (KB_HEADER_TIMEOUT=2; uvicorn alone never would)."""
    parts = urlsplit(server.url)
    address = (parts.hostname, parts.port)
    idle = [socket.create_connection(address) for _ in range(150)]
    trickle = [socket.create_connection(address) for _ in range(20)]
    after_one = [socket.create_connection(address) for _ in range(5)]
    try:
        for s in after_one:  # one full request and its answer, then a trickle
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
        for s in trickle + after_one:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        latencies = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            for s in trickle + after_one:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Slow: 1\r\n")
            started = time.monotonic()
            r = httpx.get(f"{server.url}/sparql", params={"query": "ASK { ?s ?p ?o }"}, timeout=5)
            latencies.append(time.monotonic() - started)  # answered within 5 s, not blocked
            assert r.status_code == 200 and r.json()["boolean"] is True
            time.sleep(0.3)
        still_open = [s for s in idle + trickle + after_one if not _closed_by_server(s)]
        groups = {"idle": idle, "trickle": trickle, "after_one": after_one}
        assert still_open == [], {k: sum(s in still_open for s in v) for k, v in groups.items()}
        # a client that sends its request promptly is unaffected, even on a kept-alive socket
        with httpx.Client() as http:
            for _ in range(3):
                assert http.get(f"{server.url}/health").status_code == 200
                time.sleep(0.5)
    finally:
        for s in idle + trickle + after_one:
            s.close()
    server.assert_alive()


@pytest.fixture
def runaway_server(tmp_path: Path) -> Iterator[Live]:
    """A server with a 2 s query timeout, and 1 s for a request head to arrive (killed, with
    whatever still runs, at the end)."""
    store = _make_store(tmp_path)
    with live(store, query_timeout="2", header_timeout="1") as s:
        yield s


RUNAWAY = ("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . "
           "?m ?n2 ?o . ?q ?r ?t . ?u ?v ?w }")


@pytest.fixture
def patient_server(tmp_path: Path) -> Iterator[Live]:
    """A server with a 30 s query timeout: a runaway query keeps its worker that long."""
    with live(_make_store(tmp_path), query_timeout="30") as s:
        yield s


@pytest.mark.reliability
def test_a_runaway_query_does_not_block_other_clients(patient_server: Live) -> None:
    """While two cross-product queries hold their workers, ASK queries from another client
    are answered: all of them before either runaway query ends (they run until the 30 s
    timeout). No latency is asserted: the order is what shows nothing waited for them."""
    url = patient_server.url
    pool = ThreadPoolExecutor(2)

    def runaway(address: str) -> None:  # each from its own address: each holds a worker
        with client_at(address, timeout=40) as http:
            _swallow(http.get, f"{url}/sparql", params={"query": RUNAWAY})

    runaways = [pool.submit(runaway, address) for address in ("127.0.0.3", "127.0.0.4")]
    try:
        time.sleep(0.5)
        for _ in range(10):  # from another client (address): the first holds its share
            with client_at("127.0.0.5", timeout=20) as http:
                r = http.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"})
            assert r.status_code == 200
        assert not any(f.done() for f in runaways), "the runaway queries ended first"
        patient_server.assert_alive()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # they end with the server


def _swallow(fn, *args, **kwargs):
    with contextlib.suppress(httpx.HTTPError):
        return fn(*args, **kwargs)


@pytest.mark.reliability
def test_a_runaway_query_is_stopped_with_503_at_the_timeout(runaway_server: Live) -> None:
    try:
        r = httpx.get(f"{runaway_server.url}/sparql", params={"query": RUNAWAY}, timeout=30)
    except httpx.TimeoutException:
        pytest.fail("no answer within 30 s: the 2 s timeout did not stop the query")
    assert r.status_code == 503  # the timeout's answer: the query alone runs far longer
    assert "timeout" in r.json()["error"].lower()
    runaway_server.assert_alive()


@pytest.mark.reliability
def test_a_pipelined_query_keeps_its_connection_while_it_runs(runaway_server: Live) -> None:
    """Three requests in one write (HTTP/1.1 pipelining): the second, a query stopped at its
    2 s timeout, gets its 503 on the same connection, and the third is answered after it.
    Its head arrived with the first, so the 1 s allowed for a head to arrive does not apply
    while it runs (it used to: the connection was closed after 1 s)."""
    parts = urlsplit(runaway_server.url)
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    query = f"GET /sparql?query={quote(RUNAWAY)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as s:
        s.sendall(health + b"\r\n" + query + health + b"Connection: close\r\n\r\n")
        received = b""
        while chunk := s.recv(65536):  # until the server closes: after the third, or early
            received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", received) == [b"200", b"503", b"200"]


# === 4. Writes ==================================================================================


def _write_requests(url: str) -> list[tuple[str, str, dict, bytes | None, str | None]]:
    g = f"{EX}people"  # an existing graph name is not needed: every write is refused first
    return [
        ("POST", f"{url}/sparql", {}, b"update=CLEAR%20ALL", "application/x-www-form-urlencoded"),
        ("POST", f"{url}/sparql", {}, b"DROP ALL", "application/sparql-update"),
        ("PUT", f"{url}/store", {"graph": g}, b"<urn:a> <urn:b> <urn:c> .", "text/turtle"),
        ("POST", f"{url}/store", {"graph": g}, b"<urn:a> <urn:b> <urn:c> .", "text/turtle"),
        ("DELETE", f"{url}/store", {"graph": "http://example.org/none"}, None, None),
        ("POST", f"{url}/analytics/centrality", {"measure": "degree"}, None, None),
    ]


@pytest.mark.parametrize("index", range(6))
def test_every_write_path_needs_the_token(server: Live, readonly_server: Live, index: int) -> None:
    """No token configured: 403 (writes off); configured: 401 without, 403 wrong, and the
    store is unchanged in each case."""
    def send(url: str, headers: dict) -> httpx.Response:
        method, target, params, body, ctype = _write_requests(url)[index]
        h = dict(headers)
        if ctype:
            h["content-type"] = ctype
        return httpx.request(method, target, params=params, content=body, headers=h)

    before = quads(readonly_server.url)
    for headers in ({}, AUTH):
        r = send(readonly_server.url, headers)
        assert r.status_code == 403 and "Writes are off" in r.json()["error"]
    assert quads(readonly_server.url) == before
    before = quads(server.url)
    assert send(server.url, {}).status_code == 401
    for bad in ("Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer  {TOKEN[:-1]}"):
        r = send(server.url, {"Authorization": bad})
        assert r.status_code in (401, 403), (bad, r.status_code)
    assert quads(server.url) == before


def test_the_right_token_writes_and_analytics_save(server: Live) -> None:
    before = quads(server.url)
    r = httpx.post(f"{server.url}/analytics/centrality", params={"measure": "degree"}, headers=AUTH)
    assert r.status_code == 200, r.text
    after = quads(server.url)
    assert after != before and any("graph/analytics" in q for q in after)


def test_a_failing_update_changes_nothing(server: Live) -> None:
    """A syntax error in the middle, a failing operation after successful ones, a refused
    operation: the full dump is the same before and after."""
    before = quads(server.url)
    for update in (
        f"INSERT DATA {{ GRAPH <{EX}g1> {{ <urn:a> <urn:b> 1 }} }} ; INSERT DATA {{ GRAPH <{EX}g1> {{ <urn:a> <urn:b> }} }} ; CLEAR ALL",
        f"CLEAR ALL ; INSERT DATA {{ GRAPH <{EX}g2> {{ <urn:a> <urn:b> 1 }} }} ; CREATE GRAPH <{EX}g2>",
        "DROP ALL ; LOAD <http://127.0.0.1:9/x.ttl>",
        f"DELETE WHERE {{ ?s ?p ?o }} ; INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <{EX}> {{ ?s ?p ?o }} }}",
    ):
        r = httpx.post(f"{server.url}/sparql", data={"update": update}, headers=AUTH)
        assert r.status_code == 400, (update, r.text)
        assert quads(server.url) == before
    bad_upload = "<urn:a> <urn:b> 1 .\n" * 1000 + "<urn:a> <urn:b> .\n"
    r = httpx.put(f"{server.url}/store", params={"graph": f"{EX}people"}, content=bad_upload,
                  headers={**AUTH, "content-type": "text/turtle"})
    assert r.status_code == 400 and r.json()["line"] == 1001
    assert quads(server.url) == before


def test_cors_reads_only_and_never_credentials(server: Live) -> None:
    evil = {"Origin": "https://evil.example"}
    r = httpx.get(f"{server.url}/sparql", params={"query": "ASK {}"},
                  headers={**evil, "Cookie": "session=1"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    # a cross-origin write needs a preflight (Authorization, PUT, DELETE): refused
    for method, headers in (("POST", "authorization,content-type"), ("PUT", "content-type"),
                            ("DELETE", "")):
        pre = httpx.options(f"{server.url}/store", headers={
            **evil, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers})
        allowed_methods = pre.headers.get("access-control-allow-methods", "")
        allowed_headers = pre.headers.get("access-control-allow-headers", "").lower()
        assert pre.status_code >= 400 or method not in allowed_methods or (
            "authorization" in headers and "authorization" not in allowed_headers), pre.headers
        assert "access-control-allow-credentials" not in pre.headers
    pre = httpx.options(f"{server.url}/sparql", headers={
        **evil, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert "authorization" not in pre.headers.get("access-control-allow-headers", "").lower()
    assert "access-control-allow-credentials" not in pre.headers


# === 5. Pages ===================================================================================

PAGES = [
    "/",
    f"/resource?iri={EX}xss",
    "/resource?iri=javascript:alert('subject')",
    f"/resource?iri={EX}nobody%3Cscript%3Ealert(1)%3C/script%3E",
    f"/viz/entity?iri={EX}xss",
    f"/viz/path?source={EX}xss&target=javascript:alert('subject')",
    "/viz/flows",
    "/viz/query?query=CONSTRUCT%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D%20WHERE%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D",
    "/viz/ontology",
    "/ontology",
]

_RESOURCE_REF = re.compile(
    r"""<(?:script|link|img|iframe|source|object|embed|form|base)\b[^>]*?\b(?:src|href|action|data)\s*=\s*["']?([^"'\s>]+)""",
    re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_security_headers_and_reference_no_other_host(server: Live, path: str) -> None:
    r = httpx.get(server.url + path, headers={"Accept": "text/html"})
    assert r.status_code < 500 and r.headers["content-type"].startswith("text/html"), r.status_code
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp or "default-src 'none'" in csp
    assert "'unsafe-eval'" not in csp and "script-src 'unsafe-inline'" not in csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    html = r.text
    for ref in _RESOURCE_REF.findall(html):
        host = urlsplit(ref).hostname
        assert host in (None, "127.0.0.1"), f"{path} loads {ref}"
    # stored markup never comes back as markup
    for bad in ("<script>alert", "<img src=x", 'href="javascript:'):
        assert bad not in html, (path, bad)
    # no attribute breakout: an event handler in a tag
    assert not re.search(r"<[a-zA-Z][^<>]*\son(?:error|mouseover|load)\s*=", html), path
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    for asset in assets:
        body = httpx.get(server.url + asset).text
        for m in re.finditer(r"""(?:fetch|import|src\s*=|href\s*=|url)\s*\(?\s*["'](https?://[^"']+)""", body):
            assert urlsplit(m.group(1)).hostname in ("127.0.0.1", None), (asset, m.group(1))


@pytest.mark.parametrize("path", PAGES)
def test_markup_in_the_data_stays_text_in_a_real_browser(server: Live, page, path: str) -> None:
    """Every page over the poisoned data, in headless chromium: no dialog, no page error,
    nothing asked of another host; the payloads are visible as text where they are shown."""
    p, log = page
    p.goto(server.url + path)
    p.wait_for_timeout(300)
    if path == f"/resource?iri={EX}xss":
        text = p.text_content("body")
        assert "<script>alert('label')</script>" in text
        assert "\"><img src=x onerror=alert('note')>" in text
        assert p.locator("a[href^='javascript']").count() == 0
    if "nobody" in path:
        assert "<script>alert(1)</script>" in p.text_content("body")
    assert log.dialogs == [], log.dialogs
    assert log.page_errors == [], log.page_errors
    assert log.off_host == [], log.off_host


def test_error_pages_show_markup_as_text(server: Live, page) -> None:
    """The HTML error page (unknown resource, bad parameter) echoes the input as text."""
    p, log = page
    for path in (f"/resource?iri={EX}%22%3E%3Cimg%20src=x%20onerror=alert(7)%3E",
                 "/viz/entity?iri=%3Cscript%3Ealert(8)%3C/script%3E",
                 "/no/such/page%3Cscript%3Ealert(9)%3C/script%3E"):
        r = httpx.get(server.url + path, headers={"Accept": "text/html"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        p.goto(server.url + path)
        p.wait_for_timeout(100)
    assert log.dialogs == [] and log.page_errors == []


def test_letters_beyond_ascii_in_a_query_are_a_400_not_a_crash(server: Live) -> None:
    """Found by schemathesis: a query holding a non-ASCII letter outside strings made the
    safety scan fail an assertion (500)."""
    for query in ("À", "SELECT ?À WHERE { ?À ?p ?o }", "SELECT * WHERE { ?s ?p ?o } É"):
        r = httpx.get(f"{server.url}/sparql", params={"query": query})
        assert r.status_code in (200, 400), (query, r.status_code)
    r = httpx.get(f"{server.url}/sparql", params={"query": "SELECT ?À WHERE { ?À ?p ?o } LIMIT 1"})
    assert r.status_code == 200


# === 5. One bounded path: every user query in a worker, fair shares, slow clients ===========
#
# Each attack runs against a live server, bounded in time; while it runs, /health must still
# answer (a liveness check with a generous timeout, not a speed measurement). Clients are told
# apart by their address: loopback has all of 127.0.0.0/8, so each "client" binds its own.

MIB = 1024 * 1024
# A cartesian COUNT inside a CONSTRUCT: seconds to hours of work, nothing to stream meanwhile.
RUNAWAY_VIEW = ("CONSTRUCT { ?a <urn:count> ?n } WHERE { { SELECT (COUNT(*) AS ?n) WHERE { "
                "?a1 ?b1 ?c1 . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o . ?q ?r ?t . ?u ?v ?w } } "
                "?a ?b ?c } LIMIT 1")


def _memory_bomb(doublings: int) -> str:
    """A 1 KB string doubled ``doublings`` times with CONCAT (21: 2 GB), in a 2 KB query."""
    binds = " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(doublings))
    seed = "x" * 1000
    return f'SELECT (STRLEN(?s{doublings}) AS ?n) WHERE {{ BIND("{seed}" AS ?s0) {binds} }}'


def _big_answer(rows_per_side: int = 250) -> str:
    """A SELECT of rows_per_side² rows built from VALUES (no data needed): 62,500 rows,
    about 8 MB of SPARQL JSON at the default."""
    values = " ".join(f'"value-{i:05d}-padding-padding"' for i in range(rows_per_side))
    return f"SELECT ?x ?y WHERE {{ VALUES ?x {{ {values} }} VALUES ?y {{ {values} }} }}"


def client_at(address: str, timeout: float = 30.0) -> httpx.Client:
    """An HTTP client whose requests come from ``address`` (a 127.x.y.z loopback address)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout)


def assert_health(url: str) -> None:
    """/health answers, and in time (10 s at most: a liveness check, not a benchmark)."""
    r = httpx.get(f"{url}/health", timeout=10)
    assert r.status_code == 200 and r.json()["ok"] is True


def _a_graph(url: str) -> str:
    r = httpx.get(f"{url}/sparql", params={"query": "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } "
                                           "ORDER BY ?g LIMIT 1"}, timeout=20)
    return r.json()["results"]["bindings"][0]["g"]["value"]


@pytest.fixture
def bounded_server(tmp_path: Path) -> Iterator[Live]:
    """A server with a 3 s query timeout, 4 workers of at most 1 GB each (2 per client),
    and 2 s for a stalled body or an unread answer (killed at the end)."""
    with live(_make_store(tmp_path), query_timeout="3", query_workers="4",
              query_workers_per_client="2", query_memory_bytes=str(1024 * MIB),
              io_timeout="2") as s:
        yield s


@pytest.mark.reliability
def test_a_runaway_graph_view_is_stopped_at_the_timeout(bounded_server: Live) -> None:
    """/viz/query runs the user's CONSTRUCT in a query worker: 503 at the timeout (it used to
    run in the server process with no limit, for hours)."""
    url = bounded_server.url
    r = httpx.get(f"{url}/viz/query", params={"query": RUNAWAY_VIEW}, timeout=20)
    assert r.status_code == 503 and "timeout" in r.text.lower()
    good = httpx.get(f"{url}/viz/query", params={
        "query": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5"}, timeout=20)
    assert good.status_code == 200 and "<html" in good.text.lower()
    bad = httpx.get(f"{url}/viz/query", params={"query": "SELECT * WHERE { ?s ?p ?o }"},
                    timeout=20)
    assert bad.status_code == 400 and "CONSTRUCT" in bad.text
    bounded_server.assert_alive()


@pytest.mark.reliability
def test_a_flood_of_runaway_views_and_a_from_query_leave_the_server_up_and_stoppable(
        bounded_server: Live) -> None:
    """Twenty clients each send a runaway /viz/query (it used to fill the engine's 16
    threads), then one sends a query with FROM (which used to block the event loop behind
    them): /health and static files still answer, every request gets an answer, and SIGTERM
    still stops the server."""
    url = bounded_server.url
    from_query = f"SELECT ?o FROM <{_a_graph(url)}> WHERE {{ ?s ?p ?o }} LIMIT 1"
    statuses: list[int] = []

    def view(i: int) -> None:
        with client_at(f"127.0.0.{10 + i}") as http:
            statuses.append(http.get(f"{url}/viz/query", params={"query": RUNAWAY_VIEW}).status_code)

    with ThreadPoolExecutor(21) as pool:
        views = [pool.submit(view, i) for i in range(20)]
        time.sleep(0.5)
        with client_at("127.0.0.99") as http:
            r = http.get(f"{url}/sparql", params={"query": from_query})
            assert r.status_code in (200, 503), r.text  # answered, or told the workers are busy
        assert_health(url)
        assert httpx.get(f"{url}/static/style.css", timeout=10).status_code == 200
        for f in views:
            f.result(timeout=60)
    # each stopped by its worker's bounds: the timeout (503) or the memory cap (413)
    assert len(statuses) == 20 and set(statuses) <= {503, 413}, statuses
    assert_health(url)
    with ThreadPoolExecutor(8) as pool:  # SIGTERM in the middle of another flood
        for i in range(8):
            pool.submit(_swallow, view, i)
        time.sleep(0.5)
        bounded_server.process.send_signal(signal.SIGTERM)
        assert bounded_server.process.wait(20) == 0


@pytest.mark.reliability
def test_a_memory_bomb_is_refused_and_costs_one_worker(tmp_path: Path) -> None:
    """A 2 KB query doubling a string 21 times (2 GB; it used to abort the whole server):
    413 naming the memory cap, the worker is replaced, the server lives. (A long timeout:
    the workers run at a lower priority, and the machine may be busy.)"""
    with live(_make_store(tmp_path), query_timeout="60",
              query_memory_bytes=str(1024 * MIB)) as server:
        _memory_bomb_is_refused(server)


def _memory_bomb_is_refused(bounded_server: Live) -> None:
    url = bounded_server.url
    with ThreadPoolExecutor(1) as pool:
        bomb = pool.submit(httpx.get, f"{url}/sparql", params={"query": _memory_bomb(21)},
                           timeout=90)
        assert_health(url)
        r = bomb.result()
    assert r.status_code == 413, r.text
    assert "memory" in r.json()["error"] and "1,024 MB" in r.json()["error"]
    small = httpx.get(f"{url}/sparql", params={"query": _memory_bomb(3)}, timeout=30)
    assert small.status_code == 200 and small.json()["results"]["bindings"][0]["n"]["value"] == "8000"
    bounded_server.assert_alive()


@pytest.mark.reliability
def test_a_greedy_client_gets_429_and_the_others_are_served(bounded_server: Live) -> None:
    """One client sends four runaway queries at once: two run (its share of the four
    workers), two get 429 with Retry-After (held a second); another client is answered
    meanwhile."""
    url = bounded_server.url

    def greedy() -> httpx.Response:
        with client_at("127.0.0.2") as http:
            return http.get(f"{url}/sparql", params={"query": RUNAWAY})

    with ThreadPoolExecutor(4) as pool:
        floods = [pool.submit(greedy) for _ in range(4)]
        time.sleep(0.5)
        with client_at("127.0.0.3") as http:
            for _ in range(3):
                r = http.get(f"{url}/sparql", params={"query": "ASK { ?s ?p ?o }"})
                assert r.status_code == 200 and r.json()["boolean"] is True
        assert_health(url)
        answers = [f.result(timeout=30) for f in floods]
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2, [a.status_code for a in answers]
    assert all(int(a.headers["retry-after"]) >= 1 and "share" in a.json()["error"]
               for a in refused)
    assert sorted(a.status_code for a in answers if a not in refused) == [503, 503]


@pytest.mark.reliability
def test_large_answers_as_html_leave_the_server_responsive(tmp_path: Path) -> None:
    """Four browsers ask for a 62,500-row answer at once (about 8 MB of JSON each; it was
    parsed whole on the event loop): /health answers meanwhile, each page shows the first
    rows and the count. (A query timeout that a busy machine cannot reach: the pages, not
    the queries' speed, are under test.)"""
    with live(_make_store(tmp_path), query_timeout="60", query_workers="4") as server:
        _large_html_answers(server.url)


def _large_html_answers(url: str) -> None:
    query = _big_answer()

    def page(i: int) -> httpx.Response:
        with client_at(f"127.0.1.{i + 1}", timeout=60) as http:
            return http.get(f"{url}/sparql", params={"query": query},
                            headers={"Accept": "text/html"})

    with ThreadPoolExecutor(4) as pool:
        pages = [pool.submit(page, i) for i in range(4)]
        assert_health(url)
        answers = [f.result(timeout=90) for f in pages]
    for r in answers:
        assert r.status_code == 200 and "62500 row(s)" in r.text, r.text[:300]
        assert "Only the first 10000" in r.text


@pytest.mark.reliability
def test_a_client_that_does_not_read_its_answer_is_cut_off(bounded_server: Live) -> None:
    """An 8 MB answer to a client that reads nothing: after KB_IO_TIMEOUT (2 s) the server
    drops the connection and the buffered answer; the client gets only part of it."""
    parts = urlsplit(bounded_server.url)
    path = "/sparql?" + str(httpx.QueryParams({"query": _big_answer()}))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((parts.hostname, parts.port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.settimeout(30)
        received = sock.recv(4096)  # the head, once the worker has answered
        time.sleep(6)  # 2 s of nothing read is the limit
        assert_health(bounded_server.url)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(1 << 20):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))
    assert length > 6 * MIB and len(body) < length  # cut off, not delivered


@pytest.mark.reliability
def test_a_stalled_request_body_is_cut_off(bounded_server: Live) -> None:
    """A POST that promises 100 KB and sends 10 bytes: closed after KB_IO_TIMEOUT (it used
    to hold its buffers for as long as the client liked)."""
    parts = urlsplit(bounded_server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query"
                     b"\r\nContent-Length: 100000\r\n\r\nSELECT * W")
        sock.settimeout(15)  # 2 s is the limit; much later means never
        started = time.monotonic()
        try:
            rest = sock.recv(65536)
        except ConnectionResetError:
            rest = b""
        assert rest == b"" or rest.startswith(b"HTTP/1.1 4"), rest[:200]
        assert time.monotonic() - started < 15
    assert_health(bounded_server.url)


def test_health_does_not_show_where_the_store_is(server: Live) -> None:
    r = httpx.get(f"{server.url}/health", timeout=10)
    assert r.json()["store"] == "disk"
    assert "/" not in r.text.replace("application/json", "")


@pytest.mark.reliability
def test_the_union_of_all_graphs_is_bounded_like_an_answer(tmp_path: Path) -> None:
    """GET /store?default used to build the whole union in the server's memory; now it is
    an answer of a query worker, refused past KB_MAX_RESULT_BYTES (413, pointing to
    /export). Named graphs are still served."""
    with live(_make_store(tmp_path), max_result_bytes="2000") as s:
        r = httpx.get(f"{s.url}/store", params={"default": ""}, timeout=20)
        assert r.status_code == 413 and "/export" in r.json()["error"]
        named = httpx.get(f"{s.url}/store", params={"graph": _a_graph(s.url)}, timeout=20,
                          headers={"Accept": "application/n-triples"})
        assert named.status_code == 200 and named.content
        s.assert_alive()


@pytest.mark.reliability
def test_an_abandoned_export_leaves_no_temporary_files(tmp_path: Path) -> None:
    """A client starts a 15 MB export and stops reading: after KB_IO_TIMEOUT the server
    hangs up, and the export's thread stops and its temporary files go (they used to stay
    until a later garbage collection)."""
    data = tmp_path / "big.nt"
    with data.open("w") as out:
        for i in range(120_000):
            out.write(f"<{EX}thing/{i}> <{EX}says> \"a longish literal for thing number {i}\" .\n")
    store = tmp_path / "store"
    loaded = run_kb("load", "--graph", f"{EX}big", str(data), store=store)
    assert loaded.returncode == 0, loaded.stderr
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with live(store, {"TMPDIR": str(scratch)}, io_timeout="2") as s:
        parts = urlsplit(s.url)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((parts.hostname, parts.port))
            sock.sendall(b"GET /export?format=nq HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(30)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            deadline = time.monotonic() + 30
            while not list(scratch.glob("kb-export-*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert list(scratch.glob("kb-export-*"))  # the export is under way, stalled
            while list(scratch.glob("kb-export-*")) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not list(scratch.glob("kb-export-*"))
        s.assert_alive()
