"""``/analytics/…``: the analytics of kb.analytics as JSON, or CSV by Accept."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep
from api.security import require_update_token
from kb import analytics
from kb.namespaces import expand

router = APIRouter(prefix="/analytics", tags=["analytics"])
Measure = Annotated[str, Query(pattern="^(degree|betweenness|pagerank|eigenvector)$")]


def _answer(request: Request, rows: list[dict[str, object]]) -> Response:
    """JSON, or CSV when the Accept header prefers it."""
    if negotiation.require(request.headers.get("accept"),
                           ["application/json", "text/csv"]) == "text/csv":
        out = io.StringIO()
        columns = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv", headers={"Vary": "Accept"})
    return JSONResponse(rows, headers={"Vary": "Accept"})


@router.get("/centrality")
async def centrality(request: Request, kb: KB, measure: Measure = "pagerank",
                     top: Annotated[int, Query(ge=1, le=1000)] = 20,
                     k: Annotated[int | None, Query(ge=1)] = None,
                     cls: Annotated[list[str], Query(alias="class")] = []) -> Response:  # noqa: B006
    """The most central entities by degree, betweenness, PageRank or eigenvector centrality."""
    rows = await run_in_threadpool(analytics.centrality_report, kb, measure, top_n=top, k=k,
                                   classes=[expand(c) for c in cls])
    return _answer(request, rows)


@router.post("/centrality")
async def save_centrality(request: Request, kb: KB, settings: SettingsDep,
                          measure: Measure = "pagerank") -> Response:
    """Compute and save the scores into the analytics graph (needs the update token)."""
    require_update_token(request, settings)
    rows = await run_in_threadpool(analytics.centrality_report, kb, measure, top_n=20, save=True)
    return _answer(request, rows)


@router.get("/communities")
async def communities(request: Request, kb: KB, seed: int = 42) -> Response:
    """Louvain communities (seeded) and their modularity."""
    return _answer(request, await run_in_threadpool(analytics.communities_report, kb, seed=seed))


@router.post("/communities")
async def save_communities(request: Request, kb: KB, settings: SettingsDep,
                           seed: int = 42) -> Response:
    """Compute Louvain communities and save each entity's membership into the analytics
    graph (needs the update token)."""
    require_update_token(request, settings)
    rows = await run_in_threadpool(analytics.communities_report, kb, seed=seed, save=True)
    return _answer(request, rows)


@router.get("/path")
async def path(request: Request, kb: KB, source: str, target: str) -> Response:
    """The explained path between two entities (IRIs or short names such as `country:NL`)."""
    return _answer(request, await run_in_threadpool(analytics.path_report, kb, expand(source),
                                                    expand(target)))


@router.get("/components")
async def components(request: Request, kb: KB) -> Response:
    return _answer(request, await run_in_threadpool(analytics.components_report, kb))


@router.get("/ego")
async def ego(request: Request, kb: KB, iri: str,
              radius: Annotated[int, Query(ge=1, le=3)] = 1) -> Response:
    return _answer(request, await run_in_threadpool(analytics.ego_report, kb, expand(iri),
                                                    radius))


@router.get("/flows")
async def flows(request: Request, kb: KB, product: str | None = None, start: str | None = None,
                end: str | None = None) -> Response:
    """Trade flows between countries and from manufacturers: distinct shipments summed per
    product and unit, and one row per reported figure (exporter, destination, product, unit,
    period: the figure chosen among the sources that report it, the alternatives beside it).
    Figures of different periods, products or units are never added; an unknown amount is
    null (an empty cell in CSV), never 0."""
    rows = await run_in_threadpool(analytics.flows_report, kb,
                                   product=expand(product) if product else None, start=start,
                                   end=end)
    return _answer(request, rows)


@router.get("/indicators/{name}")
async def indicators(request: Request, kb: KB, name: str) -> Response:
    """exporter-shares, incidents-by-country, incidents-by-manufacturer,
    incidents-by-standard, conflicts, figures (the chosen reported figures and their
    alternatives)."""
    return _answer(request, await run_in_threadpool(analytics.indicator, kb, name))
