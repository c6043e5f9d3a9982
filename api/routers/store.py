"""``/store``: the SPARQL 1.1 Graph Store HTTP Protocol (GET, HEAD, PUT, POST, DELETE)."""

from __future__ import annotations

from typing import Annotated

import pyoxigraph as ox
from fastapi import APIRouter, Query, Request, Response
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

# The protocol's parameters, declared for the OpenAPI (and its fuzzing).
GraphParam = Annotated[str | None, Query(alias="graph", description=(
    "the named graph (an IRI or the KB's short name, e.g. source/x)"))]
DefaultParam = Annotated[str | None, Query(alias="default", description=(
    "the default graph (the union of the named graphs; read only): give it with no value"))]
FormatName = Annotated[str | None, Query(alias="format", description=(
    "an RDF format by name (ttl, nt, jsonld, rdfxml, trig, nq), over the Accept header"))]
#: Bodies of PUT and POST: the graph's triples in one of the engine's RDF formats.
RDF_BODY = {"requestBody": {"required": True, "content": {
    media: {"schema": {"type": "string"}} for media in (
        "text/turtle", "application/n-triples", "application/ld+json", "application/rdf+xml")}}}


def _graph(graph: str | None, default: str | None, *, writing: bool) -> str | None:
    if graph is not None and default is not None:
        raise InvalidParameter("graph", "give either ?graph=IRI or ?default, not both")
    if graph is not None:
        iri = expand(graph)
        try:
            ox.NamedNode(iri)
        except ValueError as e:
            raise InvalidParameter("graph", f"{iri!r} is not a valid IRI: {e}") from None
        return iri
    if default is not None:
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
async def store_get(request: Request, kb: KB, graph: GraphParam = None,
                    default: DefaultParam = None, format: FormatName = None) -> Response:
    """One named graph (`?graph=IRI`), or the union (`?default`), by content negotiation."""
    iri = _graph(graph, default, writing=False)
    return await run_in_threadpool(_read, kb, iri, request.headers.get("accept"), format,
                                   False, client_of(request))


@router.head("/store")
async def store_head(request: Request, kb: KB, graph: GraphParam = None,
                     default: DefaultParam = None, format: FormatName = None) -> Response:
    iri = _graph(graph, default, writing=False)
    return await run_in_threadpool(_read, kb, iri, request.headers.get("accept"), format,
                                   True, client_of(request))


async def _write(request: Request, kb: KnowledgeBase, settings, graph_param: str | None,
                 default: str | None, replace: bool) -> Response:
    require_update_token(request, settings)
    graph = _graph(graph_param, default, writing=True)
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


@router.put("/store", openapi_extra=RDF_BODY)
async def store_put(request: Request, kb: KB, settings: SettingsDep, graph: GraphParam = None,
                    default: DefaultParam = None) -> Response:
    """Replace a named graph with the body (needs the bearer token)."""
    return await _write(request, kb, settings, graph, default, replace=True)


@router.post("/store", openapi_extra=RDF_BODY)
async def store_post(request: Request, kb: KB, settings: SettingsDep, graph: GraphParam = None,
                     default: DefaultParam = None) -> Response:
    """Add the body's triples to a named graph (needs the bearer token)."""
    return await _write(request, kb, settings, graph, default, replace=False)


@router.delete("/store")
async def store_delete(request: Request, kb: KB, settings: SettingsDep,
                       graph: GraphParam = None, default: DefaultParam = None) -> Response:
    """Drop a named graph (needs the bearer token)."""
    require_update_token(request, settings)
    iri = _graph(graph, default, writing=True)
    if iri not in await run_in_threadpool(kb.graphs):
        raise NotFound(f"No graph <{iri}> in the store", iri=iri)
    await run_in_threadpool(kb.drop_graph, iri)
    return Response(status_code=204)
