"""Exports: RDF in every format (round trips, Raptor's rapper), graph files for other tools."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import networkx as nx
import pytest
import rdflib
from rdflib.compare import isomorphic

from kb import InvalidParameter, KnowledgeBase
from kb.analytics import entity_graph
from kb.bundled import load_bundled
from kb.export import export_graph, export_rdf, write_graph_files
from kb.namespaces import ONTOLOGY_GRAPH
from tests.conftest import DATA, run_kb, serve

EX = "http://example.org/"
RDFLIB = {"trig": "trig", "nq": "nquads", "ttl": "turtle", "nt": "nt", "jsonld": "json-ld",
          "rdfxml": "xml"}
RAPPER = {"trig": "trig", "nq": "nquads", "ttl": "turtle", "nt": "ntriples", "rdfxml": "rdfxml"}


@pytest.fixture(scope="module")
def bundled() -> Iterator[KnowledgeBase]:
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        kb.load([DATA / "graphs.trig"])  # blank nodes too
        yield kb


def graphs_of(kb: KnowledgeBase) -> dict[str, rdflib.Graph]:
    return {g: kb.graph(g) for g in kb.graphs()}


@pytest.mark.parametrize("fmt", ["trig", "nq"])
def test_dataset_round_trip_keeps_every_graph(bundled: KnowledgeBase, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"dump.{fmt}"
    with path.open("wb") as f:
        export_rdf(bundled, fmt, output=f)
    with KnowledgeBase.open("memory") as copy:
        copy.load([path])
        original, loaded = graphs_of(bundled), graphs_of(copy)
        loaded.pop(f"https://w3id.org/medsupply-kb/graph/file/dump.{fmt}", None)
        for name in set(original) - {"https://w3id.org/medsupply-kb/graph/loads"}:
            assert isomorphic(original[name], loaded[name]), name


@pytest.mark.parametrize("fmt", ["ttl", "nt", "jsonld", "rdfxml"])
def test_graph_round_trip(bundled: KnowledgeBase, fmt: str, tmp_path: Path) -> None:
    graph = f"{EX}g2"  # holds a blank node
    data = export_rdf(bundled, fmt, graph=graph)
    path = tmp_path / f"g2.{ {'jsonld': 'jsonld', 'rdfxml': 'rdf'}.get(fmt, fmt) }"
    path.write_bytes(data)
    with KnowledgeBase.open("memory") as copy:
        copy.load([path], graph=f"{EX}copy")
        assert isomorphic(copy.graph(f"{EX}copy"), bundled.graph(graph))


def test_jsonld_is_compacted_with_the_project_context(bundled: KnowledgeBase) -> None:
    doc = json.loads(export_rdf(bundled, "jsonld", graph="https://w3id.org/medsupply-kb/graph/source/seed-report"))
    assert "@context" in doc and doc["@context"]["ms"].startswith("https://w3id.org/")
    assert "origin" in json.dumps(doc)  # a term of the context, not a full IRI


def test_two_dumps_of_a_store_are_byte_identical(bundled: KnowledgeBase) -> None:
    assert export_rdf(bundled, "nq") == export_rdf(bundled, "nq")
    assert export_rdf(bundled, "trig") == export_rdf(bundled, "trig")


def test_turtle_of_the_whole_dataset_is_refused(bundled: KnowledgeBase) -> None:
    with pytest.raises(InvalidParameter, match="TriG or N-Quads"):
        export_rdf(bundled, "ttl")


@pytest.mark.skipif(shutil.which("rapper") is None, reason="Raptor's rapper is not installed (Debian raptor2-utils)")
@pytest.mark.parametrize("fmt", sorted(RAPPER))
def test_every_export_parses_with_rapper(bundled: KnowledgeBase, fmt: str, tmp_path: Path) -> None:
    graph = None if fmt in ("trig", "nq") else "https://w3id.org/medsupply-kb/graph/source/seed-report"
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(export_rdf(bundled, fmt, graph=graph))
    done = subprocess.run(["rapper", "-c", "-i", RAPPER[fmt], str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    count = re.search(r"returned (\d+) (triples|statements)", done.stderr)
    assert count and int(count.group(1)) > 10, done.stderr


def test_ontology_export_for_protege(bundled: KnowledgeBase) -> None:
    owl = export_rdf(bundled, "rdfxml", graph=str(ONTOLOGY_GRAPH))
    g = rdflib.Graph().parse(data=owl, format="xml")
    assert (rdflib.URIRef("https://w3id.org/medsupply-kb/ontology#Shipment"), rdflib.RDF.type, rdflib.OWL.Class) in g


def test_graph_exports_open_in_networkx_gephi_and_neo4j_format(bundled: KnowledgeBase, tmp_path: Path) -> None:
    g = entity_graph(bundled)
    graphml = nx.read_graphml(io.BytesIO(export_graph(g, "graphml")))
    assert graphml.number_of_nodes() == g.number_of_nodes()
    china = graphml.nodes["https://w3id.org/medsupply-kb/id/country/CN"]
    assert china["label"] == "China" and "Country" in china["types"]
    gexf = nx.read_gexf(io.BytesIO(export_graph(g, "gexf")))
    assert gexf.number_of_edges() == g.number_of_edges()
    assert gexf.nodes["https://w3id.org/medsupply-kb/id/country/CN"]["label"] == "China"
    assert gexf.nodes["https://w3id.org/medsupply-kb/id/country/CN"]["class"] == "Country"
    assert all(isinstance(d["weight"], float) for _, _, d in gexf.edges(data=True))
    assert export_graph(g, "gexf") == export_graph(g, "gexf")  # stable files
    linked = nx.node_link_graph(json.loads(export_graph(g, "json")), edges="links")
    assert linked.number_of_nodes() == g.number_of_nodes()
    files = write_graph_files(g, "csv", tmp_path / "neo4j")
    nodes = list(csv.reader(io.StringIO(files[0].read_text())))
    rels = list(csv.reader(io.StringIO(files[1].read_text())))
    assert nodes[0] == ["iri:ID", "label", "class", "types:string[]", "graphs:string[]", ":LABEL"]
    assert rels[0] == [":START_ID", ":END_ID", ":TYPE", "predicate", "label", "graph", "weight:float"]
    ids = {row[0] for row in nodes[1:]}
    assert all(r[0] in ids and r[1] in ids for r in rels[1:])


def test_export_from_cli_and_http(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA / "graphs.trig"), store=store).returncode == 0
    out = tmp_path / "dump.nq"
    assert run_kb("export", "--format", "nq", "-o", str(out), store=store).returncode == 0
    assert f"<{EX}g1>" in out.read_text()
    done = run_kb("graph", "export", "--format", "gexf", "-o", str(tmp_path / "g.gexf"), store=store)
    assert done.returncode == 0 and (tmp_path / "g.gexf").exists()
    with serve(store) as url:
        r = httpx.get(f"{url}/export", params={"format": "trig"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/trig")
        assert "attachment" in r.headers["content-disposition"]
        r = httpx.get(f"{url}/export", params={"format": "ttl"})
        assert r.status_code == 406 and "format=trig" in r.json()["error"]
        r = httpx.get(f"{url}/export", params={"format": "ttl", "graph": f"{EX}g1"})
        assert r.status_code == 200 and len(rdflib.Graph().parse(data=r.text, format="turtle")) == 1
        r = httpx.get(f"{url}/export/graph", params={"format": "csv", "part": "relationships"})
        assert r.status_code == 200 and r.text.startswith(":START_ID")
        r = httpx.get(f"{url}/export/graph", params={"format": "png"})
        assert r.status_code == 422
