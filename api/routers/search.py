"""``/search``: full-text search (``kb.search``) as a page, with JSON and CSV twins
(``/search.json``, ``/search.csv``, or by ``Accept``), Datasette-style."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api import negotiation
from api.deps import KB
from kb.errors import NotFound
from kb.search import Hit, fold, search
from kb.store import KnowledgeBase

router = APIRouter(tags=["search"])
OFFERS = ["text/html", "application/json", "text/csv"]
SUFFIXES = {"json": "application/json", "csv": "text/csv"}
Text = Query("", max_length=200, description="What to look for (case and accents ignored)")
Limit = Query(20, ge=1, le=500, description="How many entities, best first")


@router.get("/search")
async def search_page(request: Request, kb: KB, q: str = Text, limit: int = Limit) -> Response:
    """Entities whose names, other names, source spellings, quotations or evidence match `q`:
    an exact name first, then names that start with it, then the rest by relevance. Each hit
    has its class, its source graphs and the text that matched. HTML for browsers; JSON or
    CSV by `Accept`, or at `/search.json` and `/search.csv`."""
    media = negotiation.require(request.headers.get("accept"), OFFERS)
    return await _answer(request, kb, q, limit, media)


@router.get("/search.{suffix}")
async def search_twin(request: Request, kb: KB, suffix: str, q: str = Text,
                      limit: int = Limit) -> Response:
    """The search as JSON (`/search.json`) or CSV (`/search.csv`)."""
    if suffix not in SUFFIXES:
        raise NotFound(f"/search.{suffix}: the search comes as /search (HTML), /search.json "
                       "or /search.csv")
    return await _answer(request, kb, q, limit, SUFFIXES[suffix])


async def _answer(request: Request, kb: KnowledgeBase, q: str, limit: int,
                  media: str) -> Response:
    hits = await asyncio.to_thread(search, kb, q, limit=limit)  # SQLite and the store block
    headers = {"Vary": "Accept"}
    if media == "application/json":
        return JSONResponse({"query": q, "hits": [dataclasses.asdict(h) for h in hits]},
                            headers=headers)
    if media == "text/csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["iri", "label", "classes", "graphs", "match", "property", "kind"])
        writer.writerows([h.iri, h.label, " ".join(h.classes), " ".join(h.graphs), h.match,
                          h.property, h.kind] for h in hits)
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    from api.templating import page_headers, templates

    return templates.TemplateResponse(request, "search.html", {
        "q": q, "limit": limit, "hits": [(h, _parts(h, q)) for h in hits]},
        headers={**page_headers(), **headers})


def _parts(hit: Hit, query: str) -> tuple[str, str, str]:
    """The matched text cut around the first place where ``query`` matches it (folded as the
    index folds), to be marked on the page; all of it first when the words lie apart."""
    text, wanted = hit.match, fold(query)
    folded, at = "", []
    for i, c in enumerate(text):
        piece = " " if c.isspace() else fold(c)
        folded += piece
        at += [i] * len(piece)
    start = folded.find(wanted) if wanted else -1
    if start < 0:
        return text, "", ""
    end = at[start + len(wanted) - 1] + 1
    return text[:at[start]], text[at[start]:end], text[end:]
