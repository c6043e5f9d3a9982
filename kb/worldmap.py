"""The map: which countries complained about, returned, exported or imported medical
supplies, drawn as SVG from country shapes shipped with the package (no tile server, no
network).

The shapes (``viz_assets/world-110m.json``) are Natural Earth's 1:110m countries, public
domain, from the ``world-atlas`` npm package, projected to SVG paths once by
``data/reference/make_world.py`` and keyed by ISO 3166-1 alpha-2, the code the knowledge
base's countries carry (``ms:iso3166Alpha2``; else the code in their IRI, ``country/NL``).

What a country did, in the order that colours it (a country that did several things shows
the first, and lists all on hover):

* ``returned``: the actor country of a ``ms:Return`` or ``ms:Recall``;
* ``complained``: the actor country of another quality incident (a rejection, a complaint);
* ``exported``: the origin of a shipment or export statistic;
* ``imported``: the destination of a shipment or export statistic.

Counts are of distinct incidents or shipments (the default graph is a set).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from kb.browse import _values, labels, short
from kb.charts import esc
from kb.namespaces import MS

__all__ = ["ACTIVITIES", "COLOURS", "activities", "on_the_map", "world_svg"]

SHAPES = Path(__file__).parent / "viz_assets" / "world-110m.json"
ACTIVITIES = ("returned", "complained", "exported", "imported")
COLOURS = {"returned": "#b8443a", "complained": "#e08a2c", "exported": "#2f6db5",
           "imported": "#8fbc8f", "": "#e4e4e4"}
_COUNTRY_NS = "https://w3id.org/medsupply-kb/id/country/"

ACTIVITY = f"""PREFIX ms: <{MS}>
SELECT ?c ?what (COUNT(DISTINCT ?x) AS ?n) WHERE {{
  {{ VALUES ?t {{ ms:Return ms:Recall }} ?x a ?t ; ms:actorCountry ?c BIND("returned" AS ?what) }}
  UNION {{ VALUES ?t {{ ms:QualityIncident ms:Rejection }} ?x a ?t ; ms:actorCountry ?c
           FILTER NOT EXISTS {{ VALUES ?r {{ ms:Return ms:Recall }} ?x a ?r }}
           BIND("complained" AS ?what) }}
  UNION {{ VALUES ?t {{ ms:Shipment ms:ExportStatistic }} ?x a ?t ; ms:origin ?c
           BIND("exported" AS ?what) }}
  UNION {{ VALUES ?t {{ ms:Shipment ms:ExportStatistic }} ?x a ?t ; ms:destination ?c
           BIND("imported" AS ?what) }}
}} GROUP BY ?c ?what"""
#: The ISO code of each country that did something (looked up after the counts).
CODES = f"""PREFIX ms: <{MS}>
SELECT ?c ?iso WHERE {{ ?c ms:iso3166Alpha2 ?iso }}"""


@cache
def shapes() -> dict[str, Any]:
    """The shipped shapes: ``width``, ``height`` and ``shapes`` (``iso``, ``name``, ``d``)."""
    return json.loads(SHAPES.read_text())


def activities(kb: Any) -> list[dict[str, Any]]:
    """One dict per country that did something: IRI, label, ISO code, the count of each
    activity, and ``main``, the activity that colours it; sorted by label."""
    countries: dict[str, dict[str, Any]] = {}
    for r in _values(kb, ACTIVITY):
        iri = r["c"] or ""
        c = countries.setdefault(iri, {"iri": iri, "short": short(iri), "label": "", "iso": "",
                                       **dict.fromkeys(ACTIVITIES, 0)})
        c[r["what"] or "imported"] += int(r["n"] or 0)
    names = labels(kb, list(countries))
    codes = {r["c"]: r["iso"] for r in _values(kb, CODES)}
    for iri, c in countries.items():
        c["label"] = names.get(iri) or c["short"]
        c["iso"] = codes.get(iri) or (iri[len(_COUNTRY_NS):] if iri.startswith(_COUNTRY_NS)
                                      else "")
        c["main"] = next((a for a in ACTIVITIES if c[a]), "")
    return sorted(countries.values(), key=lambda c: (c["label"], c["iri"]))


def _summary(c: dict[str, Any]) -> str:
    did = [f"{a} ({c[a]:,})" for a in ACTIVITIES if c[a]]
    return f"{c['label']}: {', '.join(did)}"


def world_svg(countries: list[dict[str, Any]]) -> str:
    """The world map: every shape, filled by what its country did; the countries of the
    knowledge base link to their resource page and name what they did on hover."""
    from urllib.parse import quote

    world = shapes()
    by_iso = {c["iso"]: c for c in countries if c["iso"]}
    parts = []
    for s in world["shapes"]:
        c = by_iso.get(s["iso"])
        fill = COLOURS[c["main"]] if c else COLOURS[""]
        path = (f'<path d="{s["d"]}" fill="{fill}" stroke="#fff" stroke-width="0.3">'
                f'<title>{esc(_summary(c) if c else s["name"])}</title></path>')
        if c:
            href = "/resource?iri=" + quote(c["iri"], safe="")
            path = (f'<a href="{esc(href)}" class="country {esc(c["main"])}" '
                    f'data-iso="{esc(s["iso"])}">{path}</a>')
        parts.append(path)
    legend = []
    for n, a in enumerate(ACTIVITIES):
        x = 10 + n * 120
        legend.append(f'<rect x="{x}" y="{world["height"] - 22}" width="12" height="12" '
                      f'fill="{COLOURS[a]}"/><text x="{x + 16}" y="{world["height"] - 12}" '
                      f'font-size="11">{a}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="map" role="img" '
            f'viewBox="0 0 {world["width"]} {world["height"]}" width="100%">'
            f'<title>Countries by what they did</title>'
            f'<rect width="{world["width"]}" height="{world["height"]}" fill="#f4f8fb"/>'
            f'{"".join(parts)}{"".join(legend)}</svg>')


def on_the_map(countries: list[dict[str, Any]]) -> set[str]:
    """The ISO codes that have a shape (the others, such as the EU, are listed apart)."""
    drawn = {s["iso"] for s in shapes()["shapes"]}
    return {c["iso"] for c in countries if c["iso"] in drawn}
