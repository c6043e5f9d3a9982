"""The ``kb`` command as a user runs it: a subprocess, exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import rdflib

from tests.conftest import DATA, run_kb

EX = "http://example.org/"


def test_load_query_update_export_stats(tmp_path: Path) -> None:
    store = tmp_path / "store"
    loaded = run_kb("load", str(DATA / "people.ttl"), str(DATA / "graphs.trig"), store=store)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded 9 triples from 2 file(s) into 4 graph(s)" in loaded.stderr
    again = run_kb("load", str(DATA / "people.ttl"), store=store)
    assert "1 unchanged file(s) skipped" in again.stderr

    q = "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l"
    out = run_kb("query", q, store=store)  # not a terminal: JSON
    assert [b["l"]["value"] for b in json.loads(out.stdout)["results"]["bindings"]] == [
        "Alice", "Bob"]
    table = run_kb("query", q, "--format", "table", store=store)
    assert "Alice" in table.stdout and "2 row(s)" in table.stdout
    csv = run_kb("query", q, "--format", "csv", store=store)
    assert csv.stdout.split() == ["l", "Alice", "Bob"]

    query_file = tmp_path / "q.rq"
    query_file.write_text(f"CONSTRUCT WHERE {{ ?s <{EX}knows> ?o }}")
    ttl = run_kb("query", f"@{query_file}", store=store)
    graph = rdflib.Graph().parse(data=ttl.stdout, format="turtle")
    assert len(graph) == 1

    updated = run_kb("update", f"INSERT DATA {{ GRAPH <{EX}g3> {{ <{EX}x> <{EX}p> 1 }} }}",
                     store=store)
    assert updated.returncode == 0, updated.stderr
    ask = run_kb("query", f"ASK {{ <{EX}x> <{EX}p> 1 }}", store=store)
    assert json.loads(ask.stdout)["boolean"] is True

    dump = tmp_path / "dump.nq"
    exported = run_kb("export", "--format", "nq", "-o", str(dump), store=store)
    assert exported.returncode == 0, exported.stderr
    ds = rdflib.Dataset()
    ds.parse(dump, format="nquads")
    assert f"{EX}g3" in {str(g.identifier) for g in ds.graphs()}

    stats = json.loads(run_kb("stats", "--json", store=store).stdout)
    assert stats["graphs"][f"{EX}g1"] == 1 and stats["classes"][f"{EX}Person"] == 2


def test_python_dash_m_and_help() -> None:
    out = run_kb("--help")
    assert out.returncode == 0
    for command in ("load", "query", "update", "export", "stats", "serve"):
        assert command in out.stdout
        assert run_kb(command, "--help").returncode == 0


def _error(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_error_paths_have_clear_messages_and_exit_1(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert "nothing.ttl: no such file or folder" in _error(
        run_kb("load", "nothing.ttl", store=store))
    message = _error(run_kb("load", str(DATA / "people.ttl"), str(DATA / "broken.ttl"),
                            store=store))
    assert "broken.ttl, line 6, column 1: syntax error" in message
    assert "not an RDF file extension" in _error(
        run_kb("load", str(DATA / "__init__.py"), store=store) if (DATA / "__init__.py").exists()
        else run_kb("load", str(Path(__file__)), store=store))
    assert "unknown RDF format 'yaml'" in _error(
        run_kb("load", "--format", "yaml", str(DATA / "people.ttl"), store=store))
    assert "SPARQL query syntax error at line 1" in _error(
        run_kb("query", "SELECT * WHERE { ?s ?p }", store=store))
    assert "SERVICE <http://127.0.0.1:9/> is refused" in _error(
        run_kb("query", "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", store=store))
    assert "TriG or N-Quads" in _error(run_kb("export", "--format", "ttl", store=store))
    # nothing of the failed load landed
    count = run_kb("query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "-f", "csv",
                   store=store)
    assert count.stdout.split() == ["n", "0"]


def test_store_from_environment(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "KB_STORE": str(tmp_path / "envstore")}
    subprocess.run([sys.executable, "-m", "kb", "load", str(DATA / "people.ttl")], env=env,
                   check=True, capture_output=True)
    assert (tmp_path / "envstore" / "CURRENT").exists()
