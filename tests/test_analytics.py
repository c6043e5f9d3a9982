"""Analytics on hand-made graphs with answers known by hand, and on the bundled data."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase, NotFound
from kb import analytics as a
from tests.conftest import DATA, run_kb, serve

EX = "http://example.org/"
ID = "https://w3id.org/medsupply-kb/id/"


def test_projection_keeps_literals_as_attributes(groups_kb: KnowledgeBase) -> None:
    g = a.entity_graph(groups_kb)
    assert sorted(g.nodes) == [f"{EX}{n}" for n in "abcdefg"]
    assert g.number_of_edges() == 8
    assert g.nodes[f"{EX}a"]["label"] == "A"
    edge = g.get_edge_data(f"{EX}c", f"{EX}d")
    assert [d["label"] for d in edge.values()] == ["bridge"]


def test_projection_built_fast_equals_networkx_own_build(bundled: KnowledgeBase) -> None:
    """The entity graph fills networkx's adjacency dicts directly; the same nodes and edges
    added through networkx's own methods give the same graph, both directions."""
    import networkx as nx

    fast = a.entity_graph(bundled)
    slow = nx.MultiDiGraph()
    slow.add_nodes_from(fast.nodes(data=True))
    slow.add_edges_from(fast.edges(keys=True, data=True))
    assert fast.number_of_edges() > 100
    assert nx.utils.graphs_equal(fast, slow)
    assert {n: dict(p) for n, p in fast.pred.items()} == {n: dict(p) for n, p in slow.pred.items()}
    assert dict(fast.in_degree()) == dict(slow.in_degree())
    china = "https://w3id.org/medsupply-kb/id/country/CN"
    assert fast.nodes[china]["label"] == "China"
    assert all(d["graphs"] == sorted(d["graphs"]) for _, d in fast.nodes(data=True))
    assert sum(bool(d["graphs"]) for _, d in fast.nodes(data=True)) > 50


def test_centralities_known_by_hand(groups_kb: KnowledgeBase) -> None:
    g = a.entity_graph(groups_kb)
    degree = a.centrality(g, "degree")
    assert degree[f"{EX}a"] == pytest.approx(3 / 6)  # b, c, g of 6 others
    assert degree[f"{EX}g"] == pytest.approx(1 / 6)
    betweenness = a.centrality(g, "betweenness")
    # every shortest path between the triangles crosses c and d; a carries g's paths
    assert max(betweenness, key=betweenness.get) in (f"{EX}c", f"{EX}d")
    assert betweenness[f"{EX}b"] == 0
    pagerank = a.centrality(g, "pagerank")
    assert sum(pagerank.values()) == pytest.approx(1.0)
    assert pagerank[f"{EX}g"] == min(pagerank.values())


def test_communities_and_components_known_by_hand(groups_kb: KnowledgeBase) -> None:
    g = a.entity_graph(groups_kb)
    found = a.communities(g, seed=1)
    assert sorted(map(sorted, found.communities)) == [
        [f"{EX}a", f"{EX}b", f"{EX}c", f"{EX}g"], [f"{EX}d", f"{EX}e", f"{EX}f"]]
    assert 0.3 < found.modularity < 0.5
    assert a.components(g) == [[f"{EX}{n}" for n in "abcdefg"]]


def test_path_is_explained_hop_by_hop(groups_kb: KnowledgeBase) -> None:
    g = a.entity_graph(groups_kb)
    hops = a.explain_path(groups_kb, g, f"{EX}g", f"{EX}e")
    assert [(h.subject, h.predicate_label, h.object) for h in hops] == [
        (f"{EX}g", "r", f"{EX}a"), (f"{EX}c", "r", f"{EX}a"), (f"{EX}c", "bridge", f"{EX}d"),
        (f"{EX}d", "r", f"{EX}e")]
    assert all(h.graph.endswith("two-groups.ttl") for h in hops)
    with pytest.raises(NotFound, match="nowhere"):
        a.explain_path(groups_kb, g, f"{EX}a", f"{EX}nowhere")


def test_results_are_cached_until_the_data_changes(groups_kb: KnowledgeBase) -> None:
    first = a.entity_graph(groups_kb)
    assert a.entity_graph(groups_kb) is first
    groups_kb.update(f"INSERT DATA {{ GRAPH <{EX}g2> {{ <{EX}h> <{EX}r> <{EX}a> }} }}")
    second = a.entity_graph(groups_kb)
    assert second is not first and f"{EX}h" in second


def test_china_is_the_most_central_country(bundled: KnowledgeBase) -> None:
    country = "https://w3id.org/medsupply-kb/ontology#Country"
    rows = a.centrality_report(bundled, "pagerank", top_n=3, classes=[country])
    assert rows[0]["iri"] == f"{ID}country/CN" and rows[0]["label"] == "China"
    assert [r["rank"] for r in rows] == [1, 2, 3]
    scores = [r["score"] for r in rows]
    assert scores[0] > scores[1] >= scores[2] > 0  # China ahead of the rest, not tied
    g = a.entity_graph(bundled)
    assert all(country in g.nodes[r["iri"]]["types"] for r in rows)  # countries only
    everyone = a.centrality_report(bundled, "pagerank", top_n=3)
    assert everyone[0]["score"] >= scores[0]  # the filter picks, it does not rescore


def test_path_from_the_netherlands_to_mofcom(bundled: KnowledgeBase) -> None:
    rows = a.path_report(bundled, f"{ID}country/NL", f"{ID}org/mofcom")
    through = [r["subject"] for r in rows]
    assert f"{ID}incident/nl-mask-recall-2020-03-28" in through  # the recall
    assert f"{ID}statement/mofcom-2020-04-02" in through  # the ministry's reply to it
    assert all(r["source"] for r in rows)  # each hop names the document that says it


def test_indicators_and_flows(bundled: KnowledgeBase) -> None:
    by_country = {r["country"]: int(r["incidents"]) for r in a.indicator(bundled, "incidents-by-country")}
    assert by_country[f"{ID}country/NL"] == 1 and len(by_country) >= 8
    conflicts = {r["conflict"] for r in a.indicator(bundled, "conflicts")}
    assert f"{ID}conflict/es-order-size" in conflicts
    flows = a.flows_report(bundled)
    kinds = {r["kind"] for r in flows}
    assert kinds == {"shipment", "manufacturer", "reported aggregate"}
    nl = [r for r in flows if r["kind"] == "shipment" and r["to"] == f"{ID}country/NL"]
    assert nl and nl[0]["from"] == f"{ID}country/CN" and nl[0]["amount"] == 1_300_000
    assert nl[0]["unit"] == "items" and nl[0]["start"] == "2020-03-21"
    es = [r for r in flows if r["kind"] == "shipment" and r["to"] == f"{ID}country/ES"]
    assert es and es[0]["amount"] is None and es[0]["unknown"] == 1  # unknown, not 0
    shares = {r["destination"]: (r["quantity"], float(r["share"]))
              for r in a.indicator(bundled, "exporter-shares")}
    assert shares[f"{ID}country/NL"] == ("1300000", 1.0)  # the only shipment of masks
    # antibody tests: 2 million to the United Kingdom, 150,000 to the Czech Republic
    assert shares[f"{ID}country/GB"][0] == "2000000"
    assert shares[f"{ID}country/GB"][1] + shares[f"{ID}country/CZ"][1] == pytest.approx(1.0)
    figures = {(r["product"], r["unit"], r["end"]): r for r in a.indicator(bundled, "figures")}
    masks = figures[(f"{ID}product/face-mask", "items", "2020-04-04")]
    assert float(masks["amount"]) == 3.86e9 and masks["kind"] == "official"
    assert "seed-report" in masks["alternatives"]


def test_save_writes_scores_with_provenance(groups_kb: KnowledgeBase) -> None:
    a.centrality_report(groups_kb, "degree", save=True)
    rows = groups_kb.select("""
        PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?node ?value ?algorithm WHERE { GRAPH <https://w3id.org/medsupply-kb/graph/analytics> {
          ?s a ms:Score ; ms:scoreOf ?node ; ms:scoreValue ?value ; prov:wasGeneratedBy ?run .
          ?run ms:algorithm ?algorithm } } ORDER BY DESC(?value) ?node""")
    assert len(rows) == 7 and str(rows[0]["node"]) == f"{EX}a"
    assert str(rows[0]["algorithm"]) == "degree"
    a.centrality_report(groups_kb, "degree", save=True)  # replaces, does not add
    assert len(groups_kb.select("SELECT ?s WHERE { ?s a <https://w3id.org/medsupply-kb/ontology#Score> }")) == 7


def test_cli_and_http(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA / "two-groups.ttl"), store=store).returncode == 0
    out = run_kb("analytics", "centrality", "--measure", "degree", "--top", "1", "-f", "csv",
                 store=store)
    assert out.returncode == 0 and f"{EX}a" in out.stdout.splitlines()[1]
    bad = run_kb("analytics", "path", f"{EX}a", f"{EX}zzz", store=store)
    assert bad.returncode == 1 and "zzz> is not in the graph" in bad.stderr
    with serve(store, update_token="t") as url:
        r = httpx.get(f"{url}/analytics/centrality", params={"measure": "degree", "top": 2})
        assert r.status_code == 200 and r.json()[0]["iri"] == f"{EX}a"
        r = httpx.get(f"{url}/analytics/communities", headers={"Accept": "text/csv"})
        assert r.headers["content-type"].startswith("text/csv") and r.text.startswith("community,")
        r = httpx.get(f"{url}/analytics/path", params={"source": f"{EX}a", "target": f"{EX}zzz"})
        assert r.status_code == 404 and r.json()["iri"] if "iri" in r.json() else r.status_code == 404
        r = httpx.get(f"{url}/analytics/centrality", params={"measure": "fame"})
        assert r.status_code == 422 and r.json()["error"].startswith("measure:")
        r = httpx.post(f"{url}/analytics/centrality", params={"measure": "degree"})
        assert r.status_code == 401
        r = httpx.post(f"{url}/analytics/centrality", params={"measure": "degree"},
                       headers={"Authorization": "Bearer t"})
        assert r.status_code == 200
        saved = httpx.get(f"{url}/sparql", params={"query": "ASK { ?s a <https://w3id.org/medsupply-kb/ontology#Score> }"})
        assert saved.json()["boolean"] is True


def test_statement_and_incident_graphs(bundled: KnowledgeBase) -> None:
    statements = a.statement_graph(bundled)
    jiang = f"{ID}statement/jiang-fan-2020-04-05"
    assert statements.has_edge(f"{ID}person/jiang-fan", jiang)  # said
    assert statements.has_edge(jiang, f"{ID}statement/mfa-2020-04-02")  # echoes
    assert statements.has_edge(jiang, f"{ID}org/mofcom")  # on behalf of
    incidents = a.incident_graph(bundled)
    recall = f"{ID}incident/nl-mask-recall-2020-03-28"
    assert incidents.nodes[recall]["kind"] in ("Recall", "QualityIncident")
    assert incidents.has_edge(recall, f"{ID}country/NL")
    assert incidents.has_edge(f"{ID}incident/es-test-return-2020-03", f"{ID}org/bioeasy")


def test_http_errors_csv_and_saved_communities(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("load", str(DATA / "two-groups.ttl"), store=store).returncode == 0
    with serve(store) as url:  # no update token: saving is off
        r = httpx.post(f"{url}/analytics/communities", headers={"Authorization": "Bearer x"})
        assert r.status_code == 403
    with serve(store, update_token="t") as url:
        r = httpx.get(f"{url}/analytics/ego", params={"iri": f"{EX}nobody"})
        assert r.status_code == 404
        assert r.json()["iri"] == f"{EX}nobody" and f"<{EX}nobody>" in r.json()["error"]
        r = httpx.get(f"{url}/analytics/ego", params={"iri": f"{EX}a", "radius": 9})
        assert r.status_code == 422 and "radius" in r.json()["error"]
        r = httpx.get(f"{url}/analytics/indicators/fame")
        assert r.status_code == 422 and r.json()["error"].startswith("indicator")
        r = httpx.get(f"{url}/analytics/path", params={"source": f"{EX}g", "target": f"{EX}e"},
                      headers={"Accept": "text/csv"})
        assert r.headers["content-type"].startswith("text/csv")
        lines = r.text.splitlines()
        assert lines[0].startswith("step,subject") and len(lines) == 1 + 4  # 4 hops by hand
        r = httpx.post(f"{url}/analytics/communities", params={"seed": 1},
                       headers={"Authorization": "Bearer t"})
        assert r.status_code == 200 and [row["size"] for row in r.json()] == [4, 3]
        query = """PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
            PREFIX prov: <http://www.w3.org/ns/prov#>
            SELECT ?node ?community WHERE { GRAPH <https://w3id.org/medsupply-kb/graph/analytics> {
              ?s ms:scoreOf ?node ; ms:scoreValue ?community ; prov:wasGeneratedBy ?run .
              ?run a prov:Activity ; ms:algorithm "louvain" ; prov:endedAtTime ?t ;
                   prov:used ?input FILTER(STRENDS(STR(?input), "two-groups.ttl")) } }"""
        rows = httpx.get(f"{url}/sparql", params={"query": query}).json()["results"]["bindings"]
        groups: dict[float, set[str]] = {}
        for row in rows:
            groups.setdefault(float(row["community"]["value"]), set()).add(row["node"]["value"])
        assert sorted(map(sorted, groups.values())) == [
            [f"{EX}a", f"{EX}b", f"{EX}c", f"{EX}g"], [f"{EX}d", f"{EX}e", f"{EX}f"]]
