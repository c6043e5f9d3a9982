"""``/queries``: saved, parameterised queries (the competency questions among them), as
JSON, CSV or an HTML table — Datasette-style."""

from __future__ import annotations

import csv
import io
from functools import cache

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from rdflib import URIRef
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep, client_of
from api.templating import page_headers, templates
from kb.bundled import COMPETENCY_DIR
from kb.engine import solution_rows as rows_of
from kb.errors import InvalidParameter
from kb.queries import SavedQuery, find, load_saved_queries, render
from kb.store import KnowledgeBase

router = APIRouter(prefix="/queries", tags=["saved queries"])


@cache
def saved() -> list[SavedQuery]:
    return load_saved_queries(COMPETENCY_DIR)


def _describe(q: SavedQuery, used: dict[str, object] | None = None) -> dict[str, object]:
    """A saved query as JSON; ``parameters`` are the values ``used`` when it ran (else its
    defaults)."""
    values = used if used is not None else dict(q.params)
    return {"name": q.name, "title": q.title, "question": q.question,
            "parameters": {k: getattr(v, "value", str(v)) for k, v in values.items()},
            "sparql": q.sparql, "url": f"/queries/{q.name}"}


OFFERS = ["application/json", "text/csv", "text/html"]


def _format(request: Request) -> str:
    """json, csv or html: from ``_format``, else the Accept header (a browser gets HTML).

    Raises:
        InvalidParameter: an unknown ``_format``.
        NotAcceptable: nothing fits the Accept header.
    """
    name = request.query_params.get("_format")
    if name is not None:
        if name not in ("json", "csv", "html"):
            raise InvalidParameter("_format", f"{name!r} is not one of json, csv, html")
        return name
    media = negotiation.require(request.headers.get("accept"), OFFERS)
    return {"application/json": "json", "text/csv": "csv", "text/html": "html"}[media]


def _csv(columns: list[str], rows: list[list[str]], headers: dict[str, str]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


@router.get("")
async def list_queries(request: Request) -> Response:
    """Every saved query: name, question, parameters (with defaults) and SPARQL, as JSON,
    CSV or an HTML index (`Accept` or `_format`)."""
    fmt = _format(request)
    headers = {"Vary": "Accept"}
    if fmt == "html":
        return templates.TemplateResponse(request, "queries.html", {
            "queries": [_form_fields(q) for q in saved()]}, headers={**page_headers(), **headers})
    described = [_describe(q) for q in saved()]
    if fmt == "csv":
        return _csv(["name", "title", "question", "parameters", "url"], [
            [d["name"], d["title"], d["question"],
             " ".join(f"{k}={v}" for k, v in d["parameters"].items()),  # type: ignore[union-attr]
             d["url"]] for d in described], headers)
    return JSONResponse(described, headers=headers)


def _form_fields(q: SavedQuery, used: dict[str, object] | None = None) -> dict[str, object]:
    """The query with its parameters as form fields: name, value (short form), and whether
    it takes an IRI."""
    values = used if used is not None else dict(q.params)
    fields = [{"name": k, "iri": isinstance(v, ox.NamedNode),
               "value": render(URIRef(v.value)) if isinstance(v, ox.NamedNode)
               else getattr(v, "value", str(v))} for k, v in values.items()]
    return {"q": q, "fields": fields}


def _run(kb: KnowledgeBase, q: SavedQuery, overrides: dict[str, str],
         client: str | None) -> tuple[list[str], list, dict[str, object]]:
    """The rows of ``q`` with its parameters bound, and the values used; run as ``/sparql``
    queries are (a query worker, the timeout, ``client``'s share of the workers), since the
    values are the user's."""
    bindings = q.bindings(overrides)
    rows = kb.run(q.text, rows_of, bindings={k: _rdflib(v) for k, v in bindings.items()},
                  isolated=True, client=client)
    columns = list(dict.fromkeys(k for row in rows for k in row)) or q.expected_vars
    return columns, rows, bindings


def _rdflib(term):
    from kb.terms import to_rdflib

    return to_rdflib(term)


@router.get("/{name}")
async def run_query(request: Request, kb: KB, settings: SettingsDep, name: str) -> Response:
    """Run a saved query; query parameters override its `# param:` defaults (IRIs or short
    names such as `country:CA`). JSON by default, CSV (`Accept: text/csv` or `_format=csv`),
    or an HTML table with a form for the parameters (browsers). `parameters` in the JSON are
    the values used. At most `KB_MAX_ROWS` rows: beyond, the answer says `"truncated": true`
    (JSON), shows a notice (HTML) and carries the header `X-Truncated: <rows kept>`."""
    q = find(saved(), name)
    fmt = _format(request)
    params = {k: v for k, v in request.query_params.items() if not k.startswith("_")}
    columns, rows, used = await run_in_threadpool(_run, kb, q, params, client_of(request))
    truncated = len(rows) > settings.max_rows
    rows = rows[:settings.max_rows]
    headers = {"Vary": "Accept", **({"X-Truncated": str(len(rows))} if truncated else {})}
    cells = [[render(row.get(c)) for c in columns] for row in rows]
    if fmt == "csv":
        return _csv(columns, cells, headers)
    if fmt == "html":
        return templates.TemplateResponse(request, "query.html", {
            **_form_fields(q, used), "columns": columns, "rows": cells,
            "truncated": truncated}, headers={**page_headers(), **headers})
    return JSONResponse({**_describe(q, used), "columns": columns, "truncated": truncated,
                         "rows": [dict(zip(columns, r, strict=True)) for r in cells]},
                        headers=headers)
