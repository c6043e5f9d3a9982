"""``/sparql``: the SPARQL 1.1 Protocol (query and update) and the service description."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api import negotiation
from api.answers import answer_table
from api.deps import KB, SettingsDep, client_of
from api.errors import BadRequest, UnsupportedMediaType, kb_error_handler
from api.security import require_update_token
from api.service import RDFLIB_NAMES, service_description
from api.templating import page_headers, templates
from kb.errors import KbError
from kb.namespaces import expand
from kb.store import KnowledgeBase

router = APIRouter(tags=["sparql"])


async def _run_query(kb: KnowledgeBase, query: str, accept: str | None,
                     format_name: str | None, default_graph: list[str],
                     named: list[str], request: Request | None = None) -> Response:
    if request is not None and format_name is None and negotiation.prefers_html(accept):
        return await _html_answer(request, kb, query, default_graph, named)
    return await _answer(kb, query, accept, format_name, default_graph, named,
                         client_of(request))


async def _answer(kb: KnowledgeBase, query: str, accept: str | None, format_name: str | None,
                  default_graph: list[str], named: list[str], client: str | None) -> Response:
    """The serialized answer to ``query``, in the format ``format_name`` or ``accept`` asks
    for (the route's and ``QueryFastPath``'s one way to answer)."""
    result = await kb.query_async(
        query, format=lambda kind: negotiation.choose(kind, accept, format_name),
        default_graph=default_graph or None, named_graphs=named or None, client=client)
    return Response(result.data, media_type=result.media_type, headers={"Vary": "Accept"})


#: The parameters a GET query may carry to take ``QueryFastPath``.
FAST_PARAMETERS = frozenset({"query", "default-graph-uri", "named-graph-uri", "format"})


class QueryFastPath:
    """``GET /sparql?query=…`` answered in plain ASGI, before FastAPI's routing and
    dependency injection: the same answer as ``sparql_get`` (``_answer``), about 0.3 ms
    sooner. Measured on a 1M-triple store with the query workers on their memory copies, a
    label lookup took 1.50 ms through FastAPI and 1.19 ms here (`bench sparql` compares the
    server with Oxigraph's, whose whole answer takes 0.53 ms). ``sparql_get`` stays the
    documented route (OpenAPI) and answers every other request: a browser's for an HTML
    page, the service description, a POST, a repeated or unknown parameter, another method.
    It sits inside the CORS middleware, which adds its headers as to any answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/sparql" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        try:
            if (taken := self._taken(scope)) is None:
                response = None
            else:
                client = scope["client"][0] if scope.get("client") else None
                response = await _answer(scope["app"].state.kb, *taken, client)
        except KbError as e:
            response = await kb_error_handler(Request(scope, receive), e)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    @staticmethod
    def _taken(scope: Scope) -> tuple | None:
        """The query's text, Accept, format and dataset, when this path answers it."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:  # the first of each, as Starlette reads them
            headers.setdefault(name, value)
        fields: dict[str, list[str]] = {}
        for key, value in parse_qsl(scope["query_string"].decode("latin-1"),
                                    keep_blank_values=True):
            fields.setdefault(key, []).append(value)
        queries, formats = fields.get("query", []), fields.get("format", [])
        if not fields.keys() <= FAST_PARAMETERS or len(queries) != 1 or len(formats) > 1:
            return None
        accept = headers[b"accept"].decode("latin-1") if b"accept" in headers else None
        format_name = formats[0] if formats else None
        if format_name is None and negotiation.prefers_html(accept):
            return None
        return (queries[0], accept, format_name, _iris(fields.get("default-graph-uri", [])),
                _iris(fields.get("named-graph-uri", [])))


async def _html_answer(request: Request, kb: KnowledgeBase, query: str,
                       default_graph: list[str], named: list[str]) -> Response:
    """The answer as an HTML table, for a browser (the query form without scripts): IRIs
    link to their resource pages, at most ``max_rows`` rows. The answer (up to
    ``max_result_bytes``) is read on a thread, keeping only the rows shown."""
    from urllib.parse import urlencode

    result = await kb.query_async(
        query, format=lambda kind: "nt" if kind == "graph" else "json",
        default_graph=default_graph or None, named_graphs=named or None,
        client=client_of(request))
    limit = request.app.state.settings.max_rows
    boolean, columns, rows, total = await run_in_threadpool(answer_table, result, limit)
    formats = ["ttl", "nt", "jsonld", "rdfxml", "trig", "nq"] if result.kind == "graph" else [
        "json", "csv", "tsv", "xml"]
    downloads = [(f, "/sparql?" + urlencode({"format": f, "query": query})) for f in formats]
    return await run_in_threadpool(  # rendering 10,000 rows takes a while: not on the loop
        templates.TemplateResponse, request, "answer.html", {
            "query": query, "kind": result.kind, "boolean": boolean, "columns": columns,
            "rows": rows, "total": total, "downloads": downloads},
        headers={**page_headers(), "Vary": "Accept"})


def _describe_service(kb: KnowledgeBase, request: Request) -> Response:
    accept = request.headers.get("accept")
    fmt_name = request.query_params.get("format")
    # The endpoint's IRI from the server's own address, never from the client's Host header.
    host, port = request.scope.get("server") or ("localhost", None)
    endpoint = f"{request.url.scheme}://{host}{f':{port}' if port else ''}/sparql"
    description = service_description(kb, endpoint)
    if fmt_name is None and negotiation.prefers_html(accept):
        stats = kb.stats()
        return templates.TemplateResponse(request, "service.html", {
            "endpoint": endpoint, "results": [m for m, _ in negotiation.RESULTS],
            "graphs": [m for m, _ in negotiation.GRAPHS], "stats": stats},
            headers={**page_headers(), "Vary": "Accept"})
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

# The protocol's parameters, declared for the OpenAPI (and its fuzzing). Each is a list: the
# protocol allows several graph IRIs, and two queries in one request are an error (400) that
# the handler must see. POST bodies are read by hand (a form, or the text itself, both UTF-8
# only), so the body is declared in the OpenAPI only.
Queries = Annotated[list[str] | None, Query(alias="query", description=(
    "the SPARQL query (one); with none, GET answers the service description"))]
DefaultGraphs = Annotated[list[str] | None, Query(alias="default-graph-uri", description=(
    "graphs whose merge is the query's default graph (IRIs or the KB's short names)"))]
NamedGraphs = Annotated[list[str] | None, Query(alias="named-graph-uri", description=(
    "graphs the query may name with GRAPH"))]
FormatName = Annotated[str | None, Query(alias="format", description=(
    "a result format by name (json, xml, csv, tsv, ttl, nt, jsonld, rdfxml, trig, nq), "
    "over the Accept header"))]
_TEXT = {"schema": {"type": "string"}}
_FORM = {"schema": {"type": "object", "properties": {
    "query": {"type": "string"}, "update": {"type": "string"},
    "default-graph-uri": {"type": "array", "items": {"type": "string"}},
    "named-graph-uri": {"type": "array", "items": {"type": "string"}}}}}
POST_BODY = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": _FORM,
    "application/sparql-query": _TEXT,
    "application/sparql-update": _TEXT}}}


@router.get("/sparql")
async def sparql_get(request: Request, kb: KB, query: Queries = None,
                     default_graph_uri: DefaultGraphs = None, named_graph_uri: NamedGraphs = None,
                     format: FormatName = None) -> Response:
    """SPARQL query by GET (`query`, `default-graph-uri`, `named-graph-uri`); with no query,
    the service description (sd: and VoID), as a page for browsers."""
    if "update" in request.query_params:
        raise BadRequest("SPARQL Update is only accepted by POST (the protocol forbids "
                         "updates by GET)")
    text = _one(query or [], "query")
    if text is None:
        return await run_in_threadpool(_describe_service, kb, request)
    return await _run_query(kb, text, request.headers.get("accept"), format,
                            _iris(default_graph_uri or []), _iris(named_graph_uri or []),
                            request)


@router.post("/sparql", openapi_extra=POST_BODY)
async def sparql_post(request: Request, kb: KB, settings: SettingsDep,
                      default_graph_uri: DefaultGraphs = None,
                      named_graph_uri: NamedGraphs = None,
                      format: FormatName = None) -> Response:
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
    defaults, named = list(default_graph_uri or []), list(named_graph_uri or [])
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
    return await _run_query(kb, query, request.headers.get("accept"), format,
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
