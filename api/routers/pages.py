"""Pages for people: the query page at ``/`` and resource pages (``/resource?iri=…`` and
the KB's own IRIs under ``/id/…``), each with an RDF twin by Accept or ``format``."""

from __future__ import annotations

import itertools
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from rdflib import OWL, RDF, RDFS, SKOS, BNode, Graph, URIRef
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB, SettingsDep
from api.templating import page_headers, templates
from kb import resources
from kb.bundled import COMPETENCY_DIR, ONTOLOGY_FILE
from kb.errors import KbError, NotFound
from kb.namespaces import (
    ANALYTICS_GRAPH,
    ID,
    INFERRED_GRAPH,
    MS,
    PREFIXES,
    expand,
    local_name,
    sparql_prefixes,
)
from kb.queries import load_saved_queries
from kb.sparql_text import bind_values

router = APIRouter(tags=["pages"])
RDF_FORMATS = {"ttl": "turtle", "turtle": "turtle", "jsonld": "json-ld", "nt": "nt",
               "rdfxml": "xml"}
MEDIA = {"turtle": "text/turtle", "json-ld": "application/ld+json", "nt": "application/n-triples",
         "xml": "application/rdf+xml"}


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html",
                                      {"title": title, "message": message},
                                      status_code=status, headers=page_headers())


#: The query in the editor when the page opens. It declares its prefix, so that the form
#: also works as a plain GET to /sparql when scripts do not run.
EXAMPLE = (f"PREFIX ms: <{MS}>\n\nSELECT ?country ?category WHERE {{\n"
           "  ?incident ms:actorCountry ?country ; ms:productCategory ?category .\n} LIMIT 20")
TERM_TYPES = {OWL.Class: "class", OWL.ObjectProperty: "object property",
              OWL.DatatypeProperty: "datatype property", RDF.Property: "property",
              OWL.AnnotationProperty: "annotation property"}


@cache
def _examples() -> list[dict[str, str]]:
    """The competency questions, each with its parameters bound to their defaults."""
    return [{"title": q.title, "question": q.question,
             "sparql": bind_values(q.sparql, q.params) if q.params else q.sparql}
            for q in load_saved_queries(COMPETENCY_DIR)]


@cache
def ontology_terms() -> list[dict[str, str]]:
    """The ontology's classes and properties (``ms:`` local name, label, kind), for the
    editor's completion; read from the bundled ontology file."""
    graph = Graph().parse(ONTOLOGY_FILE)
    terms = {}
    for kind, name in TERM_TYPES.items():
        for term in graph.subjects(RDF.type, kind):
            if isinstance(term, URIRef) and str(term).startswith(str(MS)):
                label = graph.value(term, RDFS.label)
                terms[str(term)[len(MS):]] = {"name": str(term)[len(MS):], "kind": name,
                                              "label": str(label) if label is not None else ""}
    return sorted(terms.values(), key=lambda t: t["name"].lower())


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, kb: KB, settings: SettingsDep,
                query: str | None = None) -> HTMLResponse:
    """The query page: an editor, the competency questions as examples, results, downloads.
    ``query``: the permalink of a query (``/?query=…``), put in the editor (and run by the
    page's script)."""
    stats = await run_in_threadpool(kb.stats)
    terms = await run_in_threadpool(ontology_terms)
    data = {"prefixes": sparql_prefixes(), "prefix_map": PREFIXES, "terms": terms,
            "examples": _examples(), "max_rows": settings.max_rows}
    return templates.TemplateResponse(request, "index.html", {
        "data": data, "example": EXAMPLE if query is None else query,
        "triples": f"{stats.triples:,}", "graphs": len(stats.graphs)}, headers=page_headers())


RESOURCE_OFFERS = ["text/html", "text/turtle", "application/ld+json", "application/n-triples",
                   "application/rdf+xml", "application/json"]
BY_MEDIA = {"text/turtle": "turtle", "application/ld+json": "json-ld",
            "application/n-triples": "nt", "application/rdf+xml": "xml",
            "application/json": "json-ld"}


@router.get("/resource", include_in_schema=True)
async def resource(request: Request, kb: KB, iri: str, format: str | None = None) -> Response:
    """Everything about one IRI (or short name: `country:NL`): HTML for browsers (every
    statement in both directions with its sources), Turtle, JSON-LD or N-Triples by Accept
    or `format`."""
    iri = expand(iri)
    wanted = RDF_FORMATS.get(format or "") or BY_MEDIA.get(
        negotiation.require(request.headers.get("accept"), RESOURCE_OFFERS))
    if wanted is not None:
        # At most KB_MAX_ROWS statements (the engine stops there: a class with a million
        # members costs what one with 10,000 does); X-Truncated says when more were left out.
        limit = request.app.state.settings.max_rows
        graph = await run_in_threadpool(
            kb.construct, "CONSTRUCT { ?x ?p ?o . ?s ?q ?x } WHERE { { ?x ?p ?o } UNION "
            f"{{ ?s ?q ?x }} }} LIMIT {limit + 1}", x=URIRef(iri))
        if len(graph) == 0:
            raise NotFound(f"Nothing in the knowledge base mentions <{iri}>", iri=iri)
        headers = {"Vary": "Accept"}
        if len(graph) > limit:
            graph.remove(next(iter(graph)))
            headers["X-Truncated"] = str(limit)
        for prefix, namespace in PREFIXES.items():
            graph.bind(prefix, namespace)
        return await run_in_threadpool(lambda: Response(
            graph.serialize(format=wanted), media_type=MEDIA[wanted], headers=headers))
    try:
        described = await run_in_threadpool(resources.describe, kb, iri)
        blanks = await run_in_threadpool(_blank_values, kb, iri)
    except NotFound as e:
        return error_page(request, 404, "Not found", str(e))
    except KbError as e:
        return error_page(request, 422, "Bad request", str(e))
    return templates.TemplateResponse(request, "resource.html", {"r": resource_view(
        described, blanks)}, headers={**page_headers(), "Vary": "Accept"})


#: The blank nodes ``?x`` points to (quantities, amounts), described one level down.
BLANK_VALUES = f"""
SELECT DISTINCT ?b ?p ?o ?plabel ?olabel WHERE {{
  ?x ?link ?b FILTER(isBlank(?b)) ?b ?p ?o
  OPTIONAL {{ ?p <{RDFS.label}> ?plabel FILTER(LANGMATCHES(LANG(?plabel), "en")) }}
  OPTIONAL {{ ?o <{RDFS.label}> ?olabel }}
}} ORDER BY ?b ?p ?o LIMIT 2000"""


def _blank_values(kb, iri: str) -> dict[str, list[dict[str, object]]]:
    """Blank node (as ``describe`` names it) -> its statements (property, value)."""
    nested: dict[str, list[dict[str, object]]] = {}
    for row in kb.select(BLANK_VALUES, x=URIRef(iri)):
        value = row["o"]
        nested.setdefault(str(row["b"]), []).append({
            "predicate": str(row["p"]), "predicate_label": str(row.get("plabel") or "")
            or local_name(str(row["p"])), "value": str(value),
            "is_iri": isinstance(value, URIRef), "is_blank": isinstance(value, BNode),
            "value_label": str(row["olabel"]) if "olabel" in row else None,
            "language": getattr(value, "language", None)})
    return nested


def resource_view(described: dict, blanks: dict[str, list[dict[str, object]]]) -> dict:
    """``describe``'s statements arranged for the page: one row per (direction, property),
    each distinct value once with every source that states it; values that sources state
    differently set side by side (``disagree``); blank nodes as nested descriptions; types
    are IRIs only (the reasoner's class expressions are blank nodes); analytics scores left
    out (derived, not stated by a source)."""
    rows: dict[tuple[str, str], dict] = {}
    types: list[str] = []
    for s in described["statements"]:
        if s["graph"] == str(ANALYTICS_GRAPH) and s["direction"] == "in":
            continue  # "score of": a derived number, not a statement about the entity
        blank = not s["is_iri"] and s["value"] in blanks
        if s["predicate"] == str(RDF.type) and s["direction"] == "out":
            if not s["is_iri"]:
                continue  # an anonymous class expression the reasoner derived
            if s["value"] not in types:
                types.append(s["value"])
        row = rows.setdefault((s["direction"], s["predicate"]), {
            "direction": s["direction"], "predicate": s["predicate"],
            "predicate_label": s["predicate_label"], "values": {}})
        key = ("_:", s["value"]) if blank else (s["value"], s["language"])
        value = row["values"].setdefault(key, {
            "value": s["value"], "is_iri": s["is_iri"], "value_label": s["value_label"],
            "language": s["language"], "nested": blanks.get(s["value"]) if blank else None,
            "sources": []})
        source = s["source"] or s["graph"]
        if source not in value["sources"]:
            value["sources"].append(source)
    for row in rows.values():
        row["values"] = list(row["values"].values())
        row["disagree"] = row["predicate"] not in _OWN_WORDS and _disagree(row["values"])
    return {"iri": described["iri"], "label": described["label"], "types": types,
            "rows": list(rows.values())}


#: Properties whose values are each source's own words (its evidence, quotation, printed
#: form, names, comments): several of them are not a disagreement.
_OWN_WORDS = frozenset(str(MS[name]) for name in (
    "evidence", "evidenceLocator", "evidenceUnavailable", "quotation", "asPrinted",
    "datePrinted")) | {str(RDFS.comment), str(SKOS.altLabel)}


def _disagree(values: list[dict]) -> bool:
    """True when sources give different literal values for one property (in one language):
    two values, each from a source that does not state the other (what the reasoner derived
    does not count)."""
    literals = [v for v in values if not v["is_iri"] and v["nested"] is None]
    inferred = str(INFERRED_GRAPH)
    for a, b in itertools.combinations(literals, 2):
        if a["language"] != b["language"]:
            continue
        only_a = set(a["sources"]) - set(b["sources"]) - {inferred}
        only_b = set(b["sources"]) - set(a["sources"]) - {inferred}
        if only_a and only_b:
            return True
    return False


@router.get("/id/{path:path}", include_in_schema=False)
async def dereference(path: str) -> RedirectResponse:
    """The KB's own IRIs dereference: 303 to the resource page of the full IRI."""
    from urllib.parse import quote

    return RedirectResponse(f"/resource?iri={quote(str(ID) + path, safe='')}", status_code=303)
