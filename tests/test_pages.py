"""The query page and the resource pages, in a real browser where it matters."""

from __future__ import annotations

import httpx
import pytest
import rdflib

from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ONTOLOGY_GRAPH
from tests.conftest import run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
EVIL = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:evil rdfs:label "<img src=x onerror=alert(1)>" ; ex:link <javascript:alert(3)> ;
    ex:note "\\"><script>alert(2)</script>" .
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("pages") / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=store).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    evil = store.parent / "evil.ttl"
    evil.write_text(EVIL)
    assert run_kb("load", str(evil), store=store).returncode == 0
    with serve(store) as url:
        yield url


def set_query(p, text: str) -> None:
    """Type a query into the page's editor (CodeMirror over the form's textarea)."""
    p.wait_for_selector(".CodeMirror")
    p.evaluate("text => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", text)


def test_query_page_runs_an_example_offline(server: str, page) -> None:
    p, log = page
    response = httpx.get(server)
    assert response.status_code == 200 and "default-src 'self'" in response.headers["content-security-policy"]
    p.goto(server)
    p.select_option("#examples", index=1)
    p.click("button[type=submit]")
    p.wait_for_selector("#results table tbody tr")
    assert p.locator("#results table tbody tr").count() >= 1
    assert p.locator("#downloads a").count() >= 4
    # the editor highlights SPARQL (CodeMirror's keyword tokens), with no CSP violation:
    # Chromium reports those as console errors
    keywords = [t.lower() for t in p.locator(".CodeMirror .cm-keyword").all_text_contents()]
    assert "select" in keywords and "where" in keywords
    assert log.console_errors == [] and log.page_errors == [] and log.off_host == []


def test_query_page_shows_errors_where_they_occurred(server: str, page) -> None:
    p, log = page
    p.goto(server)
    set_query(p, "SELECT *\nWHERE {\n ?s ?p }")
    p.click("button[type=submit]")
    p.wait_for_selector("#status.error")
    assert p.text_content("#status").startswith("Line 3 of your query")
    # the line is marked in the editor and the cursor put there
    assert p.locator(".CodeMirror .error-line").count() == 1
    assert p.evaluate("document.querySelector('.CodeMirror').CodeMirror.getCursor().line") == 2
    set_query(p, "SELECT * WHERE { ?s ?p ?o } LIMIT 1")  # editing clears the mark
    assert p.locator(".CodeMirror .error-line").count() == 0
    assert log.page_errors == []


def test_resource_page_lists_statements_with_their_sources(server: str, page) -> None:
    p, log = page
    p.goto(f"{server}/resource?iri={ID}country/NL")
    assert p.text_content("h1") == "Netherlands"
    text = p.text_content("main")
    assert "actor country" in text and "scmp-2020-03-29" in text
    p.click("text=Dutch recall of 600,000 masks from China, 28 March 2020 >> nth=0")
    assert "nl-mask-recall-2020-03-28" in p.url
    assert log.console_errors == [] and log.off_host == []


def test_resource_rdf_twins_and_dereferencing(server: str) -> None:
    r = httpx.get(f"{server}/resource", params={"iri": f"{ID}country/NL"}, headers={"Accept": "text/turtle"})
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    assert (rdflib.URIRef(f"{ID}country/NL"), rdflib.RDFS.label, rdflib.Literal("Netherlands", lang="en")) in g
    r = httpx.get(f"{server}/resource", params={"iri": f"{ID}country/NL", "format": "jsonld"})
    assert r.headers["content-type"].startswith("application/ld+json")
    r = httpx.get(f"{server}/id/country/NL", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/resource?iri=https%3A")
    r = httpx.get(f"{server}/resource", params={"iri": "http://example.org/nobody"})
    assert r.status_code == 404 and 'href="/"' in r.text


def test_markup_in_the_data_is_text_on_every_page(server: str, page) -> None:
    p, log = page
    html = httpx.get(f"{server}/resource", params={"iri": "http://example.org/evil"}).text
    assert "<img src=x" not in html and "<script>alert" not in html
    assert 'href="/resource?iri=javascript' not in html and 'href="javascript:' not in html
    p.goto(f"{server}/resource?iri=http://example.org/evil")
    assert p.text_content("h1") == "<img src=x onerror=alert(1)>"
    p.goto(server)
    set_query(p, "SELECT ?l WHERE { <http://example.org/evil> ?p ?l }")
    p.click("button[type=submit]")
    p.wait_for_selector("#results table tbody tr")
    assert "<img src=x onerror=alert(1)>" in p.text_content("#results")
    assert p.locator("#results a[href^='javascript']").count() == 0
    p.wait_for_timeout(200)
    assert log.dialogs == [] and log.page_errors == []
