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
    assert missing.status_code == 400 and missing.json()["type"] == "BadRequest"
    assert "No 'query' and no 'update'" in missing.json()["error"]
    # routing's own errors have the same shape, and say what would work
    nowhere = httpx.get(f"{live_server}/nonexistent")
    assert nowhere.status_code == 404 and nowhere.json() == {
        "ok": False, "status": 404, "type": "NotFound",
        "error": "No page or endpoint at /nonexistent; the API is listed at /docs"}
    wrong_method = httpx.delete(f"{live_server}/sparql")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"]
    body = wrong_method.json()
    assert body["ok"] is False and body["status"] == 405 and body["type"] == "MethodNotAllowed"
    assert "DELETE is not allowed on /sparql" in body["error"] and "GET" in body["error"]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_bug_is_a_500_in_the_error_shape_without_details(memory_kb) -> None:
    """An exception nobody expected (a TypeError is a bug, never the client's 400)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(memory_kb)

    @app.get("/boom")
    def boom() -> None:
        raise TypeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["ok"] is False and body["status"] == 500 and body["type"] == "InternalError"
    assert "secret internals" not in r.text
