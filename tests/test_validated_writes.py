"""Writes checked against the SHACL shapes (KB_VALIDATE_WRITES): a write that would add a
violation is refused with the report, and the store is exactly as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from kb import KnowledgeBase, ValidationFailed
from kb.settings import Settings
from tests.conftest import DATA, run_kb, serve

MS = "https://w3id.org/medsupply-kb/ontology#"
NAMELESS = f"INSERT DATA {{ GRAPH <urn:g:new> {{ <urn:p:x> a <{MS}Person> }} }}"
NAMED = (f"INSERT DATA {{ GRAPH <urn:g:new> {{ <urn:p:y> a <{MS}Person> ; "
         "<http://www.w3.org/2000/01/rdf-schema#label> 'Y' } }")
TOKEN = {"Authorization": "Bearer s3cret"}


def dump(kb: KnowledgeBase) -> list[str]:
    return sorted(kb.dump("nq").decode().splitlines())


@pytest.fixture
def kb() -> KnowledgeBase:
    with KnowledgeBase.open("memory", validate_writes=True) as kb:
        kb.load([DATA / "people.ttl"])
        yield kb


def test_an_update_that_breaks_a_shape_is_refused_and_changes_nothing(kb: KnowledgeBase) -> None:
    before = dump(kb)
    with pytest.raises(ValidationFailed) as refused:
        kb.update(NAMELESS)
    assert refused.value.report and refused.value.report[0]["focus"] == "urn:p:x"
    assert "label" in str(refused.value) and "nothing changed" in str(refused.value)
    assert dump(kb) == before
    kb.update(NAMED)  # a conforming write goes through
    assert kb.ask("ASK { <urn:p:y> a ?c }")


def test_a_graph_write_that_breaks_a_shape_is_refused(kb: KnowledgeBase) -> None:
    before = dump(kb)
    g = ox.NamedNode("urn:g:new")
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    quads = [ox.Quad(ox.NamedNode("urn:p:z"), rdf_type, ox.NamedNode(f"{MS}Person"), g)]
    with pytest.raises(ValidationFailed, match="urn:p:z"):
        kb.write(iter(quads), before="DROP SILENT GRAPH <urn:g:new>")
    assert dump(kb) == before


def test_violations_already_there_do_not_block_other_writes(kb: KnowledgeBase) -> None:
    kb.settings = Settings(store="memory")  # let one violation in
    kb.update(NAMELESS)
    kb.settings = Settings(store="memory", validate_writes=True)
    kb.update(NAMED)  # conforming: accepted although the store already has a violation
    with pytest.raises(ValidationFailed, match="urn:p:w"):
        kb.update(NAMELESS.replace("urn:p:x", "urn:p:w"))


def test_a_server_refuses_nonconforming_writes_with_the_report(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA / "people.ttl"), store=store).returncode == 0
    with serve(store, update_token="s3cret", validate_writes="1") as url:
        def everything() -> list[str]:
            return sorted(httpx.get(f"{url}/export", params={"format": "nq"}).text.splitlines())

        before = everything()
        r = httpx.post(f"{url}/sparql", content=NAMELESS, headers={
            **TOKEN, "Content-Type": "application/sparql-update"})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["type"] == "ValidationFailed" and body["report"][0]["focus"] == "urn:p:x"
        r = httpx.put(f"{url}/store", params={"graph": "urn:g:new"}, headers={
            **TOKEN, "Content-Type": "text/turtle"},
            content=f"<urn:p:v> a <{MS}Person> .")
        assert r.status_code == 422 and r.json()["report"][0]["focus"] == "urn:p:v"
        assert everything() == before
        r = httpx.post(f"{url}/sparql", content=NAMED, headers={
            **TOKEN, "Content-Type": "application/sparql-update"})
        assert r.status_code == 204, r.text
        assert everything() != before


# --- only the nodes a write touches are validated, with the same verdict as the whole store ---

ID = "https://w3id.org/medsupply-kb/id/"
GRAPH = "https://w3id.org/medsupply-kb/graph/"
PREFIXES = (f"PREFIX ms: <{MS}> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
            "PREFIX qudt: <http://qudt.org/schema/qudt/> ")
#: Updates on the bundled data, and whether they keep it conforming.
WRITES = [
    (True, f"INSERT DATA {{ GRAPH <urn:g:t> {{ <{ID}person/new> a ms:Person ; rdfs:label 'N' }} }}"),
    (False, f"DELETE WHERE {{ GRAPH ?g {{ <{ID}person/jan-hamacek> rdfs:label ?l }} }}"),
    # the incident whose actor is the EU (a union of states) breaks sh:class
    (False, f"DELETE WHERE {{ GRAPH ?g {{ <{ID}country/EU> a ms:StateUnion }} }}"),
    # a quantity is a blank node: a second, negative number
    (False, f"INSERT {{ GRAPH ?g {{ ?q qudt:numericValue -1.0 }} }} WHERE {{ GRAPH ?g {{ "
            f"<{ID}claim/es-order-size-telecinco> ms:quantity ?q }} }}"),
    # a statistic no report tells any more has no evidence (a link into it, by an inverse path)
    (False, f"DELETE WHERE {{ GRAPH ?g {{ ?r ms:reportsStatistic <{ID}claim/gacc-goggles> }} }}"),
    (True, f"INSERT DATA {{ GRAPH <urn:g:t> {{ <urn:r:new> ms:reportsStatistic "
           f"<{ID}claim/gacc-goggles> }} }}"),
    # amounts of money that lose their currency concept
    (False, f"DELETE WHERE {{ GRAPH ?g {{ ?m ms:currency <{ID}currency/CZK> }} }}"),
    # claims and statements cite documents of this graph
    (False, f"DROP GRAPH <{GRAPH}sources>"),
    (True, f"INSERT DATA {{ GRAPH <{GRAPH}inferred> {{ <urn:p:i> a ms:Person }} }}"),
    # the class hierarchy changes: the whole store is validated
    (False, f"DELETE DATA {{ GRAPH <{GRAPH}ontology> {{ ms:GovernmentAgency rdfs:subClassOf "
            "ms:Organization } }"),
    (True, f"INSERT DATA {{ GRAPH <{GRAPH}ontology> {{ ms:Manufacturer rdfs:subClassOf "
           "ms:Person } }"),
]


@pytest.fixture(scope="module")
def bundled() -> KnowledgeBase:
    """The bundled data, with the ontology's class hierarchy (not its terms, whose SPARQL
    checks make whole-store validation slow)."""
    root = Path(__file__).resolve().parent.parent
    with KnowledgeBase.open("memory") as kb:
        kb.load([root / "data"])
        ontology = ox.Store()
        ontology.load(path=str(root / "ontology" / "medsupply.ttl"), format=ox.RdfFormat.TURTLE)
        subclass = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#subClassOf")
        kb.write([ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(f"{GRAPH}ontology"))
                  for q in ontology.quads_for_pattern(None, subclass, None)])
        yield kb


def _refused(kb: KnowledgeBase, update: str, *, whole: bool) -> set[tuple]:
    from kb.write_checks import refuse_nonconforming_write

    try:
        refuse_nonconforming_write(kb, lambda store: store.update(PREFIXES + update), whole=whole)
    except ValidationFailed as e:
        # blank nodes are relabelled on each copy
        return {(r["focus"] if ":" in r["focus"] else "_:", r["path"], r["message"])
                for r in e.report}
    return set()


@pytest.mark.parametrize(("conforming", "update"), WRITES)
def test_the_touched_nodes_get_the_verdict_of_the_whole_store(
        bundled: KnowledgeBase, conforming: bool, update: str) -> None:
    from kb.validate import validate_store

    assert validate_store(bundled).conforms
    before = dump(bundled)
    refused = _refused(bundled, update, whole=False)
    assert refused == _refused(bundled, update, whole=True)
    assert (refused == set()) == conforming, refused
    assert dump(bundled) == before  # the check never writes


def test_the_bundled_shapes_allow_validating_only_touched_nodes(tmp_path: Path) -> None:
    from kb.bundled import SHAPES_FILE
    from kb.validate import load_shapes

    assert load_shapes(SHAPES_FILE).local
    deeper = tmp_path / "shapes.ttl"
    deeper.write_text("@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> .\n"
                      "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ;"
                      " sh:node ex:T ] .\n")
    assert not load_shapes(deeper).local  # the values' own triples matter: the whole store


def test_shapes_with_advanced_features_are_applied_and_the_data_left_alone(
        tmp_path: Path) -> None:
    """SHACL Advanced Features (here a SPARQL-based target) are turned on when the shapes use
    them; without them the data graph is validated where it is, and never changed."""
    from rdflib import Graph

    from kb.validate import validate

    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(
        "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> .\n"
        "ex:S a sh:NodeShape ; sh:target [ a sh:SPARQLTarget ;\n"
        "    sh:select 'SELECT ?this WHERE { ?this ex:p ?o }' ; sh:prefixes ex: ] ;\n"
        "  sh:property [ sh:path ex:q ; sh:minCount 1 ] .\n"
        "ex: sh:declare [ sh:prefix 'ex' ; sh:namespace 'urn:ex:'^^<http://www.w3.org/2001/XMLSchema#anyURI> ] .\n")
    data = Graph().parse(data="<urn:ex:a> <urn:ex:p> 1 . <urn:ex:b> <urn:ex:q> 2 .",
                         format="turtle")
    report = validate(data, shapes=shapes)
    assert not report.conforms and [p.focus for p in report.problems] == ["urn:ex:a"]
    people = Graph().parse(DATA / "people.ttl")
    size = len(people)
    assert validate(people).conforms and len(people) == size


def test_a_server_over_the_bundled_data_keeps_it_conforming(tmp_path: Path) -> None:
    """Violating SPARQL updates and Graph Store writes (PUT, POST, DELETE) are refused with
    the report (422) and leave the full dump as it was; so does a syntax error after a good
    operation; conforming writes go through."""
    root = Path(__file__).resolve().parent.parent
    store = tmp_path / "store"
    for args in (("--graph", f"{GRAPH}ontology", str(root / "ontology" / "medsupply.ttl")),
                 (str(root / "data"),)):
        loaded = run_kb("load", "--quiet", *args, store=store)
        assert loaded.returncode == 0, loaded.stderr
    update = {**TOKEN, "Content-Type": "application/sparql-update"}
    turtle = {**TOKEN, "Content-Type": "text/turtle"}
    hamacek = f"<{ID}person/jan-hamacek>"
    with serve(store, update_token="s3cret", validate_writes="1") as url:
        def everything() -> list[str]:
            r = httpx.get(f"{url}/export", params={"format": "nq"})
            assert r.status_code == 200
            return sorted(r.text.splitlines())

        before = everything()
        assert len(before) > 3000
        refused = [
            httpx.post(f"{url}/sparql", headers=update, content=PREFIXES + (
                f"INSERT DATA {{ GRAPH <urn:g:t> {{ <urn:p:ok> a ms:Person ; rdfs:label 'OK' }} }} ;"
                f"DELETE WHERE {{ GRAPH ?g {{ {hamacek} rdfs:label ?l }} }}")),
            httpx.put(f"{url}/store", params={"graph": f"{GRAPH}sources"}, headers=turtle,
                      content="<urn:a> <urn:b> <urn:c> ."),
            httpx.post(f"{url}/store", params={"graph": "urn:g:t"}, headers=turtle,
                       content=f"{hamacek} <{MS}speaksFor> <urn:x> ; a <{MS}Post> ."),
            httpx.delete(f"{url}/store", params={"graph": f"{GRAPH}sources"}, headers=TOKEN),
        ]
        for r in refused:
            assert r.status_code == 422, r.text
            body = r.json()
            assert body["type"] == "ValidationFailed" and "nothing changed" in body["error"]
            assert body["report"] and all(v["focus"] and v["message"] for v in body["report"])
        assert refused[0].json()["report"][0]["focus"] == hamacek[1:-1]
        assert refused[0].json()["report"][0]["path"].endswith("#label")
        assert {v["focus"] for v in refused[3].json()["report"]} >= {f"{ID}claim/seed-test-kits"}
        r = httpx.post(f"{url}/sparql", headers=update, content=PREFIXES + (
            "INSERT DATA { GRAPH <urn:g:t> { <urn:p:ok> a ms:Person ; rdfs:label 'OK' } } ;"
            "INSERT DATA { GRAPH <urn:g:t> { <urn:a> <urn:b> } } ; CLEAR ALL"))
        assert r.status_code == 400 and r.json()["line"] == 1, r.text
        assert everything() == before
        r = httpx.post(f"{url}/sparql", headers=update, content=PREFIXES + (
            "INSERT DATA { GRAPH <urn:g:t> { <urn:p:ok> a ms:Person ; rdfs:label 'OK' } }"))
        assert r.status_code == 204, r.text
        r = httpx.put(f"{url}/store", params={"graph": "urn:g:u"}, headers=turtle,
                      content=f"<urn:p:ok2> a <{MS}Person> ; <http://www.w3.org/2000/01/rdf-schema#label> 'OK2' .")
        assert r.status_code == 201, r.text
        after = everything()
        assert len(after) == len(before) + 4


def _kb_validating(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["KB_VALIDATE_WRITES"] = "1"
    return subprocess.run([sys.executable, "-m", "kb", "--store", str(store), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_the_cli_prints_the_report_and_exits_1(tmp_path: Path) -> None:
    """``kb update`` and ``kb load`` with KB_VALIDATE_WRITES: a violation is refused with the
    report (exit 1) and nothing changes; a file loaded again replaces its old triples before
    it is checked (a country whose code changed is no country with two codes)."""
    store = tmp_path / "store"
    country = tmp_path / "country.ttl"
    prefixes = (f"@prefix ms: <{MS}> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n")
    country.write_text(prefixes + '<urn:c:x> a ms:Country ; rdfs:label "X"@en ; '
                       'ms:iso3166Alpha2 "XA" .\n')
    assert _kb_validating("load", str(country), store=store).returncode == 0
    country.write_text(prefixes + '<urn:c:x> a ms:Country ; rdfs:label "X"@en ; '
                       'ms:iso3166Alpha2 "XB" .\n')
    loaded = _kb_validating("load", str(country), store=store)
    assert loaded.returncode == 0, loaded.stderr
    with KnowledgeBase.open(str(store)) as kb:
        before = dump(kb)
    country.write_text(prefixes + '<urn:c:x> a ms:Country ; rdfs:label "X" ; '
                       'ms:iso3166Alpha2 "XC" .\n')
    refused = _kb_validating("load", str(country), store=store)
    assert refused.returncode == 1
    assert "refused" in refused.stderr and "urn:c:x" in refused.stderr
    assert "language tag" in refused.stderr
    refused = _kb_validating("update", f"DELETE WHERE {{ GRAPH ?g {{ <urn:c:x> <{MS}iso3166Alpha2> ?c }} }}",
                             store=store)
    assert refused.returncode == 1 and "urn:c:x" in refused.stderr
    assert "two-letter" in refused.stderr and "Traceback" not in refused.stderr
    with KnowledgeBase.open(str(store)) as kb:
        assert dump(kb) == before


# --- a write of known quads (Graph Store, replace_graph) is checked without copying the store ---

def _graph_quads(kb: KnowledgeBase, graph: str) -> list[ox.Quad]:
    from kb.store import run_in_engine_thread

    return run_in_engine_thread(lambda: list(kb.backend.store.quads_for_pattern(
        None, None, None, ox.NamedNode(graph))))


def _quad_writes(kb: KnowledgeBase) -> list[tuple[bool, str, list[ox.Quad], bool]]:
    """(conforming, graph, quads, replace): Graph Store PUTs (replace) and POSTs."""
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    label = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    title = ox.NamedNode("http://purl.org/dc/terms/title")
    qudt = "http://qudt.org/schema/qudt/"
    sources, g = f"{GRAPH}sources", ox.NamedNode("urn:g:post")
    current = _graph_quads(kb, sources)
    untitled = [q for q in current if q.predicate != title
                or q.subject != ox.NamedNode(f"{ID}source/iso-3166")]
    ontology = [q for q in _graph_quads(kb, f"{GRAPH}ontology")
                if q.subject != ox.NamedNode(f"{MS}GovernmentAgency")]
    person, amount = ox.NamedNode(f"{ID}person/posted"), ox.BlankNode("q1")
    return [
        (False, sources, [ox.Quad(ox.NamedNode("urn:a"), label, ox.Literal("a"),
                                  ox.NamedNode(sources))], True),
        (True, sources, current, True),
        (False, sources, untitled, True),
        (False, "urn:g:post", [ox.Quad(person, rdf_type, ox.NamedNode(f"{MS}Person"), g)], False),
        (True, "urn:g:post", [ox.Quad(person, rdf_type, ox.NamedNode(f"{MS}Person"), g),
                              ox.Quad(person, label, ox.Literal("P"), g)], False),
        (False, "urn:g:post", [
            ox.Quad(amount, rdf_type, ox.NamedNode(f"{qudt}QuantityValue"), g),
            ox.Quad(amount, ox.NamedNode(f"{qudt}numericValue"),
                    ox.Literal("-1", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal")), g),
            ox.Quad(amount, ox.NamedNode(f"{qudt}unit"), ox.NamedNode("urn:unit"), g)], False),
        (False, f"{GRAPH}ontology", ontology, True),  # the class hierarchy: a copy, validated whole
    ]


def test_writes_of_known_quads_get_the_verdict_of_the_whole_store(
        bundled: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.write_checks
    from kb.write_checks import refuse_nonconforming_quads, refuse_nonconforming_write

    copies = []
    copy = kb.write_checks._write_on_copy
    monkeypatch.setattr(kb.write_checks, "_write_on_copy", lambda *a: copies.append(1) or copy(*a))

    def refused(check) -> set[tuple]:
        try:
            check()
        except ValidationFailed as e:
            return {(r["focus"], r["path"], r["message"]) for r in e.report}
        return set()

    before = dump(bundled)
    for conforming, graph, quads, replace in _quad_writes(bundled):
        drop = f"DROP SILENT GRAPH <{graph}>" if replace else None

        def apply(store: ox.Store, quads=quads, drop=drop) -> None:
            if drop:
                store.update(drop)
            store.extend(quads)

        copies.clear()
        found = refused(lambda quads=quads, drop=drop: refuse_nonconforming_quads(
            bundled, quads, before=drop))
        assert bool(copies) == graph.endswith("ontology")  # the store is copied for that only
        assert found == refused(lambda apply=apply: refuse_nonconforming_write(
            bundled, apply, whole=True)), (graph, len(quads))
        assert (found == set()) == conforming, (graph, found)
    assert dump(bundled) == before


# --- kb load --validate: the files' nodes, with the verdict of the whole store ---

QUDT = "http://qudt.org/schema/qudt/"
TTL = (f"@prefix ms: <{MS}> . @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
       f"@prefix qudt: <{QUDT}> . @prefix country: <{ID}country/> .\n")
#: Files loaded into the bundled data, and whether the store with them conforms.
FILES = [
    (True, '<urn:p:new> a ms:Person ; rdfs:label "New" .'),
    (False, '<urn:p:new> a ms:Person .'),
    (False, 'country:ES ms:iso3166Alpha2 "XX" .'),  # a second code for a country of the store
    (False, '<urn:c:q> ms:quantity [ a qudt:QuantityValue ; qudt:numericValue -1.0 ; '
            'qudt:unit <urn:unit> ] .'),
    (True, 'ms:Manufacturer rdfs:subClassOf ms:Person .'),  # the class hierarchy: whole store
    (False, 'ms:Country rdfs:subClassOf ms:Claim .'),
]


def _violations(problems: list[dict]) -> set[tuple]:
    return {(p["focus"] if ":" in p["focus"] else "_:", p["path"], p["message"])
            for p in problems}


@pytest.mark.parametrize(("conforming", "turtle"), FILES)
def test_a_file_checked_by_its_nodes_gets_the_verdict_of_the_whole_store(
        bundled: KnowledgeBase, tmp_path: Path, conforming: bool, turtle: str) -> None:
    from kb.validate import parse_files, validate_store
    from kb.write_checks import refuse_nonconforming

    path = tmp_path / "file.ttl"
    path.write_text(TTL + turtle + "\n")
    before = dump(bundled)
    try:
        refuse_nonconforming(bundled)([path])
        refused: set[tuple] = set()
    except ValidationFailed as e:
        assert "nothing was loaded" in str(e)
        assert "file.ttl: <" in str(e) or "subClassOf" in turtle  # or the store's nodes
        refused = _violations(e.report or [])
    whole = validate_store(bundled, extra=parse_files([path])[path])
    assert refused == _violations([p.__dict__ for p in whole.problems
                                   if p.severity == "Violation"])
    assert (refused == set()) == conforming, refused
    assert dump(bundled) == before


def test_a_file_is_refused_for_its_own_nodes_not_for_the_rest_of_the_store(
        tmp_path: Path) -> None:
    """A violation already in the store blocks the files that touch its node (unless they
    fix it), not the others: ``kb validate`` reports it."""
    from kb.write_checks import refuse_nonconforming

    with KnowledgeBase.open("memory") as kb:
        kb.load([DATA / "people.ttl"])
        kb.update(NAMELESS)  # <urn:p:x> is a person without a name
        other, touching, fixing = (tmp_path / f"{n}.ttl" for n in ("other", "touching", "fixing"))
        other.write_text(TTL + '<urn:p:y> a ms:Person ; rdfs:label "Y" .\n')
        touching.write_text(TTL + '<urn:p:x> rdfs:comment "no name yet" .\n')
        fixing.write_text(TTL + '<urn:p:x> rdfs:label "X" .\n')
        check = refuse_nonconforming(kb)
        check([other])
        with pytest.raises(ValidationFailed, match=r"touching\.ttl: <urn:p:x>"):
            check([touching])
        check([fixing])
        kb.load([other, fixing], check=check)
        assert kb.ask("ASK { <urn:p:x> ?p 'X' . <urn:p:y> ?q 'Y' }")


def test_a_file_loaded_again_is_checked_in_place_of_what_it_loaded_before(
        tmp_path: Path) -> None:
    """kb load --validate: a country whose code changed is no country with two codes."""
    from kb.write_checks import refuse_nonconforming

    country = tmp_path / "country.ttl"
    with KnowledgeBase.open("memory") as kb:
        check = refuse_nonconforming(kb)
        for code in ("XA", "XB"):
            country.write_text(TTL + f'<urn:c:x> a ms:Country ; rdfs:label "X"@en ; '
                               f'ms:iso3166Alpha2 "{code}" .\n')
            kb.load([country], check=check)
        assert [str(r["c"]) for r in kb.select(f"SELECT ?c {{ ?x <{MS}iso3166Alpha2> ?c }}")] == ["XB"]
        country.write_text(TTL + '<urn:c:x> a ms:Country ; rdfs:label "X" ; '
                           'ms:iso3166Alpha2 "XC" .\n')
        with pytest.raises(ValidationFailed, match="language tag"):
            kb.load([country], check=check)
