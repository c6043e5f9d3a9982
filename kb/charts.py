"""Charts drawn on the server as SVG: the export figures by period, and the incident
timeline.

Why SVG from the server and not Vega-Lite in the browser: the pages run under a strict CSP
(no inline script, no eval). Vega-Lite would need its CSP-safe interpreter and about 1 MB of
vendored JavaScript per page, a script to start it, and the data shown only once that script
ran. Measured on the bundled data (28 figure rows, 13 charts): about 22 KB of SVG in all,
built in under a millisecond for the 13 together. It shows with scripts off, its numbers are text
(searchable, copyable, read by screen readers and the browser tests), and every label is
escaped here once. The charts need no interaction beyond a hover (``<title>``) and a link.

Every text that comes from the store goes through :func:`esc`.

>>> compact(3_860_000_000), compact(50_900_000_000), compact(600_000), compact(12.5)
('3.86 bn', '50.9 bn', '600 k', '12.5')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from html import escape
from typing import Any

__all__ = ["TIMELINE_LANES", "compact", "esc", "figure_charts", "timeline"]

#: The most incidents the timeline draws (the table lists them all).
TIMELINE_LANES = 300

PALETTE = ("#2f6db5", "#d9822b", "#3a9a5b", "#b8443a", "#7d5ba6", "#8a6d3b")


def esc(text: object) -> str:
    """Text for SVG/HTML content and attributes (quotes too)."""
    return escape(str(text), quote=True)


def compact(x: float) -> str:
    """A number with three significant digits and a word for its size (k, m, bn)."""
    for size, word in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:.3g} {word}"
    return f"{x:.3g}"


def _bars(groups: list[dict[str, Any]], unit: str, title: str) -> str:
    """One bar chart: a group of bars per period, one bar per source's number (the chosen
    one first, solid; alternatives beside it, lighter). Bars are never stacked."""
    width, left, top, bottom, bar, gap = 720, 70, 28, 64, 26, 22
    most = max((b["amount"] for g in groups for b in g["bars"]), default=0) or 1
    height = 220
    x = left
    parts = []
    for g in groups:
        for n, b in enumerate(g["bars"]):
            h = max(1.0, b["amount"] / most * (height - top - bottom))
            y = height - bottom - h
            colour = PALETTE[0] if b["chosen"] else PALETTE[1]
            opacity = "" if b["chosen"] else ' fill-opacity="0.55"'
            parts.append(
                f'<g class="bar{" chosen" if b["chosen"] else " alternative"}">'
                f'<title>{esc(b["tooltip"])}</title>'
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{colour}"'
                f'{opacity}/>'
                f'<text x="{x + bar / 2}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="11">{esc(compact(b["amount"]))}</text></g>')
            x += bar + (2 if n + 1 < len(g["bars"]) else 0)
        drawn = len(g["bars"]) * (bar + 2) - 2
        room = max(drawn, 6.2 * len(g["period"]))  # the period's label fits under its bars
        parts.append(f'<text x="{x - drawn + room / 2:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle" font-size="11">{esc(g["period"])}</text>')
        x += room - drawn + gap
    width = max(width, x + 20)
    axis = (f'<line x1="{left - 6}" y1="{height - bottom}" x2="{width - 10}" '
            f'y2="{height - bottom}" stroke="#888"/>'
            f'<text x="{left - 10}" y="{top + 4}" text-anchor="end" font-size="11">'
            f'{esc(compact(most))}</text>'
            f'<text x="{left - 10}" y="{height - bottom}" text-anchor="end" font-size="11">0'
            f'</text><text x="8" y="{(height - bottom + top) / 2:.0f}" font-size="11">'
            f'{esc(unit)}</text>')
    legend = (f'<rect x="{left}" y="{height - 26}" width="12" height="12" fill="{PALETTE[0]}"/>'
              f'<text x="{left + 16}" y="{height - 16}" font-size="11">chosen figure</text>'
              f'<rect x="{left + 120}" y="{height - 26}" width="12" height="12" '
              f'fill="{PALETTE[1]}" fill-opacity="0.55"/><text x="{left + 136}" '
              f'y="{height - 16}" font-size="11">another source\'s figure (not added)</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
            f'<title>{esc(title)}</title>'
            f'<text x="{left}" y="16" font-size="13" font-weight="bold">{esc(title)}</text>'
            f'{axis}{"".join(parts)}{legend}</svg>')


def figure_charts(rows: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """One chart per (origin, destination, product, unit) from figure rows (as the figures
    page lists them: ``series`` names the chart, ``period`` the group, ``amount``, ``chosen``
    and ``tooltip`` each bar). Returns ``{"title", "svg"}`` dicts."""
    series: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        periods = series.setdefault((r["series"], r["unit_text"]), {})
        periods.setdefault(r["period"], []).append(r)
    out = []
    for (title, unit), periods in series.items():
        groups = [{"period": p, "bars": sorted(bars, key=lambda b: not b["chosen"])}
                  for p, bars in periods.items()]
        out.append({"title": title, "svg": _bars(groups, unit or "count", title)})
    return out


def _ordinal(iso: str | None) -> int | None:
    try:
        return date.fromisoformat(iso).toordinal() if iso else None
    except ValueError:
        return None


def timeline(rows: list[dict[str, Any]]) -> str:
    """The incidents on a time axis, one lane each: a dot for a known day, a bar from the
    earliest to the latest day a less precise date can be (never an invented day). Rows
    without any date are left out (the table still lists them)."""
    dated = [(r, _ordinal(r["earliest"]), _ordinal(r["latest"])) for r in rows]
    dated = [(r, a, b if b is not None else a) for r, a, b in dated if a is not None]
    if not dated:
        return ""
    first = min(a for _, a, _ in dated)
    last = max(b for _, _, b in dated)
    span = max(last - first, 1)
    left, right, lane, top = 320, 780, 20, 24
    scale = (right - left) / span
    height = top + lane * len(dated) + 30
    parts = []
    for n, (r, a, b) in enumerate(dated):
        y = top + n * lane
        name = r["label"] or r["short"]
        when = r["dates"][0]["text"] if r["dates"] else ""
        x1, x2 = left + (a - first) * scale, left + (b - first) * scale
        colour = PALETTE[3] if r["kind"] in ("Return", "Recall") else PALETTE[0]
        mark = (f'<circle cx="{x1:.1f}" cy="{y + 8}" r="5" fill="{colour}"/>' if a == b else
                f'<rect x="{x1:.1f}" y="{y + 3}" width="{max(x2 - x1, 3):.1f}" height="10" '
                f'rx="3" fill="{colour}" fill-opacity="0.6"/>')
        short_name = name if len(name) <= 42 else name[:40] + "…"
        parts.append(f'<g class="event"><title>{esc(name)} — {esc(when)}</title>'
                     f'<a href="#{esc(r["short"])}"><text x="{left - 8}" y="{y + 12}" '
                     f'text-anchor="end" font-size="11">{esc(short_name)}</text></a>'
                     f'{mark}</g>')
    ticks = []
    month = date.fromordinal(first).replace(day=1)
    while month.toordinal() <= last:
        if month.toordinal() >= first:
            x = left + (month.toordinal() - first) * scale
            ticks.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" '
                         f'y2="{height - 24}" stroke="#ddd"/><text x="{x:.1f}" '
                         f'y="{height - 10}" text-anchor="middle" font-size="11">'
                         f'{month.strftime("%b %Y")}</text>')
        month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" role="img" '
            f'viewBox="0 0 {right + 20} {height}" width="{right + 20}" height="{height}">'
            f'<title>Timeline of the incidents</title>{"".join(ticks)}{"".join(parts)}</svg>')
