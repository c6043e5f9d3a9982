"""The incident table: one row per quality incident (``ms:QualityIncident`` and its
subclasses: recalls, returns, rejections), with what each source says about it.

Each row holds the incident's dates at the precision of their sources (a day where a source
gives the day, else the source's own words, such as "end of March 2020", with the earliest
and latest day it can be, never an invented day), the countries that acted, the products,
the quantities (numbers, or the source's approximation such as "thousands"), what went
wrong, the standards not met, the replies (statements that ``ms:respondsTo`` it: China's
replies among them, with their speakers) and the sources, each with its evidence.

Values are collected per source graph and shown once each (the default graph is a set, and
a value stated by two sources is one value with two sources). The queries are fixed texts;
the country and product filters are bound with ``VALUES``. The table as CSV (the page's CSV twin
and ``kb export-incidents``) is written by ``kb.incident_table``.

>>> date_text(day="2020-03-28")
'28 Mar 2020'
>>> date_text(printed="end of March 2020", earliest="2020-03-21", latest="2020-03-31")
'end of March 2020'
>>> date_text(earliest="2020-04-20", latest="2020-04-26")
'between 20 Apr 2020 and 26 Apr 2020'
"""

from __future__ import annotations

from typing import Any

import pyoxigraph as ox

from kb.browse import labels, short, string_rows
from kb.errors import InvalidParameter
from kb.figures import period_text
from kb.namespaces import MS, expand

__all__ = ["date_text", "filter_bindings", "incident_classes", "incident_filters", "incidents"]

_PREFIXES = f"""PREFIX ms: <{MS}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""
#: The incident classes: QualityIncident and its subclasses (named here too, so that the
#: table works when the ontology is not loaded). Looked up first, then bound with VALUES:
#: joining the class path with every typed instance takes a minute at 1M triples.
KNOWN_CLASSES = [MS + n for n in ("QualityIncident", "Recall", "Return", "Rejection")]
CLASSES = _PREFIXES + "SELECT DISTINCT ?t WHERE { ?t rdfs:subClassOf+ ms:QualityIncident }"
_INCIDENT = "VALUES ?t { {classes} } ?i a ?t ."
FILTERS = {
    "country": "?i ms:actorCountry ?only_country .",
    "product": "?i ms:productCategory/skos:broader* ?only_product .",
}
#: What a row shows, by property (the local name is the field).
_FIELDS = ("label", "date", "datePrinted", "datePrecision", "dateEarliest", "dateLatest",
           "actorCountry", "productCategory", "affectedQuantity", "approximateQuantity",
           "reason", "standardNotMet", "evidence", "evidenceLocator", "wasDerivedFrom")
_PROPERTY = {"label": "rdfs:label", "wasDerivedFrom": "prov:wasDerivedFrom"}
#: The properties whose values are shown by their labels (looked up once, after the facts).
_LINKS = {MS + n for n in ("actorCountry", "productCategory", "standardNotMet", "speaker",
                           "onBehalfOf")} | {"http://www.w3.org/ns/prov#wasDerivedFrom"}

#: Each source's quads about each incident; an incident of two types comes twice (adding a
#: value is idempotent below, and DISTINCT costs a fifth of the query).
FACTS = _PREFIXES + """SELECT ?i ?t ?g ?p ?o WHERE {
  {incident}
  {filters}
  GRAPH ?g { ?i ?p ?o }
  VALUES ?p { {properties} }
}"""

REPLIES = _PREFIXES + """SELECT ?i ?st ?g ?p ?o WHERE {
  {incident}
  {filters}
  ?st ms:respondsTo ?i .
  GRAPH ?g { ?st ?p ?o }
  VALUES ?p { rdfs:label ms:speaker ms:onBehalfOf ms:quotation ms:date ms:datePrinted
              ms:dateEarliest ms:dateLatest prov:wasDerivedFrom }
}"""

OPTIONS = _PREFIXES + """SELECT ?what ?v (COUNT(DISTINCT ?i) AS ?n) WHERE {
  {incident}
  { ?i ms:actorCountry ?v BIND("country" AS ?what) }
  UNION { ?i ms:productCategory ?v BIND("product" AS ?what) }
} GROUP BY ?what ?v"""


def date_text(*, day: str | None = None, printed: str | None = None,
              earliest: str | None = None, latest: str | None = None) -> str:
    """A date as precisely as its source gives it: the day, else the source's words, else
    the span it lies in; "" when nothing is known."""
    if day:
        return period_text(day, day)
    if printed:
        return printed
    if earliest and latest:
        return f"between {period_text(earliest, earliest)} and {period_text(latest, latest)}"
    if earliest or latest:
        return period_text(earliest, latest)
    return ""


def incident_classes(kb: Any) -> str:
    """The incident classes as a VALUES list (IRIs from the store, written by pyoxigraph)."""
    found = {r["t"] for r in string_rows(kb, CLASSES) if r["t"]} | set(KNOWN_CLASSES)
    return " ".join(str(ox.NamedNode(t)) for t in sorted(found))


def _query(kb: Any, template: str, filters: dict[str, str]) -> str:
    properties = " ".join(f"ms:{f}" if f not in _PROPERTY else _PROPERTY[f] for f in _FIELDS)
    incident = _INCIDENT.replace("{classes}", incident_classes(kb))
    return (template.replace("{incident}", incident)
            .replace("{filters}", "\n  ".join(FILTERS[k] for k in filters))
            .replace("{properties}", properties))


def filter_bindings(country: str | None, product: str | None) -> tuple[dict[str, str], dict]:
    """The filters given (``{"country": …}``) and their ``?only_country``/``?only_product``
    bindings.

    Raises:
        InvalidParameter: a filter that is not an IRI or short name.
    """
    filters, bindings = {}, {}
    for name, value in (("country", country), ("product", product)):
        if value:
            try:
                bindings[f"only_{name}"] = ox.NamedNode(expand(value))
            except ValueError as e:
                raise InvalidParameter(name, f"{value!r} is not an IRI or short name such as "
                                             f"country:NL: {e}") from None
            filters[name] = value
    return filters, bindings


def _link(iri: str, label: str | None) -> dict[str, str]:
    return {"iri": iri, "short": short(iri), "label": label or short(iri)}


def _add(items: list, item: Any) -> None:
    if item not in items:
        items.append(item)


def incidents(kb: Any, *, country: str | None = None, product: str | None = None
              ) -> list[dict[str, Any]]:
    """One dict per incident, earliest first (by its earliest known day), optionally only
    those of a ``country`` (the actor's country) or a ``product`` (or a narrower one).

    Raises:
        InvalidParameter: a filter that is not an IRI or short name.
    """
    filters, bindings = filter_bindings(country, product)
    rows: dict[str, dict[str, Any]] = {}
    graphs: dict[tuple[str, str], dict[str, Any]] = {}  # (incident, graph) -> what it says
    facts = string_rows(kb, _query(kb, FACTS, filters), bindings)
    names = labels(kb, [r["o"] for r in facts if r["o"] and r["p"] in _LINKS])
    for r in facts:
        i, g, p, o = r["i"] or "", r["g"] or "", r["p"] or "", r["o"] or ""
        r["ol"] = names.get(o)
        row = rows.setdefault(i, {
            "incident": i, "short": short(i), "kind": "", "label": "", "dates": [],
            "earliest": None, "latest": None, "country": [], "product": [], "quantity": [],
            "problem": [], "standard": [], "replies": [], "sources": []})
        kind = short(r["t"] or "").removeprefix("ms:")
        if kind and (not row["kind"] or row["kind"] == "QualityIncident"):
            row["kind"] = kind
        said = graphs.setdefault((i, g), {"graph": g, "evidence": [], "locator": "",
                                           "source": None, "title": "", "date": {}})
        field = p.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        if field == "label":
            row["label"] = row["label"] or o
        elif field in ("date", "datePrinted", "datePrecision", "dateEarliest", "dateLatest"):
            said["date"][field] = o
        elif field == "actorCountry":
            _add(row["country"], _link(o, r["ol"]))
        elif field == "productCategory":
            _add(row["product"], _link(o, r["ol"]))
        elif field == "affectedQuantity":
            _add(row["quantity"], f"{float(o):,.0f}")
        elif field == "approximateQuantity":
            _add(row["quantity"], o)
        elif field == "reason":
            _add(row["problem"], o)
        elif field == "standardNotMet":
            _add(row["standard"], _link(o, r["ol"]))
        elif field == "evidence":
            _add(said["evidence"], o)
        elif field == "evidenceLocator":
            said["locator"] = o
        elif field == "wasDerivedFrom":
            said["source"], said["title"] = o, r["ol"] or ""
    for (i, _), said in sorted(graphs.items()):
        row, d = rows[i], said.pop("date")
        if d:
            text = date_text(day=d.get("date"), printed=d.get("datePrinted"),
                             earliest=d.get("dateEarliest"), latest=d.get("dateLatest"))
            first, last = d.get("date") or d.get("dateEarliest"), d.get("date") or d.get(
                "dateLatest")
            entry = {"text": text, "precision": "day" if d.get("date") else
                     d.get("datePrecision", ""), "earliest": first, "latest": last,
                     "sources": [said["source"] or said["graph"]]}
            same = next((e for e in row["dates"] if e["text"] == text), None)
            if same is None:
                row["dates"].append(entry)
            elif entry["sources"][0] not in same["sources"]:
                same["sources"].append(entry["sources"][0])
            if first and (row["earliest"] is None or first < row["earliest"]):
                row["earliest"] = first
            if last and (row["latest"] is None or last > row["latest"]):
                row["latest"] = last
        row["sources"].append({**said, "source": said["source"] or said["graph"],
                               "short": short(said["source"] or said["graph"])})
    for row in rows.values():  # a day first, then the sources' words
        row["dates"].sort(key=lambda e: (e["precision"] != "day", e["earliest"] or "", e["text"]))
    _replies(kb, rows, filters, bindings)
    return sorted(rows.values(), key=lambda r: (r["earliest"] or "9999", r["incident"]))


def _replies(kb: Any, rows: dict[str, dict[str, Any]], filters: dict[str, str],
             bindings: dict) -> None:
    """Add to each row the statements that respond to it, each with its speaker, date and
    quotations, and the sources that report it."""
    statements: dict[tuple[str, str], dict[str, Any]] = {}
    dates: dict[tuple[str, str, str], dict[str, str]] = {}
    said = string_rows(kb, _query(kb, REPLIES, filters), bindings)
    names = labels(kb, [r["o"] for r in said if r["o"] and r["p"] in _LINKS])
    for r in said:
        i, st, g, p, o = (r[k] or "" for k in ("i", "st", "g", "p", "o"))
        r["ol"] = names.get(o)
        if i not in rows:
            continue
        reply = statements.setdefault((i, st), {
            "statement": st, "short": short(st), "label": "", "speaker": [], "date": "",
            "quotations": [], "sources": []})
        field = p.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        if field == "label":
            reply["label"] = reply["label"] or o
        elif field in ("speaker", "onBehalfOf"):
            _add(reply["speaker"], _link(o, r["ol"]))
        elif field == "quotation":
            _add(reply["quotations"], {"text": o, "graph": g})
        elif field == "wasDerivedFrom":
            if not any(x["source"] == o for x in reply["sources"]):
                reply["sources"].append({"source": o, "short": short(o), "title": r["ol"] or ""})
        else:
            dates.setdefault((i, st, g), {})[field] = o
    for (i, st, _), d in sorted(dates.items()):
        reply = statements[(i, st)]
        text = date_text(day=d.get("date"), printed=d.get("datePrinted"),
                         earliest=d.get("dateEarliest"), latest=d.get("dateLatest"))
        if text and (not reply["date"] or d.get("date")):
            reply["date"] = text
    for (i, _), reply in sorted(statements.items()):
        rows[i]["replies"].append(reply)


def incident_filters(kb: Any) -> dict[str, list[dict[str, Any]]]:
    """The countries and products that incidents name, with how many incidents each, for
    the filters."""
    out: dict[str, list[dict[str, Any]]] = {"country": [], "product": []}
    rows = string_rows(kb, _query(kb, OPTIONS, {}))
    names = labels(kb, [r["v"] for r in rows if r["v"]])
    for r in rows:
        out[r["what"] or "country"].append({**_link(r["v"] or "", names.get(r["v"] or "")),
                                           "count": int(r["n"] or 0)})
    for values in out.values():
        values.sort(key=lambda o: (-o["count"], o["label"]))
    return out

