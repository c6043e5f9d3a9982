"""``/sparql``: the SPARQL 1.1 Protocol query operation (GET, POST form, POST direct)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import KB
from kb.errors import InvalidParameter

router = APIRouter(tags=["sparql"])


def _answer(kb: KB, query: str | None, default_graph: list[str], named: list[str]) -> Response:
    if not query:
        raise InvalidParameter("query", "a SPARQL query is required (?query=…)")
    result = kb.query(query, default_graph=default_graph or None, named_graphs=named or None)
    return Response(result.data, media_type=result.media_type)


@router.get("/sparql")
def sparql_get(
    kb: KB,
    query: str | None = None,
    default_graph_uri: Annotated[list[str], Query(alias="default-graph-uri")] = [],  # noqa: B006
    named_graph_uri: Annotated[list[str], Query(alias="named-graph-uri")] = [],  # noqa: B006
) -> Response:
    """Run a SPARQL query given in the ``query`` parameter."""
    return _answer(kb, query, default_graph_uri, named_graph_uri)


@router.post("/sparql")
async def sparql_post(request: Request, kb: KB) -> Response:
    """Run a SPARQL query sent as a form (``query=…``) or as ``application/sparql-query``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    params = request.query_params
    if ctype == "application/sparql-query":
        query = (await request.body()).decode("utf-8")
        defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    else:
        form = await request.form()
        query = str(form.get("query") or "")
        defaults = [str(v) for v in form.getlist("default-graph-uri")]
        named = [str(v) for v in form.getlist("named-graph-uri")]
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_answer, kb, query, defaults, named)
