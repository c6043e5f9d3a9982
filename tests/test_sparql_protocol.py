"""The SPARQL 1.1 Protocol and the Graph Store Protocol, against a live server, with real
clients (httpx, SPARQLWrapper, rdflib's SPARQLStore)."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, N3, RDFXML, TSV, TURTLE, XML, SPARQLWrapper

pytestmark = pytest.mark.server

EX = "http://example.org/"
LABELS = "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l"
KNOWS = f"CONSTRUCT WHERE {{ ?s <{EX}knows> ?o }}"
AUTH = {"Authorization": "Bearer s3cret"}


@pytest.mark.parametrize("accept, media, parse", [
    ("application/sparql-results+json", "application/sparql-results+json",
     lambda b: [x["l"]["value"] for x in json.loads(b)["results"]["bindings"]]),
    ("text/csv", "text/csv", lambda b: [r[0] for r in list(csv.reader(io.StringIO(b.decode())))[1:]]),
    ("text/tab-separated-values", "text/tab-separated-values",
     lambda b: [line.strip('"') for line in b.decode().split("\n")[1:] if line]),
    ("text/csv;q=0.4, text/tab-separated-values;q=0.9", "text/tab-separated-values", None),
    ("text/*", "text/csv", None),
    ("*/*", "application/sparql-results+json", None),
    ("application/sparql-results+xml", "application/sparql-results+xml", None),
])
def test_select_content_negotiation(live_server: str, accept: str, media: str, parse) -> None:
    r = httpx.get(f"{live_server}/sparql", params={"query": LABELS}, headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media)
    if parse is not None:
        assert parse(r.content) == ["Alice", "Bob"]


@pytest.mark.parametrize("accept, rdflib_format", [
    ("text/turtle", "turtle"), ("application/n-triples", "nt"), ("application/ld+json", "json-ld"),
    ("application/rdf+xml", "xml"), ("application/trig", "trig"), ("application/n-quads", "nquads"),
])
def test_construct_and_describe_follow_accept(live_server: str, accept: str, rdflib_format: str) -> None:
    for query in (KNOWS, f"DESCRIBE <{EX}alice>"):
        r = httpx.get(f"{live_server}/sparql", params={"query": query}, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(accept)
        ds = rdflib.Dataset()
        ds.parse(data=r.content, format=rdflib_format)
        assert (rdflib.URIRef(f"{EX}alice"), rdflib.URIRef(f"{EX}knows"),
                rdflib.URIRef(f"{EX}bob")) in {q[:3] for q in ds.quads()}


def test_not_acceptable_and_bad_requests(live_server: str) -> None:
    r = httpx.get(f"{live_server}/sparql", params={"query": LABELS}, headers={"Accept": "image/png"})
    assert r.status_code == 406 and "text/csv" in r.json()["error"]
    r = httpx.get(f"{live_server}/sparql", params={"query": "SELECT * WHERE {\n ?s ?p }"})
    assert r.status_code == 400 and r.json()["line"] == 2
    r = httpx.post(f"{live_server}/sparql", data={"query": LABELS, "update": "CLEAR ALL"})
    assert r.status_code == 400 and "Both 'query' and 'update'" in r.json()["error"]
    r = httpx.post(f"{live_server}/sparql", data={"default-graph-uri": f"{EX}g"})
    assert r.status_code == 400
    r = httpx.post(f"{live_server}/sparql", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_service_description(live_server: str) -> None:
    r = httpx.get(f"{live_server}/sparql", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    void = rdflib.Namespace("http://rdfs.org/ns/void#")
    assert (None, rdflib.RDF.type, sd.Service) in g
    names = {str(o) for o in g.objects(None, sd.name)}
    assert "https://w3id.org/medsupply-kb/graph/file/people.ttl" in names
    assert sum(int(o) for o in g.objects(None, void.triples)) > 0


def test_cors_for_reads_without_credentials(live_server: str) -> None:
    r = httpx.get(f"{live_server}/sparql", params={"query": LABELS},
                  headers={"Origin": "https://evil.example", "Cookie": "a=b"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers


def test_sparqlwrapper_in_every_format(live_server: str) -> None:
    client = SPARQLWrapper(f"{live_server}/sparql")
    client.setQuery(LABELS)
    for fmt in (JSON, XML, CSV, TSV):
        client.setReturnFormat(fmt)
        result = client.query()
        body = result.response.read()
        assert b"Alice" in body and b"Bob" in body, fmt
    client.setQuery(KNOWS)
    for fmt in (TURTLE, N3, RDFXML, JSONLD):
        client.setReturnFormat(fmt)
        body = client.query().response.read()
        assert b"alice" in body, fmt


def test_rdflib_sparqlstore(live_server: str) -> None:
    graph = rdflib.Graph(store=SPARQLStore(f"{live_server}/sparql"))
    labels = sorted(str(row[0]) for row in graph.query(LABELS))
    assert labels == ["Alice", "Bob"]


def test_writes_are_off_without_a_token(live_server: str) -> None:
    r = httpx.post(f"{live_server}/sparql", data={"update": "CLEAR ALL"}, headers=AUTH)
    assert r.status_code == 403 and "Writes are off" in r.json()["error"]
    r = httpx.put(f"{live_server}/store", params={"graph": f"{EX}g"}, content=b"",
                  headers={**AUTH, "content-type": "text/turtle"})
    assert r.status_code == 403
    count = httpx.get(f"{live_server}/sparql", params={"query": LABELS}).json()
    assert len(count["results"]["bindings"]) == 2


def test_update_needs_the_right_token_and_is_atomic(writable_server: str) -> None:
    url = f"{writable_server}/sparql"
    insert = f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}x> <{EX}p> 1 }} }}"
    r = httpx.post(url, data={"update": insert})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(url, data={"update": insert}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 403
    r = httpx.post(url, content=insert, headers={**AUTH, "content-type": "application/sparql-update"})
    assert r.status_code == 204
    ask = httpx.get(url, params={"query": f"ASK {{ <{EX}x> <{EX}p> 1 }}"}).json()
    assert ask["boolean"] is True
    dump = httpx.get(f"{writable_server}/store", params={"default": ""},
                     headers={"Accept": "application/n-triples"}).content
    failing = f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}y> <{EX}p> 2 }} }} ; CREATE GRAPH <{EX}g>"
    r = httpx.post(url, data={"update": failing}, headers=AUTH)
    assert r.status_code == 400
    r = httpx.post(url, data={"update": "LOAD <http://127.0.0.1:9/x.ttl>"}, headers=AUTH)
    assert r.status_code == 400 and r.json()["type"] == "QueryRefused"
    after = httpx.get(f"{writable_server}/store", params={"default": ""},
                      headers={"Accept": "application/n-triples"}).content
    assert sorted(after.splitlines()) == sorted(dump.splitlines())


def test_graph_store_protocol(writable_server: str) -> None:
    store = f"{writable_server}/store"
    g = {"graph": f"{EX}masks"}
    turtle = f"<{EX}m1> <{EX}label> \"KN95\" .\n<{EX}m2> <{EX}label> \"FFP2\" .\n"
    r = httpx.get(store, params=g)
    assert r.status_code == 404
    r = httpx.put(store, params=g, content=turtle, headers={**AUTH, "content-type": "text/turtle"})
    assert r.status_code == 201
    r = httpx.put(store, params=g, content=turtle, headers={**AUTH, "content-type": "text/turtle"})
    assert r.status_code == 204  # replaced, not added twice
    r = httpx.post(store, params=g, content=f"<{EX}m3> <{EX}label> \"N95\" .",
                   headers={**AUTH, "content-type": "application/n-triples"})
    assert r.status_code == 204
    got = httpx.get(store, params=g, headers={"Accept": "text/turtle"})
    assert len(rdflib.Graph().parse(data=got.text, format="turtle")) == 3
    head = httpx.head(store, params=g)
    assert head.status_code == 200 and head.content == b""
    bad = httpx.post(store, params=g, content="<a> <b> .", headers={**AUTH, "content-type": "text/turtle"})
    assert bad.status_code == 400 and bad.json()["line"] == 1
    odd = httpx.post(store, params=g, content="x", headers={**AUTH, "content-type": "image/png"})
    assert odd.status_code == 415
    r = httpx.delete(store, params=g, headers=AUTH)
    assert r.status_code == 204
    assert httpx.get(store, params=g).status_code == 404


def test_request_body_cap(writable_server: str) -> None:
    big = b"#" * 70_000
    r = httpx.post(f"{writable_server}/sparql", content=big,
                   headers={"content-type": "application/sparql-query"})
    assert r.status_code == 413 and "65,536 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(20):
            yield b"#" * 8_000

    r = httpx.post(f"{writable_server}/sparql", content=chunks(),
                   headers={"content-type": "application/sparql-query"})
    assert r.status_code == 413


# --- the W3C SPARQL 1.1 Protocol test cases (w3c/rdf-tests sparql/sparql11/protocol), each
# --- asked of a live server in our own words ---------------------------------------------------

G1, G2, G3 = f"{EX}protocol/one", f"{EX}protocol/two", f"{EX}protocol/three"
FORM = {"content-type": "application/x-www-form-urlencoded"}
DIRECT_QUERY = {"content-type": "application/sparql-query"}
DIRECT_UPDATE = {"content-type": "application/sparql-update"}


@pytest.fixture(scope="module")
def protocol_server(tmp_path_factory: pytest.TempPathFactory):
    """One writable server for the protocol cases, with three small named graphs."""
    from tests.conftest import DATA, run_kb, serve

    store = tmp_path_factory.mktemp("protocol") / "store"
    assert run_kb("load", str(DATA / "people.ttl"), store=store).returncode == 0
    with serve(store, update_token="s3cret") as url:
        setup = " ; ".join(f"INSERT DATA {{ GRAPH <{g}> {{ <{g}> a <{EX}Graph{i}> }} }}"
                           for i, g in enumerate((G1, G2, G3)))
        r = httpx.post(f"{url}/sparql", content=setup, headers={**AUTH, **DIRECT_UPDATE})
        assert r.status_code == 204, r.text
        yield url


def _ask(response: httpx.Response) -> bool:
    assert response.status_code == 200, response.text
    return response.json()["boolean"]


def _bad(response: httpx.Response, status: int = 400, says: str = "") -> None:
    """A refusal in the one error shape, with a message that names the mistake."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["ok"] is False and body["status"] == status and says in body["error"], body


def test_protocol_queries_by_get_form_and_direct_post(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    assert _ask(httpx.post(url, content="query=ASK%20%7B%7D", headers=FORM))
    assert _ask(httpx.post(url, content="ASK {}", headers=DIRECT_QUERY))
    assert _ask(httpx.get(url, params={"query": "ASK {}"}))


@pytest.mark.parametrize("query, params, accept", [
    (LABELS, {}, "text/csv"),
    (LABELS, {"format": "tsv"}, None),
    (LABELS, {}, "application/sparql-results+xml, */*;q=0.1"),
    (KNOWS, {}, "text/turtle"),
    ("ASK { GRAPH ?g { ?g a ?t } }", {"named-graph-uri": [G1, G2]}, None),
    ("ASK { ?s ?p ?o }", {"default-graph-uri": [G3]}, "application/sparql-results+json"),
    ("SELECT * WHERE { ?s ?p }", {}, None),  # 400, with the line and column
    (LABELS, {}, "image/png"),  # 406
    (f"SELECT * FROM <{EX}nowhere> WHERE {{ ?s ?p ?o }}", {}, None),
])
def test_get_and_post_answer_alike(protocol_server: str, query: str, params: dict,
                                   accept: str | None) -> None:
    """A GET query (answered before FastAPI's routing, ``QueryFastPath``) and the same
    query by direct POST (FastAPI's route) get the same status, headers and body."""
    url = f"{protocol_server}/sparql"
    headers = {"Accept": accept} if accept else {}
    got = httpx.get(url, params={"query": query, **params}, headers=headers)
    posted = httpx.post(url, params=params, content=query, headers={**headers, **DIRECT_QUERY})
    assert got.status_code == posted.status_code, (got.text, posted.text)
    for name in ("content-type", "vary", "retry-after"):
        assert got.headers.get(name) == posted.headers.get(name), name
    assert got.content == posted.content


def test_protocol_dataset_parameters(protocol_server: str) -> None:
    """default-graph-uri and named-graph-uri make the dataset, by GET and by POST."""
    url = f"{protocol_server}/sparql"
    both_default = f"ASK {{ <{G1}> a ?t1 . <{G2}> a ?t2 }}"
    params = [("query", both_default), ("default-graph-uri", G1), ("default-graph-uri", G2)]
    assert _ask(httpx.get(url, params=params))
    assert _ask(httpx.post(url, params=params[1:], content=both_default, headers=DIRECT_QUERY))
    named = f"ASK {{ GRAPH ?a {{ <{G1}> a ?t1 }} GRAPH ?b {{ <{G2}> a ?t2 }} }}"
    params = [("named-graph-uri", G1), ("named-graph-uri", G2)]
    assert _ask(httpx.get(url, params=[("query", named), *params]))
    assert _ask(httpx.post(url, params=params, content=named, headers=DIRECT_QUERY))
    full = (f"ASK {{ <{G3}> a ?t3 GRAPH ?a {{ <{G1}> a ?t1 }} GRAPH ?b {{ <{G2}> a ?t2 }} "
            f"FILTER NOT EXISTS {{ <{G1}> a ?t1 }} }}")
    assert _ask(httpx.post(url, params=[("default-graph-uri", G3), *params], content=full,
                           headers=DIRECT_QUERY))
    # only the named graphs given are visible: G3 is not among them
    assert not _ask(httpx.get(url, params=[("query", f"ASK {{ GRAPH ?g {{ <{G3}> a ?t }} }}"),
                                           *params]))


@pytest.mark.parametrize("kind, accept, media", [
    ("SELECT * WHERE { ?s ?p ?o } LIMIT 1", "application/sparql-results+xml",
     "application/sparql-results+xml"),
    ("ASK {}", "application/sparql-results+json", "application/sparql-results+json"),
    (f"DESCRIBE <{G1}>", "application/rdf+xml", "application/rdf+xml"),
    (f"CONSTRUCT WHERE {{ <{G1}> ?p ?o }}", "text/turtle", "text/turtle"),
    # as Oxigraph's server does: generic JSON and XML for a graph are JSON-LD and RDF/XML
    (f"CONSTRUCT WHERE {{ <{G1}> ?p ?o }}", "application/json", "application/ld+json"),
    (f"CONSTRUCT WHERE {{ <{G1}> ?p ?o }}", "application/xml", "application/rdf+xml"),
])
def test_protocol_answer_types(protocol_server: str, kind: str, accept: str, media: str) -> None:
    r = httpx.post(f"{protocol_server}/sparql", content=kind,
                   headers={**DIRECT_QUERY, "Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)
    if media == "application/ld+json":
        assert rdflib.Graph().parse(data=r.text, format="json-ld")
    if media == "application/rdf+xml":
        assert rdflib.Graph().parse(data=r.text, format="xml")


def test_protocol_updates_by_form_and_direct_post(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    g = f"{EX}protocol/updated"
    r = httpx.post(url, content=f"update=INSERT+DATA+%7B+GRAPH+%3C{g}%3E+%7B+%3C{g}%3E+a+%3C{EX}T%3E+%7D+%7D",
                   headers={**AUTH, **FORM})
    assert r.status_code == 204, r.text
    assert _ask(httpx.get(url, params={"query": f"ASK {{ GRAPH <{g}> {{ ?s a <{EX}T> }} }}"}))
    r = httpx.post(url, content=f"CLEAR GRAPH <{g}>", headers={**AUTH, **DIRECT_UPDATE})
    assert r.status_code == 204
    assert not _ask(httpx.get(url, params={"query": f"ASK {{ GRAPH <{g}> {{ ?s ?p ?o }} }}"}))


def test_protocol_malformed_queries_get_400(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    _bad(httpx.get(url, params=[("query", "ASK {}"), ("query", "SELECT * {}")]),
         says="2 'query' parameters")
    _bad(httpx.post(url, content="query=ASK+%7B%7D&query=ASK+%7B%7D", headers=FORM),
         says="2 'query' parameters")
    _bad(httpx.post(url, content=b"", headers=FORM), says="No 'query' and no 'update'")
    _bad(httpx.post(url, content="query=ASK+%7B%7D&update=CLEAR+ALL", headers={**AUTH, **FORM}),
         says="Both 'query' and 'update'")
    _bad(httpx.get(url, params={"query": "ASK {"}), says="syntax error")
    # not UTF-8: declared as another charset, or bytes that are no UTF-8
    _bad(httpx.post(url, content="ASK {}".encode("utf-16"),
                    headers={"content-type": "application/sparql-query; charset=UTF-16"}),
         says="UTF-8")
    _bad(httpx.post(url, content=b"ASK { FILTER(\"caf\xe9\") }", headers=DIRECT_QUERY),
         says="not UTF-8")
    _bad(httpx.post(url, content=b"query=ASK+%7B+FILTER(%22caf%E9%22)+%7D", headers=FORM),
         says="not URL-encoded UTF-8")
    # a query in a POST's URL instead of its body
    _bad(httpx.post(url, params={"query": "ASK {}"}, content=b"", headers=FORM),
         says="in the URL of a POST")


def test_protocol_wrong_method_and_media_types(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    _bad(httpx.put(url, params={"query": "ASK {}"}, headers=FORM), 405, "PUT is not allowed")
    _bad(httpx.post(url, content="ASK {}", headers={"content-type": "text/plain"}), 415,
         "text/plain is not a SPARQL request")
    # a form or a query without its media type
    _bad(httpx.post(url, content=b"query=ASK%20%7B%7D"), 415, "(none)")
    _bad(httpx.post(url, content=b"ASK {}"), 415, "(none)")
    _bad(httpx.post(url, content=b"update=CLEAR+ALL", headers=AUTH), 415)
    _bad(httpx.post(url, content=b"CLEAR ALL", headers={**AUTH, "content-type": "text/plain"}),
         415)


def test_protocol_malformed_updates_get_400_and_change_nothing(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    count = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
    before = httpx.get(url, params={"query": count}).json()
    _bad(httpx.get(url, params={"update": "CLEAR ALL"}, headers=AUTH),
         says="only accepted by POST")
    _bad(httpx.post(url, content="update=CLEAR+ALL&update=CLEAR+ALL", headers={**AUTH, **FORM}),
         says="2 'update' parameters")
    _bad(httpx.post(url, content="CLEAR ALL".encode("utf-16"),
                    headers={**AUTH, "content-type": "application/sparql-update; charset=UTF-16"}),
         says="UTF-8")
    _bad(httpx.post(url, content=b"CLEAR GRAPH <urn:caf\xe9>", headers={**AUTH, **DIRECT_UPDATE}),
         says="not UTF-8")
    _bad(httpx.post(url, content="CLEAR ALL ;; nonsense", headers={**AUTH, **DIRECT_UPDATE}),
         says="syntax error")
    # the dataset of an update given twice: in the request and in the update itself
    _bad(httpx.post(url, params={"using-named-graph-uri": G1},
                    content=f"DELETE {{ ?s ?p ?o }} USING NAMED <{G2}> WHERE {{ ?s ?p ?o }}",
                    headers={**AUTH, **DIRECT_UPDATE}), says="using-named-graph-uri")
    assert httpx.get(url, params={"query": count}).json() == before


def test_graph_store_missing_graph_and_bad_rdf(protocol_server: str) -> None:
    store = f"{protocol_server}/store"
    missing = {"graph": f"{EX}protocol/missing"}
    _bad(httpx.get(store, params=missing), 404, "No graph")
    _bad(httpx.delete(store, params=missing, headers=AUTH), 404, "No graph")
    _bad(httpx.put(store, params=missing, content="<a> <b> .",
                   headers={**AUTH, "content-type": "text/turtle"}), 400)
    _bad(httpx.get(store, params=missing), 404)  # the bad PUT created nothing
    # a short name for the graph, as the CLI takes it
    r = httpx.get(store, params={"graph": "msg:file/people.ttl"}, headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and "Alice" in r.text


def test_service_description_for_clients_and_browsers(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    r = httpx.get(url, headers={"Accept": "text/turtle", "Host": "evil.example"})
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    endpoints = {str(o) for o in g.objects(None, sd.endpoint)}
    # the endpoint's IRI comes from the server's address, never from the Host header
    assert endpoints == {f"{protocol_server}/sparql"}
    assert "evil.example" not in r.text
    browser = httpx.get(url, headers={"Accept": BROWSER})
    assert browser.status_code == 200 and browser.headers["content-type"].startswith("text/html")
    assert "SPARQL endpoint" in browser.text and "evil" not in browser.text
    assert G1 in browser.text or "protocol/one" in browser.text
    assert "frame-ancestors 'none'" in browser.headers["content-security-policy"]


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept, media", [
    ("text/*;q=0.9, text/csv;q=0.1", "text/tab-separated-values"),  # the most specific range
    ("*/*, application/sparql-results+json;q=0", "application/sparql-results+xml"),  # q=0
    ("application/sparql-results+xml, */*", "application/sparql-results+xml"),
    ("*/*, text/csv", "text/csv"),  # a named type beats the wildcard of the same q
])
def test_select_negotiation_follows_specificity_and_refusals(
        protocol_server: str, accept: str, media: str) -> None:
    r = httpx.get(f"{protocol_server}/sparql", params={"query": LABELS},
                  headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(media)


def test_oversized_headers_are_refused_and_the_connection_closed(protocol_server: str) -> None:
    url = f"{protocol_server}/sparql"
    long_accept = ", ".join(["application/x-nothing;q=0.1"] * 200)  # 5.8 KB
    _bad(httpx.get(url, params={"query": "ASK {}"}, headers={"Accept": long_accept}), 431,
         "Accept header")
    r = httpx.get(url, params={"query": "ASK {}"},
                  headers={f"X-Filler-{i}": "x" * 1000 for i in range(100)})
    _bad(r, 431, "request headers total")
    assert r.headers["connection"] == "close"
    # a normal request still works
    assert _ask(httpx.get(url, params={"query": "ASK {}"}))


def _raw(base: str, request: bytes) -> bytes:
    """Send raw bytes and read until the server closes the connection (or 10 s pass)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_content_length_with_transfer_encoding_is_refused_and_closed(protocol_server: str) -> None:
    body = b"ASK {}"
    request = (b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
               b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"6\r\n" + body + b"\r\n0\r\n\r\n")
    answer = _raw(protocol_server, request)  # returns only once the server closed it
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 400") and b"connection: close" in head
    assert b"Content-Length and Transfer-Encoding" in answer


def test_a_request_head_that_never_ends_is_refused_and_closed(protocol_server: str) -> None:
    """Header lines past MAX_HEAD_BYTES with no end of the head: 431 and the connection
    closed, without waiting for the head's timeout (the parser sets no limit itself)."""
    from api.server import MAX_HEAD_BYTES

    lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"x" * 1000)
                     for i in range(MAX_HEAD_BYTES // 1000 + 8))
    answer = _raw(protocol_server, b"GET /health HTTP/1.1\r\nHost: x\r\n" + lines)
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 431") and b"connection: close" in head
    assert b"HeaderTooLarge" in answer
    assert httpx.get(f"{protocol_server}/health").status_code == 200
