"""Content negotiation: an Accept header (q-values, wildcards) -> a pyoxigraph format."""

from __future__ import annotations

import pyoxigraph as ox

from kb.errors import KbError

RESULTS: list[tuple[str, ox.QueryResultsFormat]] = [  # the first is the default
    ("application/sparql-results+json", ox.QueryResultsFormat.JSON),
    ("application/json", ox.QueryResultsFormat.JSON),
    ("application/sparql-results+xml", ox.QueryResultsFormat.XML),
    ("application/xml", ox.QueryResultsFormat.XML),
    ("text/csv", ox.QueryResultsFormat.CSV),
    ("text/tab-separated-values", ox.QueryResultsFormat.TSV),
    ("text/xml", ox.QueryResultsFormat.XML),
]
GRAPHS: list[tuple[str, ox.RdfFormat]] = [
    ("text/turtle", ox.RdfFormat.TURTLE),
    ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    ("text/plain", ox.RdfFormat.N_TRIPLES),
    ("application/ld+json", ox.RdfFormat.JSON_LD),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML),
    ("application/trig", ox.RdfFormat.TRIG),
    ("application/n-quads", ox.RdfFormat.N_QUADS),
    ("text/n3", ox.RdfFormat.N3),
]
#: Short names accepted in a ``format`` parameter (links, downloads).
NAMES = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
         "csv": "text/csv", "tsv": "text/tab-separated-values", "turtle": "text/turtle",
         "ttl": "text/turtle", "nt": "application/n-triples", "jsonld": "application/ld+json",
         "rdfxml": "application/rdf+xml", "trig": "application/trig", "nq": "application/n-quads",
         # the names SPARQLWrapper sends in its own `format` parameter
         "rdf+xml": "application/rdf+xml", "json-ld": "application/ld+json", "n3": "text/turtle"}


class NotAcceptable(KbError):
    """No format this answer can take fits the Accept header."""


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """Media ranges with their q-values, best first (ties keep their order).

    >>> parse_accept("text/csv;q=0.5, application/json, */*;q=0.1")
    [('application/json', 1.0), ('text/csv', 0.5), ('*/*', 0.1)]
    """
    if not header or not header.strip():
        return [("*/*", 1.0)]
    ranges = []
    for position, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((media, q, position))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(m, q) for m, q, _ in ranges]


def _matches(media_range: str, media_type: str) -> bool:
    if media_range in ("*/*", "*"):
        return True
    kind, _, sub = media_range.partition("/")
    t_kind, _, t_sub = media_type.partition("/")
    return kind == t_kind and sub in ("*", t_sub)


def choose(kind: str, accept: str | None, format_name: str | None = None):
    """The format for a result of ``kind`` (select, ask, graph): from ``format_name`` when
    it names one that fits, else the best match of ``accept``.

    Raises:
        NotAcceptable: nothing fits; the message lists what would.
    """
    table = GRAPHS if kind == "graph" else RESULTS
    if format_name:  # a name that does not fit this kind of result leaves it to Accept
        wanted = NAMES.get(format_name.lower(), format_name.lower())
        for media, fmt in table:
            if media == wanted:
                return fmt
    for media_range, q in parse_accept(accept):
        if q <= 0:
            continue
        for media, fmt in table:
            if _matches(media_range, media) and not _refused(media, accept):
                return fmt
    raise NotAcceptable(
        f"None of the requested types ({accept}) fits a {kind} result; acceptable: "
        + ", ".join(m for m, _ in table))


def prefers_html(accept: str | None) -> bool:
    """True when the first choice of ``accept`` is ``text/html`` itself (a browser), so
    that a page fits better than any SPARQL format; ``*/*`` alone is not enough."""
    ranges = [(m, q) for m, q in parse_accept(accept) if q > 0]
    return bool(ranges) and ranges[0][0] == "text/html"


def _refused(media: str, accept: str | None) -> bool:
    """True when the header gives this exact type q=0."""
    return any(m == media and q <= 0 for m, q in parse_accept(accept))
