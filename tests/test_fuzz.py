"""Schemathesis against the app's OpenAPI, in process (ASGI), bounded and seeded: no 5xx and
no answer that contradicts the documented response schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from kb import KnowledgeBase

pytestmark = [pytest.mark.security, pytest.mark.reliability,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]

_kb = KnowledgeBase.open("memory")
_kb.update("INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> "
           "<http://www.w3.org/2000/01/rdf-schema#label> '<script>x</script>' ; "
           "<http://example.org/p> <http://example.org/b> } }")
app = create_app(_kb)


@schemathesis.serializer("application/sparql-query", "application/sparql-update", "text/turtle",
                         "application/n-triples", "application/rdf+xml")
def _text(ctx, value: object) -> bytes:
    """Bodies that are text (a query, an update, RDF): sent as UTF-8, as generated."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")

schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_documented_answers(case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])


def test_the_protocols_parameters_are_in_the_openapi() -> None:
    """So that the fuzzing above sends query text, graph IRIs and bodies, not bare paths."""
    paths = app.openapi()["paths"]

    def names(path: str, method: str) -> set[str]:
        return {p["name"] for p in paths[path][method].get("parameters", [])}

    assert {"query", "default-graph-uri", "named-graph-uri", "format"} <= names("/sparql", "get")
    assert {"application/x-www-form-urlencoded", "application/sparql-query",
            "application/sparql-update"} <= set(paths["/sparql"]["post"]["requestBody"]["content"])
    for method in ("get", "head", "put", "post", "delete"):
        assert {"graph", "default"} <= names("/store", method), method
    assert "text/turtle" in paths["/store"]["put"]["requestBody"]["content"]
