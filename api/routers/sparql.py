"""``/sparql``: the SPARQL 1.1 Protocol (query and update) and the service description."""

from __future__ import annotations

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep, client_of
from api.errors import UnsupportedMediaType
from api.security import require_update_token
from kb.engine import Result, parse_result
from kb.errors import InvalidParameter
from kb.store import KnowledgeBase

router = APIRouter(tags=["sparql"])

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
RDFLIB_NAMES = {"Turtle": "turtle", "N-Triples": "nt", "JSON-LD": "json-ld",
                "RDF/XML": "xml", "TriG": "trig", "N-Quads": "nquads", "N3": "n3"}


async def _run_query(kb: KnowledgeBase, query: str, accept: str | None,
                     format_name: str | None, default_graph: list[str],
                     named: list[str], request: Request | None = None) -> Response:
    if request is not None and format_name is None and negotiation.prefers_html(accept):
        return await _html_answer(request, kb, query, default_graph, named)
    result = await kb.query_async(
        query, format=lambda kind: negotiation.choose(kind, accept, format_name),
        default_graph=default_graph or None, named_graphs=named or None,
        client=client_of(request),
    )
    return Response(result.data, media_type=result.media_type,
                    headers={"Vary": "Accept"})


async def _html_answer(request: Request, kb: KnowledgeBase, query: str,
                       default_graph: list[str], named: list[str]) -> Response:
    """The answer as an HTML table, for a browser (the query form without scripts): IRIs
    link to their resource pages, at most ``max_rows`` rows. The answer (up to
    ``max_result_bytes``) is read on a thread, keeping only the rows shown."""
    from urllib.parse import urlencode

    from api.routers.pages import _headers, templates

    result = await kb.query_async(
        query, format=lambda kind: "nt" if kind == "graph" else "json",
        default_graph=default_graph or None, named_graphs=named or None,
        client=client_of(request))
    limit = request.app.state.settings.max_rows
    boolean, columns, rows, total = await run_in_threadpool(_table, result, limit)
    formats = ["ttl", "nt", "jsonld", "rdfxml", "trig", "nq"] if result.kind == "graph" else [
        "json", "csv", "tsv", "xml"]
    downloads = [(f, "/sparql?" + urlencode({"format": f, "query": query})) for f in formats]
    return await run_in_threadpool(  # rendering 10,000 rows takes a while: not on the loop
        templates.TemplateResponse, request, "answer.html", {
            "query": query, "kind": result.kind, "boolean": boolean, "columns": columns,
            "rows": rows, "total": total, "downloads": downloads},
        headers={**_headers(), "Vary": "Accept"})


def _table(result: Result, limit: int) -> tuple[bool | None, list[str], list[list], int]:
    """(boolean, columns, the first ``limit`` rows as cells, how many rows in all), read
    with the engine's parsers one row at a time."""
    raw = parse_result(result)
    if isinstance(raw, ox.QueryBoolean):
        return bool(raw), [], [], 0
    rows: list[list] = []
    total = 0
    if isinstance(raw, ox.QuerySolutions):
        columns = [v.value for v in raw.variables]
        for solution in raw:
            if total < limit:
                rows.append([_cell(solution[c]) for c in columns])
            total += 1
        return None, columns, rows, total
    for t in raw:  # type: ignore[attr-defined]
        if total < limit:
            rows.append([_cell(t.subject), _cell(t.predicate), _cell(t.object)])
        total += 1
    return None, ["subject", "predicate", "object"], rows, total


def _link(iri: str) -> str | None:
    from urllib.parse import quote

    return f"/resource?iri={quote(iri, safe='')}" if iri.startswith(("http://", "https://")) \
        else None


def _cell(term: object) -> dict[str, str | None]:
    if term is None:  # an unbound variable
        return {"text": "", "href": None}
    if isinstance(term, ox.NamedNode):
        return {"text": term.value, "href": _link(term.value)}
    return {"text": term.value if isinstance(term, ox.Literal) else str(term), "href": None}


def service_description(kb: KnowledgeBase, endpoint: str) -> Graph:
    """The sd: description of the endpoint, with VoID statistics per named graph."""
    g = Graph()
    g.bind("sd", SD)
    g.bind("void", VOID)
    service = URIRef(endpoint)
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, service))
    for language in (SD.SPARQL11Query, SD.SPARQL11Update):
        g.add((service, SD.supportedLanguage, language))
    g.add((service, SD.feature, SD.UnionDefaultGraph))
    for media, _ in negotiation.RESULTS + negotiation.GRAPHS:
        g.add((service, SD.resultFormat, Literal(media)))
    dataset = BNode()
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    stats = kb.stats()
    default = BNode()
    g.add((dataset, SD.defaultGraph, default))
    g.add((default, RDF.type, SD.Graph))
    g.add((default, VOID.triples, Literal(stats.triples, datatype=XSD.integer)))
    for count in stats.graphs:
        named, graph = BNode(), BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(count.graph)))
        g.add((named, SD.graph, graph))
        g.add((graph, RDF.type, SD.Graph))
        g.add((graph, VOID.triples, Literal(count.triples, datatype=XSD.integer)))
    return g


def _describe_service(kb: KnowledgeBase, request: Request) -> Response:
    fmt = negotiation.choose("graph", request.headers.get("accept"),
                             request.query_params.get("format"))
    endpoint = str(request.url.remove_query_params(["format"]))
    data = service_description(kb, endpoint).serialize(format=RDFLIB_NAMES[fmt.name])
    return Response(data, media_type=fmt.media_type)


@router.get("/sparql")
async def sparql_get(request: Request, kb: KB) -> Response:
    """SPARQL query by GET (`query`, `default-graph-uri`, `named-graph-uri`); with no query,
    the service description (sd: and VoID)."""
    params = request.query_params
    if "update" in params:
        raise InvalidParameter("update", "SPARQL Update is only accepted by POST")
    query = params.get("query")
    if query is None:
        return await run_in_threadpool(_describe_service, kb, request)
    return await _run_query(
        kb, query, request.headers.get("accept"), params.get("format"),
        params.getlist("default-graph-uri"), params.getlist("named-graph-uri"), request)


@router.post("/sparql")
async def sparql_post(request: Request, kb: KB, settings: SettingsDep) -> Response:
    """SPARQL query or update by POST: a form (`query=` or `update=`), or the text itself as
    `application/sparql-query` / `application/sparql-update`. Updates need the bearer token."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    params = request.query_params
    query = update = None
    defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    if ctype == "application/sparql-query":
        query = (await request.body()).decode("utf-8")
    elif ctype == "application/sparql-update":
        update = (await request.body()).decode("utf-8")
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        query = form.get("query")
        update = form.get("update")
        defaults += [str(v) for v in form.getlist("default-graph-uri")]
        named += [str(v) for v in form.getlist("named-graph-uri")]
        query = str(query) if query is not None else None
        update = str(update) if update is not None else None
    else:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '(none)'} is not a SPARQL request; send a form or "
            "application/sparql-query or application/sparql-update")
    if (query is None) == (update is None):
        raise InvalidParameter("query", "send exactly one of 'query' and 'update'")
    if update is not None:
        require_update_token(request, settings)
        await run_in_threadpool(kb.update, update)
        return Response(status_code=204)
    assert query is not None
    return await _run_query(kb, query, request.headers.get("accept"), params.get("format"),
                            defaults, named, request)
