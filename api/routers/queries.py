"""``/queries``: saved, parameterised queries (the competency questions among them), as
JSON, CSV or an HTML table — Datasette-style."""

from __future__ import annotations

import csv
import io
from functools import cache

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import KB, SettingsDep, client_of
from kb.bundled import COMPETENCY_DIR
from kb.engine import _rows as rows_of
from kb.queries import SavedQuery, find, load_saved_queries, render
from kb.store import KnowledgeBase

router = APIRouter(prefix="/queries", tags=["saved queries"])


@cache
def saved() -> list[SavedQuery]:
    return load_saved_queries(COMPETENCY_DIR)


def _describe(q: SavedQuery) -> dict[str, object]:
    return {"name": q.name, "title": q.title, "question": q.question,
            "parameters": {k: v.value for k, v in q.params.items()}, "sparql": q.sparql,
            "url": f"/queries/{q.name}"}


@router.get("")
async def list_queries() -> list[dict[str, object]]:
    """Every saved query: name, question, parameters (with defaults) and SPARQL."""
    return [_describe(q) for q in saved()]


def _run(kb: KnowledgeBase, q: SavedQuery, overrides: dict[str, str],
         client: str | None) -> tuple[list[str], list]:
    """The rows of ``q`` with its parameters bound; run as ``/sparql`` queries are (a query
    worker, the timeout, ``client``'s share of the workers), since the values are the user's."""
    bindings = q.bindings(overrides)
    rows = kb.run(q.text, rows_of, bindings={k: _rdflib(v) for k, v in bindings.items()},
                  isolated=True, client=client)
    columns = list(dict.fromkeys(k for row in rows for k in row)) or q.expected_vars
    return columns, rows


def _rdflib(term):
    from kb.terms import to_rdflib

    return to_rdflib(term)


@router.get("/{name}")
async def run_query(request: Request, kb: KB, settings: SettingsDep, name: str) -> Response:
    """Run a saved query; query parameters override its `# param:` defaults. JSON by
    default, CSV (`Accept: text/csv` or `_format=csv`), or an HTML table. At most
    `KB_MAX_ROWS` rows: beyond, the answer says `"truncated": true` (JSON), shows a notice
    (HTML) and carries the header `X-Truncated: <rows kept>` (all formats)."""
    q = find(saved(), name)
    params = {k: v for k, v in request.query_params.items() if not k.startswith("_")}
    columns, rows = await run_in_threadpool(_run, kb, q, params, client_of(request))
    truncated = len(rows) > settings.max_rows
    rows = rows[:settings.max_rows]
    headers = {"X-Truncated": str(len(rows))} if truncated else {}
    fmt = request.query_params.get("_format") or (
        "csv" if "text/csv" in request.headers.get("accept", "") else
        "html" if "text/html" in request.headers.get("accept", "") else "json")
    cells = [[render(row.get(c)) for c in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(cells)
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    if fmt == "html":
        from api.routers.pages import _headers, templates

        return templates.TemplateResponse(request, "query.html", {
            "q": q, "columns": columns, "rows": cells, "truncated": truncated},
            headers={**_headers(), **headers})
    return JSONResponse({**_describe(q), "columns": columns, "truncated": truncated,
                         "rows": [dict(zip(columns, r, strict=True)) for r in cells]},
                        headers=headers)

