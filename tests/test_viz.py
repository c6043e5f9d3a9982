"""The interactive views in a real browser (headless chromium, loopback only)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ONTOLOGY_GRAPH
from kb.viz import render
from tests.conftest import run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
EVIL = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:evil rdfs:label "<img src=x onerror=alert(1)>" ; ex:knows ex:victim .
ex:victim rdfs:label "\\"><script>alert(2)</script>" ; ex:link <javascript:alert(3)> .
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("viz") / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=path).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=path).returncode == 0
    evil = path.parent / "evil.ttl"
    evil.write_text(EVIL)
    assert run_kb("load", str(evil), store=path).returncode == 0
    return path


@pytest.fixture(scope="module")
def server(store: Path):
    with serve(store) as url:
        yield url


def drawn(p) -> int:
    p.wait_for_function("window.kbStable === true", timeout=30_000)
    return p.evaluate("window.kbNetwork.body.data.nodes.get({filter: n => !n.hidden}).length")


@pytest.mark.parametrize("path, params, at_least", [
    ("/viz/entity", {"iri": f"{ID}country/NL", "depth": 2}, 10),
    ("/viz/path", {"source": f"{ID}country/NL", "target": f"{ID}org/mofcom"}, 5),
    ("/viz/flows", {}, 2),
    ("/viz/query", {"query": f"DESCRIBE <{ID}incident/es-test-return-2020-03>"}, 3),
    ("/viz/ontology", {}, 20),
])
def test_each_view_draws_offline(server: str, page, path: str, params: dict, at_least: int, tmp_path: Path) -> None:
    p, log = page
    response = httpx.get(f"{server}{path}", params=params)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    p.goto(str(response.url))
    assert p.locator("#kb-graph canvas").count() == 1
    assert drawn(p) >= at_least
    assert log.console_errors == [] and log.page_errors == [] and log.off_host == []
    if path == "/viz/entity":
        shot = tmp_path / "entity-view.png"
        p.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000


def test_the_path_view_shows_the_explained_path(server: str, page) -> None:
    p, _ = page
    p.goto(f"{server}/viz/path?source={ID}country/NL&target={ID}org/mofcom")
    drawn(p)
    labels = p.evaluate("window.kbNetwork.body.data.edges.get().map(e => e.label)")
    assert labels == ["actor country", "responds to", "echoes", "on behalf of"]


def test_markup_in_labels_is_shown_as_text_and_runs_nothing(server: str, page) -> None:
    p, log = page
    response = httpx.get(f"{server}/viz/entity", params={"iri": "http://example.org/evil"})
    assert "<img src=x" not in response.text and "<script>alert" not in response.text
    p.goto(str(response.url))
    drawn(p)
    labels = p.evaluate("window.kbNetwork.body.data.nodes.get().map(n => n.label)")
    assert "<img src=x onerror=alert(1)>" in labels
    p.mouse.move(400, 300)
    p.wait_for_timeout(300)
    assert log.dialogs == [] and log.page_errors == []
    hrefs = p.evaluate("window.kbNetwork.body.data.nodes.get().map(n => n.href)")
    assert not any(h and h.startswith("javascript:") for h in hrefs)


def test_errors_are_pages_with_a_way_back(server: str) -> None:
    r = httpx.get(f"{server}/viz/entity", params={"iri": "http://example.org/nobody"})
    assert r.status_code == 404 and 'href="/"' in r.text
    r = httpx.get(f"{server}/viz/entity", params={"iri": f"{ID}country/NL", "depth": 9})
    assert r.status_code == 422 and "depth" in r.text


def test_big_graphs_fold_into_more_nodes(page, tmp_path: Path) -> None:
    import networkx as nx

    g = nx.MultiDiGraph()
    for i in range(1, 500):
        g.add_node(f"http://example.org/n{i}", label=f"n{i}", types=[], graphs=[])
        g.add_edge("http://example.org/hub", f"http://example.org/n{i}", key="p", label="p", graph="")
    g.nodes["http://example.org/hub"].update(label="hub", types=[], graphs=[])
    path = tmp_path / "big.html"
    path.write_text(render(g, title="big", max_nodes=50, link=None))
    p, log = page
    p.goto(path.as_uri())
    assert drawn(p) == 51  # 50 nodes and one "450 more"
    p.evaluate("window.kbNetwork.emit('click', {nodes: ['more:http://example.org/hub']})")
    assert p.evaluate("window.kbNetwork.body.data.nodes.length") == 500
    assert log.off_host == [] and log.console_errors == []


def test_cli_writes_a_file_that_opens_offline(page, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    out = tmp_path / "nl.html"
    done = run_kb("viz", "entity", "country:NL", "--depth", "1", "-o", str(out), store=store)
    assert done.returncode == 0, done.stderr
    p, log = page
    p.goto(out.as_uri())
    assert drawn(p) >= 3 and log.off_host == [] and log.console_errors == []
