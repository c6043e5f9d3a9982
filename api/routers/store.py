"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol (GET, HEAD, PUT, POST, DELETE)."""

from __future__ import annotations

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep, client_of
from api.errors import UnsupportedMediaType
from api.security import require_update_token
from kb.errors import InvalidParameter, NotFound
from kb.load import upload_quads
from kb.namespaces import expand
from kb.store import KnowledgeBase

router = APIRouter(tags=["graph store"])


def _graph(request: Request, *, writing: bool) -> str | None:
    params = request.query_params
    if "graph" in params and "default" in params:
        raise InvalidParameter("graph", "give either ?graph=IRI or ?default, not both")
    if "graph" in params:
        iri = expand(params["graph"])
        try:
            ox.NamedNode(iri)
        except ValueError as e:
            raise InvalidParameter("graph", f"{iri!r} is not a valid IRI: {e}") from None
        return iri
    if "default" in params:
        if writing:
            raise InvalidParameter("default", "the default graph is the union of the named "
                                   "graphs and cannot be written; name a graph (?graph=IRI)")
        return None
    raise InvalidParameter("graph", "give ?graph=IRI or ?default")


def _read(kb: KnowledgeBase, graph: str | None, accept: str | None, fmt_name: str | None,
          head: bool, client: str | None = None) -> Response:
    if graph is not None and graph not in kb.graphs():
        raise NotFound(f"No graph <{graph}> in the store", iri=graph)
    fmt = negotiation.choose("graph", accept, fmt_name)
    # A named graph, like an export: read in process. The union of all graphs (?default) is
    # as big as the store: a query worker builds it, capped like any answer (413: /export).
    everything = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
    if graph is None:  # the union, built by a query worker: bounded in size and time
        data = kb.query(everything, format=fmt, client=client).data
    else:
        data = kb.dump(fmt, graph=graph) if fmt.supports_datasets is False else kb.query(
            everything, format=fmt, default_graph=[graph], in_process=True).data
    return Response(b"" if head else data, media_type=fmt.media_type,
                    headers={"Content-Length": str(len(data))} if head else None)


@router.get("/store")
async def store_get(request: Request, kb: KB) -> Response:
    """One named graph (`?graph=IRI`), or the union (`?default`), by content negotiation."""
    graph = _graph(request, writing=False)
    return await run_in_threadpool(_read, kb, graph, request.headers.get("accept"),
                                   request.query_params.get("format"), False, client_of(request))


@router.head("/store")
async def store_head(request: Request, kb: KB) -> Response:
    graph = _graph(request, writing=False)
    return await run_in_threadpool(_read, kb, graph, request.headers.get("accept"),
                                   request.query_params.get("format"), True, client_of(request))


async def _write(request: Request, kb: KnowledgeBase, settings, replace: bool) -> Response:
    require_update_token(request, settings)
    graph = _graph(request, writing=True)
    assert graph is not None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = ox.RdfFormat.from_media_type(ctype) if ctype else None
    if fmt is None:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '(none)'} is not an RDF format; send text/turtle, "
            "application/n-triples, application/ld+json or application/rdf+xml")
    body = await request.body()
    existed = graph in await run_in_threadpool(kb.graphs)
    quads = await run_in_threadpool(upload_quads, body, fmt, graph,
                                    allow_hosts=settings.allow_hosts, settings=settings)
    before = f"DROP SILENT GRAPH <{graph}>" if replace else None
    await run_in_threadpool(kb.write, quads, before=before)
    return Response(status_code=204 if existed else 201)


@router.put("/store")
async def store_put(request: Request, kb: KB, settings: SettingsDep) -> Response:
    """Replace a named graph with the body (needs the bearer token)."""
    return await _write(request, kb, settings, replace=True)


@router.post("/store")
async def store_post(request: Request, kb: KB, settings: SettingsDep) -> Response:
    """Add the body's triples to a named graph (needs the bearer token)."""
    return await _write(request, kb, settings, replace=False)


@router.delete("/store")
async def store_delete(request: Request, kb: KB, settings: SettingsDep) -> Response:
    """Drop a named graph (needs the bearer token)."""
    require_update_token(request, settings)
    graph = _graph(request, writing=True)
    if graph not in await run_in_threadpool(kb.graphs):
        raise NotFound(f"No graph <{graph}> in the store", iri=graph)
    await run_in_threadpool(kb.drop_graph, graph)
    return Response(status_code=204)
