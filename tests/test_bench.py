"""The synthetic data generator the benchmarks rely on."""

from __future__ import annotations

from pathlib import Path

from bench.generate import generate
from kb import KnowledgeBase

MS = "https://w3id.org/medsupply-kb/ontology#"


def test_generator_is_deterministic_and_in_the_domain_shape(tmp_path: Path) -> None:
    a = generate(5_000, tmp_path / "a.nt")
    b = generate(5_000, tmp_path / "b.nt")
    assert a.read_bytes() == b.read_bytes()
    assert generate(5_000, tmp_path / "c.nt", seed=7).read_bytes() != a.read_bytes()
    with KnowledgeBase.open("memory") as kb:
        report = kb.load([a])
        assert 5_000 <= report.triples < 5_100
        rows = kb.select(f"""
            PREFIX ms: <{MS}>
            SELECT (COUNT(DISTINCT ?s) AS ?shipments) (SUM(?q) AS ?total) WHERE {{
              ?s a ms:Shipment ; ms:origin ?o ; ms:destination ?d ; ms:manufacturer ?m ;
                 ms:productCategory ?p ; ms:date ?date ;
                 ms:quantity/<http://qudt.org/schema/qudt/numericValue> ?q . }}""")
        assert int(rows[0]["shipments"]) > 250 and float(rows[0]["total"]) > 0
        assert kb.ask(f"ASK {{ ?i a <{MS}Recall> ; <{MS}standardNotMet> ?std }}")


def test_quads_spread_over_source_graphs(tmp_path: Path) -> None:
    path = generate(3_000, tmp_path / "q.nq", quads=True, graphs=5)
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        synthetic = [g for g in kb.graphs() if "/graph/synthetic/" in g]
        assert len(synthetic) == 5
