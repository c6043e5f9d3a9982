"""Reported export figures: one figure per (exporter, destination, product, unit, period),
chosen among the sources that report it, with the others listed beside it.

A statistic (``ms:ExportStatistic``) is modelled once; each source's telling of it is a
``ms:StatisticReport`` (``ms:reportsStatistic``) with the number as that source gives it. A
statistic that no report points to is its own report. The figure of a statistic, in one unit
(a count's ``qudt:unit``, or a currency), is chosen among its reports by this rule, in order:

1. a misprint counts at its corrected amount (a ``ms:Correction`` of the report that carries
   an amount in the same unit), never at the printed one;
2. an official report (``ms:reportKind "official"``) over press reports;
3. the most specific period: the report's own period if it states one (an open end is the
   least specific), else the statistic's;
4. the latest revision: the later publication date of the report's source;
5. then the statistic's own number, then the source's IRI (so the choice is stable).

Statistics with the same exporter, destination, product, unit and period are one figure (the
same numbers told twice, or a revision); different periods, products or units are different
figures and are never added. See ``ontology/README.md`` (Figures).

>>> _span("2020-03-01", "2020-04-04"), _span("2020-03-01", None)
(34, 1000000000)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyoxigraph as ox

from kb.errors import InvalidParameter
from kb.namespaces import MS

__all__ = ["Figure", "Report", "figures", "period_text", "unit_name"]

#: Every report of every statistic, once per (statistic, report, unit); a statistic without
#: reports stands for itself. ``?corrected`` is the amount of a correction in the same unit.
#: A value's unit is its currency's ISO 4217 code, the last part of the currency concept's
#: IRI (``ms:currency currency:CNY`` -> ``"CNY"``).
FIGURE_REPORTS = f"""PREFIX ms: <{MS}>
PREFIX qudt: <http://qudt.org/schema/qudt/>
PREFIX schema: <https://schema.org/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT DISTINCT ?stat ?origin ?destination ?product ?start ?end ?report ?unit ?amount ?kind
  ?source ?published ?rstart ?rend ?printed ?corrected WHERE {{
  ?stat a ms:ExportStatistic ; ms:origin ?origin ; ms:productCategory ?product .
  {{filters}}
  OPTIONAL {{ ?stat ms:destination ?destination }}
  OPTIONAL {{ ?stat ms:periodStart ?start }}
  OPTIONAL {{ ?stat ms:periodEnd ?end }}
  {{ ?report ms:reportsStatistic ?stat }}
  UNION
  {{ ?stat a ms:ExportStatistic FILTER NOT EXISTS {{ ?any ms:reportsStatistic ?stat }}
     BIND(?stat AS ?report) }}
  {{ ?report ms:quantity ?m . ?m qudt:numericValue ?amount OPTIONAL {{ ?m qudt:unit ?u }}
     BIND(COALESCE(STR(?u), "") AS ?unit) BIND("quantity" AS ?measure) }}
  UNION
  {{ ?report ms:tradeValue ?m . ?m schema:value ?amount ; ms:currency ?c
     BIND(REPLACE(STR(?c), "^.*/", "") AS ?unit) BIND("value" AS ?measure) }}
  OPTIONAL {{ ?report ms:reportKind ?kind }}
  OPTIONAL {{ ?report prov:wasDerivedFrom ?source OPTIONAL {{ ?source dcterms:date ?published }} }}
  OPTIONAL {{ ?report ms:periodStart ?rstart }}
  OPTIONAL {{ ?report ms:periodEnd ?rend }}
  OPTIONAL {{ ?report ms:asPrinted ?printed }}
  OPTIONAL {{
    ?fix a ms:Correction ; ms:corrects ?report .
    {{ ?fix ms:quantity ?fm . ?fm qudt:numericValue ?corrected OPTIONAL {{ ?fm qudt:unit ?fu }}
       BIND(COALESCE(STR(?fu), "") AS ?fixUnit) BIND("quantity" AS ?fixMeasure) }}
    UNION
    {{ ?fix ms:tradeValue ?fm . ?fm schema:value ?corrected ; ms:currency ?fc
       BIND(REPLACE(STR(?fc), "^.*/", "") AS ?fixUnit) BIND("value" AS ?fixMeasure) }}
    FILTER(?fixMeasure = ?measure && ?fixUnit = ?unit)
  }}
}}"""

_OPEN = 10**9  # the span of an open or unknown period: less specific than any closed one


@dataclass(frozen=True)
class Report:
    """One source's number for a figure."""

    report: str  # the report node (the statistic itself when it has no reports)
    statistic: str
    amount: float  # what counts: the corrected amount for a misprint
    kind: str  # "official", "press" or "" (not said)
    source: str | None  # the source document
    published: str | None  # its publication date (ISO)
    start: str | None  # the period as the report states it (else the statistic's)
    end: str | None
    printed: str | None = None  # the wording as printed
    printed_amount: float | None = None  # the printed number, when a correction replaced it

    @property
    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Figure:
    """The chosen number for (origin, destination, product, unit, period), and the others."""

    origin: str
    destination: str | None  # None: the world (the statistic names no destination)
    product: str
    unit: str  # a unit IRI (counts) or a currency code (values); "" when not given
    start: str | None
    end: str | None  # None: open or unknown
    chosen: Report
    alternatives: list[Report] = field(default_factory=list)

    @property
    def amount(self) -> float:
        return self.chosen.amount

    @property
    def statistics(self) -> list[str]:
        return sorted({self.chosen.statistic, *(a.statistic for a in self.alternatives)})

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in (self.chosen, *self.alternatives) if r.source})

    def as_dict(self) -> dict[str, object]:
        return {"origin": self.origin, "destination": self.destination, "product": self.product,
                "unit": self.unit, "start": self.start, "end": self.end, "amount": self.amount,
                "chosen": self.chosen.as_dict,
                "alternatives": [a.as_dict for a in self.alternatives]}


def _span(start: str | None, end: str | None) -> int:
    if not start or not end:
        return _OPEN
    try:
        return (date.fromisoformat(end) - date.fromisoformat(start)).days
    except ValueError:
        return _OPEN


def _rank(r: Report) -> tuple:
    published = -date.fromisoformat(r.published).toordinal() if r.published else 0
    return (r.kind != "official", _span(r.start, r.end), published, r.report != r.statistic,
            r.source or "", r.report)


def _value(term: Any) -> str | None:
    return None if term is None else term.value


def figures(kb: Any, *, product: str | None = None, start: str | None = None,
            end: str | None = None) -> list[Figure]:
    """The reported figures of the knowledge base, chosen by the rule of this module.

    Args:
        product: only this product category (IRI).
        start, end: only figures whose period starts on or after ``start`` and on or before
            ``end`` (ISO dates); figures with no start are kept.

    Returns:
        Figures sorted by origin, destination, product, unit and period.
    """
    filters, bindings = [], {}
    if product:
        try:
            bindings["only_product"] = ox.NamedNode(product)
        except ValueError as e:
            raise InvalidParameter("product", f"{product!r} is not an IRI: {e}") from None
        filters.append("FILTER(?product = ?only_product)")
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def consume(raw: object) -> None:
        for s in raw:  # type: ignore[attr-defined]
            key = (s["stat"].value, s["report"].value, s["unit"].value)
            seen = rows.get(key)
            row = {k: _value(s[k]) for k in ("origin", "destination", "product", "start", "end",
                                             "amount", "kind", "source", "published", "rstart",
                                             "rend", "printed", "corrected")}
            if seen is None:
                rows[key] = row
            else:  # the same report told twice (several graphs, several languages): keep one
                for k, v in row.items():
                    if seen[k] is None and v is not None:
                        seen[k] = v

    kb.run(FIGURE_REPORTS.replace("{filters}", "\n  ".join(filters)), consume,
           bindings=bindings or None)
    groups: dict[tuple, list[Report]] = {}
    for (stat, report, unit), r in rows.items():
        if start and r["start"] and r["start"] < start:
            continue
        if end and r["start"] and r["start"] > end:
            continue
        corrected = float(r["corrected"]) if r["corrected"] is not None else None
        printed_amount = float(r["amount"])
        own_period = r["rstart"] is not None
        rep = Report(report=report, statistic=stat,
                     amount=corrected if corrected is not None else printed_amount,
                     kind=r["kind"] or "", source=r["source"], published=r["published"],
                     start=r["rstart"] if own_period else r["start"],
                     end=r["rend"] if own_period else r["end"], printed=r["printed"],
                     printed_amount=printed_amount if corrected is not None else None)
        key = (r["origin"], r["destination"], r["product"], unit, r["start"], r["end"])
        groups.setdefault(key, []).append(rep)
    out = []
    for (origin, destination, prod, unit, first, last), reports in groups.items():
        ranked = sorted(reports, key=_rank)
        out.append(Figure(origin, destination, prod, unit, first, last, ranked[0], ranked[1:]))
    return sorted(out, key=lambda f: (f.origin, f.destination or "", f.product, f.unit,
                                      f.start or "", f.end or ""))


def unit_name(unit: str) -> str:
    """A unit for people: ``"CNY"`` stays, a QUDT unit IRI becomes its local name, the
    count unit (``unit:NUM``) and no unit become ``""``."""
    local = unit.rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return "" if local in ("", "NUM") else local


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(iso: str) -> str:
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def period_text(start: str | None, end: str | None) -> str:
    """A period with its dates: ``"1 Mar 2020 – 4 Apr 2020"``, ``"from 1 Mar 2020 (end not
    given)"``, ``"period not given"``."""
    if start and end:
        return f"{_day(start)} – {_day(end)}" if start != end else _day(start)
    if start:
        return f"from {_day(start)} (end not given)"
    if end:
        return f"until {_day(end)} (start not given)"
    return "period not given"
