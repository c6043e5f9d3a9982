"""Writes checked against the SHACL shapes (KB_VALIDATE_WRITES): a write that would add a
violation is refused with the report, and the store is exactly as before."""

from __future__ import annotations

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
