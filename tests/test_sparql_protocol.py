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
    assert r.status_code == 422 and "exactly one" in r.json()["error"]
    r = httpx.post(f"{live_server}/sparql", data={"default-graph-uri": f"{EX}g"})
    assert r.status_code == 422
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
