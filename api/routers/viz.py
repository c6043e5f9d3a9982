"""``/viz/…``: interactive relationship graphs (HTML built by kb.viz), with a strict CSP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import KB, client_of
from api.templating import page_headers, templates
from kb import viz
from kb.errors import InvalidParameter, NotFound, QueryError
from kb.namespaces import PREFIXES, declare_prefixes, expand

router = APIRouter(prefix="/viz", tags=["viz"])
#: Where a click on a node goes (its IRI appended, URL-encoded; http(s) IRIs only).
LINK = "/resource?iri="
VIEW_LINK = "/viz/entity?iri="
MaxNodes = Annotated[int, Query(ge=10, le=2000, description="Most nodes drawn at first")]

def _page(build, *args, **kwargs) -> HTMLResponse:
    try:
        body = build(*args, **kwargs)
    except NotFound as e:
        return _error(404, "Not found", e)
    except InvalidParameter as e:
        return _error(422, "Bad request", e)
    except QueryError as e:
        return _error(400, "Bad query", e)
    return HTMLResponse(body, headers=page_headers(viz.content_security_policy()))


def _error(status: int, title: str, e: Exception) -> HTMLResponse:
    """The site's error page (``error.html``, autoescaped), under the other pages' policy
    (its stylesheet is the site's own)."""
    body = templates.get_template("error.html").render(title=title, message=str(e))
    return HTMLResponse(body, status_code=status, headers=page_headers())


@router.get("/entity", response_class=HTMLResponse)
async def entity(kb: KB, iri: str, depth: Annotated[int, Query()] = 1,
                 max_nodes: MaxNodes = viz.DEFAULT_MAX_NODES) -> HTMLResponse:
    """An entity and its neighbourhood (depth 1-3; a larger depth is refused with 422).
    A click on a node opens its resource page; an "N more" node whose links were not read
    opens that node's own view."""
    return await run_in_threadpool(_page, viz.entity_view, kb, expand(iri), depth=depth,
                                   max_nodes=max_nodes, link=LINK, view_link=VIEW_LINK)


@router.get("/path", response_class=HTMLResponse)
async def path(kb: KB, source: str, target: str) -> HTMLResponse:
    """The explained path between two entities (IRIs or short names: `country:NL`)."""
    return await run_in_threadpool(_page, viz.path_view, kb, expand(source), expand(target),
                                   link=LINK)


@router.get("/flows", response_class=HTMLResponse)
async def flows(kb: KB, product: str | None = None, start: str | None = None,
                end: str | None = None, max_nodes: MaxNodes = viz.DEFAULT_MAX_NODES
                ) -> HTMLResponse:
    """Trade flows between countries (and from manufacturers) for a product category
    (IRI) and a period (ISO dates), arrows as wide as the quantity."""
    return await run_in_threadpool(_page, viz.flows_view, kb,
                                   product=expand(product) if product else None, start=start,
                                   end=end, max_nodes=max_nodes, link=LINK)


@router.get("/query", response_class=HTMLResponse)
async def query(request: Request, kb: KB, query: str,
                max_nodes: MaxNodes = viz.DEFAULT_MAX_NODES) -> HTMLResponse:
    """The graph of a CONSTRUCT or DESCRIBE query (400 for other queries); the KB's
    prefixes (`country:`, `ms:`…) need no declaration. The query runs as `/sparql` queries
    do: in a query worker, under the timeout and the client's share of the workers (503,
    413 and 429 as there)."""
    return await run_in_threadpool(_page, viz.query_view, kb, declare_prefixes(query, PREFIXES),
                                   max_nodes=max_nodes, link=LINK, client=client_of(request))


@router.get("/ontology", response_class=HTMLResponse)
async def ontology(kb: KB) -> HTMLResponse:
    """The ontology's classes and properties."""
    return await run_in_threadpool(_page, viz.ontology_view, kb, link=LINK)
