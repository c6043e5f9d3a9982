"""Reasoning runs only when its inputs changed: the inferred graph records what it was
computed from, a run over the same asserted triples and profile keeps it, and any change
to them (a load, an update, another profile) or ``--force`` computes it again."""

from __future__ import annotations

from pathlib import Path

from kb import KnowledgeBase
from kb.namespaces import INFERRED_GRAPH
from kb.reason import reason
from tests.conftest import run_kb

ONTOLOGY = """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<urn:ex:Respirator> rdfs:subClassOf <urn:ex:Mask> .
<urn:ex:Mask> rdfs:subClassOf <urn:ex:Product> .
"""
KN95 = "<urn:ex:kn95> a <urn:ex:Respirator> .\n"
FFP2 = "<urn:ex:ffp2> a <urn:ex:Respirator> .\n"


def inferred(kb: KnowledgeBase) -> list[str]:
    return sorted(kb.dump("nt", graph=str(INFERRED_GRAPH)).decode().splitlines())


def is_a(kb: KnowledgeBase, node: str, cls: str) -> bool:
    return kb.ask(f"ASK {{ GRAPH <{INFERRED_GRAPH}> {{ <{node}> a <{cls}> }} }}")


def test_a_second_run_over_the_same_triples_keeps_the_inferred_graph(tmp_path: Path) -> None:
    (tmp_path / "ontology.ttl").write_text(ONTOLOGY)
    (tmp_path / "masks.ttl").write_text(KN95)
    with KnowledgeBase.open("memory") as kb:
        kb.load([tmp_path])
        first = reason(kb, profile="rdfs")
        assert not first.skipped and is_a(kb, "urn:ex:kn95", "urn:ex:Product")
        graph = inferred(kb)  # with the time it was computed at
        again = reason(kb, profile="rdfs")
        assert again.skipped
        assert (again.added, again.asserted) == (first.added, first.asserted)
        assert inferred(kb) == graph  # not rewritten

        # a file loaded again with new content: reasoned again, the new fact inferred
        (tmp_path / "masks.ttl").write_text(KN95 + FFP2)
        kb.load([tmp_path])
        changed = reason(kb, profile="rdfs")
        assert not changed.skipped and is_a(kb, "urn:ex:ffp2", "urn:ex:Product")
        assert reason(kb, profile="rdfs").skipped

        # an update replacing a fact with another (as many triples): its consequences go
        kb.update("DELETE { GRAPH ?g { <urn:ex:kn95> a ?c } } "
                  "INSERT { GRAPH ?g { <urn:ex:kn95> a <urn:ex:Toy> } } "
                  "WHERE { GRAPH ?g { <urn:ex:kn95> a ?c } }")
        assert not reason(kb, profile="rdfs").skipped
        assert not is_a(kb, "urn:ex:kn95", "urn:ex:Product")

        # another profile, or force: computed again
        assert not reason(kb, profile="owlrl").skipped
        assert reason(kb, profile="owlrl").skipped
        assert not reason(kb, profile="owlrl", force=True).skipped


def test_the_inferred_graph_says_what_it_was_computed_from(tmp_path: Path) -> None:
    (tmp_path / "ontology.ttl").write_text(ONTOLOGY + KN95)
    with KnowledgeBase.open("memory") as kb:
        kb.load([tmp_path])
        report = reason(kb, profile="rdfs")
        rows = kb.select(f"""SELECT ?id ?n ?t WHERE {{ GRAPH <{INFERRED_GRAPH}> {{
            <{INFERRED_GRAPH}> <http://purl.org/dc/terms/identifier> ?id ;
              <http://rdfs.org/ns/void#triples> ?n ;
              <http://www.w3.org/ns/prov#generatedAtTime> ?t }} }}""")
        assert len(rows) == 1 and str(rows[0]["id"]).startswith("sha256:")
        assert int(rows[0]["n"]) == report.added  # type: ignore[call-overload]


def test_kb_reason_says_when_nothing_changed_and_force_redoes_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = tmp_path / "masks.ttl"
    data.write_text(ONTOLOGY + KN95)
    assert run_kb("load", "--quiet", str(data), store=store).returncode == 0
    first = run_kb("reason", store=store)
    assert first.returncode == 0 and "triples inferred (owlrl)" in first.stderr, first.stderr
    second = run_kb("reason", store=store)
    assert second.returncode == 0 and "Unchanged since the last run" in second.stderr
    assert "--force" in second.stderr
    forced = run_kb("reason", "--force", store=store)
    assert forced.returncode == 0 and "Unchanged" not in forced.stderr
    assert "triples inferred (owlrl)" in forced.stderr
    data.write_text(ONTOLOGY + KN95 + FFP2)
    assert run_kb("load", "--quiet", str(data), store=store).returncode == 0
    after_load = run_kb("reason", store=store)
    assert "Unchanged" not in after_load.stderr and after_load.returncode == 0
    with KnowledgeBase.open(str(store)) as kb:
        assert is_a(kb, "urn:ex:ffp2", "urn:ex:Product")
