"""Export figures a reader can check against the report: one figure per exporter,
destination, product, unit and period, chosen among the sources that report it; periods,
products and units never added; a misprint never summed; unknown never 0. Through the
library, the CLI and a live server, on the bundled data and on small hand-made datasets."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase, viz
from kb import analytics as a
from kb.bundled import COMPETENCY_DIR, DATA_DIR, ONTOLOGY_FILE, load_bundled
from kb.figures import figures
from kb.namespaces import ONTOLOGY_GRAPH
from kb.queries import load_saved_queries
from kb.terms import to_rdflib
from tests.conftest import run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
CN, WORLD, MASK = f"{ID}country/CN", f"{ID}place/world", f"{ID}product/face-mask"
SUPPLIES, CURRENCY = f"{ID}product/medical-supplies", f"{ID}currency/"
TRANSCRIPT, SEED = f"{ID}source/transcript-2020-04-05", f"{ID}source/seed-report"
SUMMED_MASKS = 3.86e9 + 50.9e9 + 3.86e9  # what the flows used to report: 58.62 bn


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An on-disk store with the ontology and the bundled data, loaded by the CLI."""
    path = tmp_path_factory.mktemp("figures") / "store"
    assert run_kb("load", "--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE),
                  store=path).returncode == 0
    assert run_kb("load", str(DATA_DIR), store=path).returncode == 0
    return path


def reported(rows: list[dict], product: str, unit: str) -> list[tuple]:
    return sorted((r["start"], r["end"], r["amount"]) for r in rows
                  if r["kind"] == "reported aggregate" and r["from"] == CN and r["to"] == WORLD
                  and r["product"] == product and r["unit"] == unit)


def check_masks_and_value(rows: list[dict]) -> None:
    """What a reader of the report expects of the China -> world figures."""
    # 3.86 bn for 1 March - 4 April and 50.9 bn for 1 March - 16 May: two periods, not a sum
    assert reported(rows, MASK, "items") == [("2020-03-01", "2020-04-04", 3.86e9),
                                             ("2020-03-01", "2020-05-16", 50.9e9)]
    assert all(r["amount"] not in (SUMMED_MASKS, 2 * 3.86e9) for r in rows if r["unit"] == "items")
    assert SUMMED_MASKS not in [r["amount"] for r in rows]
    # the value of the masks is in yuan, apart from their number
    assert reported(rows, MASK, "CNY") == [("2020-03-01", "2020-04-04", 7.72e9)]


def check_total_value(rows: list[dict]) -> None:
    # 10.2 bn yuan: the misprinted "10.2 million yuan" is an alternative, never an addend
    (total,) = [r for r in rows if r["kind"] == "reported aggregate"
                and r["product"] == SUPPLIES and r["unit"] == "CNY"]
    assert total["amount"] == 10.2e9 and total["amount"] != 10_210_200_000
    assert total["source"] == TRANSCRIPT and total["count"] == 2
    # the report's alternative counts at its corrected amount, its printed one beside it
    assert total["alternatives"] == (f"10,200,000,000 CNY (press: {SEED}; printed 10,200,000,"
                                     " a misprint corrected)")
    # euros and dollars are figures of their own
    assert reported(rows, SUPPLIES, "EUR") == [("2020-03-01", "2020-04-04", 1.33e9)]
    assert reported(rows, SUPPLIES, "USD") == [("2020-03-01", "2020-04-04", 1.43e9)]


# --- the library, on the bundled data -------------------------------------------------------


def test_masks_are_two_periods_never_summed(bundled: KnowledgeBase) -> None:
    rows = a.flows_report(bundled, product=MASK)
    check_masks_and_value(rows)
    assert {r["product"] for r in rows} == {MASK}
    masks = next(r for r in rows if r["unit"] == "items" and r["end"] == "2020-04-04")
    assert masks["source"] == TRANSCRIPT and masks["count"] == 3  # transcript, Yicai, report
    # the shipments of masks stay, apart from the reported figures
    assert [(r["to"], r["amount"]) for r in rows if r["kind"] == "shipment"] == [
        (f"{ID}country/NL", 1.3e6)]


def test_total_value_is_10_2_billion_yuan(bundled: KnowledgeBase) -> None:
    check_total_value(a.flows_report(bundled))


def test_a_query_over_the_customs_figures_counts_each_once(bundled: KnowledgeBase) -> None:
    """The report's 3.86 bn and the transcript's 3.86 bn are one statistic: 3.86 bn, not 7.72."""
    (row,) = bundled.select("""
        PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
        PREFIX qudt: <http://qudt.org/schema/qudt/>
        SELECT (SUM(?q) AS ?masks) (COUNT(?s) AS ?statistics) WHERE {
          ?s a ms:ExportStatistic ; ms:reportedBy <https://w3id.org/medsupply-kb/id/org/gacc> ;
             ms:productCategory <https://w3id.org/medsupply-kb/id/product/face-mask> ;
             ms:periodStart ?start ; ms:periodEnd "2020-04-04"^^<http://www.w3.org/2001/XMLSchema#date> ;
             ms:quantity/qudt:numericValue ?q }""")
    assert float(row["masks"]) == 3.86e9 and int(row["statistics"]) == 1
    reports = bundled.select("""
        PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
        SELECT DISTINCT ?r ?source WHERE {
          ?r ms:reportsStatistic <https://w3id.org/medsupply-kb/id/claim/gacc-masks> ;
             <http://www.w3.org/ns/prov#wasDerivedFrom> ?source }""")
    assert {str(r["source"]) for r in reports} >= {TRANSCRIPT, SEED}


def test_the_rule_on_the_bundled_figures(bundled: KnowledgeBase) -> None:
    found = {(f.product.rsplit("/", 1)[1], f.unit.rsplit("/", 1)[-1], f.end): f
             for f in figures(bundled)}
    # official over press: the transcript's 330 million yuan, Yicai's 310 million beside it
    thermo = found[("infrared-thermometer", "CNY", "2020-04-04")]
    assert thermo.amount == 330e6 and thermo.chosen.source == TRANSCRIPT
    assert [(x.amount, x.source) for x in thermo.alternatives] == [
        (310e6, f"{ID}source/yicai-2020-04-06")]
    # the most specific period: Yicai's 1 March - 4 April over AFP's "since March 1"
    usd = found[("medical-supplies", "USD", "2020-04-04")]
    assert usd.amount == 1.43e9 and [x.amount for x in usd.alternatives] == [1.4e9]
    # a rounding is an alternative, never an addend
    suits = found[("protective-suit", "NUM", "2020-04-04")]
    assert suits.amount == 37.52e6 and 37.5e6 in [x.amount for x in suits.alternatives]
    # the chosen number is the statistic's own, for every figure (the data follow the rule)
    for f in found.values():
        unit = f"<{f.unit}>" if f.unit.startswith("http") else f"<{CURRENCY}{f.unit}>"
        own = bundled.select(f"""
            PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>
            SELECT ?n WHERE {{ VALUES ?s {{ {" ".join(f"<{s}>" for s in f.statistics)} }}
              {{ ?s ms:quantity [ <http://qudt.org/schema/qudt/numericValue> ?n ;
                                  <http://qudt.org/schema/qudt/unit> {unit} ] }}
              UNION {{ ?s ms:tradeValue [ <https://schema.org/value> ?n ; ms:currency {unit} ] }} }}""")
        assert {float(r["n"]) for r in own} == {f.amount}, f


def test_the_competency_question_chooses_as_the_code_does(bundled: KnowledgeBase) -> None:
    (query,) = [q for q in load_saved_queries(COMPETENCY_DIR) if q.name == "cq35-chosen-figure"]
    rows = bundled.select(query.text, **{k: to_rdflib(v) for k, v in query.params.items()})
    chosen = [r for r in rows if str(r["role"]) == "chosen"]
    (figure,) = [f for f in figures(bundled, product=SUPPLIES) if f.unit == "CNY"]
    assert [(str(r["source"]), float(r["amount"])) for r in chosen] == [
        (figure.chosen.source, figure.amount)]
    assert sorted(float(r["amount"]) for r in rows if str(r["role"]) == "alternative") == \
        sorted(x.amount for x in figure.alternatives)


# --- the rule and the sums on small hand-made datasets ----------------------------------------

PREFIXES = """
@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .
@prefix ex: <http://example.org/> .
@prefix qudt: <http://qudt.org/schema/qudt/> .
@prefix unit: <http://qudt.org/vocab/unit/> .
@prefix schema: <https://schema.org/> .
@prefix currency: <https://w3id.org/medsupply-kb/id/currency/> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""


def stat(name: str, n: float | None = None, *, end: str | None = "2020-04-30",
         product: str = "mask", graph: str = "g0") -> str:
    number = f"ms:quantity [ qudt:numericValue {n} ; qudt:unit unit:NUM ] ;" if n else ""
    period = f'ms:periodEnd "{end}"^^xsd:date ;' if end else ""
    return f"""ex:{graph} {{ ex:{name} a ms:ExportStatistic ; ms:origin ex:CN ;
        ms:productCategory ex:{product} ; {number} {period}
        ms:periodStart "2020-03-01"^^xsd:date . }}"""


def report(name: str, statistic: str, n: float, kind: str, published: str, *,
           end: str | None = "2020-04-30", value: str | None = None) -> str:
    number = (f'ms:tradeValue [ schema:value {n} ; ms:currency currency:{value} ] ;' if value
              else f"ms:quantity [ qudt:numericValue {n} ; qudt:unit unit:NUM ] ;")
    period = f'ms:periodEnd "{end}"^^xsd:date ;' if end else ""
    return f"""ex:{name} {{ ex:{name}-report ms:reportsStatistic ex:{statistic} ; {number}
        ms:reportKind "{kind}" ; prov:wasDerivedFrom ex:{name}-doc ;
        ms:periodStart "2020-03-01"^^xsd:date ; {period} .
        ex:{name}-doc dcterms:date "{published}"^^xsd:date . }}"""


@pytest.fixture
def rule_kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    trig = PREFIXES + "\n".join([
        # official over press, though the press report is later
        stat("a"), report("a-press", "a", 110, "press", "2020-05-01"),
        report("a-official", "a", 100, "official", "2020-04-05"),
        # the most specific period: a closed one over an open one
        stat("b", product="suit"), report("b-open", "b", 210, "press", "2020-05-01", end=None),
        report("b-closed", "b", 200, "press", "2020-04-05"),
        # the latest revision: two statistics of the same figure, the later one chosen
        stat("c", product="kit"), stat("c2", product="kit", graph="g1"),
        report("c-first", "c", 300, "official", "2020-04-05"),
        report("c-revised", "c2", 310, "official", "2020-06-01"),
        # a misprint counts at its corrected amount, and an official misprint is still chosen
        stat("d", product="gown"), report("d-official", "d", 4, "official", "2020-04-05",
                                          value="CNY"),
        report("d-press", "d", 390, "press", "2020-04-06", value="CNY"),
        """ex:curation { ex:fix a ms:Correction ; ms:corrects ex:d-official-report ;
             ms:tradeValue [ schema:value 400 ; ms:currency currency:CNY ] . }""",
        # a statistic no report points to is its own report; another period is another figure
        stat("e", 500, end="2020-05-31"),
    ])
    path = tmp_path / "rule.trig"
    path.write_text(trig)
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        yield kb


def test_the_selection_rule(rule_kb: KnowledgeBase) -> None:
    found = {(f.product.rsplit("/", 1)[1], f.end): f for f in figures(rule_kb)}
    assert found[("mask", "2020-04-30")].amount == 100  # official over press
    assert [x.amount for x in found[("mask", "2020-04-30")].alternatives] == [110]
    assert found[("suit", "2020-04-30")].amount == 200  # the most specific period
    assert found[("kit", "2020-04-30")].amount == 310  # the latest revision
    assert found[("kit", "2020-04-30")].statistics == ["http://example.org/c",
                                                       "http://example.org/c2"]
    gown = found[("gown", "2020-04-30")]
    assert gown.amount == 400 and gown.chosen.printed_amount == 4  # corrected, not printed
    assert found[("mask", "2020-05-31")].amount == 500  # its own report; a period of its own
    rows = a.flows_report(rule_kb)
    assert sorted(r["amount"] for r in rows) == [100, 200, 310, 400, 500]  # nothing summed


def test_distinct_shipments_add_up_and_the_same_one_counts_once(tmp_path: Path) -> None:
    ship = """ex:s{i} a ms:Shipment ; ms:origin ex:CN ; ms:destination ex:FR ;
        ms:productCategory ex:{p} {q} ."""
    number = "; ms:quantity [ qudt:numericValue {n} ; qudt:unit unit:NUM ]"
    trig = PREFIXES + f"""
      ex:one {{ {ship.format(i=1, p="mask", q=number.format(n=100))}
               {ship.format(i=2, p="mask", q=number.format(n=200))}
               {ship.format(i=3, p="mask", q="")}
               {ship.format(i=4, p="suit", q=number.format(n=7))} }}
      ex:two {{ {ship.format(i=1, p="mask", q=number.format(n=100))} }}
      ex:three {{ {ship.format(i=1, p="mask", q=number.format(n=100))} }}"""
    path = tmp_path / "shipments.trig"
    path.write_text(trig)
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        rows = {(r["product"].rsplit("/", 1)[1], r["unit"]): r for r in a.flows_report(kb)
                if r["kind"] == "shipment"}
        # s1 is told by three sources: it counts once; s2 adds; s3's number is unknown
        assert rows[("mask", "items")]["amount"] == 300 and rows[("mask", "items")]["count"] == 2
        assert rows[("mask", "")]["amount"] is None and rows[("mask", "")]["unknown"] == 1
        assert rows[("suit", "items")]["amount"] == 7  # another product: never added
        page = viz.flows_view(kb, product="http://example.org/mask")
        edge = view_data(page)["edges"][0]
        assert "unknown" in edge["label"] and "300" in edge["label"]
        assert not re.search(r"(?<![\d.,])0 \(", edge["title"])  # no "0 (…)" for unknown


# --- the page -------------------------------------------------------------------------------


def view_data(page_html: str) -> dict:
    m = re.search(r'<script type="application/json" id="kb-view">(.*?)</script>', page_html, re.S)
    assert m is not None
    return json.loads(m.group(1))


def check_flows_page(page_html: str, *, all_products: bool) -> None:
    data = view_data(page_html)
    (world,) = [e for e in data["edges"] if e["from"] == CN and e["to"] == WORLD]
    text = world["title"]
    assert "Face mask: 3.86 bn (1 Mar 2020 – 4 Apr 2020)" in text
    assert "Face mask: 50.9 bn (1 Mar 2020 – 16 May 2020)" in text
    assert "58.6" not in page_html and "58.9" not in page_html and "7.72 bn (" not in text
    subtitle = re.search(r'<p class="kb-sub">(.*?)</p>', page_html, re.S).group(1)
    assert "…" not in subtitle and not re.search(r"period \S+ to", subtitle)
    if all_products:  # each product on its own line, with its period
        for line in ("Protective suit: 37.5 M (1 Mar 2020 – 4 Apr 2020)",
                     "Ventilator: 16 k (1 Mar 2020 – 4 Apr 2020)",
                     "Ventilator: 72.7 k (1 Mar 2020 – 16 May 2020)",
                     "10.2 bn CNY (1 Mar 2020 – 4 Apr 2020)"):
            assert line in text, line
        (spain,) = [e for e in data["edges"] if e["from"] == CN and e["to"] == f"{ID}country/ES"]
        assert "unknown" in spain["label"] and ": 0" not in spain["title"]
    else:
        assert "Face mask: 3.86 bn (1 Mar 2020 – 4 Apr 2020)" in world["label"]


def test_the_flows_page_shows_each_product_and_period_apart(bundled: KnowledgeBase) -> None:
    check_flows_page(viz.flows_view(bundled), all_products=True)
    check_flows_page(viz.flows_view(bundled, product=MASK), all_products=False)


# --- as a user runs it: the CLI and a live server -------------------------------------------


def test_the_cli_reports_the_figures(store: Path) -> None:
    out = run_kb("analytics", "flows", "--product", "product:face-mask", "-f", "json", store=store)
    assert out.returncode == 0, out.stderr
    check_masks_and_value(json.loads(out.stdout))
    out = run_kb("analytics", "flows", "-f", "json", store=store)
    check_total_value(json.loads(out.stdout))
    out = run_kb("analytics", "indicators", "figures", "-f", "csv", store=store)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {(r["unit"], r["end"], float(r["amount"])) for r in rows
            if r["product"] == MASK} == {("items", "2020-04-04", 3.86e9),
                                         ("items", "2020-05-16", 50.9e9),
                                         ("CNY", "2020-04-04", 7.72e9)}
    page = store.parent / "flows.html"
    assert run_kb("viz", "flows", "-o", str(page), store=store).returncode == 0
    check_flows_page(page.read_text(), all_products=True)


def test_the_server_reports_the_figures(store: Path) -> None:
    with serve(store) as url:
        r = httpx.get(f"{url}/analytics/flows", params={"product": MASK})
        assert r.status_code == 200
        check_masks_and_value(r.json())
        check_total_value(httpx.get(f"{url}/analytics/flows").json())
        r = httpx.get(f"{url}/analytics/flows", headers={"Accept": "text/csv"})
        spain = [row for row in csv.DictReader(io.StringIO(r.text))
                 if row["kind"] == "shipment" and row["to"] == f"{ID}country/ES"]
        assert spain and spain[0]["amount"] == "" and spain[0]["unknown"] == "1"  # not 0
        r = httpx.get(f"{url}/viz/flows")
        assert r.status_code == 200
        check_flows_page(r.text, all_products=True)
        r = httpx.get(f"{url}/viz/flows", params={"product": MASK})
        check_flows_page(r.text, all_products=False)
        figures_rows = httpx.get(f"{url}/analytics/indicators/figures").json()
        assert any(float(row["amount"]) == 10.2e9 and row["unit"] == "CNY" for row in figures_rows)


def test_a_remote_store_gives_the_same_figures(bundled: KnowledgeBase,
                                               remote_kb: KnowledgeBase) -> None:
    """The Oxigraph server answers the union of the graphs as a bag: the figures and the
    flows are the same as on the embedded store."""
    load_bundled(remote_kb)
    assert [f.as_dict() for f in figures(remote_kb)] == [f.as_dict() for f in figures(bundled)]
    assert a.flows_report(remote_kb) == a.flows_report(bundled)
