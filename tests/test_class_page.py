"""A class page narrowed by facets (``kb.browse.class_page``): sorted up to ``SORT_LIMIT``
instances (not rows: an instance may have several dates), its total taken from the sort keys
when a cheap bound shows they are few enough, and its facets counted over the instances read
(bound with ``VALUES``) the same as over the narrowed pattern."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kb import KnowledgeBase, browse

ID = "https://w3id.org/medsupply-kb/id/"
N = 24


def shipment(i: int) -> dict[str, object]:
    """Shipment ``i``: a ventilator (even) or masks, from China to Spain (every third) or
    Italy (by two properties), with two dates, or none (every fifth)."""
    dates = [] if i % 5 == 4 else [f"2020-0{1 + i % 4}-{10 + i}", f"2020-0{1 + i % 3}-0{1 + i % 9}"]
    return {"iri": f"{ID}shipment/t{i:02d}", "product": "ventilator" if i % 2 == 0 else "mask",
            "countries": ["CN", "ES" if i % 3 == 0 else "IT"], "dates": dates}


SHIPMENTS = [shipment(i) for i in range(N)]


def turtle() -> str:
    lines = ["@prefix ms: <https://w3id.org/medsupply-kb/ontology#> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> ."]
    for s in SHIPMENTS:
        spain_or_italy = "ms:destination" if s["countries"][1] == "ES" else "ms:country"
        lines.append(
            f'<{s["iri"]}> a ms:Shipment ; rdfs:label "{s["iri"][-3:]}" ;'
            f' ms:productCategory <{ID}product/{s["product"]}> ;'
            f' ms:origin <{ID}country/CN> ; {spain_or_italy} <{ID}country/{s["countries"][1]}>'
            + "".join(f' ; ms:{p} "{d}"'
                      for p, d in zip(("date", "dateEarliest"), s["dates"], strict=False))
            + " .")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("class-page") / "shipments.ttl"
    path.write_text(turtle())
    return path


@pytest.fixture(scope="module")
def kb(data: Path):
    with KnowledgeBase.open("memory") as kb:
        kb.load([data])
        yield kb


def expected_facets(shipments: list[dict]) -> dict[str, dict[str, int]]:
    """Each facet's value -> the number of the shipments having it."""
    return {
        "country": Counter(f"{ID}country/{c}" for s in shipments for c in set(s["countries"])),
        "product": Counter(f"{ID}product/{s['product']}" for s in shipments),
        "period": Counter(p for s in shipments for p in {d[:7] for d in s["dates"]}),
    }


def facets_of(page: browse.ClassPage) -> dict[str, dict[str, int]]:
    return {dim: {f["value"]: f["count"] for f in page.facets[dim]}
            for dim in ("country", "product", "period")}


def test_a_narrowed_page_is_sorted_up_to_sort_limit_instances_not_rows(kb, monkeypatch) -> None:
    ventilators = [s for s in SHIPMENTS if s["product"] == "ventilator"]
    by_date = [s["iri"] for s in sorted((s for s in ventilators if s["dates"]),
                                        key=lambda s: min(s["dates"]))]
    undated = sorted(s["iri"] for s in ventilators if not s["dates"])
    narrowed = {"filters": {"product": "product:ventilator"}, "sort": "date"}
    # twice as many date rows as instances: a limit on rows would cut the instances short
    monkeypatch.setattr(browse, "SORT_LIMIT", len(ventilators))
    page = browse.class_page(kb, "ms:Shipment", **narrowed)
    assert (page.total, page.sort) == (len(ventilators), "date")
    assert [r["iri"] for r in page.rows] == by_date + undated
    assert [r["iri"] for r in browse.class_page(kb, "ms:Shipment", desc=True, **narrowed).rows
            ] == by_date[::-1] + undated
    assert facets_of(page) == expected_facets(ventilators)
    # one instance more than it sorts: counted, shown in the engine's order
    monkeypatch.setattr(browse, "SORT_LIMIT", len(ventilators) - 1)
    page = browse.class_page(kb, "ms:Shipment", **narrowed)
    assert (page.total, page.sort) == (len(ventilators), "")
    assert sorted(r["iri"] for r in page.rows) == sorted(s["iri"] for s in ventilators)
    assert facets_of(page) == expected_facets(ventilators)


@pytest.mark.parametrize("sort_limit", [browse.SORT_LIMIT, 5])
def test_two_facets_narrow_to_the_instances_having_both(kb, monkeypatch, sort_limit) -> None:
    """Sorted whether the first facet alone keeps few enough (12 ventilators: the keys are
    read at once) or not (more than 5: counted first, then sorted)."""
    monkeypatch.setattr(browse, "SORT_LIMIT", sort_limit)
    both = [s for s in SHIPMENTS if s["product"] == "ventilator" and "ES" in s["countries"]]
    page = browse.class_page(kb, "ms:Shipment", sort="label",
                             filters={"product": "product:ventilator", "country": "country:ES"})
    assert page.total == len(both) == 4 and page.sort == "label"
    assert [r["iri"] for r in page.rows] == sorted(s["iri"] for s in both)
    assert facets_of(page) == expected_facets(both)


def test_facets_of_a_sample_count_the_first_instances(kb, monkeypatch) -> None:
    monkeypatch.setattr(browse, "FACET_SAMPLE", 5)
    page = browse.class_page(kb, "ms:Shipment", filters={"country": "country:CN"})
    assert page.total == N and page.facet_sample == 5
    assert facets_of(page)["country"][f"{ID}country/CN"] == 5
    assert sum(facets_of(page)["product"].values()) == 5  # one product each


def test_facets_read_in_pieces_when_the_instances_make_a_long_query(data: Path) -> None:
    """The instances are bound with VALUES in queries kept under ``max_query_bytes``."""
    with KnowledgeBase.open("memory", max_query_bytes=1400) as small:
        small.load([data])
        page = browse.class_page(small, "ms:Shipment", filters={"country": "country:CN"},
                                 size=5)
    assert page.total == N
    assert facets_of(page) == expected_facets(SHIPMENTS)
