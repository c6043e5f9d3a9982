"""The HTTP server, live (uvicorn in a subprocess), with real clients."""

from __future__ import annotations

import httpx
import pytest
from SPARQLWrapper import JSON, SPARQLWrapper

pytestmark = pytest.mark.server

LABELS = "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l"


def labels(body: dict) -> list[str]:
    return [b["l"]["value"] for b in body["results"]["bindings"]]


def test_health_reports_the_store(live_server: str) -> None:
    body = httpx.get(f"{live_server}/health").json()
    assert body["ok"] is True and body["triples"] > 5 and body["graphs"] == 2


def test_sparql_get_post_form_and_post_direct(live_server: str) -> None:
    get = httpx.get(f"{live_server}/sparql", params={"query": LABELS})
    assert get.status_code == 200
    assert get.headers["content-type"].startswith("application/sparql-results+json")
    assert labels(get.json()) == ["Alice", "Bob"]
    form = httpx.post(f"{live_server}/sparql", data={"query": LABELS})
    assert labels(form.json()) == ["Alice", "Bob"]
    direct = httpx.post(f"{live_server}/sparql", content=LABELS,
                        headers={"content-type": "application/sparql-query"})
    assert labels(direct.json()) == ["Alice", "Bob"]


def test_sparqlwrapper_client(live_server: str) -> None:
    client = SPARQLWrapper(f"{live_server}/sparql")
    client.setQuery(LABELS)
    client.setReturnFormat(JSON)
    assert labels(client.query().convert()) == ["Alice", "Bob"]


def test_errors_have_one_json_shape(live_server: str) -> None:
    bad = httpx.get(f"{live_server}/sparql", params={"query": "SELECT * WHERE { ?s ?p }"})
    assert bad.status_code == 400
    body = bad.json()
    assert body["ok"] is False and body["status"] == 400 and body["type"] == "QueryError"
    assert body["error"].startswith("SPARQL query syntax error at line 1") and body["line"] == 1
    refused = httpx.get(f"{live_server}/sparql", params={
        "query": "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"})
    assert refused.status_code == 400 and refused.json()["type"] == "QueryRefused"
    missing = httpx.post(f"{live_server}/sparql", data={"named-graph-uri": "urn:g"})
    assert missing.status_code == 422 and missing.json()["error"].startswith("query:")
