"""`kb import`: tables mapped to the ontology, names resolved or reported, all or nothing."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase
from kb.errors import LoadError
from kb.figures import figures
from kb.imports import import_table
from kb.incident_table import COLUMNS
from kb.namespaces import PREFIXES
from kb.search import search
from kb.settings import Settings
from kb.spreadsheet import cell_text
from tests.conftest import ROOT, run_kb, serve

ID = "https://w3id.org/medsupply-kb/id/"
GRAPH = "https://w3id.org/medsupply-kb/graph/"
HEADER = "Period,Trade Flow,Reporter,Partner,Commodity Code,Qty Unit,Qty,Trade Value (US$)\n"
GOOD = "202003,Export,CHN,Italy,630790,Number of items,120000000,40000000\n"


@pytest.fixture(scope="module")
def bundled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An on-disk store with the ontology and data/ (closed: tests copy it)."""
    store = tmp_path_factory.mktemp("bundled") / "store"
    with KnowledgeBase.open(str(store)) as kb:
        kb.load([ROOT / "ontology", ROOT / "data"])
    return store


@pytest.fixture
def kb(bundled_store: Path, tmp_path: Path):
    copy = tmp_path / "store"
    shutil.copytree(bundled_store, copy)
    with KnowledgeBase(Settings(store=str(copy)), prefixes=PREFIXES) as opened:
        yield opened


def table(tmp_path: Path, text: str, name: str = "trade.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def triples(kb) -> set[tuple[str, str, str]]:
    return {(str(r["s"]), str(r["p"]), str(r["o"]))
            for r in kb.select("SELECT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }")}


def test_a_statistic_goes_into_its_file_graph_with_its_provenance(kb, tmp_path):
    path = table(tmp_path, HEADER + GOOD)
    report = import_table(kb, path, "trade-statistics")
    assert report.imported_rows == 1 and report.classes[
        "https://w3id.org/medsupply-kb/ontology#ExportStatistic"] == 1
    assert report.matched["country"] == {"CHN": "CN", "Italy": "IT"}
    stat = f"<{ID}claim/trade/trade.csv/CN-IT-face-mask-2020-03-01-2020-03-31>"
    assert kb.ask(f"""ASK {{ GRAPH <{GRAPH}file/trade.csv> {{
        {stat} a ms:ExportStatistic ; ms:origin country:CN ; ms:destination country:IT ;
           ms:productCategory product:face-mask ; ms:periodStart "2020-03-01"^^xsd:date ;
           ms:periodEnd "2020-03-31"^^xsd:date ; ms:quantity/qudt:unit unit:NUM .
        ?report ms:reportsStatistic {stat} ; ms:reportKind "official" ;
           prov:wasDerivedFrom <{ID}file/trade.csv> ; ms:tradeValue/schema:currency "USD" .
        ?row a csvw:Row ; csvw:rownum 2 ; csvw:describes {stat} }} }}""".replace(
        "ASK", "PREFIX csvw: <http://www.w3.org/ns/csvw#> ASK"))
    record = kb.select(f"""SELECT ?hash ?mapping ?time WHERE {{ GRAPH <{GRAPH}loads> {{
        <{ID}file/trade.csv> dcterms:identifier ?hash ; dcterms:conformsTo ?mapping ;
            prov:generatedAtTime ?time }} }}""")
    assert str(record[0]["hash"]).startswith("sha256:")
    assert str(record[0]["mapping"]) == f"{ID}mapping/trade-statistics"


def test_an_overlapping_statistic_is_an_alternative_never_an_addend(kb, tmp_path):
    rows = ("2020-03-01/2020-04-04,Export,China,World,630790,u,3500000000,\n"
            "202003,Export,China,World,630790,u,3000000000,\n")
    import_table(kb, table(tmp_path, HEADER + rows), "trade-statistics")
    masks = [f for f in figures(kb, product=f"{ID}product/face-mask")
             if f.origin == f"{ID}country/CN" and f.destination is None and f.unit.endswith("NUM")]
    same = next(f for f in masks if (f.start, f.end) == ("2020-03-01", "2020-04-04"))
    amounts = sorted([same.chosen.amount, *(a.amount for a in same.alternatives)])
    assert 3.5e9 in amounts and 3.86e9 in amounts  # side by side
    assert same.amount in (3.5e9, 3.86e9)  # one of them, never 7.36e9
    assert f"{ID}file/trade.csv" in same.sources
    march = [f for f in masks if (f.start, f.end) == ("2020-03-01", "2020-03-31")]
    assert [f.amount for f in march] == [3e9]  # its own figure: a different period


def test_a_reimport_replaces_what_the_file_imported(kb, tmp_path):
    path = table(tmp_path, HEADER + GOOD + "202004,Export,China,Netherlands,901920,u,1200,\n")
    import_table(kb, path, "trade-statistics")
    assert kb.ask("ASK { ?s ms:productCategory product:ventilator ; ms:destination country:NL }")
    path.write_text(HEADER + GOOD, encoding="utf-8")
    import_table(kb, path, "trade-statistics")
    assert not kb.ask("ASK { ?s ms:productCategory product:ventilator ; "
                      "ms:destination country:NL }")
    assert kb.ask("ASK { ?s ms:destination country:IT }")
    hashes = kb.select(f"SELECT ?h WHERE {{ GRAPH <{GRAPH}loads> {{ <{ID}file/trade.csv> "
                       "dcterms:identifier ?h } }")
    assert len(hashes) == 1


BAD = {
    "unknown-country": ("202003,Export,Chinaa,Italy,630790,u,1,\n", "trade.csv:2:reporter",
                        "closest: China (CN)"),
    "not-a-number": ("202003,Export,China,Italy,630790,u,12a,\n", "trade.csv:2:quantity",
                     "'12a' is not a number"),
    "unknown-unit": ("202003,Export,China,Italy,630790,boxes,1,\n", "trade.csv:2:unit",
                     "'boxes' is not one the ontology has"),
    "bad-date": ("2020-13,Export,China,Italy,630790,u,1,\n", "trade.csv:2:period",
                 "is not a period (2020, 202003"),
    "ambiguous-product": ("202003,Export,China,Italy,300215,u,1,\n", "trade.csv:2:hs_code",
                          "names several product entities"),
    "import-flow": ("202003,Import,China,Italy,630790,u,1,\n", "trade.csv:2:flow",
                    "not one of the accepted values (Export, export, X)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_cell_is_reported_where_it_is_and_changes_nothing(kb, tmp_path, case):
    row, where, what = BAD[case]
    before = triples(kb)
    with pytest.raises(LoadError) as e:
        import_table(kb, table(tmp_path, HEADER + GOOD + row), "trade-statistics")
    assert where.replace(":2:", ":3:") in str(e.value) and what in str(e.value)
    assert "nothing was imported" in str(e.value)
    assert triples(kb) == before


def test_skip_bad_imports_the_good_rows_and_reports_the_bad(kb, tmp_path):
    path = table(tmp_path, HEADER + GOOD + BAD["unknown-country"][0] + BAD["unknown-unit"][0])
    report = import_table(kb, path, "trade-statistics", skip_bad=tmp_path / "bad.csv")
    assert (report.rows, report.imported_rows, report.bad_rows) == (3, 1, 2)
    rows = list(csv.DictReader((tmp_path / "bad.csv").read_text(encoding="utf-8").splitlines()))
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [
        ("3", "reporter", "Chinaa"), ("4", "unit", "boxes")]
    assert "China (CN)" in rows[0]["candidates"]
    assert kb.ask("ASK { ?s ms:destination country:IT }")


def test_create_mints_an_organisation_once(kb, tmp_path):
    head = "date,country,product,manufacturer,source\n"
    row = "2020-04,Belgium,masks,Example Medical Co.,https://example.org/a\n"
    with pytest.raises(LoadError, match=r"unknown organization 'Example Medical Co\.'"):
        import_table(kb, table(tmp_path, head + row, "a.csv"), "incidents")
    first = import_table(kb, table(tmp_path, head + row, "a.csv"), "incidents", create=True)
    assert first.created["organization"] == {"example-medical-co": "Example Medical Co."}
    second = import_table(kb, table(tmp_path, head + row.replace("Co.", "co"), "b.csv"),
                          "incidents", create=True)
    assert "organization" not in second.created  # found by its name, not minted again
    makers = kb.select("SELECT DISTINCT ?m WHERE { ?m a ms:Organization ; "
                       "rdfs:label 'Example Medical Co.'@en }")
    assert [str(r["m"]) for r in makers] == [f"{ID}org/example-medical-co"]
    assert kb.ask("""ASK { ?i a ms:QualityIncident ; ms:actorCountry country:BE ;
        ms:productCategory product:face-mask ; ms:dateEarliest "2020-04-01"^^xsd:date ;
        ms:dateLatest "2020-04-30"^^xsd:date ; ms:datePrecision "month" }""")


def _incident_facts(url: str) -> set[tuple[str, ...]]:
    answer = httpx.get(f"{url}/sparql", headers={"Accept": "text/csv"}, params={
        "query": f"SELECT ?s ?p ?o WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), '{ID}incident/'))"
                 " }"})
    assert answer.status_code == 200, answer.text
    return {tuple(r) for r in csv.reader(answer.text.splitlines()[1:])}


def test_the_incident_table_round_trip_changes_only_the_edits(bundled_store, tmp_path):
    """/incidents.csv from a live server, one cell edited, imported on the page: one fact."""
    copy = tmp_path / "store"
    shutil.copytree(bundled_store, copy)
    with serve(copy, update_token="s3cret") as url:
        table = httpx.get(f"{url}/incidents.csv")
        assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(table.text.splitlines()))
        assert len(rows) >= 10 and list(rows[0]) == COLUMNS
        nl = next(r for r in rows if r["iri"].endswith("nl-mask-recall-2020-03-28"))
        assert nl["quantity"] == "600000" and nl["country"] == "country:NL"
        assert nl["date"] == "2020-03-28" and "politicized" in nl["reply"]
        only_nl = list(csv.DictReader(httpx.get(f"{url}/incidents.csv?country=country:NL")
                                      .text.splitlines()))
        assert only_nl == [nl]  # the page's filter, in the same table
        before = _incident_facts(url)
        nl["quantity"] = "500000"
        edited = io.StringIO()
        writer = csv.DictWriter(edited, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        form = {"token": "s3cret", "mapping": "incidents"}
        preview = httpx.post(f"{url}/import", data=form, timeout=60,
                             files={"file": ("incidents.csv", edited.getvalue().encode())})
        assert preview.status_code == 200 and 'id="bad-rows"' not in preview.text, preview.text
        staged = re.search(r'name="staged" value="([^"]+)"', preview.text)[1]
        done = httpx.post(f"{url}/import", data={**form, "staged": staged}, timeout=60)
        assert done.status_code == 200 and 'id="import-done"' in done.text, done.text
        after = _incident_facts(url)
    assert after - before == {(f"{ID}incident/nl-mask-recall-2020-03-28",
                               "https://w3id.org/medsupply-kb/ontology#affectedQuantity",
                               "500000")}
    assert after >= before  # the source still says 600,000, in its own graph


def test_kb_load_reads_a_table_with_its_csvw_metadata_beside_it(tmp_path):
    path = table(tmp_path, HEADER + GOOD, "x.csv")
    shutil.copy(ROOT / "kb" / "mappings" / "trade-statistics.json",
                tmp_path / "x.csv-metadata.json")
    store = tmp_path / "store"
    assert run_kb("load", str(ROOT / "data" / "reference"), store=store).returncode == 0
    loaded = run_kb("load", str(path), store=store)
    assert loaded.returncode == 0, loaded.stderr
    bare = table(tmp_path, HEADER + GOOD, "y.csv")
    refused = run_kb("load", str(bare), store=store)
    assert refused.returncode == 1 and "not an RDF file extension" in refused.stderr
    out = run_kb("query", "SELECT ?d WHERE { ?s a ms:ExportStatistic ; ms:destination ?d }",
                 "--format", "csv", store=store)
    assert out.stdout.splitlines()[1:] == [f"{ID}country/IT"]


def test_the_cli_reports_bad_rows_and_dry_runs(tmp_path):
    store = tmp_path / "store"
    assert run_kb("load", str(ROOT / "data" / "reference"), store=store).returncode == 0
    bad = table(tmp_path, HEADER + BAD["unknown-country"][0])
    failed = run_kb("import", str(bad), "--mapping", "trade-statistics", store=store)
    assert failed.returncode == 1 and "trade.csv:2:reporter: unknown country 'Chinaa'" in (
        failed.stderr)
    dry = run_kb("import", str(table(tmp_path, HEADER + GOOD)), "--mapping",
                 "trade-statistics", "--dry-run", store=store)
    assert dry.returncode == 0 and "Would import 1 of 1 row(s)" in dry.stderr
    assert "1 ms:ExportStatistic" in dry.stderr
    nothing = run_kb("query", "ASK { ?s a ms:ExportStatistic }", "--format", "csv", store=store)
    assert "false" in nothing.stdout.lower()


def test_a_large_import_is_written_in_chunks_and_replaced_alike(kb, tmp_path, monkeypatch):
    monkeypatch.setattr("kb.imports.ATOMIC_TRIPLES", 10)
    monkeypatch.setattr("kb.imports.CHUNK_TRIPLES", 7)
    path = table(tmp_path, HEADER + GOOD + "202004,Export,China,Netherlands,901920,u,1200,\n")
    report = import_table(kb, path, "trade-statistics")
    stored = kb.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{GRAPH}file/trade.csv> "
                       "{ ?s ?p ?o } }")
    assert int(stored[0]["n"]) == report.triples
    found = {h.iri.rsplit("/", 1)[-1] for h in search(kb, "Exports of ventilator from CN")}
    assert "CN-NL-ventilator-2020-04-01-2020-04-30" in found  # the index followed the chunks
    path.write_text(HEADER + GOOD, encoding="utf-8")
    import_table(kb, path, "trade-statistics")
    assert not kb.ask("ASK { ?s ms:productCategory product:ventilator ; "
                      "ms:destination country:NL }")
    assert kb.ask("ASK { ?s ms:destination country:IT }")


def test_an_incident_date_is_kept_at_its_precision_or_reported(kb, tmp_path):
    head = "date,date_precision,country,product,source\n"
    bad = table(tmp_path, head + "28 March,,NL,masks,source:seed-report\n"
                "2020-03-28,month,NL,masks,source:seed-report\n", "i.csv")
    with pytest.raises(LoadError) as e:
        import_table(kb, bad, "incidents")
    assert "i.csv:2:date: '28 March' is not a date (2020-03-28, 2020-03" in str(e.value)
    assert "i.csv:3:date: '2020-03-28' is not a date" in str(e.value)
    assert "the date gives a day, the precision says month" in str(e.value)
    good = table(tmp_path, head + "2020-03-23/2020-03-29,week,NL,masks,source:seed-report\n",
                 "i.csv")
    import_table(kb, good, "incidents")
    assert kb.ask("""ASK { GRAPH <https://w3id.org/medsupply-kb/graph/file/i.csv> {
        ?i ms:dateEarliest "2020-03-23"^^xsd:date ; ms:dateLatest "2020-03-29"^^xsd:date ;
           ms:datePrecision "week" ; ms:actorCountry country:NL ;
           prov:wasDerivedFrom source:seed-report FILTER NOT EXISTS { ?i ms:date ?day } } }""")


def test_an_excel_workbook_imports_its_sheet_with_errors_by_sheet_row_column(kb, tmp_path):
    from openpyxl import Workbook

    assert [cell_text(v) for v in (202003.0, 0.5, None)] == ["202003", "0.5", ""]
    book = Workbook()
    book.active.title = "notes"
    book.active.append(["nothing to import here"])
    sheet = book.create_sheet("2020")
    sheet.append(HEADER.strip().split(","))
    sheet.append([202003, "Export", "CHN", "Italy", 630790, "Number of items", 120000000.0,
                  40000000])
    sheet.append([202004, "Export", "Chinaa", "Netherlands", "901920", "u", 1200, None])
    path = tmp_path / "comtrade.xlsx"
    book.save(path)
    with pytest.raises(LoadError) as e:
        import_table(kb, path, "trade-statistics", sheet="2020")
    assert "comtrade.xlsx:2020:3:reporter: unknown country 'Chinaa'" in str(e.value)
    with pytest.raises(LoadError, match="no sheet '2021'; it has 'notes', '2020'"):
        import_table(kb, path, "trade-statistics", sheet="2021")
    with pytest.raises(LoadError, match="the header has no column 'period' or 'Period'"):
        import_table(kb, path, "trade-statistics")  # the first sheet
    sheet["C3"] = "China"
    book.save(path)
    report = import_table(kb, path, "trade-statistics", sheet="2020")
    assert report.imported_rows == 2
    assert kb.ask(f"""ASK {{ GRAPH <{GRAPH}file/comtrade.xlsx> {{
        ?s a ms:ExportStatistic ; ms:destination country:IT ; ms:productCategory product:face-mask }} }}""")
    assert kb.ask("ASK { ?s ms:destination country:NL ; ms:productCategory product:ventilator }")
    not_a_book = table(tmp_path, HEADER + GOOD, "fake.xlsx")
    with pytest.raises(LoadError, match="not an Excel workbook"):
        import_table(kb, not_a_book, "trade-statistics")
