"""The remote backend against a real Oxigraph server (``oxigraph serve`` from PyPI)."""

from __future__ import annotations

import pytest
import rdflib

from kb import KnowledgeBase, LoadError, QueryError
from tests.conftest import DATA, run_kb

pytestmark = pytest.mark.server
EX = "http://example.org/"


def test_load_query_update_export_through_a_remote_server(remote_kb: KnowledgeBase) -> None:
    report = remote_kb.load([DATA / "people.ttl", DATA / "graphs.trig"])
    assert report.triples == 9
    assert f"{EX}g1" in remote_kb.graphs()
    labels = remote_kb.select(
        "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l")
    assert [str(r["l"]) for r in labels] == ["Alice", "Bob"]  # union default graph

    remote_kb.update(f"INSERT DATA {{ GRAPH <{EX}g3> {{ <{EX}x> <{EX}p> 1 }} }}")
    assert remote_kb.ask(f"ASK {{ <{EX}x> <{EX}p> 1 }}")
    graph = remote_kb.construct(f"CONSTRUCT WHERE {{ ?s <{EX}knows> ?o }}")
    assert len(graph) == 1

    ds = rdflib.Dataset()
    ds.parse(data=remote_kb.dump("nq"), format="nquads")
    assert {f"{EX}g1", f"{EX}g2", f"{EX}g3"} <= {str(g.identifier) for g in ds.graphs()}

    again = remote_kb.load([DATA / "graphs.trig"], force=True)  # replaces, no duplicates
    assert again.triples == 4
    n = remote_kb.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{EX}g2> {{ ?s ?p ?o }} }}")
    assert int(n[0]["n"]) == 2


def test_remote_errors_and_failed_loads(remote_kb: KnowledgeBase) -> None:
    with pytest.raises(LoadError, match=r"broken\.ttl, line 6"):
        remote_kb.load([DATA / "people.ttl", DATA / "broken.ttl"])
    assert remote_kb.graphs() == []
    with pytest.raises(QueryError):
        remote_kb.select("SELECT * WHERE { ?s ?p ?o ")  # the server's parser says no


def test_cli_against_the_remote_server(oxigraph_server: str, remote_kb: KnowledgeBase) -> None:
    url = f"{oxigraph_server}/query"
    assert run_kb("load", str(DATA / "people.ttl"), store=url).returncode == 0
    out = run_kb("query", f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s a <{EX}Person> }}", "-f", "csv",
                 store=url)
    assert out.stdout.split() == ["n", "2"]

