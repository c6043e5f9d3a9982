"""``/ontology``: the ontology's documentation (pyLODE) and its Turtle source."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api import negotiation
from kb.bundled import ONTOLOGY_FILE
from kb.docs import ontology_html

router = APIRouter(tags=["ontology"])

# pyLODE's page has one inline <style> and a JSON-LD data block, and needs nothing else.
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
           "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


@router.get("/ontology", response_class=HTMLResponse)
async def ontology(request: Request) -> Response:
    """The ontology: HTML documentation for browsers, Turtle for `Accept: text/turtle`."""
    offers = ["text/html", "text/turtle"]
    if negotiation.require(request.headers.get("accept"), offers) == "text/turtle":
        return Response(ONTOLOGY_FILE.read_bytes(), media_type="text/turtle",
                        headers={"X-Content-Type-Options": "nosniff"})
    return HTMLResponse(await run_in_threadpool(ontology_html), headers=HEADERS)
