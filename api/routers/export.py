"""``/export``: RDF dumps of the dataset or one graph, and ``/export/graph``: the entity
graph for Gephi, Neo4j and networkx. Thin: kb.export and kb.graph_export do the work."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB
from api.errors import error_body
from kb import export as rdf_export
from kb.analytics import entity_graph
from kb.graph_export import GRAPH_FORMATS, MEDIA_TYPES, export_graph
from kb.namespaces import expand

router = APIRouter(prefix="/export", tags=["export"])



def _negotiated(request: Request, whole: bool) -> str:
    """The export format that fits the Accept header best, among those that can hold what
    is asked for (the whole dataset: TriG, N-Quads, JSON-LD); a browser's ``*/*`` gets the
    default (TriG for the dataset, Turtle for a graph).

    Raises:
        NotAcceptable: no format fits.
    """
    names = ("trig", "nq", "jsonld") if whole else ("ttl", "trig", "nq", "nt", "jsonld", "rdfxml")
    by_media = {rdf_export.MEDIA_TYPES[n]: n for n in names}
    return by_media[negotiation.require(request.headers.get("accept"), list(by_media))]


@router.get("", response_class=Response, responses={
    200: {"content": {media: {} for media in rdf_export.MEDIA_TYPES.values()},
          "description": "The dump, streamed."},
    406: {"description": "A one-graph format (Turtle, N-Triples, RDF/XML) for the whole "
                         "dataset: use TriG or N-Quads, or pick a graph."}})
async def export(
    request: Request, kb: KB,
    format: Annotated[str | None, Query(description="trig, nq, jsonld (whole dataset or one "
                                        "graph), ttl, nt, rdfxml (one graph); default from "
                                        "Accept, else trig")] = None,
    graph: Annotated[str | None, Query(description="A graph IRI or a short name such as "
                                       "'ontology' or 'msg:ontology'; default: the whole "
                                       "dataset")] = None,
) -> Response:
    """Dump the whole dataset or one graph, streamed, in a stable order (the same data always
    gives the same bytes)."""
    if graph is not None:
        graph = expand(graph)
    chosen = format or _negotiated(request, whole=graph is None)
    try:
        plan = await run_in_threadpool(rdf_export.plan_export, kb, chosen, graph=graph)
    except rdf_export.NotAcceptable as e:
        return JSONResponse(error_body(e, 406), status_code=406)
    name = (graph or "medsupply-kb").rstrip("/#").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "graph"
    chunks = rdf_export.export_stream(kb, plan)
    return StreamingResponse(
        chunks, media_type=plan.media_type, background=BackgroundTask(_close, chunks),
        headers={"Content-Disposition": f'attachment; filename="{safe}.{plan.extension}"',
                 "X-Content-Type-Options": "nosniff"})


async def _close(chunks: Generator[bytes, None, None]) -> None:
    """Stop the export's producer (its thread and temporary files go) as soon as the
    response ends, also when the client left halfway: an abandoned iterator is otherwise
    only closed by a later garbage collection."""
    while True:
        try:
            chunks.close()
            return
        except ValueError:  # a thread is still inside next(): it returns within a chunk
            await asyncio.sleep(0.05)


@router.get("/graph", response_class=Response)
async def export_graph_route(
    kb: KB,
    format: Annotated[str, Query(pattern="^(graphml|gexf|json|csv)$",
                                 description=", ".join(GRAPH_FORMATS))] = "graphml",
    part: Annotated[str, Query(pattern="^(nodes|relationships)$",
                               description="CSV only: Neo4j's nodes or relationships file")]
    = "nodes",
) -> Response:
    """The entity graph as GraphML or GEXF (Gephi), node-link JSON (networkx) or Neo4j
    bulk-import CSV (``part``: nodes or relationships)."""
    g = await run_in_threadpool(entity_graph, kb)
    data = await run_in_threadpool(export_graph, g, format, part=part)
    ext = {"json": "json", "csv": f"{part}.csv"}.get(format, format)
    return Response(data, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="medsupply-kb.{ext}"',
        "X-Content-Type-Options": "nosniff"})
