"""Loading what other tools export: Wikidata-style N-Triples with blank nodes, Jena's
RDF/XML (rdf:nodeID, xml:lang, datatypes, namespace entities), JSON-LD with a remote context
(refused unless the host is allow-listed), and our own exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase, LoadError
from kb.export import export_bytes
from tests.conftest import DATA, run_kb

INTEROP = DATA / "interop"
WD = "http://www.wikidata.org/entity/"


def test_wikidata_ntriples_with_blank_nodes(memory_kb: KnowledgeBase) -> None:
    report = memory_kb.load([INTEROP / "wikidata.nt"])
    assert report.triples == 12
    labels = memory_kb.select(f"SELECT ?l WHERE {{ <{WD}Q148> "
                              "<http://www.w3.org/2000/01/rdf-schema#label> ?l }")
    assert {(str(r["l"]), r["l"].language) for r in labels} == {  # type: ignore[union-attr]
        ("China", "en"), ("中华人民共和国", "zh")}
    # two blank nodes with different labels in the file stay two nodes
    assert len(memory_kb.select("SELECT DISTINCT ?o WHERE { ?s "
                                "<http://www.wikidata.org/prop/direct/P6> ?o }")) == 2
    amount = memory_kb.select("SELECT ?a WHERE { ?v <http://wikiba.se/ontology#quantityAmount> "
                              "?a }")
    assert float(amount[0]["a"]) == 1411778724  # (Oxigraph stores decimals by value)


def test_jena_rdfxml(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([INTEROP / "jena.rdf"])
    rows = memory_kb.select("""PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
        PREFIX qudt: <http://qudt.org/schema/qudt/>
        SELECT ?n ?d WHERE { ?s ms:quantity/qudt:numericValue ?n ; ms:date ?d }""")
    assert [(str(r["n"]), str(r["d"])) for r in rows] == [("600000", "2020-03-21")]


def test_jsonld_remote_context_is_refused_unless_allow_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with KnowledgeBase.open("memory") as kb, pytest.raises(LoadError, match="remote JSON-LD"):
        kb.load([INTEROP / "remote-context.jsonld"])
    fetched: list[str] = []

    def fake_fetch(url: str) -> dict:  # no network in tests: the allow-listed fetch, stubbed
        fetched.append(url)
        return {"@context": {"@vocab": "https://schema.org/"}}

    monkeypatch.setattr("kb.safety._fetch_context", fake_fetch)
    with KnowledgeBase.open("memory", allow_hosts=("schema.org",)) as kb:
        kb.load([INTEROP / "remote-context.jsonld"])
        assert kb.ask("ASK { ?s <https://schema.org/name> 'Example Maker Ltd' }")
    assert fetched == ["https://schema.org/"]


def test_the_cli_loads_other_tools_exports_and_ours(tmp_path: Path) -> None:
    store = tmp_path / "s"
    done = run_kb("load", str(INTEROP / "wikidata.nt"), str(INTEROP / "jena.rdf"), store=store)
    assert done.returncode == 0, done.stderr
    refused = run_kb("load", str(INTEROP / "remote-context.jsonld"), store=store)
    assert refused.returncode == 1 and "allow-listed" in refused.stderr
    dump = tmp_path / "dump.trig"
    assert run_kb("export", "-o", str(dump), store=store).returncode == 0
    with KnowledgeBase.open("memory") as kb:
        kb.load([dump])
        assert kb.ask(f"ASK {{ <{WD}Q55> ?p ?o }}")
        again = export_bytes(kb, "nt", graph="https://w3id.org/medsupply-kb/graph/file/jena.rdf")
    assert b"600000" in again
