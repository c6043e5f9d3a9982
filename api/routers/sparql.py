"""``/sparql``: the SPARQL 1.1 Protocol (query and update) and the service description."""

from __future__ import annotations

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep, client_of
from api.errors import BadRequest, UnsupportedMediaType
from api.security import require_update_token
from kb.engine import Result, parse_result
from kb.namespaces import expand
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
    accept = request.headers.get("accept")
    fmt_name = request.query_params.get("format")
    # The endpoint's IRI from the server's own address, never from the client's Host header.
    host, port = request.scope.get("server") or ("localhost", None)
    endpoint = f"{request.url.scheme}://{host}{f':{port}' if port else ''}/sparql"
    description = service_description(kb, endpoint)
    if fmt_name is None and negotiation.prefers_html(accept):
        from api.routers.pages import _headers, templates

        stats = kb.stats()
        return templates.TemplateResponse(request, "service.html", {
            "endpoint": endpoint, "results": [m for m, _ in negotiation.RESULTS],
            "graphs": [m for m, _ in negotiation.GRAPHS], "stats": stats},
            headers={**_headers(), "Vary": "Accept"})
    fmt = negotiation.choose("graph", accept, fmt_name)
    data = description.serialize(format=RDFLIB_NAMES[fmt.name])
    return Response(data, media_type=fmt.media_type, headers={"Vary": "Accept"})


def _one(values: list[str], name: str) -> str | None:
    """The single value of a protocol parameter.

    Raises:
        BadRequest: the parameter is given more than once.
    """
    if len(values) > 1:
        raise BadRequest(f"{len(values)} '{name}' parameters; the SPARQL protocol takes one "
                         f"{name} per request")
    return values[0] if values else None


def _utf8(body: bytes, ctype_header: str) -> str:
    """A direct POST body as text: UTF-8 is the only encoding the protocol allows.

    Raises:
        BadRequest: another charset is declared, or the body is not valid UTF-8.
    """
    for param in ctype_header.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(' "').lower() not in ("utf-8",
                                                                                    "utf8"):
            raise BadRequest(f"The body is declared as {value.strip()}; the SPARQL protocol "
                             "takes UTF-8 only")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"The body is not UTF-8: byte {e.start} (0x{body[e.start]:02x}) "
                         "starts no UTF-8 character; send the query as UTF-8") from None


def _iris(values: list[str]) -> list[str]:
    """Graph IRIs of the protocol's dataset parameters; the KB's short names expanded."""
    return [expand(v) for v in values]


#: Parameters of SPARQL Update's dataset, which this endpoint does not take.
UPDATE_DATASET = ("using-graph-uri", "using-named-graph-uri")


@router.get("/sparql")
async def sparql_get(request: Request, kb: KB) -> Response:
    """SPARQL query by GET (`query`, `default-graph-uri`, `named-graph-uri`); with no query,
    the service description (sd: and VoID), as a page for browsers."""
    params = request.query_params
    if "update" in params:
        raise BadRequest("SPARQL Update is only accepted by POST (the protocol forbids "
                         "updates by GET)")
    query = _one(params.getlist("query"), "query")
    if query is None:
        return await run_in_threadpool(_describe_service, kb, request)
    return await _run_query(
        kb, query, request.headers.get("accept"), params.get("format"),
        _iris(params.getlist("default-graph-uri")), _iris(params.getlist("named-graph-uri")),
        request)


@router.post("/sparql")
async def sparql_post(request: Request, kb: KB, settings: SettingsDep) -> Response:
    """SPARQL query or update by POST: a form (`query=` or `update=`), or the text itself as
    `application/sparql-query` / `application/sparql-update` (UTF-8). Updates need the
    bearer token."""
    ctype_header = request.headers.get("content-type", "")
    ctype = ctype_header.split(";")[0].strip().lower()
    params = request.query_params
    for name in ("query", "update"):
        if name in params:
            raise BadRequest(f"'{name}' in the URL of a POST: send it in the body (a form "
                             f"field, or the text as application/sparql-{name})")
    queries: list[str] = []
    updates: list[str] = []
    defaults, named = params.getlist("default-graph-uri"), params.getlist("named-graph-uri")
    using = [n for n in UPDATE_DATASET if n in params]
    if ctype == "application/sparql-query":
        queries.append(_utf8(await request.body(), ctype_header))
    elif ctype == "application/sparql-update":
        updates.append(_utf8(await request.body(), ctype_header))
    elif ctype == "application/x-www-form-urlencoded":
        form = await _form(request)
        queries, updates = form.get("query", []), form.get("update", [])
        defaults += form.get("default-graph-uri", [])
        named += form.get("named-graph-uri", [])
        using += [n for n in UPDATE_DATASET if n in form]
    else:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '(none)'} is not a SPARQL request; send a form "
            "(application/x-www-form-urlencoded) or the text as application/sparql-query "
            "or application/sparql-update")
    query, update = _one(queries, "query"), _one(updates, "update")
    if query is None and update is None:
        raise BadRequest("No 'query' and no 'update' in the request; send one of them")
    if query is not None and update is not None:
        raise BadRequest("Both 'query' and 'update' in one request; send one of them")
    if update is not None:
        if using or defaults or named:
            given = ", ".join(using or ["default-graph-uri/named-graph-uri"])
            raise BadRequest(f"{given} with an update: this endpoint takes the update's "
                             "dataset from the update itself (USING, WITH, GRAPH)")
        require_update_token(request, settings)
        await run_in_threadpool(kb.update, update)
        return Response(status_code=204)
    assert query is not None
    return await _run_query(kb, query, request.headers.get("accept"), params.get("format"),
                            _iris(defaults), _iris(named), request)


async def _form(request: Request) -> dict[str, list[str]]:
    """The fields of a URL-encoded form body, each with all its values, decoded as UTF-8.

    Raises:
        BadRequest: a field is not UTF-8 once percent-decoded.
    """
    from urllib.parse import parse_qsl

    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as e:
        raise BadRequest(f"The form is not URL-encoded UTF-8 (byte {e.start} of the body, or "
                         "of a field once percent-decoded, is not UTF-8)") from None
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    return fields
