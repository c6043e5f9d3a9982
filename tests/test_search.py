"""Full-text search: what a reader finds, and an index that follows every write."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase
from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ONTOLOGY_GRAPH
from kb.search import FILE_NAME, fold, reindex, search
from tests.conftest import run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
MS = "https://w3id.org/medsupply-kb/ontology#"
GRAPH = "https://w3id.org/medsupply-kb/graph/"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
#: Where the search page's screenshot goes (outside the repository, as the views' do).
SCREENSHOT = Path(tempfile.gettempdir()) / "medsupply-kb" / "search.png"


@pytest.fixture(scope="module")
def bundled() -> KnowledgeBase:
    with KnowledgeBase.open("memory") as kb:
        kb.load([ONTOLOGY_FILE, DATA_DIR])
        yield kb


def first(kb: KnowledgeBase, text: str):
    hits = search(kb, text)
    assert hits, f"nothing found for {text!r}"
    return hits[0]


def test_a_country_a_manufacturer_and_a_misspelt_name_come_first_by_exact_name(bundled) -> None:
    spain = first(bundled, "Spain")
    assert (spain.iri, spain.kind, spain.classes) == (f"{ID}country/ES", "exact name", [f"{MS}Country"])
    assert spain.graphs == [f"{GRAPH}reference-countries"]
    assert first(bundled, "bioeasy").iri == f"{ID}org/bioeasy"
    # the seed report prints "Hua Shunying": her name as the source spells it finds her
    hua = first(bundled, "Hua Shunying")
    assert (hua.iri, hua.label, hua.match) == (f"{ID}person/hua-chunying", "Hua Chunying", "Hua Shunying")
    found = {h.iri: h for h in search(bundled, "Hua Shunying")}
    seed = found[f"{ID}statement/hua-chunying-last-week"]  # where the seed report prints it
    assert seed.graphs == [f"{GRAPH}source/seed-report"] and "Hua Shunying" in seed.match


@pytest.mark.parametrize("text", ["华春莹", "春莹", "华春"])
def test_chinese_names_are_found_with_three_or_two_characters(bundled, text: str) -> None:
    hit = first(bundled, text)
    assert (hit.iri, hit.match) == (f"{ID}person/hua-chunying", "华春莹")


def test_case_and_accents_do_not_matter(bundled) -> None:
    expected = [h.iri for h in search(bundled, "bioeasy")]
    for text in ("BIOEASY", "Bioéasy", "  bIoEaSy "):
        assert [h.iri for h in search(bundled, text)] == expected
    assert fold("Ｂｉｏéasy  Co.") == "bioeasy co."


def test_quotations_and_evidence_are_found_with_their_source(bundled) -> None:
    hits = {h.iri: h for h in search(bundled, "make a fuss")}
    hit = hits[f"{ID}statement/hua-chunying-last-week"]
    assert hit.kind == "text" and f"{GRAPH}source/seed-report" in hit.graphs
    assert hit.classes == [f"{MS}Statement"]


def test_nothing_found_and_bad_input(bundled) -> None:
    from kb.errors import InvalidParameter

    assert search(bundled, "zzqqxxjj") == [] and search(bundled, "   ") == []
    with pytest.raises(InvalidParameter, match="at most 200"):
        search(bundled, "x" * 201)
    with pytest.raises(InvalidParameter, match="control characters"):
        search(bundled, "spa\x00in")
    with pytest.raises(InvalidParameter, match="limit"):
        search(bundled, "spain", limit=0)


def names(kb: KnowledgeBase, text: str) -> list[str]:
    return [h.iri for h in search(kb, text)]


def test_the_index_follows_loads_replacements_updates_and_drops(tmp_path: Path) -> None:
    data = tmp_path / "firm.ttl"
    data.write_text(f'<urn:firm> {LABEL} "Zyxwabc Medical" .\n')
    with KnowledgeBase.open(str(tmp_path / "store")) as kb:
        kb.load([data])
        assert names(kb, "zyxwabc") == ["urn:firm"]
        data.write_text(f'<urn:firm> {LABEL} "Qopqopo Medical" .\n')
        kb.load([data])  # the file's graph replaced
        assert names(kb, "zyxwabc") == [] and names(kb, "qopqopo") == ["urn:firm"]
        kb.update(f'INSERT DATA {{ <urn:other> {LABEL} "Qopqopo Trading" }}')  # hand edits
        assert names(kb, "qopqopo") == ["urn:firm", "urn:other"]
        kb.update(f'DELETE DATA {{ <urn:firm> {LABEL} "Qopqopo Medical" }}')  # from every graph
        assert names(kb, "qopqopo") == ["urn:other"]
        kb.update(f'PREFIX g: <{GRAPH}> INSERT DATA {{ GRAPH g:mine {{ <urn:x> {LABEL} "Wqwqwq" }} }}')
        assert names(kb, "wqwqwq") == ["urn:x"]
        kb.drop_graph(f"{GRAPH}mine")
        assert names(kb, "wqwqwq") == []
    with KnowledgeBase.open(str(tmp_path / "store")) as kb:  # kept on disk, beside the store
        assert (tmp_path / "store" / FILE_NAME).exists()
        assert names(kb, "qopqopo") == ["urn:other"]


def test_an_index_left_behind_by_other_writers_is_rebuilt_on_open(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    with KnowledgeBase.open(store) as kb:
        kb.update(f'INSERT DATA {{ GRAPH <urn:g1> {{ <urn:a> {LABEL} "Aaaxyz" }} }}')
        assert names(kb, "aaaxyz") == ["urn:a"]
    with KnowledgeBase.open(store, search_index="off") as kb:  # e.g. an older version
        kb.update(f'INSERT DATA {{ GRAPH <urn:g2> {{ <urn:b> {LABEL} "Bbbxyz" }} }}')
    with KnowledgeBase.open(store) as kb:  # a graph it never saw: rebuilt
        assert names(kb, "xyz") == ["urn:a", "urn:b"]
    with KnowledgeBase.open(store, search_index="off") as kb:  # same graphs, other content
        kb.update(f'DELETE DATA {{ GRAPH <urn:g2> {{ <urn:b> {LABEL} "Bbbxyz" }} }}')
    with sqlite3.connect(tmp_path / "store" / FILE_NAME) as db:  # as a killed write leaves it
        db.execute("UPDATE meta SET value = '1' WHERE key = 'dirty'")
    db.close()
    with KnowledgeBase.open(store) as kb:
        assert names(kb, "xyz") == ["urn:a"]


def test_a_remote_store_is_indexed_from_the_server_and_rebuilt_on_demand(
        oxigraph_server: str, tmp_path: Path) -> None:
    httpx.post(f"{oxigraph_server}/update", data={"update": "DROP ALL"}).raise_for_status()
    index = str(tmp_path / "remote-search.sqlite")
    with KnowledgeBase.open(f"{oxigraph_server}/query", search_index=index) as kb:
        kb.update(f'INSERT DATA {{ GRAPH <urn:g> {{ <urn:a> {LABEL} "Remotexyz" }} }}')
        assert names(kb, "remotexyz") == ["urn:a"]  # built from the server at first use
        kb.update(f'INSERT DATA {{ GRAPH <urn:g> {{ <urn:b> {LABEL} "Remotexyz two" }} }}')
        assert names(kb, "remotexyz") == ["urn:a", "urn:b"]  # its own writes: followed
        httpx.post(f"{oxigraph_server}/update", data={  # another client's write: not seen
            "update": f'INSERT DATA {{ GRAPH <urn:h> {{ <urn:c> {LABEL} "Remotexyz three" }} }}'})
        assert names(kb, "remotexyz") == ["urn:a", "urn:b"]
        assert reindex(kb) == 3
        assert names(kb, "remotexyz") == ["urn:a", "urn:b", "urn:c"]


def test_the_cli_searches_and_reindexes(people_store: Path) -> None:
    found = run_kb("search", "ali", "--format", "csv", store=people_store)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == ["entity,label,class,graphs,match,kind",
        "http://example.org/alice,Alice,http://example.org/Person,"
        "https://w3id.org/medsupply-kb/graph/file/people.ttl,Alice,name prefix"]
    rebuilt = run_kb("search", "--reindex", store=people_store)
    assert rebuilt.returncode == 0 and "Indexed 2 names and texts." in rebuilt.stderr
    assert run_kb("search", store=people_store).returncode == 2


# --- over HTTP, and in a browser -------------------------------------------------------------

EVIL = f'<http://example.org/evil> {LABEL} "<img src=x onerror=alert(1)> Evilxyz" .\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("search") / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=store).returncode == 0
    evil = store.parent / "evil.ttl"
    evil.write_text(EVIL)
    assert run_kb("load", str(DATA_DIR), str(evil), store=store).returncode == 0
    with serve(store, update_token="s3cret") as url:
        yield url


def test_the_page_has_json_and_csv_twins(server: str) -> None:
    as_json = httpx.get(f"{server}/search.json", params={"q": "hua shunying"}).json()
    assert as_json["hits"][0]["iri"] == f"{ID}person/hua-chunying"
    assert as_json["hits"][0]["classes"] == [f"{MS}Person"]
    by_accept = httpx.get(f"{server}/search", params={"q": "hua shunying"},
                          headers={"Accept": "application/json"}).json()
    assert by_accept == as_json
    as_csv = httpx.get(f"{server}/search.csv", params={"q": "spain", "limit": 1})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[1].startswith(f"{ID}country/ES,Spain,{MS}Country,")
    assert httpx.get(f"{server}/search.xml", params={"q": "spain"}).status_code == 404
    too_long = httpx.get(f"{server}/search.json", params={"q": "x" * 201})
    assert too_long.status_code == 422 and too_long.json()["ok"] is False


def test_a_sparql_update_with_the_token_changes_what_is_found(server: str) -> None:
    def found() -> list[str]:
        return [h["iri"] for h in httpx.get(f"{server}/search.json", params={"q": "plokmijn"}).json()["hits"]]

    auth = {"Authorization": "Bearer s3cret"}
    assert found() == []
    insert = f'INSERT DATA {{ GRAPH <urn:new> {{ <urn:n> {LABEL} "Plokmijn Masks" }} }}'
    assert httpx.post(f"{server}/sparql", data={"update": insert}, headers=auth).status_code == 204
    assert found() == ["urn:n"]
    delete = f'DELETE WHERE {{ <urn:n> {LABEL} ?l }}'
    assert httpx.post(f"{server}/sparql", data={"update": delete}, headers=auth).status_code == 204
    assert found() == []


def test_the_search_box_on_every_page_finds_and_shows_text(server: str, page) -> None:
    p, log = page
    p.goto(f"{server}/")
    p.fill("header form.search input[name=q]", "Hua Shunying")
    p.press("header form.search input[name=q]", "Enter")
    p.wait_for_selector("#hits tbody tr")
    assert p.url.startswith(f"{server}/search?q=Hua+Shunying")
    first_row = p.locator("#hits tbody tr").first
    assert first_row.locator("td a").first.inner_text() == "Hua Chunying"
    assert first_row.locator("mark").inner_text() == "Hua Shunying"
    assert "ms:Person" in first_row.inner_text()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    p.goto(f"{server}/search?q=evilxyz")  # markup in a label is shown as text
    assert "<img src=x onerror=alert(1)>" in p.locator("#hits tbody tr").first.inner_text()
    assert p.locator("#hits img").count() == 0
    assert log.console_errors == [] and log.page_errors == [] and log.off_host == []
    assert log.dialogs == []
