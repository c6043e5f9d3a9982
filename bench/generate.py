"""A deterministic generator of synthetic trade data in the shape of the knowledge base.

The same size and seed always give the same bytes. The data uses the ontology's core terms
(see ontology/): countries, manufacturers, people and their statements, product categories
with HS codes, standards, shipments (origin, destination, manufacturer, product, date,
quantity with a unit, value with a currency), monthly export statistics, and quality
incidents (recalls, returns, rejections) that cite a standard not met.

    python -m bench generate --size 1m            # bench/out/trade-1m.nt
    python -m bench generate --size 100k --quads  # bench/out/trade-100k.nq, 20 source graphs

From Python: ``generate(1_000_000) -> Path`` (reuses an existing file), and
``loaded_store(store, "1m", tmp) -> Path``: an on-disk store holding it beside the ontology
and the bundled data.
"""

from __future__ import annotations

import argparse
import itertools
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from kb.bundled import DATA_DIR, ONTOLOGY_FILE
from kb.namespaces import ONTOLOGY_GRAPH

OUT = Path(__file__).parent / "out"
BASE = "https://w3id.org/medsupply-kb/"
MS = BASE + "ontology#"
ID = BASE + "id/"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
XSD = "http://www.w3.org/2001/XMLSchema#"
QUDT = "http://qudt.org/schema/qudt/"
UNIT = "http://qudt.org/vocab/unit/"
SCHEMA = "https://schema.org/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"
PROV = "http://www.w3.org/ns/prov#"

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}

PRODUCTS = [  # slug, label, HS code, broader slug
    ("medical-supplies", "Medical supplies", "", ""),
    ("face-mask", "Face mask", "6307.90", "medical-supplies"),
    ("surgical-mask", "Surgical mask", "6307.90", "face-mask"),
    ("kn95-respirator", "KN95 respirator", "6307.90", "face-mask"),
    ("ffp2-respirator", "FFP2 respirator", "6307.90", "face-mask"),
    ("n95-respirator", "N95 respirator", "6307.90", "face-mask"),
    ("protective-suit", "Protective suit", "6210.10", "medical-supplies"),
    ("ventilator", "Ventilator", "9019.20", "medical-supplies"),
    ("test-kit", "COVID-19 test kit", "3822.00", "medical-supplies"),
    ("infrared-thermometer", "Infrared thermometer", "9025.19", "medical-supplies"),
    ("goggles", "Protective goggles", "9004.90", "medical-supplies"),
    ("gloves", "Medical gloves", "4015.11", "medical-supplies"),
]
LEAF_PRODUCTS = [p for p in PRODUCTS if p[0] not in ("medical-supplies", "face-mask")]
STANDARDS = ["GB-2626-2019", "GB-19083-2010", "YY-0469-2011", "EN-149-2001", "EN-14683-2019",
             "NIOSH-N95", "CE-marking", "NMPA-registration", "EN-14126", "ISO-13485"]
REASONS = ["poor face fit", "filters not working", "low sensitivity", "missing licence",
           "damaged packaging", "wrong labelling", "did not meet the quality standard"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _iri(s: str) -> str:
    return f"<{s}>"


def _lit(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _typed(value: object, datatype: str) -> str:
    return f'"{value}"^^<{XSD}{datatype}>'


def countries() -> list[str]:
    """250 two-letter country codes; CN first (the dominant exporter), then the rest."""
    codes = ["CN", "NL", "ES", "IT", "FR", "DE", "US", "GB", "TR", "CZ", "SK", "BE"]
    for a in LETTERS:
        for b in LETTERS:
            if len(codes) >= 250:
                break
            if a + b not in codes:
                codes.append(a + b)
    return codes


def triples(n: int, *, seed: int = 42) -> Iterator[str]:
    """Yield about ``n`` N-Triples lines (without graph), deterministically."""
    rng = random.Random(seed)
    codes = countries()
    count = 0

    def emit(s: str, p: str, o: str) -> str:
        nonlocal count
        count += 1
        return f"{s} {p} {o} .\n"

    country = {c: _iri(f"{ID}country/{c}") for c in codes}
    for c in codes:
        yield emit(country[c], RDF_TYPE, _iri(MS + "Country"))
        yield emit(country[c], LABEL, _lit(f"Country {c}") + "@en")
    product = {slug: _iri(f"{ID}product/{slug}") for slug, *_ in PRODUCTS}
    for slug, label, hs, broader in PRODUCTS:
        yield emit(product[slug], RDF_TYPE, _iri(MS + "ProductCategory"))
        yield emit(product[slug], _iri(SKOS + "prefLabel"), _lit(label) + "@en")
        if hs:
            yield emit(product[slug], _iri(SKOS + "notation"), _lit(hs))
        if broader:
            yield emit(product[slug], _iri(SKOS + "broader"), product[broader])
    standard = {s: _iri(f"{ID}standard/{s.lower()}") for s in STANDARDS}
    for s in STANDARDS:
        yield emit(standard[s], RDF_TYPE, _iri(MS + "Standard"))
        yield emit(standard[s], LABEL, _lit(s.replace("-", " ")) + "@en")

    # Shipments carry ~15 triples each; incidents, statements and statistics add ~10 %.
    n_shipments = max(10, n // 16)
    n_manufacturers = max(5, n_shipments // 150)
    n_people = max(3, n_shipments // 400)
    manufacturers = []
    for i in range(n_manufacturers):
        m = _iri(f"{ID}manufacturer/m{i}")
        home = "CN" if rng.random() < 0.8 else rng.choice(codes[:40])
        manufacturers.append((m, home))
        yield emit(m, RDF_TYPE, _iri(MS + "Manufacturer"))
        yield emit(m, LABEL, _lit(f"Manufacturer {i} Co., Ltd.") + "@en")
        yield emit(m, _iri(SCHEMA + "addressCountry"), country[home])
    people = []
    for i in range(n_people):
        p = _iri(f"{ID}person/p{i}")
        people.append(p)
        yield emit(p, RDF_TYPE, _iri(MS + "Person"))
        yield emit(p, LABEL, _lit(f"Official {i}") + "@en")

    start = date(2020, 1, 1)
    statement_prev = None
    for i in itertools.count():
        s = _iri(f"{ID}shipment/s{i}")
        maker, home = manufacturers[int(rng.paretovariate(1.2)) % n_manufacturers]
        dest = codes[1 + int(rng.paretovariate(1.1)) % (len(codes) - 1)]
        slug = LEAF_PRODUCTS[rng.randrange(len(LEAF_PRODUCTS))][0]
        day = start + timedelta(days=rng.randrange(366))
        quantity = rng.randrange(100, 2_000_000)
        value = round(quantity * rng.uniform(0.5, 40.0), 2)
        q, v = f"_:q{i}", f"_:v{i}"
        yield emit(s, RDF_TYPE, _iri(MS + "Shipment"))
        yield emit(s, LABEL, _lit(f"Shipment {i} of {slug.replace('-', ' ')}") + "@en")
        yield emit(s, _iri(MS + "origin"), country[home])
        yield emit(s, _iri(MS + "destination"), country[dest])
        yield emit(s, _iri(MS + "manufacturer"), maker)
        yield emit(s, _iri(MS + "productCategory"), product[slug])
        yield emit(s, _iri(MS + "date"), _typed(day.isoformat(), "date"))
        yield emit(s, _iri(MS + "quantity"), q)
        yield emit(q, RDF_TYPE, _iri(QUDT + "QuantityValue"))
        yield emit(q, _iri(QUDT + "numericValue"), _typed(quantity, "decimal"))
        yield emit(q, _iri(QUDT + "unit"), _iri(UNIT + "NUM"))
        yield emit(s, _iri(MS + "tradeValue"), v)
        yield emit(v, RDF_TYPE, _iri(SCHEMA + "MonetaryAmount"))
        yield emit(v, _iri(SCHEMA + "value"), _typed(value, "decimal"))
        yield emit(v, _iri(MS + "currency"), _iri(f"{ID}currency/CNY"))
        if rng.random() < 0.01:
            incident = _iri(f"{ID}incident/i{i}")
            kind = rng.choice(["Recall", "Return", "Rejection"])
            yield emit(incident, RDF_TYPE, _iri(MS + kind))
            yield emit(incident, LABEL, _lit(f"{kind} of shipment {i}") + "@en")
            yield emit(incident, _iri(MS + "actor"), country[dest])
            yield emit(incident, _iri(MS + "actorCountry"), country[dest])
            yield emit(incident, _iri(MS + "productCategory"), product[slug])
            yield emit(incident, _iri(MS + "concerns"), s)
            yield emit(incident, _iri(MS + "affectedQuantity"),
                       _typed(rng.randrange(1, quantity + 1), "decimal"))
            yield emit(incident, _iri(MS + "reason"), _lit(rng.choice(REASONS)) + "@en")
            yield emit(incident, _iri(MS + "standardNotMet"), standard[rng.choice(STANDARDS)])
            yield emit(incident, _iri(DCTERMS + "date"),
                       _typed((day + timedelta(days=7)).isoformat(), "date"))
            yield emit(incident, _iri(MS + "date"),
                       _typed((day + timedelta(days=7)).isoformat(), "date"))
            if rng.random() < 0.5:
                st = _iri(f"{ID}statement/st{i}")
                yield emit(st, RDF_TYPE, _iri(MS + "Statement"))
                yield emit(st, _iri(MS + "speaker"), rng.choice(people))
                yield emit(st, _iri(MS + "about"), incident)
                yield emit(st, _iri(MS + "respondsTo"), incident)
                yield emit(st, _iri(MS + "quotation"),
                           _lit(f"The report on shipment {i} does not reflect the facts.") + "@en")
                yield emit(st, _iri(DCTERMS + "date"),
                           _typed((day + timedelta(days=9)).isoformat(), "date"))
                if statement_prev is not None:
                    yield emit(st, _iri(MS + "respondsTo"), statement_prev)
                statement_prev = st
        if i % 200 == 199:  # a monthly export statistic now and then
            stat = _iri(f"{ID}statistic/x{i}")
            month = day.replace(day=1)
            yield emit(stat, RDF_TYPE, _iri(MS + "ExportStatistic"))
            yield emit(stat, _iri(MS + "origin"), country[home])
            yield emit(stat, _iri(MS + "productCategory"), product[slug])
            yield emit(stat, _iri(MS + "periodStart"), _typed(month.isoformat(), "date"))
            yield emit(stat, _iri(MS + "quantity"), f"_:sq{i}")
            yield emit(f"_:sq{i}", _iri(QUDT + "numericValue"), _typed(quantity * 150, "decimal"))
        if count >= n:
            return


def generate(n: int, path: Path | None = None, *, seed: int = 42, quads: bool = False,
             graphs: int = 20) -> Path:
    """Write about ``n`` triples to ``path`` (default ``bench/out/trade-<n>.nt|nq``) unless
    the file exists; return the path. With ``quads``, triples are spread over ``graphs``
    source graphs ``…/graph/synthetic/<k>`` by subject."""
    suffix = "nq" if quads else "nt"
    path = path or OUT / f"trade-{_size_name(n)}{'-s' + str(seed) if seed != 42 else ''}.{suffix}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    with tmp.open("w", encoding="utf-8") as f:
        for line in triples(n, seed=seed):
            if quads:
                g = f"<{BASE}graph/synthetic/{hash_subject(line) % graphs}>"
                line = f"{line[:-3]} {g} .\n"
            f.write(line)
    tmp.replace(path)
    return path


def loaded_store(store: Path | None, size: str, tmp: str | Path) -> Path:
    """An on-disk store with the ontology (in its own graph), the bundled data and ``size``
    generated triples, each loaded as a user does (``kb load``): ``store`` when given and
    reused as it is once it holds a store, else a new one in the folder ``tmp``."""
    store = store or Path(tmp) / "store"
    if not (store / "CURRENT").exists():
        data = generate(parse_size(size))
        for load in (["--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE)], [str(DATA_DIR)],
                     [str(data)]):
            subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load",
                            "--quiet", *load], check=True)
    return store


def hash_subject(line: str) -> int:
    """A stable (not salted) hash of the subject of an N-Triples line."""
    subject = line.split(" ", 1)[0]
    h = 0
    for ch in subject:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return h


def _size_name(n: int) -> str:
    for name, value in SIZES.items():
        if value == n:
            return name
    return str(n)


def parse_size(text: str) -> int:
    return SIZES.get(text.lower()) or int(text.replace("_", ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="100k", help="10k, 100k, 1m or a number of triples")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quads", action="store_true", help="N-Quads over 20 source graphs")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    path = generate(parse_size(args.size), args.output, seed=args.seed, quads=args.quads)
    print(path)  # noqa: T201
    return 0
