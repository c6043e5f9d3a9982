"""Names of the serialization formats the CLI and the exports accept."""

from __future__ import annotations

import pyoxigraph as ox

from kb.errors import InvalidParameter

RESULTS_FORMATS: dict[str, ox.QueryResultsFormat] = {
    "json": ox.QueryResultsFormat.JSON,
    "xml": ox.QueryResultsFormat.XML,
    "csv": ox.QueryResultsFormat.CSV,
    "tsv": ox.QueryResultsFormat.TSV,
}

RDF_FORMATS: dict[str, ox.RdfFormat] = {
    "turtle": ox.RdfFormat.TURTLE,
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "json-ld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "xml": ox.RdfFormat.RDF_XML,
    "trig": ox.RdfFormat.TRIG,
    "nq": ox.RdfFormat.N_QUADS,
    "nquads": ox.RdfFormat.N_QUADS,
    "n3": ox.RdfFormat.N3,
}

#: File extensions that ``kb load`` reads, and the format of each.
EXTENSIONS: dict[str, ox.RdfFormat] = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".turtle": ox.RdfFormat.TURTLE,
    ".nt": ox.RdfFormat.N_TRIPLES,
    ".nq": ox.RdfFormat.N_QUADS,
    ".trig": ox.RdfFormat.TRIG,
    ".jsonld": ox.RdfFormat.JSON_LD,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".owl": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
    ".n3": ox.RdfFormat.N3,
}


def rdf_format(name: str) -> ox.RdfFormat:
    """The RDF format called ``name`` (a short name, an extension or a media type).

    >>> rdf_format("ttl").name
    'Turtle'
    >>> rdf_format("application/n-quads").name
    'N-Quads'
    """
    fmt = RDF_FORMATS.get(name.lower().lstrip(".")) or ox.RdfFormat.from_media_type(name)
    if fmt is None:
        raise InvalidParameter(
            "format", f"unknown RDF format {name!r}; use one of {', '.join(sorted(RDF_FORMATS))}"
        )
    return fmt


def results_format(name: str) -> ox.QueryResultsFormat:
    """The SPARQL results format called ``name`` (json, xml, csv, tsv or a media type)."""
    fmt = RESULTS_FORMATS.get(name.lower()) or ox.QueryResultsFormat.from_media_type(name)
    if fmt is None:
        raise InvalidParameter(
            "format", f"unknown results format {name!r}; use one of json, xml, csv, tsv"
        )
    return fmt
