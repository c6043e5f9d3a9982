"""The browsing pages (/classes, /classes/{curie}, /incidents, /figures, /map): HTML with JSON
and CSV twins over HTTP on a live server, and each page in chromium."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve
from tests.test_pages import assert_clean

ID = "https://w3id.org/medsupply-kb/id/"
MS = "https://w3id.org/medsupply-kb/ontology#"
#: Where the pages' screenshots go (outside the repository).
SCREENSHOTS = Path(tempfile.gettempdir()) / "medsupply-kb" / "pages"
EVIL = """@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix country: <https://w3id.org/medsupply-kb/id/country/> .
<https://w3id.org/medsupply-kb/id/incident/evil> a ms:Rejection ;
    rdfs:label "<img src=x onerror=alert(1)>" ; ms:actorCountry country:IT ;
    ms:date "2020-03-30"^^<http://www.w3.org/2001/XMLSchema#date> ;
    ms:reason "\\"><script>alert(2)</script>" ; ms:evidence "<b onmouseover=alert(3)>x</b>" .
"""
PAGES = ["/classes", "/classes/ms:Rejection", "/incidents", "/figures", "/map"]


@pytest.fixture(scope="module")
def server(bundled_store_with):
    with serve(bundled_store_with("browse", EVIL)) as url:
        yield url


def get(server: str, path: str, **kwargs) -> httpx.Response:
    response = httpx.get(server + path, timeout=60, **kwargs)
    assert response.status_code == 200, (path, response.text[:500])
    return response


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.parametrize("path", PAGES)
def test_each_page_has_json_and_csv_twins(server: str, path: str) -> None:
    html = get(server, path, headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in html.headers["content-security-policy"]
    by_suffix = get(server, path + ".json").json()
    by_accept = get(server, path, headers={"Accept": "application/json"}).json()
    assert by_suffix == by_accept and by_suffix
    assert rows_of(get(server, path + ".csv")) == rows_of(
        get(server, path, headers={"Accept": "text/csv"}))
    for menu in ("/search", "/classes", "/incidents", "/figures", "/map"):
        assert f'<a href="{menu}">' in html.text


def test_classes_count_distinct_instances(server: str) -> None:
    classes = {c["curie"]: c["instances"] for c in get(server, "/classes.json").json()}
    assert classes["ms:Country"] >= 249
    assert classes["ms:Rejection"] == 11  # ten from the sources, one test row
    # the Spanish return is typed by three sources and counts once
    assert classes["ms:Return"] == 1


def test_class_page_pages_sorts_and_filters(server: str) -> None:
    first = get(server, "/classes/ms:Country.json?size=100").json()
    second = get(server, "/classes/ms:Country.json?size=100&page=2").json()
    assert first["total"] == second["total"] >= 249
    assert len(first["rows"]) == 100 and len(second["rows"]) == 100
    assert not {r["iri"] for r in first["rows"]} & {r["iri"] for r in second["rows"]}
    labels = [r["label"] for r in first["rows"]]
    assert labels == sorted(labels, key=lambda t: t)  # by label, ascending
    down = get(server, "/classes/ms:Country.json?size=5&sort=label&desc=true").json()
    assert down["rows"][0]["label"] >= labels[-1]
    by_date = get(server, "/classes/ms:Rejection.json?sort=date").json()["rows"]
    dates = [min(r["date"]) if r["date"] else None for r in by_date]
    known = [d for d in dates if d]
    assert known == sorted(known) and len(known) < len(dates)  # Poland's is undated
    assert dates[len(known):] == [None] * (len(dates) - len(known))  # the undated last
    page = get(server, "/classes/ms:Rejection.json").json()
    facets = {f["short"]: f["count"] for f in page["facets"]["country"]}
    assert facets["country:FI"] == 2
    finland = get(server, "/classes/ms:Rejection.json?country=country:FI").json()
    assert finland["total"] == 2 and {r["label"][:7] for r in finland["rows"]} == {"Finland"}
    april = get(server, "/classes/ms:Rejection.json?period=2020-04").json()
    assert april["total"] == sum(f["count"] for f in page["facets"]["period"] if f["value"] == "2020-04")
    source = get(server, "/classes/ms:Return.json?source=gsrc:seed-report").json()
    assert source["total"] == 1
    html = get(server, "/classes/ms:Rejection?country=country:FI", headers={"Accept": "text/html"})
    assert "2 instances" in html.text and "Finland" in html.text


def test_every_class_listed_has_its_page(server: str) -> None:
    """Classes of blank nodes (quantities, instants) too: their rows name the node, with no
    link, since no IRI names it."""
    for c in get(server, "/classes.json").json():
        page = get(server, f"/classes/{c['curie']}.json?size=3").json()
        assert page["total"] == c["instances"], c
    quantities = get(server, "/classes/qudt:QuantityValue.json?size=3").json()["rows"]
    assert quantities and all(r["iri"] is None and r["short"].startswith("_:")
                              for r in quantities)
    html = get(server, "/classes/qudt:QuantityValue?size=3").text
    assert quantities[0]["short"] in html and "/resource?iri=None" not in html


def test_class_page_refuses_bad_input(server: str) -> None:
    for query in ("sort=nonsense", "period=March", "size=0", "page=0", "country=%3Cbad%20iri%3E"):
        response = httpx.get(f"{server}/classes/ms:Country.json?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.json()["error"]
    assert httpx.get(f"{server}/classes/ms:NoSuchClass.json").status_code == 404


def test_incident_table_has_one_row_per_incident(server: str) -> None:
    rows = get(server, "/incidents.json").json()
    assert len(rows) == len({r["incident"] for r in rows}) == 13  # 12 bundled, and "evil"
    spain = next(r for r in rows if r["incident"].endswith("es-test-return-2020-03"))
    # each source's date at its precision: El País's day and the seed's "end of March"
    assert [d["text"] for d in spain["dates"]] == ["26 Mar 2020", "end of March 2020"]
    assert {"9,000", "thousands"} == set(spain["quantity"])
    assert [s["label"] for s in spain["standard"]]
    slovakia = next(r for r in rows if r["incident"].endswith("sk-rapid-tests-2020"))
    assert slovakia["dates"][0]["text"] == "late March to April 2020 (exact day not found)"
    assert slovakia["replies"] and "misuse" in slovakia["replies"][0]["quotations"][0]["text"]
    table = rows_of(get(server, "/incidents.csv"))
    assert len(table) == 13
    netherlands = get(server, "/incidents.csv?country=country:NL")
    [nl] = rows_of(netherlands)
    assert nl["date"] == "2020-03-28" and nl["country"] == "country:NL"
    assert "politicized" in nl["reply"]  # the table kb export-incidents writes
    masks = get(server, "/incidents.json?product=product:face-mask").json()
    assert {r["incident"].rsplit("/", 1)[-1] for r in masks} >= {
        "nl-mask-recall-2020-03-28", "fi-masks-2020-04", "ca-masks-2020-04"}
    assert not any("test" in r["incident"] for r in masks)


def test_figures_are_never_summed(server: str) -> None:
    rows = get(server, "/figures.json").json()
    masks = [r for r in rows if r["series"] == "China → world: Face mask" and r["chosen"]
             and r["unit"].endswith("NUM")]
    assert sorted(r["amount"] for r in masks) == [3.86e9, 50.9e9]  # two periods, two bars
    assert len({(r["start"], r["end"]) for r in masks}) == 2
    alternatives = [r for r in rows if r["series"] == "China → world: Face mask"
                    and not r["chosen"] and r["amount"] == 3.86e9]
    assert len(alternatives) >= 1  # another source's same figure, beside it
    html = get(server, "/figures", headers={"Accept": "text/html"}).text
    assert "3.86 bn" in html and "50.9 bn" in html and "54.8 bn" not in html
    assert html.count("<svg") >= 5


def test_map_colours_countries_by_what_they_did(server: str) -> None:
    countries = {c["iso"]: c for c in get(server, "/map.json").json()}
    assert countries["ES"]["main"] == "returned" and countries["NL"]["main"] == "returned"
    assert countries["SK"]["main"] == "complained" and countries["CN"]["main"] == "exported"
    html = get(server, "/map", headers={"Accept": "text/html"}).text
    assert 'data-iso="ES"' in html and html.count("<path") > 150
    assert "/resource?iri=https%3A%2F%2Fw3id.org%2Fmedsupply-kb%2Fid%2Fcountry%2FES" in html


def test_labels_are_escaped(server: str) -> None:
    for path in ("/incidents", "/classes/ms:Rejection", "/map"):
        html = get(server, path, headers={"Accept": "text/html"}).text
        assert "<img src=x" not in html and "<script>alert" not in html
        assert "<b onmouseover" not in html


@pytest.mark.parametrize("path", PAGES)
def test_each_page_in_chromium(server: str, page, path: str) -> None:
    p, log = page
    p.goto(server + path)
    assert p.locator("header nav a").count() >= 6
    text = p.inner_text("main")
    expected = {"/classes": "ms:QualityIncident", "/classes/ms:Rejection": "Finland",
                "/incidents": "end of March 2020", "/figures": "50.9 bn", "/map": "Spain"}
    assert expected[path] in text
    assert log.dialogs == []
    assert_clean(log)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / (path.strip("/").replace("/", "-").replace(":", "-") + ".png")
    p.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_a_reader_finds_who_complained_when_and_chinas_reply_in_three_clicks(
        server: str, page) -> None:
    """'Which countries complained about Chinese masks and tests, when, and what did China
    reply?': from the menu, Incidents; the rows show country, date, reply and sources."""
    p, log = page
    p.goto(server + "/")
    p.click('header nav a[href="/incidents"]')  # click 1
    p.select_option('select[name="country"]', "country:NL")
    p.click('form.filters button[type="submit"]')  # click 2 (the filter is optional)
    row = p.locator("tr.incident").first
    text = row.inner_text()
    assert "Netherlands" in text and "28 Mar 2020" in text and "Face mask" in text
    assert "politicized" in text or "hype up" in text  # China's reply
    source = row.locator("td.sources a.source").first
    assert "recalls 600,000" in source.get_attribute("title").lower()  # evidence on hover
    source.click()  # click 3: the source, with what it says
    assert "/resource" in p.url
    assert_clean(log)
