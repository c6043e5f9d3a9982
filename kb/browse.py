"""Class pages: the classes with their instance counts, and every instance of one class as
a paged, sorted table with facets (country, product, period, source graph).

The KB runs these queries itself: their texts are fixed, the filter values are bound with
``VALUES`` (never spliced in), and the sort column and direction are picked from fixed
tables. Counts are of distinct instances over the default graph, which is the set union of
the sources (``kb.union``): an instance stated by three sources counts once. A page reads
``size`` instances (``LIMIT``/``OFFSET``), never the whole class; then one more query
describes just those instances.

Over 400 lines: the class page's queries (the narrowed instances, their sort keys, facets and
description) are written from the same patterns and tuned together (bench/README.md,
"The narrowed class page"); apart, a change to one pattern would miss the others.

>>> period_of("2020-03-28")
'2020-03'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import pyoxigraph as ox

from kb.errors import InvalidParameter, NotFound
from kb.namespaces import MS, PREFIXES, expand

__all__ = ["DIMENSIONS", "SORTS", "ClassPage", "class_page", "classes", "labels", "period_of",
           "short", "string_rows"]

T = TypeVar("T")

_PREFIXES = f"""PREFIX ms: <{MS}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX schema: <https://schema.org/>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""
_LABEL = "rdfs:label|skos:prefLabel"
_COUNTRY = "ms:actorCountry|ms:origin|ms:destination|ms:country|schema:addressCountry"
_DATE = "ms:date|ms:dateEarliest|ms:periodStart"


def _one_of(path: str, obj: str, via: str) -> str:
    """``?s <path> <obj>`` for an alternative ``path`` of properties, written as one pattern
    with the property a variable (``?via``) kept to the path's properties.

    Same solutions for ``?s`` and ``obj``, fewer reads: Oxigraph evaluates ``a|b|c`` as one
    index lookup per property, while ``?s ?via ?o`` with ``?s`` (or ``?o``) bound is one range
    of the store's index. Measured at 1M triples on the on-disk store, counting the narrowed
    class page's instances (a product, then the five country properties): 222 ms as a path,
    111 ms so (fastest of five in one run).
    Only where the subject or the object is bound (with both free it reads the whole store).

    >>> _one_of("ms:origin|ms:destination", "?c", "p")
    '?s ?p ?c FILTER(?p IN (ms:origin, ms:destination))'
    """
    return f"?s ?{via} {obj} FILTER(?{via} IN ({', '.join(path.split('|'))}))"


#: Facet name -> the pattern that binds ``?{var}`` for instance ``?s``. The source of an
#: instance is a named graph that states its type.
DIMENSIONS: dict[str, str] = {
    "country": _one_of(_COUNTRY, "?{var}", "{var}_p"),
    "product": "?s ms:productCategory ?{var} .",
    "period": _one_of(_DATE, "?{var}_day", "{var}_p")
              + " BIND(SUBSTR(STR(?{var}_day), 1, 7) AS ?{var})",
    "source": "GRAPH ?{var} { ?s a ?cls }",
}
#: Sort column -> the pattern that binds ``?key`` (in an OPTIONAL); "" sorts by IRI.
SORTS: dict[str, str] = {
    "iri": "",
    "label": _one_of(_LABEL, "?key", "kp"),
    "country": f"{_one_of(_COUNTRY, '?kc', 'kp')} OPTIONAL {{ ?kc rdfs:label ?kl }} "
               "BIND(COALESCE(STR(?kl), STR(?kc)) AS ?key)",
    "product": f"?s ms:productCategory ?kp OPTIONAL {{ ?kp {_LABEL} ?kl }} "
               "BIND(COALESCE(STR(?kl), STR(?kp)) AS ?key)",
    "date": _one_of(_DATE, "?key", "kp"),
}
MAX_SIZE = 500
#: Most instances a page sorts (more: the engine's order; a filter narrows them to sortable).
SORT_LIMIT = 10_000
#: Most instances the facets count (more: the facets are of the first ones, and say so).
FACET_SAMPLE = 1_000


def string_rows(kb: Any, sparql: str,
                bindings: dict[str, ox.NamedNode | ox.Literal] | None = None
                ) -> list[dict[str, str | None]]:
    """The rows of a SELECT as plain strings (None for unbound)."""
    def consume(raw: Any) -> list[dict[str, str | None]]:
        names = [v.value for v in raw.variables]
        return [{n: (None if row[n] is None else row[n].value) for n in names} for row in raw]

    return kb.run(sparql, consume, bindings=bindings or None)


@lru_cache(maxsize=65536)
def short(iri: str) -> str:
    """``iri`` with the KB's longest matching prefix (``ms:QualityIncident``), else itself.

    >>> short("https://w3id.org/medsupply-kb/ontology#Recall")
    'ms:Recall'
    """
    best, name = "", iri
    for prefix, ns in PREFIXES.items():
        if iri.startswith(ns) and len(ns) > len(best):
            best, name = ns, f"{prefix}:{iri[len(ns):]}"
    return name


def period_of(day: str) -> str:
    """The month (``YYYY-MM``) a date falls in: the period facet's value."""
    return day[:7]


#: The default graph is a set: each (instance, class) pair is one triple, counted once.
CLASSES = _PREFIXES + """SELECT ?cls ?n WHERE {
  { SELECT ?cls (COUNT(*) AS ?n) WHERE { ?s a ?cls } GROUP BY ?cls }
  FILTER(isIRI(?cls))
}"""


def classes(kb: Any) -> list[dict[str, object]]:
    """Every class with instances: IRI, short name, label and the number of distinct
    instances, most instances first."""
    rows = string_rows(kb, CLASSES)
    names = labels(kb, [r["cls"] for r in rows if r["cls"]])
    out = [{"class": r["cls"], "curie": short(r["cls"] or ""), "label": names.get(r["cls"], ""),
            "instances": int(r["n"] or 0)} for r in rows]
    return sorted(out, key=lambda c: (-c["instances"], c["class"]))


@dataclass
class ClassPage:
    """One page of a class's instances, with the facets of the whole (filtered) class."""

    cls: str
    label: str
    total: int
    offset: int
    size: int
    sort: str
    desc: bool
    filters: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    facets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    facet_sample: int = 0  # how many instances the facets count (the total, or a sample)

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total

    def as_dict(self) -> dict[str, object]:
        return {"class": self.cls, "curie": short(self.cls), "label": self.label,
                "total": self.total, "offset": self.offset, "size": self.size,
                "sort": self.sort, "desc": self.desc, "filters": self.filters,
                "rows": self.rows, "facets": self.facets,
                "facet_sample": self.facet_sample}


def _term(dimension: str, value: str) -> ox.NamedNode | ox.Literal:
    """A facet value as the term it is bound to: a period is a ``YYYY-MM`` string, the
    others are IRIs (short names such as ``country:NL`` allowed).

    Raises:
        InvalidParameter: not a month, or not an IRI.
    """
    if dimension == "period":
        if len(value) != 7 or value[4] != "-" or not (value[:4] + value[5:]).isdigit():
            raise InvalidParameter("period", f"{value!r} is not a month such as 2020-03")
        return ox.Literal(value)
    try:
        return ox.NamedNode(expand(value))
    except ValueError as e:
        raise InvalidParameter(dimension, f"{value!r} is not an IRI or short name: {e}") from None


#: Facet name -> the constraint that keeps the instances with the value bound as ``?f_<name>``.
FILTERS: dict[str, str] = {
    "country": f"?s {_COUNTRY} ?f_country .",
    "product": "?s ms:productCategory ?f_product .",
    "period": f"?s {_DATE} ?f_day . FILTER(STRSTARTS(STR(?f_day), ?f_period))",
    "source": "GRAPH ?f_source { ?s a ?cls }",
}


def _where(filters: dict[str, str]) -> str:
    """The instance pattern with one constraint per active filter."""
    # the filters first: Oxigraph joins in the written order, and a bound value finds few
    # instances where the class finds them all; the product first, the country (five
    # properties, the broadest) last
    order = [dim for dim in ("product", "source", "period", "country") if dim in filters]
    patterns = [FILTERS[dim] for dim in order]
    if len(order) > 1 and order[-1] == "country":
        # ?s is bound by then: the country as one index range per instance, not five
        # lookups. Alone it stays a path, which finds the instances in the same order as
        # before (the order of a page too big to sort, and of the facets' sample).
        patterns[-1] = _one_of(_COUNTRY, "?f_country", "f_country_p")
    return "\n  ".join([*patterns, "?s a ?cls ."])


def class_page(kb: Any, cls: str, *, filters: dict[str, str] | None = None,
               sort: str = "label", desc: bool = False, offset: int = 0, size: int = 50,
               facet_limit: int = 25) -> ClassPage:
    """Instances ``offset`` to ``offset + size`` of class ``cls`` (an IRI or short name),
    sorted by ``sort`` (one of :data:`SORTS`), narrowed by ``filters`` (dimension of
    :data:`DIMENSIONS` -> value), with each dimension's ``facet_limit`` most frequent values.

    Raises:
        InvalidParameter: an unknown sort or filter, a bad value, a bad page.
        NotFound: the class has no instances at all.
    """
    filters = dict(filters or {})
    if sort not in SORTS:
        raise InvalidParameter("sort", f"{sort!r} is not one of {', '.join(SORTS)}")
    unknown = sorted(set(filters) - set(DIMENSIONS))
    if unknown:
        raise InvalidParameter(unknown[0], f"not a facet; facets: {', '.join(DIMENSIONS)}")
    if not 1 <= size <= MAX_SIZE:
        raise InvalidParameter("size", f"{size} is not between 1 and {MAX_SIZE}")
    if offset < 0:
        raise InvalidParameter("offset", f"{offset} is negative")
    try:
        cls_node = ox.NamedNode(expand(cls))
    except ValueError as e:
        raise InvalidParameter("class", f"{cls!r} is not an IRI or short name: {e}") from None
    bindings: dict[str, ox.NamedNode | ox.Literal] = {"cls": cls_node}
    for dim, value in filters.items():
        bindings[f"f_{dim}"] = _term(dim, value)
    where = _where(filters)
    label = string_rows(kb, _PREFIXES + "SELECT ?l WHERE { ?cls rdfs:label ?l } LIMIT 1",
                        {"cls": cls_node})
    keys: dict[str, str | None] | None = None
    named = False
    if filters and _at_most(kb, filters, bindings) <= SORT_LIMIT:
        # few enough to sort, whatever the other facets keep: the narrowed pattern (the
        # costly part: a join per instance on the on-disk store) is evaluated once, for the
        # sort keys, and their number is the total
        keys, named = _sort_keys(kb, where, bindings, sort)
        total = len(keys)
    else:
        total = _count(kb, where, bindings, bool(filters))
        if total == 0 and not filters and not string_rows(
                kb, "SELECT ?s WHERE { ?s a ?cls } LIMIT 1", {"cls": cls_node}):
            raise NotFound(f"No instance of <{cls_node.value}> in the knowledge base",
                           iri=cls_node.value)
    sortable = total <= SORT_LIMIT
    if sortable:
        if keys is None:
            keys, named = _sort_keys(kb, where, bindings, sort)
        page = _ordered(keys, desc)[offset:offset + size]
    else:  # too many to sort: the engine's order, which is stable between requests
        text = (_PREFIXES + f"SELECT DISTINCT ?s WHERE {{\n  {where}\n}}"
                f" LIMIT {size} OFFSET {offset}")
        page = kb.run(text, lambda raw: [_name(row["s"]) for row in raw], bindings=bindings)
    # the facets' sample is the first instances in the engine's order: those read already,
    # when they are all IRIs (which VALUES can bind)
    sample = list(keys) if keys is not None and named else None
    rows, facets = _together(functools.partial(describe, kb, page),
                             functools.partial(_facets, kb, where, bindings, facet_limit, sample))
    return ClassPage(cls=cls_node.value, label=label[0]["l"] if label else "", total=total,
                     offset=offset, size=size, sort=sort if sortable else "", desc=desc,
                     filters=filters, rows=rows, facets=facets,
                     facet_sample=min(total, FACET_SAMPLE))


def _together(*calls: Callable[[], T]) -> list[T]:
    """The results of ``calls``, run at once: the engine releases the GIL while it evaluates
    a query, so the page's independent queries (the rows' description, the facets' pieces)
    overlap (at 1M triples, 43 + 58 + 41 ms one after the other)."""
    if len(calls) < 2:
        return [call() for call in calls]
    with ThreadPoolExecutor(len(calls) - 1) as pool:
        later = [pool.submit(call) for call in calls[1:]]
        first = calls[0]()
        return [first, *(future.result() for future in later)]


def _count(kb: Any, where: str, bindings: dict, narrowed: bool) -> int:
    """The number of distinct instances matching ``where``."""
    # one (instance, class) triple each in the set default graph: COUNT(*) counts instances;
    # a filter's path may match an instance twice, so then DISTINCT
    counted = "COUNT(DISTINCT ?s)" if narrowed else "COUNT(*)"
    rows = string_rows(kb, _PREFIXES + f"SELECT ({counted} AS ?n) WHERE {{\n  {where}\n}}",
                       bindings)
    return int(rows[0]["n"] or 0) if rows else 0


#: Facet -> a pattern matched by every instance the facet keeps (and maybe more), read as
#: one range of an index: counting it is cheap (2 ms for the 6,653 ventilators at 1M triples).
BOUNDS: dict[str, str] = {
    "product": "?s ms:productCategory ?f_product",
    "source": "GRAPH ?f_source { ?s a ?cls }",
}


def _at_most(kb: Any, filters: dict[str, str], bindings: dict) -> int | float:
    """A cheap upper bound of the instances ``filters`` keep (infinite when none of them has
    a cheap bound).

    Below :data:`SORT_LIMIT`, the page reads the sort keys at once and takes the total from
    them; above, it counts first (as before). Reading the keys of at most SORT_LIMIT + 1
    instances to find out instead made a page of a big facet (Spain's 35,068 shipments)
    1.5 times slower: those keys are thrown away and the count runs all the same."""
    least: int | float = float("inf")
    for dim, pattern in BOUNDS.items():
        if dim in filters and least > SORT_LIMIT:
            least = min(least, _count(kb, pattern, bindings, False))
    return least


def _sort_keys(kb: Any, where: str, bindings: dict,
               sort: str) -> tuple[dict[str, str | None], bool]:
    """Each instance matching ``where`` with its least ``sort`` key (None when it has none),
    in the engine's order; and whether they are all IRIs (blank nodes cannot be bound with
    ``VALUES``)."""
    pattern = SORTS[sort]
    text = _PREFIXES + (f"SELECT ?s ?key WHERE {{\n  {where}\n  OPTIONAL {{ {pattern} }}\n}}"
                        if pattern else f"SELECT DISTINCT ?s WHERE {{\n  {where}\n}}")

    def consume(raw: Any) -> tuple[dict[str, str | None], bool]:
        keys: dict[str, str | None] = {}
        named = True
        for row in raw:
            term = row["s"]
            named = named and isinstance(term, ox.NamedNode)
            iri = _name(term)
            key = iri if sort == "iri" else (None if row["key"] is None else row["key"].value)
            if iri not in keys or (key is not None and (keys[iri] is None or key < keys[iri])):
                keys[iri] = key
        return keys, named

    return kb.run(text, consume, bindings=bindings)


def _name(term: ox.NamedNode | ox.BlankNode) -> str:
    """An instance as the page names it: its IRI, or ``_:id`` for a blank node (a value such
    as a ``qudt:QuantityValue``, which no query can find again and no link can name)."""
    return term.value if isinstance(term, ox.NamedNode) else str(term)


def _ordered(keys: dict[str, str | None], desc: bool) -> list[str]:
    """The instances sorted here by their keys, the keyless last (by IRI): Oxigraph's ORDER BY
    compares terms by reading their strings, which takes seconds for a few thousand rows
    (measured at 1M triples: 0.5 s for 2,000 labels, 25 s for 62,500 IRIs), while reading
    the keys and sorting them in Python takes milliseconds."""
    known = sorted((k, i) for i, k in keys.items() if k is not None)
    if desc:
        known.reverse()
    return [i for _, i in known] + sorted(i for i, k in keys.items() if k is None)


def _facets(kb: Any, where: str, bindings: dict, limit: int,
            instances: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each dimension's ``limit`` most frequent values among the (filtered) instances, or
    among the first :data:`FACET_SAMPLE` of them in the engine's order when there are more
    (counting a whole class of 60,000 takes seconds at 1M triples; the page says so).

    ``instances``: those instances when already read (a narrowed page's sort keys, in the
    engine's order), bound with ``VALUES`` instead of evaluating ``where`` once more."""
    union = "\n  UNION ".join(
        "{ " + pattern.replace("{var}", "v") + f' BIND("{dim}" AS ?dim) }}'
        for dim, pattern in DIMENSIONS.items())
    if instances is None:
        # The outer group has no WHERE keyword, so that the bindings go into the subquery
        # (the first WHERE group), which alone sees them.
        texts = [_PREFIXES + f"""SELECT ?dim ?v (COUNT(DISTINCT ?s) AS ?n) {{
  {{ SELECT DISTINCT ?s ?cls WHERE {{ {where} }} LIMIT {FACET_SAMPLE} }}
  {union}
}} GROUP BY ?dim ?v"""]
        bound = bindings
    else:  # an instance is in one chunk only: the chunks' counts add up
        text = _PREFIXES + f"""SELECT ?dim ?v (COUNT(DISTINCT ?s) AS ?n) WHERE {{
  VALUES ?s {{ {{values}} }}
  {union}
}} GROUP BY ?dim ?v"""
        room = getattr(getattr(kb, "settings", None), "max_query_bytes", 32 * 1024) - len(text)
        texts = [text.replace("{values}", values)
                 for values in _chunks(instances[:FACET_SAMPLE], room)]
        bound = {"cls": bindings["cls"]}
    totals: dict[tuple[str, str], int] = {}
    for answer in _together(*(functools.partial(string_rows, kb, text, bound)
                              for text in texts)):
        for r in answer:
            if r["v"] is not None and r["dim"] in DIMENSIONS:
                totals[r["dim"], r["v"]] = totals.get((r["dim"], r["v"]), 0) + int(r["n"] or 0)
    counts: dict[str, list[tuple[int, str]]] = {dim: [] for dim in DIMENSIONS}
    for (dim, v), n in totals.items():
        counts[dim].append((n, v))
    top = {dim: sorted(values, key=lambda c: (-c[0], c[1]))[:limit]
           for dim, values in counts.items()}
    names = labels(kb, [v for dim, values in top.items() if dim != "period" for _, v in values])
    return {dim: [{"value": v, "count": n, "label": names.get(v, ""),
                   "short": v if dim == "period" else short(v)} for n, v in values]
            for dim, values in top.items()}


def _chunks(iris: list[str], room: int) -> list[str]:
    """``iris`` written for ``VALUES``, in pieces of at most ``room`` bytes (at least one IRI
    each): a query's text has a length limit (``max_query_bytes``)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for iri in iris:
        term = str(ox.NamedNode(iri))
        if chunks[-1] and used + len(term.encode()) + 1 > room:
            chunks.append([])
            used = 0
        chunks[-1].append(term)
        used += len(term.encode()) + 1
    return [" ".join(chunk) for chunk in chunks if chunk]


DESCRIBE = _PREFIXES + f"""SELECT ?s ?what ?v ?vl WHERE {{
  {{ ?s {_LABEL} ?v BIND("label" AS ?what) }}
  UNION {{ ?s {_COUNTRY} ?v BIND("country" AS ?what) }}
  UNION {{ ?s ms:productCategory ?v BIND("product" AS ?what) }}
  UNION {{ ?s {_DATE} ?v BIND("date" AS ?what) }}
  UNION {{ ?s ms:datePrinted ?v BIND("printed" AS ?what) }}
  UNION {{ GRAPH ?v {{ ?s ?p ?o }} BIND("source" AS ?what) }}
  OPTIONAL {{ ?v {_LABEL} ?vl FILTER(LANGMATCHES(LANG(?vl), "en") || LANG(?vl) = "") }}
}}"""


def describe(kb: Any, iris: list[str]) -> list[dict[str, Any]]:
    """Label, countries, products, dates and source graphs of each of ``iris`` (in their
    order). The IRIs come from the store and are written by pyoxigraph; a blank node
    (``_:id``) keeps its id alone, with no IRI to link to."""
    out: dict[str, dict[str, Any]] = {
        i: {"iri": None if i.startswith("_:") else i, "short": short(i), "label": "",
            "country": [], "product": [], "date": [], "printed": [], "source": []}
        for i in iris}
    named = [i for i in iris if not i.startswith("_:")]
    values = " ".join(str(ox.NamedNode(i)) for i in named)
    text = DESCRIBE.replace("WHERE {", f"WHERE {{\n  VALUES ?s {{ {values} }}", 1)
    for r in string_rows(kb, text) if named else []:
        row, what, value = out[r["s"] or ""], r["what"], r["v"] or ""
        if what == "label":
            row["label"] = row["label"] or value
        elif what in ("date", "printed"):
            if value not in row[what]:
                row[what].append(value)
        else:
            item = {"iri": value, "short": short(value), "label": r["vl"] or ""}
            if item not in row[what]:
                row[what].append(item)
    for row in out.values():
        for key in ("country", "product", "source"):
            row[key].sort(key=lambda x: x["iri"])
        row["date"].sort()
    return list(out.values())


LABELS = _PREFIXES + f"""SELECT ?s (SAMPLE(?en) AS ?label) (SAMPLE(?any) AS ?other) WHERE {{
  ?s {_LABEL}|dcterms:title ?any
  OPTIONAL {{ ?s {_LABEL}|dcterms:title ?en
             FILTER(LANGMATCHES(LANG(?en), "en") || LANG(?en) = "") }}
}} GROUP BY ?s"""


def labels(kb: Any, iris: list[str]) -> dict[str, str]:
    """A label (or title) for each of ``iris`` that has one: in English or with no language
    where there is one, else in another language."""
    if not iris:
        return {}
    values = " ".join(str(ox.NamedNode(i)) for i in sorted(set(iris)))
    text = LABELS.replace("WHERE {", f"WHERE {{\n  VALUES ?s {{ {values} }}", 1)
    return {r["s"]: r["label"] or r["other"] for r in string_rows(kb, text)
            if r["s"] and (r["label"] or r["other"])}
