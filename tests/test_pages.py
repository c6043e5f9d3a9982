"""The query page and the resource pages, in a real browser where it matters."""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

import httpx
import pytest
import rdflib

from tests.conftest import serve

ID = "https://w3id.org/medsupply-kb/id/"
EVIL = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:evil rdfs:label "<img src=x onerror=alert(1)>" ; ex:link <javascript:alert(3)> ;
    ex:note "\\"><script>alert(2)</script>" .
"""


@pytest.fixture(scope="module")
def server(bundled_store_with):
    with serve(bundled_store_with("pages", EVIL)) as url:
        yield url


def set_query(p, text: str) -> None:
    """Type a query into the page's editor (CodeMirror over the form's textarea)."""
    p.wait_for_selector(".CodeMirror")
    p.evaluate("text => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", text)


def editor_value(p) -> str:
    return p.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")


def assert_clean(log) -> None:
    """Nothing went wrong in the page: no error, no CSP violation, no request elsewhere."""
    assert log.csp_violations == [], log.csp_violations
    assert log.console_errors == [], log.console_errors
    assert log.page_errors == [], log.page_errors
    assert log.off_host == [], log.off_host


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
    # the editor highlights SPARQL (CodeMirror's keyword tokens)
    keywords = [t.lower() for t in p.locator(".CodeMirror .cm-keyword").all_text_contents()]
    assert "select" in keywords and "where" in keywords
    assert_clean(log)


def test_editor_highlights_and_runs_what_is_typed(server: str, page) -> None:
    """The query typed into the editor (keys, not a script) runs with Ctrl-Enter; the KB's
    prefixes need no declaring; IRIs in the table link to their resource pages."""
    p, log = page
    p.goto(server)
    p.wait_for_selector(".CodeMirror .cm-keyword")
    assert p.locator("#query").is_hidden()  # the textarea is the editor's fallback
    assert "SELECT" in p.locator(".CodeMirror .cm-keyword").all_text_contents()
    p.click(".CodeMirror-code")
    p.keyboard.press("Control+A")
    p.keyboard.press("Delete")
    p.keyboard.type("SELECT ?c (COUNT(*) AS ?n) WHERE {\n?i ms:actorCountry ?c")
    p.keyboard.press("Escape")  # the completion offered after `ms:`
    p.keyboard.type(" .\n} GROUP BY ?c ORDER BY ?c")
    assert editor_value(p).startswith("SELECT ?c (COUNT(*) AS ?n) WHERE {\n")
    tokens = {t.lower() for t in p.locator(".CodeMirror .cm-keyword").all_text_contents()}
    assert {"select", "where", "group", "by", "order"} <= tokens
    assert p.locator(".CodeMirror .cm-variable-2").count() >= 4  # ?c ?n ?i ?c …
    p.keyboard.press("Control+Enter")
    p.wait_for_selector("#results table tbody tr")
    assert p.locator("#results th").all_text_contents() == ["c", "n"]
    link = p.locator("#results tbody a").first
    assert link.get_attribute("href").startswith("/resource?iri=https%3A%2F%2Fw3id.org%2Fmedsupply-kb%2Fid%2Fcountry%2F")
    assert link.text_content().startswith("country:")  # shown with the KB's prefix
    assert [a.text_content() for a in p.locator("#downloads a").all()] == ["json", "csv", "tsv", "xml"]
    for a in p.locator("#downloads a").all():
        r = httpx.get(server + a.get_attribute("href"))
        assert r.status_code == 200 and r.content, (a.text_content(), r.status_code)
    link.click()
    p.wait_for_selector("h1")
    assert "/resource?iri=" in p.url and p.text_content("h1")
    assert_clean(log)


def test_query_page_shows_errors_where_they_occurred(server: str, page) -> None:
    p, log = page
    p.goto(server)
    set_query(p, "SELECT *\nWHERE {\n ?s ?p }")
    p.click("button[type=submit]")
    p.wait_for_selector("#status.error")
    status = p.text_content("#status")
    assert status.startswith("Line 3 of your query")
    assert "line 4" not in status.lower()  # not the engine's count, which includes the prefixes
    # the line is marked in the editor, the word there too, the message is under the line,
    # and the cursor is put there
    assert p.locator(".CodeMirror .error-line").count() == 1
    assert p.locator(".CodeMirror .CodeMirror-linenumber").nth(2).text_content() == "3"
    line = p.locator(".CodeMirror .CodeMirror-line").nth(2)
    assert line.evaluate("e => e.parentNode.querySelector('.error-line') !== null")
    assert p.locator(".CodeMirror .error-token").all_text_contents() == ["}"]
    assert "syntax error" in p.text_content(".CodeMirror .error-note")
    assert p.evaluate("document.querySelector('.CodeMirror').CodeMirror.getCursor().line") == 2
    set_query(p, "SELECT * WHERE { ?s ?p ?o } LIMIT 1")  # editing clears the marks
    assert p.locator(".CodeMirror .error-line").count() == 0
    assert p.locator(".CodeMirror .error-note").count() == 0
    # a query declaring its own prefixes: the lines counted are still the user's
    set_query(p, "PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>\n\nSELECT * WHERE {\n  ?s ms:date }")
    p.click("button[type=submit]")
    p.wait_for_selector("#status.error")
    assert p.text_content("#status").startswith("Line 4 of your query")
    assert p.evaluate("document.querySelector('.CodeMirror').CodeMirror.getCursor().line") == 3
    assert log.page_errors == [] and log.csp_violations == [] and log.off_host == []


def test_construct_results_link_to_a_graph_and_download_in_every_format(server: str, page) -> None:
    p, log = page
    p.goto(server)
    set_query(p, "CONSTRUCT { ?s ?p ?o } WHERE { ?s a ms:Recall ; ?p ?o }")
    p.click("button[type=submit]")
    p.wait_for_selector("#results table tbody tr")
    assert p.locator("#results th").all_text_contents() == ["subject", "predicate", "object"]
    assert p.locator("#results tbody tr").count() >= 5
    assert p.locator("#results tbody a[href^='/resource?iri=']").count() >= 5
    assert "Dutch recall of 600,000 masks" in p.text_content("#results")
    formats = [a.text_content() for a in p.locator("#downloads a[download]").all()]
    assert formats == ["ttl", "nt", "jsonld", "rdfxml", "trig", "nq"]
    media = {"ttl": "text/turtle", "nt": "application/n-triples", "jsonld": "application/ld+json",
             "rdfxml": "application/rdf+xml", "trig": "application/trig", "nq": "application/n-quads"}
    for a in p.locator("#downloads a[download]").all():
        r = httpx.get(server + a.get_attribute("href"))
        assert r.status_code == 200 and r.headers["content-type"].startswith(media[a.text_content()])
        assert "nl-mask-recall-2020-03-28" in r.text
    graph = p.locator("#downloads a", has_text="show as graph")
    assert graph.get_attribute("href").startswith("/viz/query?query=")
    graph.click()
    p.wait_for_load_state("load")
    assert "/viz/query" in p.url
    assert log.page_errors == [] and log.csp_violations == [] and log.off_host == []


def test_every_competency_question_runs_from_the_examples(server: str, page) -> None:
    """Each example loads into the editor (parameters bound to their defaults) and runs."""
    p, log = page
    p.goto(server)
    options = p.locator("#examples option").all_text_contents()[1:]
    assert len(options) >= 10
    for i, option in enumerate(options, start=1):
        p.select_option("#examples", index=i)
        assert editor_value(p).strip(), option
        p.click("button[type=submit]")
        p.wait_for_function("s => !['', 'Running…'].includes(document.getElementById(s).textContent)", arg="status")
        assert p.get_attribute("#status", "class") != "error", (option, p.text_content("#status"))
    dutch = next(i for i, o in enumerate(options, start=1) if "Dutch" in o)
    p.select_option("#examples", index=dutch)
    assert "VALUES" in editor_value(p)  # its parameter, bound to the default
    p.click("button[type=submit]")
    p.wait_for_selector("#results tbody tr")
    assert "nl-mask-recall-2020-03-28" in p.text_content("#results")
    assert_clean(log)


def test_editor_completes_and_declares_the_kb_prefixes(server: str, page) -> None:
    p, log = page
    p.goto(server)
    set_query(p, "")
    p.click(".CodeMirror-code")
    p.keyboard.type("SELECT * WHERE { ?x ms:actorC")
    # the list opens while typing and follows each key: wait for it to catch up
    p.wait_for_function("() => { const h = document.querySelector('.CodeMirror-hint');"
                        " return h !== null && h.textContent.startsWith('ms:actorCountry'); }")
    p.keyboard.press("Enter")
    p.keyboard.type(" coun")
    p.keyboard.press("Control+Space")
    p.wait_for_function("() => { const h = document.querySelector('.CodeMirror-hint');"
                        " return h !== null && h.textContent.startsWith('country:'); }")
    p.keyboard.press("Enter")
    p.keyboard.type("NL }")
    assert editor_value(p) == "SELECT * WHERE { ?x ms:actorCountry country:NL }"
    p.click("#declare")
    assert editor_value(p) == ("PREFIX country: <https://w3id.org/medsupply-kb/id/country/>\n"
                               "PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>\n\n"
                               "SELECT * WHERE { ?x ms:actorCountry country:NL }")
    p.click("button[type=submit]")
    p.wait_for_selector("#results tbody tr")
    assert_clean(log)


def test_csp_violations_would_be_caught(server: str, page) -> None:
    """The check the other tests rely on: an inline script is refused and reported."""
    p, log = page
    p.goto(server)
    p.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';"
               " document.body.appendChild(s); }")
    p.wait_for_function("() => true")
    p.wait_for_timeout(100)
    assert any("script-src" in v for v in log.csp_violations), log.console_errors
    assert p.evaluate("window.x === undefined")


def test_the_form_works_without_scripts(server: str, browser) -> None:
    """Progressive enhancement: with JavaScript off the textarea is the editor and the form
    sends the example to /sparql, which answers it."""
    context = browser.new_context(java_script_enabled=False)
    try:
        p = context.new_page()
        p.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        p.goto(server)
        assert p.locator("#query").is_visible() and p.locator(".CodeMirror").count() == 0
        with p.expect_response(lambda r: "/sparql?" in r.url) as answer:
            p.click("button[type=submit]")
        assert answer.value.status == 200
        assert "/sparql?query=PREFIX" in answer.value.url
        # a browser asks for text/html first: the answer is a page with a linked table
        assert answer.value.headers["content-type"].startswith("text/html")
        p.wait_for_selector("table tbody tr")
        link = p.locator("table a[href^='/resource?iri=']").first
        assert "country%2F" in link.get_attribute("href") and "/id/country/" in link.text_content()
        assert p.locator("a[href*='format=csv']").count() == 1
        # any other client still gets SPARQL results
        assert "country/" in httpx.get(answer.value.url).json()["results"]["bindings"][0][
            "country"]["value"]
    finally:
        context.close()


def test_page_assets_are_served_by_the_app_and_cached(server: str) -> None:
    html = httpx.get(server).text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("vendor/codemirror/codemirror.js?v=" in a for a in assets)
    assert all("?v=" in a for a in assets), assets
    for asset in assets:
        r = httpx.get(server + asset)
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"], asset
        again = httpx.get(server + asset, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
    r = httpx.get(server + "/static/vendor/codemirror/LICENSE")
    assert r.status_code == 200 and "MIT" in r.text and r.headers["cache-control"] == "no-cache"


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


def test_a_browser_asking_sparql_gets_a_page_with_the_data_as_text(server: str) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    r = httpx.get(f"{server}/sparql", headers=html, params={
        "query": "CONSTRUCT { <http://example.org/evil> ?p ?o } WHERE { <http://example.org/evil> ?p ?o }"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "<th>subject</th>" in r.text and "format=ttl" in r.text
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
    r = httpx.get(f"{server}/sparql", headers=html, params={"query": "ASK { ?s ?p ?o }"})
    assert '<p class="boolean">yes</p>' in r.text


#: Where the query page's screenshot goes (a test artefact, outside the repository).
QUERY_SCREENSHOT = Path(tempfile.gettempdir()) / "medsupply-kb" / "query-page.png"
COUNTRY_NAMES = ("SELECT ?name (STRLEN(?name) AS ?length) WHERE {\n"
                 "  ?c a ms:Country ; rdfs:label ?name FILTER(LANG(?name) = \"en\")\n}")


def shown_rows(p) -> list[list[str]]:
    return p.evaluate("Array.from(document.querySelectorAll('#results tbody tr'))"
                      ".map(tr => Array.from(tr.cells).map(td => td.textContent))")


def test_results_sort_filter_and_page_and_the_query_has_a_permalink_and_a_history(
        server: str, page) -> None:
    p, log = page
    p.goto(server)
    p.evaluate("localStorage.clear()")
    p.reload()
    set_query(p, COUNTRY_NAMES)
    p.click("button[type=submit]")
    p.wait_for_selector("#results tbody tr")
    total = int(p.text_content("#status").split()[0])
    assert total > 200  # every ISO country: more than two pages of 100
    assert p.text_content("#page-where") == f"rows 1–100 of {total}, page 1 of 3"
    assert len(shown_rows(p)) == 100
    # sort: a click on a header sorts by it (numbers as numbers), a second click reverses
    p.click("#results th:nth-child(2) button")
    lengths = [int(r[1].split("^^")[0]) for r in shown_rows(p)]
    assert lengths == sorted(lengths) and lengths[0] <= 5  # "4" before "10"
    assert p.get_attribute("#results th:nth-child(2)", "aria-sort") == "ascending"
    p.click("#results th:nth-child(2) button")
    descending = [int(r[1].split("^^")[0]) for r in shown_rows(p)]
    assert descending == sorted(descending, reverse=True) and descending[0] > 20
    p.click("#results th:nth-child(1) button")
    names = [r[0] for r in shown_rows(p)]
    assert names[0][0] in "AÅ" and names[-1][0] not in "AÅ"
    # pages: the next one, a size of 25
    p.click("#page-next")
    assert p.text_content("#page-where") == f"rows 101–200 of {total}, page 2 of 3"
    assert shown_rows(p)[0][0] not in names
    p.select_option("#page-size", "25")
    assert len(shown_rows(p)) == 25 and p.text_content("#page-where").startswith("rows 1–25 ")
    # filter: only the rows with the text (any case), the count said
    p.fill("#result-filter", "REPUBLIC")
    rows = shown_rows(p)
    assert rows and all("republic" in r[0].lower() for r in rows)
    assert p.text_content("#result-count").endswith(f"of {total} rows match")
    p.fill("#result-filter", "no such country")
    assert shown_rows(p) == [] and p.text_content("#page-where") == "no rows"
    QUERY_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    p.fill("#result-filter", "land")
    p.screenshot(path=str(QUERY_SCREENSHOT), full_page=True)
    assert QUERY_SCREENSHOT.stat().st_size > 10_000
    # the permalink: the page's address, and the copy-link box
    link = p.input_value("#permalink")
    assert link == p.url and "/?query=" in link and "PREFIX" not in link
    # a second query: the history lists both, the latest first
    set_query(p, "SELECT (COUNT(*) AS ?n) WHERE { ?s a ms:Recall }")
    p.click("button[type=submit]")
    p.wait_for_selector("#results tbody tr")
    assert p.text_content("#history-count") == "2"
    assert_clean(log)

    # the permalink in a fresh page: the query restored and run; the history is there
    fresh = p.context.new_page()
    errors: list[str] = []
    fresh.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    fresh.on("pageerror", lambda e: errors.append(str(e)))
    fresh.goto(link)
    fresh.wait_for_selector("#results tbody tr")
    assert editor_value(fresh) == COUNTRY_NAMES
    assert int(fresh.text_content("#status").split()[0]) == total
    history = fresh.locator("#history-list .history-query")
    assert history.count() == 2  # the permalink's query was run again: first, not twice
    assert history.nth(0).get_attribute("title") == COUNTRY_NAMES
    assert "Recall" in history.nth(1).get_attribute("title")
    fresh.click("#history summary")
    history.nth(1).click()  # a click restores that query in the editor
    assert editor_value(fresh) == "SELECT (COUNT(*) AS ?n) WHERE { ?s a ms:Recall }"
    fresh.click("#history-clear")
    assert history.count() == 0 and fresh.text_content("#history-count") == "0"
    assert fresh.evaluate("localStorage.getItem('medsupply-kb.query-history')") == "[]"
    assert errors == []
    fresh.close()


def test_a_permalink_fills_the_editor_without_scripts_too(server: str) -> None:
    query = 'SELECT * WHERE { ?s ?p "</textarea><script>alert(1)</script>" }'
    r = httpx.get(server, params={"query": query})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text
    m = re.search(r'<textarea id="query"[^>]*>(.*?)</textarea>', r.text, re.S)
    assert m is not None and html.unescape(m.group(1)) == query
