"""A SPARQL answer shaped as an HTML table's cells (the query page without scripts)."""

from __future__ import annotations

from urllib.parse import quote

import pyoxigraph as ox

from kb.engine import Result, parse_result


def answer_table(result: Result, limit: int) -> tuple[bool | None, list[str], list[list], int]:
    """(boolean, columns, the first ``limit`` rows as cells, how many rows in all), read
    with the engine's parsers one row at a time."""
    raw = parse_result(result)
    if isinstance(raw, ox.QueryBoolean):
        return bool(raw), [], [], 0
    rows: list[list] = []
    total = 0
    if isinstance(raw, ox.QuerySolutions):
        columns = [v.value for v in raw.variables]
        for solution in raw:
            if total < limit:
                rows.append([_cell(solution[c]) for c in columns])
            total += 1
        return None, columns, rows, total
    for t in raw:  # type: ignore[attr-defined]
        if total < limit:
            rows.append([_cell(t.subject), _cell(t.predicate), _cell(t.object)])
        total += 1
    return None, ["subject", "predicate", "object"], rows, total


def _link(iri: str) -> str | None:
    return f"/resource?iri={quote(iri, safe='')}" if iri.startswith(("http://", "https://")) \
        else None


def _cell(term: object) -> dict[str, str | None]:
    if term is None:  # an unbound variable
        return {"text": "", "href": None}
    if isinstance(term, ox.NamedNode):
        return {"text": term.value, "href": _link(term.value)}
    return {"text": term.value if isinstance(term, ox.Literal) else str(term), "href": None}
