"""The interactive views: the pages' source, and the pages in a real browser (headless
chromium, loopback only)."""

from __future__ import annotations

import html
import json
import re
import tempfile
import time
from pathlib import Path

import httpx
import networkx as nx
import pytest

from bench.generate import generate
from kb import KnowledgeBase, viz
from kb.bundled import DATA_DIR, ONTOLOGY_FILE, load_bundled
from kb.errors import InvalidParameter, NotFound, QueryError
from kb.namespaces import ONTOLOGY_GRAPH
from kb.viz import render
from tests.conftest import run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(1)</script>'
HREF = '<a href="javascript:alert(4)">x</a>'
EVIL = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:evil rdfs:label "<img src=x onerror=alert(1)>" ; ex:knows ex:victim ; ex:likes ex:linked .
ex:victim rdfs:label "\\"><script>alert(1)</script>" ; ex:link <javascript:alert(3)> .
ex:linked rdfs:label "<a href=\\"javascript:alert(4)\\">x</a>" .
"""
#: Where the entity view's screenshot goes (outside the repository; quoted in the closing note).
SCREENSHOT = Path(tempfile.gettempdir()) / "medsupply-kb" / "entity-view.png"


def view_data(page_html: str) -> dict:
    """The page's JSON data block: pyvis's network (the nodes and edges drawn at first, and
    the options) with the script's data beside it, merged into one view of every node and
    edge (``visible``: the nodes drawn at first)."""
    m = re.search(r'<script type="application/json" id="kb-view">(.*?)</script>', page_html, re.S)
    assert m is not None
    data = json.loads(m.group(1))
    view = data["view"]
    return {**view, "options": data["options"], "visible": [n["id"] for n in data["nodes"]],
            "nodes": {n["id"]: n for n in data["nodes"]} | view["folded"],
            "edges": data["edges"] + view["edges"]}


def expected_drawn(data: dict) -> int:
    """Nodes the page draws at first: the visible ones and one "N more" per fold shown."""
    visible = set(data["visible"])
    folds = sum(1 for key, f in data["folds"].items()
                if (key == "" or key in visible)
                and ([m for m in f["members"] if m not in visible] or f["unfetched"]))
    return len(visible) + folds


# --- the page source, no browser --------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_kb():
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        kb.load([_evil_file()])
        yield kb


def _evil_file() -> Path:
    path = Path(tempfile.mkdtemp()) / "evil.ttl"
    path.write_text(EVIL)
    return path


def test_data_reaches_the_page_as_escaped_json_only(bundled_kb) -> None:
    page_html = viz.entity_view(bundled_kb, "http://example.org/evil", depth=2,
                                link="/resource?iri=")
    for payload in (IMG, SCRIPT, HREF, "<script>alert", "onerror=alert(1)>"):
        assert payload not in page_html
    assert html.escape(IMG) in page_html  # the title, as text
    data = view_data(page_html)
    labels = {n["label"] for n in data["nodes"].values()}
    assert {IMG, SCRIPT, HREF} <= labels
    # links only for http(s) IRIs, and always to our own resource page
    hrefs = [n["href"] for n in data["nodes"].values() if n["href"]]
    assert hrefs and all(h.startswith("/resource?iri=http") for h in hrefs)
    assert data["nodes"]["javascript:alert(3)"]["href"] is None
    # nothing from another host (vis-network is inline, from pyvis's package), no innerHTML
    # anywhere in our script
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page_html)
    assert not re.search(r"cdnjs|jsdelivr|unpkg|<link\b", page_html)
    assert "innerHTML" not in (viz.ASSETS / "view.js").read_text()


def test_the_policy_allows_exactly_the_inline_scripts_and_styles(bundled_kb) -> None:
    import base64
    import hashlib

    page_html = viz.ontology_view(bundled_kb)
    scripts = re.findall(r"<script>(.*?)</script>", page_html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page_html, re.S)
    policy = viz.content_security_policy()
    for body in scripts + styles:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "frame-ancestors" not in viz.content_security_policy(meta=True)


def test_bad_parameters(bundled_kb) -> None:
    with pytest.raises(InvalidParameter, match="depth"):
        viz.entity_view(bundled_kb, f"{ID}country/NL", depth=9)
    with pytest.raises(InvalidParameter, match="iri"):
        viz.entity_view(bundled_kb, "not an iri with spaces")
    with pytest.raises(NotFound):
        viz.entity_view(bundled_kb, "http://example.org/nobody")
    with pytest.raises(QueryError, match="CONSTRUCT"):
        viz.query_view(bundled_kb, "SELECT * WHERE { ?s ?p ?o }")
    with pytest.raises(InvalidParameter, match="start"):
        viz.flows_view(bundled_kb, start="March")


def test_an_entity_view_draws_its_neighbourhood(bundled_kb) -> None:
    g = viz.neighbourhood(bundled_kb, f"{ID}country/ES", 1)
    data = view_data(viz.entity_view(bundled_kb, f"{ID}country/ES", 1))
    assert set(data["nodes"]) == set(g.nodes)
    assert expected_drawn(data) == g.number_of_nodes() <= viz.DEFAULT_MAX_NODES
    assert data["focus"] == f"{ID}country/ES"
    # labels from the ontology, sources from the graphs' documents
    edge_labels = {e["label"] for e in data["edges"]}
    assert "destination" in ", ".join(edge_labels)
    assert any("source: " in e["title"] for e in data["edges"])


def test_the_cap_folds_the_least_central_into_more_nodes() -> None:
    g = nx.MultiDiGraph()
    hub = "http://example.org/hub"
    for i in range(1, 500):
        g.add_edge(hub, f"http://example.org/n{i}", key="p", label="p")
    for i in range(1, 20):  # a few leaves are more central: they must be kept
        g.add_edge(f"http://example.org/n{i}", f"http://example.org/m{i}", key="q", label="q")
    data = view_data(render(g, title="big", max_nodes=50))
    assert expected_drawn(data) == 50
    kept = set(data["visible"])
    assert {f"http://example.org/n{i}" for i in range(1, 20)} <= kept
    assert len(data["folds"][hub]["members"]) == 500 - len(kept & {f"http://example.org/n{i}" for i in range(1, 500)}) - 1


def test_a_hub_on_a_big_store_is_capped_and_counted(tmp_path: Path) -> None:
    with KnowledgeBase.open("memory") as kb:
        kb.load([generate(20_000, tmp_path / "trade.nt")])
        cn = f"{ID}country/CN"
        page_html = viz.entity_view(kb, cn, 2, max_nodes=120)
        data = view_data(page_html)
        assert expected_drawn(data) == 120
        total = int(kb.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s ?p <{cn}> }}")[0]["n"])
        fold = data["folds"][cn]
        # what was read but not drawn, plus what was not read, is all that links to CN
        assert total > 4 * 120
        shown = sum(1 for e in data["edges"] if e["to"] == cn and e["from"] in data["visible"])
        assert len(fold["members"]) + fold["unfetched"] + shown >= total - 5


# --- in the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(bundled_store_with) -> Path:
    return bundled_store_with("viz", EVIL)


@pytest.fixture(scope="module")
def server(store: Path):
    with serve(store) as url:
        yield url


def wait_until(p, condition: str, timeout: float = 30.0) -> None:
    """Poll a JS condition (``wait_for_function`` would need eval, which the page's CSP
    forbids)."""
    deadline = time.monotonic() + timeout
    while not p.evaluate(condition):
        assert time.monotonic() < deadline, f"never true: {condition}"
        p.wait_for_timeout(50)


def drawn(p) -> int:
    """Nodes in the network once its layout has settled (and physics stopped)."""
    wait_until(p, "window.kbStable === true")
    assert p.evaluate("window.kbNetwork.physics.physicsEnabled") is False
    return p.evaluate("window.kbNetwork.body.data.nodes.get({filter: n => !n.hidden}).length")


@pytest.mark.parametrize("path, params", [
    ("/viz/entity", {"iri": f"{ID}country/NL", "depth": 2}),
    ("/viz/path", {"source": f"{ID}country/NL", "target": f"{ID}org/mofcom"}),
    ("/viz/flows", {}),
    ("/viz/query", {"query": f"DESCRIBE <{ID}incident/es-test-return-2020-03>"}),
    ("/viz/ontology", {}),
])
def test_each_view_draws_offline(server: str, page, path: str, params: dict) -> None:
    p, log = page
    response = httpx.get(f"{server}{path}", params=params)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    expected = expected_drawn(view_data(response.text))
    assert 2 <= expected <= viz.DEFAULT_MAX_NODES
    p.goto(str(response.url))
    assert p.locator("#kb-graph canvas").count() == 1
    assert p.locator('a[href="/"]').count() == 1  # a way back to the query page
    assert drawn(p) == expected
    assert log.console_errors == [] and log.page_errors == [] and log.off_host == []
    if path == "/viz/entity":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000


def test_the_path_view_shows_the_explained_path(server: str, page) -> None:
    p, _ = page
    p.goto(f"{server}/viz/path?source={ID}country/NL&target={ID}org/mofcom")
    drawn(p)
    labels = p.evaluate("window.kbNetwork.body.data.edges.get().map(e => e.label)")
    # the recall, the ministry's reply to it (which is also about it), the ministry
    assert labels[0] == "actor country" and labels[2:] == ["speaker"]
    assert labels[1] in ("responds to", "about")


def test_markup_in_labels_is_shown_as_text_and_runs_nothing(server: str, page) -> None:
    p, log = page
    response = httpx.get(f"{server}/viz/entity", params={"iri": "http://example.org/evil", "depth": 2})
    for payload in (IMG, SCRIPT, HREF):
        assert payload not in response.text
    p.goto(str(response.url))
    drawn(p)
    labels = p.evaluate("window.kbNetwork.body.data.nodes.get().map(n => n.label)")
    assert {IMG, SCRIPT, HREF} <= set(labels)
    assert p.locator("#kb-title").text_content() == IMG
    # hover every node: each tooltip is text
    seen = []
    for node in p.evaluate("Object.keys(window.kbNetwork.getPositions())"):
        at = p.evaluate("""id => { const r = document.querySelector('#kb-graph canvas').getBoundingClientRect();
            const d = window.kbNetwork.canvasToDOM(window.kbNetwork.getPositions([id])[id]);
            return {x: r.left + d.x, y: r.top + d.y}; }""", node)
        p.mouse.move(at["x"], at["y"])
        p.wait_for_timeout(400)
        seen += p.evaluate("""Array.from(document.querySelectorAll('div.vis-tooltip'))
            .filter(t => t.style.visibility !== 'hidden')
            .map(t => [t.innerText, t.querySelectorAll('img, script, a, iframe').length])""")
    assert any(IMG in text for text, _ in seen) and any(SCRIPT in text for text, _ in seen)
    assert all(elements == 0 for _, elements in seen)
    # search finds the node, the details panel shows its label as text
    p.fill("#kb-q", "<script>")
    p.press("#kb-q", "Enter")
    assert p.locator("#kb-details-label").text_content() == SCRIPT
    assert p.evaluate("document.querySelectorAll('img, iframe, a[href^=javascript]').length") == 0
    assert p.evaluate("document.scripts.length") == 3
    assert log.dialogs == [] and log.page_errors == [] and log.console_errors == []
    hrefs = p.evaluate("window.kbNetwork.body.data.nodes.get().map(n => n.href)")
    assert not any(h and not h.startswith("/resource?iri=http") for h in hrefs)


def test_clicking_a_node_opens_its_resource_page(server: str, page) -> None:
    p, _ = page
    p.goto(f"{server}/viz/entity?iri={ID}country/ES")
    drawn(p)
    with p.expect_request(lambda r: "/resource?iri=" in r.url) as request:
        p.evaluate(f"window.kbNetwork.emit('click', {{nodes: ['{ID}country/ES']}})")
    assert request.value.url.endswith("/resource?iri=https%3A%2F%2Fw3id.org%2Fmedsupply-kb%2Fid%2Fcountry%2FES")


def test_errors_are_pages_with_a_way_back(server: str) -> None:
    r = httpx.get(f"{server}/viz/entity", params={"iri": "http://example.org/nobody"})
    assert r.status_code == 404 and 'href="/"' in r.text and r.headers["content-type"].startswith("text/html")
    # the site's error page (api/templates/error.html), the message as text
    assert 'class="home"' in r.text and "&lt;http://example.org/nobody&gt;" in r.text
    assert "<http://example.org/nobody>" not in r.text
    r = httpx.get(f"{server}/viz/entity", params={"iri": f"{ID}country/NL", "depth": 9})
    assert r.status_code == 422 and "depth" in r.text
    r = httpx.get(f"{server}/viz/query", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert r.status_code == 400 and "CONSTRUCT" in r.text


def test_more_nodes_expand_and_search_reveals_folded_nodes(page, tmp_path: Path) -> None:
    g = nx.MultiDiGraph()
    for i in range(1, 500):
        g.add_node(f"http://example.org/n{i}", label=f"n{i}", types=[], graphs=[])
        g.add_edge("http://example.org/hub", f"http://example.org/n{i}", key="p", label="p", graph="")
    g.nodes["http://example.org/hub"].update(label="hub", types=[], graphs=[])
    path = tmp_path / "big.html"
    path.write_text(render(g, title="big", max_nodes=50, link=None))
    p, log = page
    p.goto(path.as_uri())
    assert drawn(p) == 50  # 49 nodes and one "450 more": never more than max_nodes
    p.evaluate("window.kbNetwork.emit('click', {nodes: ['more:http://example.org/hub']})")
    assert p.evaluate("window.kbNetwork.body.data.nodes.length") == 100  # 50 more, and "400 more"
    wait_until(p, "window.kbNetwork.physics.physicsEnabled === false")
    p.fill("#kb-q", "n499")
    p.press("#kb-q", "Enter")
    assert p.evaluate("window.kbNetwork.getSelectedNodes()") == ["http://example.org/n499"]
    assert log.off_host == [] and log.console_errors == [] and log.page_errors == []


def test_filters_hide_a_class(server: str, page) -> None:
    p, _ = page
    p.goto(f"{server}/viz/entity?iri={ID}country/NL&depth=2")
    before = drawn(p)
    p.locator("#kb-classes input").first.uncheck()
    after = p.evaluate("window.kbNetwork.body.data.nodes.get({filter: n => !n.hidden}).length")
    assert 0 < after < before


def test_cli_writes_a_file_that_opens_offline(page, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    out = tmp_path / "nl.html"
    done = run_kb("viz", "entity", "country:NL", "--depth", "1", "-o", str(out), store=store)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "lib").exists() and not Path("lib").exists()
    source = out.read_text()
    assert 'http-equiv="Content-Security-Policy"' in source
    p, log = page
    p.goto(out.as_uri())
    assert drawn(p) == expected_drawn(view_data(source))
    p.evaluate(f"window.kbNetwork.emit('click', {{nodes: ['{ID}country/NL']}})")
    assert p.url == out.as_uri()  # a saved page shows details; it does not navigate
    assert p.locator("#kb-details-label").text_content()
    assert log.off_host == [] and log.console_errors == [] and log.page_errors == []


def test_cli_writes_every_view_and_each_opens_offline(page, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE), store=store).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=store).returncode == 0
    for args in (["path", "country:NL", "agent:mofcom"], ["flows"],
                 ["query", f"DESCRIBE <{ID}country/ES>"], ["ontology"]):
        out = tmp_path / f"{args[0]}.html"
        started = time.monotonic()
        done = run_kb("viz", *args, "-o", str(out), store=store)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 60
        expected = expected_drawn(view_data(out.read_text()))
        assert expected >= 2, args
        p, log = page
        p.goto(out.as_uri())
        assert drawn(p) == expected, args
        assert log.off_host == [] and log.console_errors == [] and log.page_errors == [], args
    done = run_kb("viz", "entity", "country:NL", "--depth", "9", "-o", str(tmp_path / "x.html"), store=store)
    assert done.returncode == 2 and "depth" in done.stderr  # a usage error (click)


@pytest.mark.parametrize("seed", range(40))
def test_folding_never_draws_more_than_the_cap_and_loses_nothing(seed: int) -> None:
    import random

    from kb.viz.fold import fold as _fold
    from kb.viz.fold import scores as _scores

    rng = random.Random(seed)
    n, cap = rng.randint(1, 400), rng.randint(10, 120)
    g = nx.MultiDiGraph()
    g.add_nodes_from(f"n{i}" for i in range(n))
    for _ in range(rng.randint(0, 2 * n)):
        g.add_edge(f"n{rng.randrange(n)}", f"n{rng.randrange(n)}")
    for i in rng.sample(range(n), k=n // 20):
        g.nodes[f"n{i}"]["more"] = rng.randint(1, 50)
    focus = "n0" if seed % 2 else None
    kept, folds = _fold(g, _scores(g, "degree"), focus, cap)
    data = {"visible": list(kept), "folds": {k or "": {"members": m, "unfetched": u}
                                             for k, (m, u) in folds.items()}}
    assert min(n, cap) // 2 <= expected_drawn(data) <= cap
    assert kept | {m for members, _ in folds.values() for m in members} == set(g.nodes)
    assert focus is None or focus in kept


def test_endpoints_without_lateral_get_plain_queries(bundled_kb, monkeypatch) -> None:
    es = f"{ID}country/ES"
    expected = set(viz.neighbourhood(bundled_kb, es, 2).nodes)
    real = bundled_kb.run

    def run(sparql, consume, **options):
        if "LATERAL" in sparql:
            raise QueryError("SPARQL query syntax error: LATERAL is not supported")
        return real(sparql, consume, **options)

    monkeypatch.setattr(bundled_kb, "run", run)
    monkeypatch.setattr(type(bundled_kb), "is_local", property(lambda self: False))
    assert set(viz.neighbourhood(bundled_kb, es, 2).nodes) == expected


@pytest.mark.parametrize("path, params", [
    ("/viz/query", {"query": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(STRSTARTS(STR(?s), 'http://example.org/')) }"}),
    ("/viz/path", {"source": "http://example.org/evil", "target": "http://example.org/linked"}),
])
def test_markup_is_text_in_the_other_views_too(server: str, page, path: str, params: dict) -> None:
    p, log = page
    response = httpx.get(f"{server}{path}", params=params)
    assert response.status_code == 200, response.text
    for payload in (IMG, SCRIPT, HREF):
        assert payload not in response.text
    p.goto(str(response.url))
    drawn(p)
    labels = set(p.evaluate("window.kbNetwork.body.data.nodes.get().map(n => n.label)"))
    assert IMG in labels and (HREF in labels or SCRIPT in labels)
    assert p.evaluate("document.querySelectorAll('img, iframe, a[href^=javascript]').length") == 0
    assert log.dialogs == [] and log.page_errors == [] and log.console_errors == []


# --- a readable entity view: clusters, hub labels, a legend with no colour twice -------------

CN = f"{ID}country/CN"
#: Where the readable China view's screenshot goes (a test artefact, outside the repository).
CN_SCREENSHOT = Path(tempfile.gettempdir()) / "medsupply-kb" / "entity-view-cn-depth-2.png"


def labelled_at_first(data: dict) -> list[str]:
    """The labels a page draws at first: its labelled nodes not gathered into a cluster, its
    cluster nodes and its "N more" nodes."""
    gathered = {m for c in data["clusters"] for m in c["members"]}
    labels = [data["nodes"][n]["label"] for n in data["visible"]
              if n not in gathered and "label" in data["nodes"][n]]
    return labels + [c["label"] for c in data["clusters"]] + ["more"] * (
        expected_drawn(data) - len(data["visible"]))


def test_china_at_depth_2_is_readable(bundled_kb) -> None:
    data = view_data(viz.entity_view(bundled_kb, CN, 2))
    drawn_nodes = set(data["visible"])
    # the leaves of one class around one node are one cluster node, with their count
    assert data["clusters"], "no cluster"
    for c in data["clusters"]:
        assert len(c["members"]) >= 2 and c["label"].startswith(f"{len(c['members'])} × ")
        assert all(data["nodes"][m]["cls"] == c["cls"] for m in c["members"])
        assert set(c["members"]) <= drawn_nodes and c["parent"] in drawn_nodes
    # labels for the hubs only, and few of them; every node keeps its name for hover/search
    labels = labelled_at_first(data)
    assert len(labels) <= 30 < len(drawn_nodes)
    assert "label" in data["nodes"][CN] and data["nodes"][CN]["label"] == "China"
    assert all(n["name"] and n["name"].rstrip("…") in n["title"] for n in data["nodes"].values())
    # the legend: one colour per entry, none twice, and the nodes coloured by it
    colours = [c["colour"] for c in data["classes"]]
    assert len(colours) == len(set(colours)) >= 5
    by_class = {c["key"]: c["colour"] for c in data["classes"]}
    assert all(n["group"] == n["cls"] and by_class[n["cls"]] in json.dumps(n["color"])
               for n in data["nodes"].values())
    assert data["options"]["groups"] == {k: {"color": v} for k, v in by_class.items()}


def test_a_legend_never_repeats_a_colour() -> None:
    """More classes than the palette has colours: the rest share one "other" entry."""
    g = nx.MultiDiGraph()
    for i in range(40):
        n = f"http://example.org/n{i}"
        g.add_node(n, label=f"n{i}", types=[f"http://example.org/C{i % 30}"] if i < 35 else [],
                   graphs=[])
        g.add_edge("http://example.org/n0", n, key="p", label="p")
    data = view_data(render(g, title="many classes"))
    colours = [c["colour"] for c in data["classes"]]
    assert len(colours) == len(set(colours)) == len(viz.drawing.PALETTE) + 1
    assert data["classes"][-1]["label"] == "(other classes)"
    assert sum(c["count"] for c in data["classes"]) == 40


def test_the_entity_view_and_the_ego_report_agree(server: str) -> None:
    """/viz/entity draws the neighbourhood /analytics/ego lists (kb.neighbourhood, one
    function): the same entities for the same IRI and depth."""
    for iri in (CN, f"{ID}country/NL", f"{ID}country/ES"):
        for depth in (1, 2):
            data = view_data(httpx.get(f"{server}/viz/entity",
                                       params={"iri": iri, "depth": depth}).text)
            rows = httpx.get(f"{server}/analytics/ego", params={"iri": iri, "radius": depth},
                             headers={"accept": "application/json"}).json()
            listed = {r["subject"] for r in rows} | {r["object"] for r in rows}
            assert listed == set(data["nodes"]), (iri, depth)


def test_china_at_depth_2_in_the_browser(server: str, page) -> None:
    p, log = page
    p.goto(f"{server}/viz/entity?iri={CN}&depth=2")
    drawn(p)
    shown = p.evaluate("""() => { const b = window.kbNetwork.body;
        return b.nodeIndices.map(id => b.nodes[id]).filter(n => !n.options.hidden)
          .map(n => ({id: n.id, label: n.options.label || null, cluster: !!n.isCluster})); }""")
    labelled = [n for n in shown if n["label"]]
    clusters = [n for n in shown if n["cluster"]]
    assert clusters and len(labelled) <= 30 < len(shown)
    assert any(n["label"] == "China" for n in shown)
    # the legend as drawn: no colour twice
    swatches = p.evaluate("Array.from(document.querySelectorAll('#kb-classes .kb-swatch'))"
                          ".map(s => getComputedStyle(s).backgroundColor)")
    assert len(swatches) == len(set(swatches)) >= 5
    CN_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(CN_SCREENSHOT))
    assert CN_SCREENSHOT.stat().st_size > 10_000
    # a click opens a cluster: its members are drawn, each unlabelled until hovered
    first = clusters[0]["id"]
    p.evaluate(f"window.kbNetwork.emit('click', {{nodes: ['{first}']}})")
    assert not p.evaluate(f"window.kbView.closed.has('{first}')")
    assert p.evaluate(f"window.kbNetwork.body.nodes['{first}'] === undefined")
    # search finds a node inside a cluster, and opens it
    member = p.evaluate("Object.keys(window.kbView.clusters).find(m => "
                        "window.kbView.closed.has(window.kbView.clusters[m]))")
    p.fill("#kb-q", member)
    p.press("#kb-q", "Enter")
    assert p.locator("#kb-details-text").text_content().find(member) >= 0
    assert not p.evaluate("id => window.kbView.closed.has(window.kbView.clusters[id])", member)
    assert p.evaluate("id => window.kbNetwork.getSelectedNodes()", member) == [member]
    assert log.console_errors == [] and log.page_errors == [] and log.off_host == []
