"""Browsing pages: ``/classes``, ``/classes/{curie}``, ``/incidents``, ``/figures`` and
``/map``. Each is an HTML page with a JSON and a CSV twin, Datasette-style: the same URL with
``.json`` or ``.csv``, or ``_format=json|csv``, or an ``Accept`` header. Thin: the queries
and drawings are in ``kb.browse``, ``kb.incidents`` (its CSV in ``kb.incident_table``),
``kb.figure_table``, ``kb.charts`` and ``kb.worldmap``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import negotiation
from api.deps import KB
from kb import browse, charts, incidents, worldmap
from kb.errors import InvalidParameter
from kb.figure_table import COLUMNS as FIGURE_COLUMNS
from kb.figure_table import figure_rows
from kb.incident_table import export_incidents

router = APIRouter(tags=["browse"])
OFFERS = ["text/html", "application/json", "text/csv"]
_BY_MEDIA = {"text/html": "html", "application/json": "json", "text/csv": "csv"}


def _format(request: Request, suffix: str | None) -> str:
    """html, json or csv: from the path's suffix, else ``_format``, else the Accept header.

    Raises:
        InvalidParameter: an unknown ``_format``.
        NotAcceptable: nothing fits the Accept header.
    """
    name = suffix or request.query_params.get("_format")
    if name is not None:
        if name not in ("json", "csv", "html"):
            raise InvalidParameter("_format", f"{name!r} is not one of json, csv, html")
        return name
    return _BY_MEDIA[negotiation.require(request.headers.get("accept"), OFFERS)]


def _split(name: str) -> tuple[str, str | None]:
    """``ms:Recall.json`` -> (``ms:Recall``, ``json``)."""
    for ext in ("json", "csv"):
        if name.endswith("." + ext):
            return name[: -len(ext) - 1], ext
    return name, None


def _csv(columns: list[str], rows: list[list[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return _csv_text(out.getvalue(), filename)


def _csv_text(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Vary": "Accept", "Content-Disposition": f'attachment; filename="{filename}.csv"'})


def _page(request: Request, template: str, context: dict[str, Any]) -> Response:
    from api.templating import page_headers, templates

    return templates.TemplateResponse(request, template, context,
                                      headers={**page_headers(), "Vary": "Accept"})


def _twins(request: Request, path: str) -> dict[str, str]:
    """The page's JSON and CSV twins, with its query string."""
    query = request.url.query
    return {ext: f"{path}.{ext}" + (f"?{query}" if query else "") for ext in ("json", "csv")}


def _twin_routes(path: str, name: str) -> Callable:
    """Serve ``handler(request, kb, suffix)`` at ``path`` (suffix None), ``path.json`` and
    ``path.csv``; the page's docstring documents all three."""
    def register(handler: Callable) -> Callable:
        def serve(ext: str | None) -> Callable:
            async def route(request: Request, kb: KB) -> Response:
                return await handler(request, kb, ext)
            route.__doc__ = handler.__doc__
            return route

        for ext in (None, "json", "csv"):
            route = serve(ext)
            router.add_api_route(f"{path}.{ext}" if ext else path, route, methods=["GET"],
                                 name=f"{name}_{ext}" if ext else name,
                                 include_in_schema=ext is None)
        return handler
    return register


@_twin_routes("/classes", "classes")
async def list_classes(request: Request, kb: Any, _suffix: str | None) -> Response:
    """Every class with instances, with its number of distinct instances (HTML, JSON, CSV)."""
    fmt = _format(request, _suffix)
    rows = await run_in_threadpool(browse.classes, kb)
    if fmt == "json":
        return JSONResponse(rows, headers={"Vary": "Accept"})
    if fmt == "csv":
        return _csv(["class", "curie", "label", "instances"],
                    [[r["class"], r["curie"], r["label"], r["instances"]] for r in rows],
                    "classes")
    return _page(request, "classes.html", {"classes": rows, "twins": _twins(request, "/classes")})


@router.get("/classes/{curie}")
async def class_instances(request: Request, kb: KB, curie: str, sort: str = "label",
                          desc: bool = False, page: int = 1, size: int = 50,
                          country: str | None = None, product: str | None = None,
                          period: str | None = None, source: str | None = None) -> Response:
    """Every instance of a class (`ms:QualityIncident`, or a full IRI), a page at a time:
    sorted by `sort` (label, iri, country, product, date; `desc=true` reverses), filtered by
    the facets `country`, `product`, `period` (`2020-03`) and `source` (a graph). Add
    `.json` or `.csv` to the class name for the twins."""
    curie, suffix = _split(curie)
    fmt = _format(request, suffix)
    if not 1 <= page <= 1_000_000:
        raise InvalidParameter("page", f"{page} is not between 1 and 1,000,000")
    filters = {k: v for k, v in (("country", country), ("product", product),
                                 ("period", period), ("source", source)) if v}
    result = await run_in_threadpool(lambda: browse.class_page(
        kb, curie, filters=filters, sort=sort, desc=desc, offset=(page - 1) * size, size=size))
    if fmt == "json":
        return JSONResponse({**result.as_dict(), "page": page}, headers={"Vary": "Accept"})
    if fmt == "csv":
        return _csv(["iri", "label", "country", "product", "date", "date_printed", "sources"], [
            [r["iri"], r["label"], " | ".join(c["iri"] for c in r["country"]),
             " | ".join(p["iri"] for p in r["product"]), " | ".join(r["date"]),
             " | ".join(r["printed"]),
             " | ".join(s["iri"] for s in r["source"])] for r in result.rows],
            curie.replace(":", "-"))
    base = {k: v for k, v in (("sort", sort), ("desc", "true" if desc else None),
                              ("size", str(size) if size != 50 else None), *filters.items()) if v}

    def link(**change: object) -> str:
        params = {**base, **{k: str(v) for k, v in change.items() if v is not None}}
        for k in [k for k, v in change.items() if v is None]:
            params.pop(k, None)
        return f"/classes/{curie}?" + urlencode(params)

    sorts = {s: link(sort=s, desc="true" if s == sort and not desc else None, page=None)
             for s in browse.SORTS}
    return _page(request, "class.html", {
        "p": result, "curie": curie, "page": page, "link": link, "sorts": sorts,
        "sort_limit": browse.SORT_LIMIT,
        "twins": _twins(request, f"/classes/{curie}")})


@_twin_routes("/incidents", "incidents")
async def incident_table(request: Request, kb: Any, _suffix: str | None) -> Response:
    """One row per quality incident: its date at its precision, country, product, quantity,
    what went wrong, the standard not met, the replies (China's among them) and the sources
    with their evidence; filters `country` and `product` (IRIs or short names such as
    `country:NL`, `product:face-mask`); a timeline of the same rows. The CSV twin is the
    table `kb export-incidents` writes: edit it and import it with the `incidents` mapping."""
    fmt = _format(request, _suffix)
    country = request.query_params.get("country") or None
    product = request.query_params.get("product") or None
    if fmt == "csv":
        out = io.StringIO()
        await run_in_threadpool(export_incidents, kb, out, country=country, product=product)
        return _csv_text(out.getvalue(), "incidents")
    rows = await run_in_threadpool(incidents.incidents, kb, country=country, product=product)
    if fmt == "json":
        return JSONResponse(rows, headers={"Vary": "Accept"})
    options = await run_in_threadpool(incidents.incident_filters, kb)
    return _page(request, "incidents.html", {
        "rows": rows, "options": options, "country": country or "", "product": product or "",
        "timeline": charts.timeline(rows[: charts.TIMELINE_LANES]),
        "lanes": charts.TIMELINE_LANES, "twins": _twins(request, "/incidents")})


@_twin_routes("/figures", "figures")
async def figure_charts(request: Request, kb: Any, _suffix: str | None) -> Response:
    """Export figures by product and period, each source's number beside the chosen one
    (never added up), as charts with their units; `product` narrows to one category."""
    fmt = _format(request, _suffix)
    product = request.query_params.get("product") or None
    if product:
        from kb.namespaces import expand

        product = expand(product)
    rows = await run_in_threadpool(figure_rows, kb, product=product)
    if fmt == "json":
        return JSONResponse([{k: r[k] for k in (*FIGURE_COLUMNS, "series", "source_label")}
                             for r in rows], headers={"Vary": "Accept"})
    if fmt == "csv":
        return _csv(FIGURE_COLUMNS, [[r[k] for k in FIGURE_COLUMNS] for r in rows], "figures")
    return _page(request, "figures.html", {"rows": rows, "charts": charts.figure_charts(rows),
                                           "twins": _twins(request, "/figures")})


@_twin_routes("/map", "map")
async def world_map(request: Request, kb: Any, _suffix: str | None) -> Response:
    """The countries that returned, complained about, exported or imported supplies,
    coloured by what they did, each linked to its page; drawn offline from shipped shapes."""
    fmt = _format(request, _suffix)
    countries = await run_in_threadpool(worldmap.activities, kb)
    columns = ["iri", "label", "iso", "main", *worldmap.ACTIVITIES]
    if fmt == "json":
        return JSONResponse([{k: c[k] for k in columns} for c in countries],
                            headers={"Vary": "Accept"})
    if fmt == "csv":
        return _csv(columns, [[c[k] for k in columns] for c in countries], "map")
    drawn = worldmap.on_the_map(countries)
    return _page(request, "map.html", {
        "svg": worldmap.world_svg(countries), "countries": countries,
        "off_map": [c for c in countries if c["iso"] not in drawn],
        "colours": worldmap.COLOURS, "activities": worldmap.ACTIVITIES,
        "twins": _twins(request, "/map")})
