"""Content negotiation, for every route: an ``Accept`` header -> the best of the formats a
route offers.

Media ranges are parsed by python-mimeparse, one range at a time (a malformed range is
skipped, not fatal), after the header is split once: parsing is linear in the header's
length, and the header is capped at ``MAX_ACCEPT_BYTES`` (431 beyond). The choice follows
RFC 9110 §12.5.1: each offer takes the q-value of the most specific range that matches it
(``text/*;q=0.9, text/csv;q=0.1`` gives CSV 0.1), ``q=0`` refuses, wildcards match; ties go
to the more specific match, then to the range the client listed first, then to the route's
own order (its first offer is its default).
"""

from __future__ import annotations

from functools import lru_cache

import mimeparse
import pyoxigraph as ox

from kb.errors import KbError

#: Longest ``Accept`` header read (bytes); browsers send about 100, SPARQL clients 300.
MAX_ACCEPT_BYTES = 4096

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
#: Generic types a graph answer also takes, as Oxigraph's server does (after the RDF types).
GRAPH_ALIASES: list[tuple[str, ox.RdfFormat]] = [
    ("application/json", ox.RdfFormat.JSON_LD),
    ("application/xml", ox.RdfFormat.RDF_XML),
    ("text/xml", ox.RdfFormat.RDF_XML),
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


class HeaderTooLarge(KbError):
    """A request header is longer than this server reads."""


class Accept:
    """An Accept header, parsed: the media ranges in the client's order (``*/*`` when the
    header is empty); malformed ranges are skipped.

    >>> [r[:2] for r in Accept("text/csv;q=0.5, nonsense, */*").ranges]
    [('text', 'csv'), ('*', '*')]

    Raises:
        HeaderTooLarge: the header is longer than ``MAX_ACCEPT_BYTES``.
    """

    def __init__(self, header: str | None) -> None:
        if header is not None and len(header) > MAX_ACCEPT_BYTES:
            raise HeaderTooLarge(f"The Accept header is {len(header):,} bytes long; this "
                                 f"server reads at most {MAX_ACCEPT_BYTES:,}")
        self.ranges: list[tuple[str, str, dict]] = []
        self.first: dict[str, int] = {}  # "type/subtype" -> position of its first range
        for part in (header or "").split(","):
            try:
                kind, sub, params = mimeparse.parse_media_range(part)
            except ValueError:  # MimeTypeParseException: not type/subtype
                continue
            if kind and sub:
                kind, sub = kind.lower(), sub.lower()
                self.first.setdefault(f"{kind}/{sub}", len(self.ranges))
                self.ranges.append((kind, sub, params))
        if not self.ranges:
            self.ranges.append(("*", "*", {"q": "1"}))
            self.first["*/*"] = 0

    def rank(self, offer: str) -> tuple[float, int, int] | None:
        """(q, specificity, -position of the range) for ``offer``, None when no range
        accepts it. The q-value is that of the most specific matching range (mimeparse's
        fitness: type and subtype, then type, then ``*/*``)."""
        q, fitness = mimeparse.quality_and_fitness_parsed(offer, self.ranges)
        if fitness < 0 or q <= 0:
            return None
        kind = offer.partition("/")[0]
        specificity = int(fitness) // 10  # 11: both matched, 10: the type, 0: */*
        key = offer if specificity == 11 else f"{kind}/*" if specificity == 10 else "*/*"
        return q, specificity, -self.first.get(key, len(self.ranges))


    def refuses(self, media: str) -> bool:
        """True when the range that decides for ``media`` gives it q=0."""
        q, fitness = mimeparse.quality_and_fitness_parsed(media, self.ranges)
        return fitness >= 0 and q <= 0


def best(accept: str | Accept | None, offers: list[str]) -> str | None:
    """The offer that fits ``accept`` best, or None when none is acceptable. ``offers`` are
    media types in the route's order of preference (the first is its default).

    >>> best("text/*;q=0.9, text/csv;q=0.1", ["text/csv", "text/tab-separated-values"])
    'text/tab-separated-values'
    >>> best("*/*, text/csv;q=0", ["text/csv"]) is None
    True
    """
    if not isinstance(accept, Accept):
        return _best_for_header(accept, tuple(offers))
    return _best(accept, offers)


@lru_cache(maxsize=512)
def _best_for_header(accept: str | None, offers: tuple[str, ...]) -> str | None:
    """:func:`best` for a header as sent: clients send few different ones, and parsing
    and ranking took a quarter of the server's time on a trivial query (``ASK {}``)."""
    return _best(Accept(accept), offers)


def _best(parsed: Accept, offers: list[str] | tuple[str, ...]) -> str | None:
    chosen, chosen_key = None, None
    for order, offer in enumerate(offers):
        rank = parsed.rank(offer)
        if rank is not None and (chosen_key is None or (*rank, -order) > chosen_key):
            chosen, chosen_key = offer, (*rank, -order)
    return chosen


def require(accept: str | None, offers: list[str]) -> str:
    """:func:`best`, or NotAcceptable naming what would fit.

    Raises:
        NotAcceptable: no offer fits.
    """
    found = best(accept, offers)
    if found is None:
        raise NotAcceptable(f"None of the requested types ({accept}) fits this answer; "
                            "acceptable: " + ", ".join(offers))
    return found


def choose(kind: str, accept: str | None, format_name: str | None = None):
    """The format for a SPARQL result of ``kind`` (select, ask, graph): from ``format_name``
    when it names one that fits, else the best match of ``accept``.

    Raises:
        NotAcceptable: nothing fits; the message lists what would.
    """
    found = _choose(kind, accept, format_name)
    if isinstance(found, NotAcceptable):  # a fresh one: a raised exception keeps its frames
        raise NotAcceptable(*found.args)
    return found


@lru_cache(maxsize=512)
def _choose(kind: str, accept: str | None, format_name: str | None):
    """``choose``, with the refusal returned, so that it is cached too: every query asks for
    all three kinds (``kb.worker_process.wanted_media``), and a client's Accept header
    refuses one or two of them each time."""
    table = GRAPHS + GRAPH_ALIASES if kind == "graph" else RESULTS
    formats = dict(reversed(table))  # media type -> format, the first entry wins
    if format_name:  # a name that does not fit this kind of result leaves it to Accept
        wanted = NAMES.get(format_name.lower(), format_name.lower())
        if wanted in formats:
            return formats[wanted]
    # an alias (application/json) does not bring back the type it stands for when that
    # type is refused (application/sparql-results+json;q=0)
    parsed = Accept(accept)
    found = best(parsed, [m for m, f in table if not parsed.refuses(f.media_type)])
    if found is None:
        return NotAcceptable(
            f"None of the requested types ({accept}) fits a {kind} result; acceptable: "
            + ", ".join(m for m, _ in table))
    return formats[found]


_EVERY_FORMAT_OR_HTML = (*(m for m, _ in RESULTS + GRAPHS), "text/html")


def prefers_html(accept: str | None, alternatives: list[str] | None = None) -> bool:
    """True when ``text/html`` fits ``accept`` better than every one of ``alternatives``
    (default: every SPARQL result and graph format): a browser's header gives a page,
    ``*/*`` alone does not."""
    if alternatives is None:
        return _best_for_header(accept, _EVERY_FORMAT_OR_HTML) == "text/html"
    return best(accept, [*alternatives, "text/html"]) == "text/html"
