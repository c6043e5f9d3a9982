"""Saved queries as endpoints, and the API docs offline."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ONTOLOGY_GRAPH
from tests.conftest import run_kb, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("queries") / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=store).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    with serve(store) as url:
        yield url


def test_saved_queries_are_listed_and_run(server: str) -> None:
    listing = httpx.get(f"{server}/queries").json()
    names = {q["name"] for q in listing}
    assert "cq22-name-variant" in names and len(listing) >= 30
    r = httpx.get(f"{server}/queries/cq22-name-variant")
    body = r.json()
    assert body["parameters"] == {"name": "Hua Shunying"}
    assert body["rows"] == [{"person": "person:hua-chunying", "canonical": "Hua Chunying"}]
    r = httpx.get(f"{server}/queries/cq22-name-variant", params={"name": "华春莹"})
    assert r.json()["rows"][0]["person"] == "person:hua-chunying"
    r = httpx.get(f"{server}/queries/cq33-incidents-per-country", headers={"Accept": "text/csv"})
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["country", "incidents"] and len(rows) > 5
    r = httpx.get(f"{server}/queries/cq33-incidents-per-country", headers={"Accept": "text/html"})
    assert r.headers["content-type"].startswith("text/html") and "<table>" in r.text


def test_saved_query_errors(server: str) -> None:
    r = httpx.get(f"{server}/queries/no-such-query")
    assert r.status_code == 404 and "GET /queries" in r.json()["error"]
    r = httpx.get(f"{server}/queries/cq22-name-variant", params={"nmae": "x"})
    assert r.status_code == 422 and r.json()["error"].startswith("nmae:")


def test_api_docs_work_offline(server: str, page) -> None:
    html = httpx.get(f"{server}/docs").text
    assert "cdn.jsdelivr" not in html and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    p, log = page
    p.goto(f"{server}/docs")
    p.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "medsupply-kb" in p.text_content(".swagger-ui .info .title")
    assert log.off_host == []


def test_a_saved_query_over_the_row_limit_says_it_was_cut(tmp_path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=store).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    with serve(store, max_rows="3") as url:
        r = httpx.get(f"{url}/queries/cq33-incidents-per-country")
        body = r.json()
        assert body["truncated"] is True and len(body["rows"]) == 3
        assert r.headers["x-truncated"] == "3"
        html = httpx.get(f"{url}/queries/cq33-incidents-per-country?_format=html").text
        assert "Only the first 3 rows" in html and html.count("<tr>") == 4
        csv_rows = httpx.get(f"{url}/queries/cq33-incidents-per-country?_format=csv").text
        assert len(csv_rows.strip().splitlines()) == 4
        small = httpx.get(f"{url}/queries/cq22-name-variant")
        assert small.json()["truncated"] is False and "x-truncated" not in small.headers
