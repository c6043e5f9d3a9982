"""RDF exports in depth: every format round-trips (export -> load into an empty store -> the same
graphs), parses with Raptor's ``rapper``, is byte-identical for the same data, and streams."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import rdflib
from rdflib.compare import isomorphic

from kb import KnowledgeBase
from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.export import ExportPlan, export_bytes, export_stream, plan_export
from kb.namespaces import LOADS_GRAPH, ONTOLOGY_GRAPH
from tests.conftest import DATA, run_kb, serve

EX = "http://example.org/"
RAPPER_SYNTAX = {"trig": "trig", "nq": "nquads", "ttl": "turtle", "nt": "ntriples",
                 "rdfxml": "rdfxml"}
BLANKS = DATA / "blank-nodes.trig"


def _fill(kb: KnowledgeBase) -> KnowledgeBase:
    kb.load([ONTOLOGY_FILE], graph=str(ONTOLOGY_GRAPH))
    kb.load([DATA_DIR, BLANKS])
    return kb


@pytest.fixture(scope="module")
def full_kb() -> Iterator[KnowledgeBase]:
    """The ontology, the bundled data and a graph of blank nodes, in memory."""
    with KnowledgeBase.open("memory") as kb:
        yield _fill(kb)


def _graphs(kb: KnowledgeBase) -> dict[str, rdflib.Graph]:
    ds = kb.dataset()
    return {str(g.identifier): g for g in ds.graphs() if len(g)}


def _same_graphs(left: KnowledgeBase, right: KnowledgeBase, *, skip=(str(LOADS_GRAPH),)) -> None:
    a, b = _graphs(left), _graphs(right)
    assert set(a) - set(skip) == set(b) - set(skip)
    for name in set(a) - set(skip):
        assert isomorphic(a[name], b[name]), name


@pytest.mark.parametrize("fmt", ["trig", "nq", "jsonld"])
def test_whole_dataset_round_trips(full_kb: KnowledgeBase, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"dump.{ {'jsonld': 'jsonld'}.get(fmt, fmt)}"
    path.write_bytes(export_bytes(full_kb, fmt))
    with KnowledgeBase.open("memory") as fresh:
        fresh.load([path])
        _same_graphs(full_kb, fresh)
        # the load log of the original is exported as data and comes back too
        old = _graphs(full_kb)[str(LOADS_GRAPH)]
        new = _graphs(fresh)[str(LOADS_GRAPH)]
        assert len(new) > len(old)


@pytest.mark.parametrize("fmt", ["ttl", "nt", "jsonld", "rdfxml"])
@pytest.mark.parametrize("graph", [str(ONTOLOGY_GRAPH), f"{EX}blanks",
                                   "https://w3id.org/medsupply-kb/graph/source/seed-report"])
def test_one_graph_round_trips(full_kb: KnowledgeBase, fmt: str, graph: str,
                               tmp_path: Path) -> None:
    ext = {"rdfxml": "rdf"}.get(fmt, fmt)
    path = tmp_path / f"graph.{ext}"
    path.write_bytes(export_bytes(full_kb, fmt, graph=graph))
    with KnowledgeBase.open("memory") as fresh:
        fresh.load([path], graph=graph)
        assert isomorphic(full_kb.graph(graph), fresh.graph(graph))


@pytest.mark.skipif(shutil.which("rapper") is None, reason="rapper (raptor2-utils) not installed")
@pytest.mark.parametrize("fmt,graph", [("trig", None), ("nq", None), ("ttl", "ontology"),
                                       ("rdfxml", "ontology"), ("nt", "ontology"),
                                       ("ttl", f"{EX}blanks"), ("rdfxml", f"{EX}blanks"),
                                       ("ttl", "source/seed-report"),
                                       ("rdfxml", "source/seed-report")])
def test_rapper_parses_every_export(full_kb: KnowledgeBase, fmt: str, graph: str | None,
                                    tmp_path: Path) -> None:
    path = tmp_path / f"dump.{fmt}"
    data = export_bytes(full_kb, fmt, graph=graph)
    path.write_bytes(data)
    done = subprocess.run(["rapper", "-q", "-i", RAPPER_SYNTAX[fmt], "-o", "nquads", str(path),
                           "http://example.org/base/"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    ours = len(full_kb) if graph is None else len(full_kb.graph(plan_export(
        full_kb, fmt, graph=graph).graphs[0]))
    assert len(done.stdout.splitlines()) == ours


def test_same_data_gives_the_same_bytes(full_kb: KnowledgeBase, tmp_path: Path) -> None:
    with KnowledgeBase.open(str(tmp_path / "store")) as other:  # on disk, loaded again:
        _fill(other)  # blank nodes get other engine ids, the loads graph other times
        for fmt in ("ttl", "nt", "rdfxml", "jsonld"):
            assert export_bytes(full_kb, fmt, graph="loads") != export_bytes(
                other, fmt, graph="loads"), fmt  # the times of the loads differ
        # with the same record of loads, the whole datasets are the same bytes
        other.replace_graph(str(LOADS_GRAPH), full_kb.graph(str(LOADS_GRAPH)))
        for fmt in ("trig", "nq", "jsonld"):
            assert export_bytes(full_kb, fmt) == export_bytes(other, fmt), fmt
        for fmt in ("ttl", "nt", "rdfxml", "jsonld"):
            for graph in (f"{EX}blanks", str(ONTOLOGY_GRAPH)):
                assert export_bytes(full_kb, fmt, graph=graph) == export_bytes(
                    other, fmt, graph=graph), (fmt, graph)


def test_output_is_readable_and_sorted(full_kb: KnowledgeBase) -> None:
    ttl = export_bytes(full_kb, "ttl", graph="ontology").decode()
    assert "@prefix ms: <https://w3id.org/medsupply-kb/ontology#> ." in ttl
    assert "ms:Shipment a owl:Class" in ttl
    nt = export_bytes(full_kb, "nt", graph="ontology").splitlines()
    assert nt == sorted(nt)
    jsonld = export_bytes(full_kb, "jsonld", graph="source/seed-report").decode()
    assert '"@context": {"ms": "https://w3id.org/medsupply-kb/ontology#"' in jsonld
    assert '"origin": "country:CN"' in jsonld  # a term of ontology/context.jsonld


def test_blank_nodes_are_labelled_by_content(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([BLANKS])
    first = export_bytes(memory_kb, "nq")
    memory_kb.load([BLANKS], force=True)  # new engine ids for the same blank nodes
    assert export_bytes(memory_kb, "nq").replace(b"\n", b"") != b""
    again = export_bytes(memory_kb, "nq")
    strip = lambda data: b"\n".join(  # noqa: E731  (the load times differ)
        line for line in data.splitlines() if str(LOADS_GRAPH).encode() not in line)
    assert strip(first) == strip(again)
    assert b"_:b" in first


def test_whole_dataset_in_a_one_graph_format_is_refused(full_kb: KnowledgeBase,
                                                        tmp_path: Path) -> None:
    from kb.export import NotAcceptable

    for fmt in ("ttl", "nt", "rdfxml"):
        with pytest.raises(NotAcceptable, match=r"TriG.*N-Quads"):
            plan_export(full_kb, fmt)
    store = tmp_path / "s"
    assert run_kb("load", str(DATA / "graphs.trig"), store=store).returncode == 0
    out = tmp_path / "dump.ttl"
    done = run_kb("export", "-f", "ttl", "-o", str(out), store=store)
    assert done.returncode == 1
    assert "TriG" in done.stderr and "N-Quads" in done.stderr
    assert not out.exists() and not (tmp_path / "dump.ttl.partial").exists()


def test_cli_export_ontology_and_determinism(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert run_kb("load", str(DATA / "graphs.trig"), str(BLANKS), store=store).returncode == 0
    one = run_kb("export", "-f", "nq", store=store)
    two = run_kb("export", "-f", "nq", store=store)
    assert one.returncode == 0, one.stderr
    assert one.stdout == two.stdout and "_:b" in one.stdout
    done = run_kb("export", "--graph", f"{EX}nope", store=store)
    assert done.returncode == 1 and "no graph" in done.stderr
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE),
                  store=store).returncode == 0
    owl = tmp_path / "medsupply.owl"
    done = run_kb("export", "--ontology", "-f", "rdfxml", "-o", str(owl), store=store)
    assert done.returncode == 0, done.stderr
    g = rdflib.Graph().parse(owl, format="xml")
    assert (rdflib.URIRef("https://w3id.org/medsupply-kb/ontology#Shipment"), rdflib.RDF.type,
            rdflib.OWL.Class) in g


@pytest.mark.server
def test_http_export(full_kb: KnowledgeBase, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with KnowledgeBase.open(str(store)) as kb:
        _fill(kb)
        nquads = export_bytes(kb, "nq")
    with serve(store) as url:
        r = httpx.get(f"{url}/export", params={"format": "ttl"})
        assert r.status_code == 406
        assert r.json()["ok"] is False and "TriG" in r.json()["error"]
        r = httpx.get(f"{url}/export", params={"format": "nq"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/n-quads")
        assert r.content == nquads
        r = httpx.get(f"{url}/export", params={"graph": "ontology"}, headers={
            "Accept": "application/rdf+xml;q=0.9, text/turtle;q=0.5"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/rdf+xml")
        assert 'filename="ontology.rdf"' in r.headers["content-disposition"]
        r = httpx.get(f"{url}/export", params={"graph": "ontology"})
        assert r.headers["content-type"].startswith("text/turtle")
        assert r.content == export_bytes(full_kb, "ttl", graph="ontology")
        r = httpx.get(f"{url}/export", params={"graph": f"{EX}missing"})
        assert r.status_code == 404
        r = httpx.get(f"{url}/export", params={"format": "bogus"})
        assert r.status_code == 422


def test_export_streams_in_chunks(full_kb: KnowledgeBase) -> None:
    plan = plan_export(full_kb, "nq")
    chunks = list(export_stream(full_kb, plan, chunk_bytes=4096))
    assert len(chunks) > 10
    assert b"".join(chunks) == export_bytes(full_kb, "nq")
    stream = export_stream(full_kb, plan, chunk_bytes=1024, max_chunks=2)
    next(stream)
    stream.close()  # a client that goes away stops the producer


def test_a_closed_stream_stops_its_producer(full_kb: KnowledgeBase) -> None:
    before = set(threading.enumerate())
    stream = export_stream(full_kb, plan_export(full_kb, "nq"), chunk_bytes=1024, max_chunks=1)
    next(stream)
    producers = set(threading.enumerate()) - before
    stream.close()  # a client that goes away
    for thread in producers:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in producers)


def test_a_streamed_graph_is_the_graph_and_its_errors_reach_the_reader(
    memory_kb: KnowledgeBase,
) -> None:
    memory_kb.update(f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}a> <{EX}p> "x" ; <{EX}q> "y" }} '
                     f'GRAPH <{EX}other> {{ <{EX}b> <{EX}p> "z" }} }}')
    plan = plan_export(memory_kb, "ttl", graph=f"{EX}g")
    streamed = b"".join(export_stream(memory_kb, plan, chunk_bytes=16, max_chunks=1))
    assert streamed == export_bytes(memory_kb, "ttl", graph=f"{EX}g")
    assert b'"x"' in streamed and b'"z"' not in streamed
    # a plan gone wrong (here, a graph name that is no IRI) fails in the producer thread:
    # the reader gets the error, not a shorter export
    with pytest.raises(ValueError, match="Invalid IRI"):
        b"".join(export_stream(memory_kb, ExportPlan("ttl", ("not an IRI",), False)))
