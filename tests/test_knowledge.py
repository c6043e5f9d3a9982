"""The ontology and the bundled knowledge: competency questions, shapes, provenance,
reasoning, documentation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rdflib import Graph

from kb import KnowledgeBase, ValidationFailed
from kb.bundled import COMPETENCY_DIR, DATA_DIR, ONTOLOGY_FILE, load_bundled
from kb.namespaces import INFERRED_GRAPH, PREFIXES
from kb.queries import compare, load_saved_queries
from kb.reason import reason
from kb.terms import to_rdflib
from kb.validate import validate, validate_store
from tests.conftest import run_kb

QUERIES = load_saved_queries(COMPETENCY_DIR)
NEEDS_REASONING = {"cq34-all-face-masks"}


@pytest.fixture(scope="module")
def bundled() -> Iterator[KnowledgeBase]:
    """The ontology and data/ in memory, reasoned over (read-only for the tests)."""
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        reason(kb)
        yield kb


def answer(kb: KnowledgeBase, query) -> list[dict] | bool:
    bindings = {k: to_rdflib(v) for k, v in query.params.items()}
    if query.expected_mode == "ask":
        return kb.ask(query.text, **bindings)
    return kb.select(query.text, **bindings)


def test_there_are_at_least_40_competency_questions_with_answers() -> None:
    assert len(QUERIES) >= 40
    for q in QUERIES:
        assert q.question and q.expected_mode in ("ordered", "unordered", "ask"), q.name
        assert q.expected_rows or q.expected_mode == "ask", f"{q.name} expects nothing"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_competency_question(bundled: KnowledgeBase, query) -> None:
    assert compare(query, answer(bundled, query)) == []


def test_reasoning_is_what_finds_the_kn95_respirators() -> None:
    (query,) = [q for q in QUERIES if q.name in NEEDS_REASONING]
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        assert answer(kb, query) == []
        reason(kb, profile="rdfs")  # RDFS knows subproperties, not transitivity
        assert 0 < len(answer(kb, query)) < len(query.expected_rows)
        reason(kb, profile="owlrl")
        assert compare(query, answer(kb, query)) == []


def test_reasoning_writes_only_the_inferred_graph(bundled: KnowledgeBase) -> None:
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        before = {g.graph: g.triples for g in kb.stats().graphs}
        reason(kb)
        after = {g.graph: g.triples for g in kb.stats().graphs}
    assert set(after) - set(before) == {str(INFERRED_GRAPH)}
    assert all(after[g] == n for g, n in before.items())
    literal_subjects = f"ASK {{ GRAPH <{INFERRED_GRAPH}> {{ ?s ?p ?o FILTER(isLiteral(?s)) }} }}"
    assert not bundled.ask(literal_subjects)


def test_the_bundled_data_conforms_to_the_shapes(bundled: KnowledgeBase) -> None:
    report = validate_store(bundled)
    assert report.conforms, "\n".join(map(str, report.problems))


def test_every_graph_with_facts_names_its_source_document(bundled: KnowledgeBase) -> None:
    rows = bundled.select(f"""
        SELECT DISTINCT ?g WHERE {{
          GRAPH ?g {{ ?s ?p ?o }}
          FILTER(STRSTARTS(STR(?g), "{PREFIXES['msg']}"))
          FILTER(?g NOT IN (<{PREFIXES['msg']}loads>, <{PREFIXES['msg']}inferred>,
                            <{PREFIXES['msg']}ontology>, <{PREFIXES['msg']}sources>))
          FILTER NOT EXISTS {{ ?g <http://www.w3.org/ns/prov#wasDerivedFrom> ?doc .
                               ?doc a <{PREFIXES['ms']}SourceDocument> }}
        }}""")
    assert rows == []


def test_all_countries_are_there_with_iso_codes(bundled: KnowledgeBase) -> None:
    alpha3 = f"<{PREFIXES['ms']}iso3166Alpha3>"
    n = bundled.select(f"SELECT (COUNT(?c) AS ?n) WHERE {{ ?c {alpha3} ?a }}")
    assert int(n[0]["n"]) == 249


def test_countries_file_is_what_the_generator_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_countries",
                                                  DATA_DIR / "reference" / "make_countries.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.render() == (DATA_DIR / "reference" / "countries.trig").read_text()


BROKEN = """
@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .
@prefix claim: <https://w3id.org/medsupply-kb/id/claim/> .
claim:no-source a ms:Claim ; <http://www.w3.org/2000/01/rdf-schema#label> "A claim"@en ;
    ms:confidence "certain" .
"""


def test_load_with_validation_refuses_a_broken_file_and_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken-claim.ttl"
    path.write_text(BROKEN)
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        before = kb.dump("nq")
        from kb.write_checks import refuse_nonconforming

        with pytest.raises(ValidationFailed) as info:
            kb.load([path], check=refuse_nonconforming(kb))
        message = str(info.value)
        assert "broken-claim.ttl" in message and "claim/no-source" in message
        assert "which source document asserts it" in message
        assert '"high", "medium" or "low"' in message
        assert kb.dump("nq") == before


def test_cli_validate_and_load_validate(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", "--graph", PREFIXES["msg"] + "ontology", str(ONTOLOGY_FILE),
                  store=store).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    ok = run_kb("validate", store=store)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path = tmp_path / "broken-claim.ttl"
    path.write_text(BROKEN)
    bad = run_kb("validate", str(path), store=store)
    assert bad.returncode == 1 and "claim/no-source" in bad.stdout
    refused = run_kb("load", "--validate", str(path), store=store)
    assert refused.returncode == 1 and "nothing was loaded" in refused.stderr
    assert run_kb("validate", store=store).returncode == 0  # the store was left as it was
    reasoned = run_kb("reason", "--profile", "rdfs", store=store)
    assert reasoned.returncode == 0 and "triples inferred" in reasoned.stderr
    # a fact that loses its evidence in one source graph (the others keep theirs) is listed
    recall = PREFIXES["msid"] + "incident/nl-mask-recall-2020-03-28"
    graph = PREFIXES["gsrc"] + "scmp-2020-03-29"
    assert run_kb("update", f"DELETE WHERE {{ GRAPH <{graph}> {{ <{recall}> <{PREFIXES['ms']}evidence> ?e }} }}",
                  store=store).returncode == 0
    listed = run_kb("validate", store=store)
    assert listed.returncode == 1 and recall in listed.stdout and graph in listed.stdout


PITFALLS = """
@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/medsupply-kb/ontology> a owl:Ontology .
ms:lowerClass a owl:Class .
ms:Twice a owl:ObjectProperty ; rdfs:label "twice"@en ;
    rdfs:range ms:lowerClass, ms:Other .
"""


def test_shapes_catch_ontology_pitfalls() -> None:
    report = validate(Graph().parse(data=PITFALLS, format="turtle"))
    messages = " ".join(p.message for p in report.problems)
    for pitfall in ("P08", "P11" if "P11" in messages else "P19", "P19", "P22", "P38", "P41"):
        assert pitfall in messages, pitfall


def test_the_ontology_page_lists_every_class_and_property() -> None:
    from kb.docs import ontology_html

    html = ontology_html()
    ontology = Graph().parse(ONTOLOGY_FILE)
    from rdflib import OWL, RDF, RDFS

    terms = [t for kind in (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty)
             for t in ontology.subjects(RDF.type, kind) if str(t).startswith(PREFIXES["ms"])]
    labels = {str(ontology.value(t, RDFS.label)) for t in terms}
    assert len(labels) > 40
    missing = [label for label in labels if label not in html]
    assert missing == []
