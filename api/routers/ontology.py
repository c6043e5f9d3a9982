"""``/ontology``: the ontology's documentation (pyLODE) and its Turtle source."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kb.bundled import ONTOLOGY_FILE
from kb.docs import ontology_html

router = APIRouter(tags=["ontology"])


@router.get("/ontology", response_class=HTMLResponse)
async def ontology(request: Request) -> Response:
    """The ontology: HTML documentation for browsers, Turtle for `Accept: text/turtle`."""
    if "text/turtle" in request.headers.get("accept", ""):
        return Response(ONTOLOGY_FILE.read_bytes(), media_type="text/turtle")
    return HTMLResponse(await run_in_threadpool(ontology_html))
