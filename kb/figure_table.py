"""The figures page's rows: every source's number for every reported figure, one row each,
from :func:`kb.figures.figures` (which chooses a figure among its sources).

A row is one bar of a chart: the chart (``series``: exporter, destination, product), the
period, the unit, the amount, whether it is the chosen figure or another source's
alternative, and the source. Rows are never summed: different periods are different bars,
and alternatives stand beside the chosen number.
"""

from __future__ import annotations

from typing import Any

from kb.browse import labels, short
from kb.figures import figures, period_text, unit_name

__all__ = ["COLUMNS", "figure_rows"]

#: The CSV columns, in order.
COLUMNS = ["origin", "destination", "product", "period", "start", "end", "unit", "amount",
           "chosen", "kind", "source", "printed", "statistic"]


def figure_rows(kb: Any, *, product: str | None = None) -> list[dict[str, Any]]:
    """One row per (figure, source's report), the chosen report first within each figure.

    Raises:
        InvalidParameter: ``product`` is not an IRI.
    """
    found = figures(kb, product=product)
    names = labels(kb, [i for f in found for i in (f.origin, f.destination, f.product) if i]
                   + [s for f in found for s in f.sources])
    rows = []
    for f in found:
        destination = names.get(f.destination or "", short(f.destination or "")) or "world"
        series = (f"{names.get(f.origin, short(f.origin))} → {destination}: "
                  f"{names.get(f.product, short(f.product))}")
        unit = unit_name(f.unit)
        period = period_text(f.start, f.end)
        for r in (f.chosen, *f.alternatives):
            source = r.source or ""
            title = names.get(source, short(source)) if source else "no source given"
            tooltip = (f"{series}, {period}: {r.amount:,.0f} {unit or ''}".rstrip()
                       + f" — {'chosen' if r is f.chosen else 'alternative'}; {title}"
                       + (f"; printed: {r.printed}" if r.printed else ""))
            rows.append({
                "origin": f.origin, "destination": f.destination, "product": f.product,
                "series": series, "period": period, "start": f.start, "end": f.end,
                "unit": f.unit, "unit_text": unit, "amount": r.amount,
                "chosen": r is f.chosen, "kind": r.kind, "source": source,
                "source_label": title, "printed": r.printed or "",
                "statistic": r.statistic, "tooltip": tooltip})
    return rows
