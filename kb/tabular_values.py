"""The values of table cells: numbers, dates at their precision, periods, literals (for
``kb.tabular``, which maps tables by CSVW metadata)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import pyoxigraph as ox

from kb.namespaces import PREFIXES

XSD = PREFIXES["xsd"]
DATATYPES = {"string": "string", "decimal": "decimal", "number": "double", "double": "double",
             "integer": "integer", "date": "date", "anyURI": "anyURI", "boolean": "boolean"}


def parse_period(text: str) -> tuple[str, str]:
    """``2020`` | ``202003`` | ``2020-03`` | ``2020-03-01`` | ``A/B`` -> first and last day.

    >>> parse_period("202002"), parse_period("2020-03-01/2020-04-04")
    (('2020-02-01', '2020-02-29'), ('2020-03-01', '2020-04-04'))
    """
    if "/" in text:
        a, b = text.split("/", 1)
        start, end = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        if end < start:
            raise ValueError("the period ends before it starts")
        return start.isoformat(), end.isoformat()
    if re.fullmatch(r"\d{4}", text):
        return f"{text}-01-01", f"{text}-12-31"
    m = re.fullmatch(r"(\d{4})-?(\d{2})", text)
    if m:
        first = date(int(m.group(1)), int(m.group(2)), 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return first.isoformat(), last.isoformat()
    day = date.fromisoformat(text).isoformat()
    return day, day


PRECISIONS = ("day", "week", "month", "year", "days")


def parse_date(text: str, precision: str | None) -> dict[str, str]:
    """A date kept at its precision: a day, or the first and last days it can be (``span``
    is then the precision).

    >>> parse_date("2020-03", None)
    {'earliest': '2020-03-01', 'latest': '2020-03-31', 'span': 'month'}
    """
    precision = (precision or "").strip().lower() or None
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"the precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if "/" in text:
        start, end = parse_period(text)
        return {"earliest": start, "latest": end, "span": precision or "days"}
    if precision == "week":
        first = date.fromisoformat(text)
        return {"earliest": first.isoformat(), "latest": (first + timedelta(days=6)).isoformat(),
                "span": "week"}
    start, end = parse_period(text)
    found = "day" if start == end else "year" if len(text) == 4 else "month"
    if precision is not None and precision != found:
        raise ValueError(f"the date gives a {found}, the precision says {precision}")
    if found == "day":
        return {"day": start}
    return {"earliest": start, "latest": end, "span": found}


def literal(value: str, spec: dict[str, Any]) -> ox.Literal:
    base = base_of(spec)
    if base == "string":
        lang = spec.get("lang")
        return ox.Literal(value, language=lang) if lang else ox.Literal(value)
    return ox.Literal(value, datatype=ox.NamedNode(XSD + DATATYPES[base]))


def base_of(spec: dict[str, Any]) -> str:
    datatype = spec.get("datatype", "string")
    return datatype.get("base", "string") if isinstance(datatype, dict) else datatype


def check_value(text: str, spec: dict[str, Any]) -> str:
    """The cell's value in its datatype's canonical form; ValueError says what is wrong."""
    datatype = spec.get("datatype", "string")
    constraints = datatype if isinstance(datatype, dict) else {}
    base = base_of(spec)
    if base in ("decimal", "double", "integer", "number"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a number (write digits with a dot for the "
                             "decimals, e.g. 1250000 or 3.5; no thousands separators)") from None
        if not number.is_finite():
            raise ValueError(f"{text!r} is not a finite number")
        if base == "integer" and number != number.to_integral_value():
            raise ValueError(f"{text!r} is not a whole number")
        if "minimum" in constraints and number < Decimal(str(constraints["minimum"])):
            raise ValueError(f"{text} is below the minimum {constraints['minimum']}")
        return str(number)
    if base == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a date (write YYYY-MM-DD)") from None
    if "format" in constraints and not re.fullmatch(constraints["format"], text):
        raise ValueError(f"{text!r} is not one of the accepted values "
                         f"({constraints['format'].replace('|', ', ')})")
    return text
