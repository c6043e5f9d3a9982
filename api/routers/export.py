"""``/export``: dumps of the dataset or a graph, and ``/export/graph`` for other tools."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.deps import KB
from api.negotiation import NotAcceptable
from kb.analytics import entity_graph
from kb.errors import InvalidParameter
from kb.export import export_graph, export_rdf
from kb.formats import rdf_format

router = APIRouter(prefix="/export", tags=["export"])
GRAPH_MEDIA = {"graphml": "application/graphml+xml", "gexf": "application/gexf+xml",
               "json": "application/json", "csv": "text/csv"}


@router.get("")
async def export(kb: KB, format: str = "trig", graph: str | None = None) -> Response:
    """The dataset (`trig`, `nq`) or one graph (`ttl`, `nt`, `jsonld`, `rdfxml` too), written
    to a temporary file by the engine and streamed from it."""
    fmt = rdf_format(format)
    if graph is None and not fmt.supports_datasets:
        raise NotAcceptable(f"{fmt.name} holds one graph but the dataset has named graphs: "
                            "ask for format=trig or format=nq, or name a graph")
    handle, path = tempfile.mkstemp(prefix="kb-export-")
    try:
        with os.fdopen(handle, "wb") as f:
            await run_in_threadpool(export_rdf, kb, format, graph=graph, output=f)
    except BaseException:
        os.unlink(path)
        raise
    suffix = {"N-Quads": "nq", "TriG": "trig", "Turtle": "ttl", "N-Triples": "nt",
              "JSON-LD": "jsonld", "RDF/XML": "rdf", "N3": "n3"}[fmt.name]
    return FileResponse(path, media_type=fmt.media_type, filename=f"medsupply-kb.{suffix}",
                        background=BackgroundTask(os.unlink, path))


@router.get("/graph")
async def export_graph_route(
    request: Request, kb: KB,
    format: Annotated[str, Query(pattern="^(graphml|gexf|json|csv)$")] = "graphml",
    part: Annotated[str, Query(pattern="^(nodes|relationships)$")] = "nodes",
) -> Response:
    """The entity graph as GraphML, GEXF, node-link JSON or Neo4j CSV (`part`: nodes or
    relationships)."""
    g = await run_in_threadpool(entity_graph, kb)
    data = await run_in_threadpool(export_graph, g, format, part=part)
    if not data:
        raise InvalidParameter("format", "nothing to export")
    return Response(data, media_type=GRAPH_MEDIA[format])
