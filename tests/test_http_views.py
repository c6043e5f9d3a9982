"""What a reader of the bundled data meets over HTTP, against a live server: short names in
every IRI parameter, content negotiation on every route, the saved-query pages, resource pages
(sources grouped, disagreements side by side, blank nodes nested), paths into the reference
graphs, the graph exports' classes, and derived scores kept out of reasoning."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

import httpx
import pytest
import rdflib

from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ANALYTICS_GRAPH, INFERRED_GRAPH, MS, ONTOLOGY_GRAPH, PREFIXES
from tests.conftest import run_kb, serve

pytestmark = pytest.mark.server

ID = "https://w3id.org/medsupply-kb/id/"
NL, ES = f"{ID}country/NL", f"{ID}country/ES"
MOFCOM_TRADE = f"{ID}org/mofcom-foreign-trade"  # defined only in a reference graph
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The bundled ontology and data, with saved communities, then reasoning (in this order,
    so that reasoning sees the saved scores and must leave them out)."""
    store = tmp_path_factory.mktemp("views") / "store"
    for args in (("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE)),
                 ("load", str(DATA_DIR)), ("analytics", "communities", "--save"),
                 ("reason",)):
        done = run_kb(*args, store=store)
        assert done.returncode == 0, (args, done.stderr)
    with serve(store) as url:
        yield url


def _text(page: str) -> str:
    """A page's visible text, one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_short_names_work_in_every_iri_parameter(server: str) -> None:
    path = httpx.get(f"{server}/analytics/path",
                     params={"source": "country:NL", "target": "agent:mofcom"})
    assert path.status_code == 200, path.text
    assert path.json()[0]["subject"] == NL or path.json()[0]["object"] == NL
    ego = httpx.get(f"{server}/analytics/ego", params={"iri": "country:NL"})
    assert ego.status_code == 200 and any(NL in (r["subject"], r["object"]) for r in ego.json())
    page = httpx.get(f"{server}/resource", params={"iri": "country:NL"},
                     headers={"Accept": "text/html"})
    assert page.status_code == 200 and NL in page.text
    view = httpx.get(f"{server}/viz/entity", params={"iri": "country:NL"})
    assert view.status_code == 200 and "Netherlands" in view.text
    describe = httpx.get(f"{server}/viz/query", params={"query": "DESCRIBE country:ES"})
    assert describe.status_code == 200 and "Spain" in describe.text
    export = httpx.get(f"{server}/export", params={"graph": "msg:ontology", "format": "nt"})
    assert export.status_code == 200 and f"<{MS}Country>" in export.text
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    short = httpx.get(f"{server}/sparql", params={"query": count,
                                                   "default-graph-uri": "msg:ontology"})
    full = httpx.get(f"{server}/sparql", params={"query": count,
                                                  "default-graph-uri": str(ONTOLOGY_GRAPH)})
    n = short.json()["results"]["bindings"][0]["n"]["value"]
    assert int(n) > 0 and n == full.json()["results"]["bindings"][0]["n"]["value"]
    cq = httpx.get(f"{server}/queries/cq07-dutch-recall", params={"country": "country:ES"})
    assert cq.status_code == 200 and cq.json()["parameters"] == {"country": ES}


def test_a_path_reaches_an_entity_of_the_reference_graphs(server: str) -> None:
    r = httpx.get(f"{server}/analytics/path",
                  params={"source": "country:NL", "target": MOFCOM_TRADE})
    assert r.status_code == 200, r.text
    hops = r.json()
    assert NL in (hops[0]["subject"], hops[0]["object"])
    assert MOFCOM_TRADE in (hops[-1]["subject"], hops[-1]["object"])
    missing = httpx.get(f"{server}/analytics/path",
                        params={"source": "country:NL", "target": "agent:no-such-agency"})
    assert missing.status_code == 404
    assert missing.json()["error"] == f"<{ID}org/no-such-agency> is not in the graph"


def test_saved_queries_are_pages_for_browsers_and_data_for_clients(server: str) -> None:
    index = httpx.get(f"{server}/queries", headers={"Accept": BROWSER})
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    listed = httpx.get(f"{server}/queries").json()
    assert len(listed) > 10
    for q in listed:
        assert f'href="/queries/{q["name"]}"' in index.text
    as_csv = httpx.get(f"{server}/queries", headers={"Accept": "text/csv"})
    assert [r["name"] for r in csv.DictReader(io.StringIO(as_csv.text))] == [
        q["name"] for q in listed]
    # a form for the parameters, filled with the values used
    page = httpx.get(f"{server}/queries/cq07-dutch-recall", params={"country": "country:ES"},
                     headers={"Accept": BROWSER})
    assert page.status_code == 200
    form = re.search(r'<form method="get" action="/queries/cq07-dutch-recall".*?</form>',
                     page.text, re.DOTALL)
    assert form and '<input name="country" value="country:ES"' in form.group(0)
    default = httpx.get(f"{server}/queries/cq07-dutch-recall", headers={"Accept": BROWSER})
    assert '<input name="country" value="country:NL"' in default.text
    # the JSON echoes the parameters used; the rows are the ones for them
    nl = httpx.get(f"{server}/queries/cq07-dutch-recall").json()
    es = httpx.get(f"{server}/queries/cq07-dutch-recall", params={"country": ES}).json()
    assert nl["parameters"] == {"country": NL} and es["parameters"] == {"country": ES}
    assert nl["rows"] and nl["rows"] != es["rows"]


@pytest.mark.parametrize("path, accept, media", [
    ("/analytics/components", "application/json;q=0, text/csv", "text/csv"),
    ("/analytics/components", "text/csv;q=0, */*", "application/json"),
    ("/analytics/components", BROWSER, "application/json"),
    ("/queries", "text/html;q=0, */*", "application/json"),
    ("/queries", "text/*;q=0.9, text/csv;q=0.1", "text/html"),
    ("/ontology", "text/html;q=0, */*", "text/turtle"),
    ("/ontology", BROWSER, "text/html"),
    (f"/resource?iri={quote(NL)}", "text/html;q=0, */*", "text/turtle"),
    (f"/resource?iri={quote(NL)}", "application/json", "application/ld+json"),
    ("/export", BROWSER, "application/trig"),  # never 406 "rdfxml holds a single graph"
    ("/export?graph=ontology", BROWSER, "text/turtle"),
    ("/export", "application/n-quads;q=0.5, application/ld+json", "application/ld+json"),
])
def test_every_route_negotiates_the_same_way(server: str, path: str, accept: str,
                                             media: str) -> None:
    r = httpx.get(f"{server}{path}", headers={"Accept": accept})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].split(";")[0] == media


@pytest.mark.parametrize("path", ["/analytics/components", "/queries", "/ontology",
                                  f"/resource?iri={quote(NL)}", "/export"])
def test_nothing_acceptable_is_406_in_the_error_shape(server: str, path: str) -> None:
    r = httpx.get(f"{server}{path}", headers={"Accept": "image/png"})
    assert r.status_code == 406
    body = r.json()
    assert body["ok"] is False and body["type"] == "NotAcceptable" and "image/png" in body["error"]


def _page(server: str, iri: str) -> str:
    r = httpx.get(f"{server}/resource", params={"iri": iri}, headers={"Accept": BROWSER})
    assert r.status_code == 200
    return r.text


def test_resource_pages_group_sources_and_set_disagreements_side_by_side(server: str) -> None:
    shipment = _page(server, f"{ID}shipment/nl-masks-2020-03")
    label = "Shipment of masks from China to the Netherlands, March 2020"
    # one value stated by two sources: one row listing both
    assert shipment.count(f"{label} <small>@en</small>") == 1
    row = shipment[shipment.index(f"{label} <small>@en</small>"):].split("</tr>")[0]
    assert "source:scmp-2020-03-29" in row and "source:seed-report" in row
    # the sources give different reasons for the Dutch recall: side by side, marked
    incident = _page(server, f"{ID}incident/nl-mask-recall-2020-03-28")
    disagree = re.search(r'<tr class="disagree">.*?</tr>', incident, re.DOTALL)
    assert disagree and "the sources disagree" in disagree.group(0)
    assert disagree.group(0).count('class="alternative"') >= 2
    assert "did not meet the quality standards" in disagree.group(0)


def test_blank_nodes_are_nested_never_linked(server: str) -> None:
    statistic = _page(server, f"{ID}claim/gacc-suits")
    # the quantity and the amount (blank nodes) are described in place
    nested = " ".join(re.findall(r'<dl class="nested">.*?</dl>', statistic, re.DOTALL))
    assert "37520000" in nested and "unit/NUM" in nested and "currency/CNY" in nested
    assert "Renminbi (yuan)" in nested  # the currency concept, by its label
    # the reasoner types this incident with class expressions (blank nodes): never listed
    incident = _page(server, f"{ID}incident/es-test-return-2020-03")
    types = re.search(r"<p>Type: (.*?)</p>", incident).group(1)  # type: ignore[union-attr]
    assert "ms:Return" in types and "ms:QualityIncident" in types
    for page in (statistic, incident):  # every link goes to an IRI, none to a blank node
        links = re.findall(r'href="/resource\?iri=([^"&]+)', page)
        assert links and all(link.startswith(("http%3A", "https%3A")) for link in links), links


def test_derived_scores_stay_out_of_reasoning_and_pages(server: str) -> None:
    scored = httpx.get(f"{server}/sparql", params={
        "query": f"ASK {{ GRAPH <{ANALYTICS_GRAPH}> {{ ?score <{MS}scoreOf> <{NL}> }} }}"})
    assert scored.json()["boolean"] is True  # the communities were saved
    inferred = httpx.get(f"{server}/sparql", params={
        "query": f"ASK {{ GRAPH <{INFERRED_GRAPH}> {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), "
                 f"\"{ANALYTICS_GRAPH}\") || STRSTARTS(STR(?o), \"{ANALYTICS_GRAPH}\") || "
                 f"?o = <{MS}Score>) }} }}"})
    assert inferred.json()["boolean"] is False
    page = _page(server, NL)
    assert "analytics#" not in page and "score of" not in _text(page).lower()


def test_graph_export_classes_are_the_most_specific_of_the_ontology(server: str) -> None:
    r = httpx.get(f"{server}/export/graph", params={"format": "csv", "part": "nodes"})
    nodes = {row["iri:ID"]: row["class"] for row in csv.DictReader(io.StringIO(r.text))}
    assert nodes[NL] == "Country"
    assert nodes[f"{ID}incident/nl-mask-recall-2020-03-28"] == "Recall"
    assert nodes[f"{ID}claim/gacc-suits"] == "ExportStatistic"
    # every class is one of the KB's own ontology
    ontology = rdflib.Graph().parse(ONTOLOGY_FILE)
    ours = {str(c)[len(PREFIXES["ms"]):] for c in ontology.subjects(rdflib.RDF.type,
                                                                      rdflib.OWL.Class)}
    assert set(nodes.values()) <= ours | {"Resource"}, set(nodes.values()) - ours
    assert len(set(nodes.values())) >= 10


def test_docs_page_cannot_be_framed_and_runs_only_its_own_scripts(server: str) -> None:
    r = httpx.get(f"{server}/docs")
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'sha256-" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
