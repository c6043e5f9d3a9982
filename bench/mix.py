"""The query mix of the SPARQL benchmarks (``bench.sparql``, ``bench.soak``): queries typical
of this knowledge base over the generated trade data (``bench.generate``) — a label lookup,
joins, an aggregate, a date range, OPTIONAL, a text filter, a property path, COUNT,
CONSTRUCT and ASK. Each answers something non-empty at every generated size."""

from __future__ import annotations

import random
from datetime import date, timedelta

MS = "PREFIX ms: <https://w3id.org/medsupply-kb/ontology#> " \
     "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> " \
     "PREFIX qudt: <http://qudt.org/schema/qudt/> PREFIX schema: <http://schema.org/> "

MIX = {
    "label": MS + 'SELECT ?c WHERE { ?c a ms:Country ; rdfs:label "Country NL"@en }',
    "join": MS + "SELECT ?s ?d WHERE { ?s a ms:Shipment ; ms:origin ?o ; ms:destination ?d . "
                 "?o rdfs:label ?ol } LIMIT 100",
    "aggregate": MS + "SELECT ?d (COUNT(?s) AS ?n) WHERE { ?s a ms:Shipment ; ms:destination ?d } "
                      "GROUP BY ?d ORDER BY DESC(?n) LIMIT 10",
    "dates": MS + 'SELECT ?s WHERE { ?s ms:date ?t FILTER(?t >= "2020-03-01"^^'
                  '<http://www.w3.org/2001/XMLSchema#date> && ?t < "2020-03-08"^^'
                  "<http://www.w3.org/2001/XMLSchema#date>) } LIMIT 200",
    "optional": MS + "SELECT ?s ?m WHERE { ?s a ms:Shipment OPTIONAL { ?s ms:manufacturer ?m } } "
                     "LIMIT 200",
    "text": MS + 'SELECT ?x ?l WHERE { ?x rdfs:label ?l FILTER(CONTAINS(LCASE(STR(?l)), "mask")) } '
                 "LIMIT 50",
    "path": "SELECT ?a ?b WHERE { ?a <http://www.w3.org/2004/02/skos/core#broader>+ ?b } LIMIT 100",
    "count": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "construct": MS + "CONSTRUCT { ?s ms:destination ?d } WHERE { ?s ms:destination ?d } LIMIT 100",
    "ask": "ASK { ?s ?p ?o }",
}

COUNTRIES = ["CN", "NL", "ES", "IT", "FR", "DE", "US", "GB", "TR", "CZ", "SK", "BE"]
WORDS = ["mask", "respirator", "suit", "glove", "ventilator", "goggles"]


def varied(name: str, rng: random.Random) -> str:
    """``MIX[name]`` with parameters drawn from ``rng`` (a country, a week, a word, an offset,
    a threshold): another text per request, the same work, so that no result cache can
    answer it."""
    n = rng.randrange(1000)
    if name == "label":
        return MIX[name].replace("Country NL", f"Country {rng.choice(COUNTRIES)}")
    if name == "dates":
        start = date(2020, 1, 1) + timedelta(days=rng.randrange(358))
        return MIX[name].replace("2020-03-01", start.isoformat()).replace(
            "2020-03-08", (start + timedelta(days=7)).isoformat())
    if name == "text":
        return MIX[name].replace('"mask"', f'"{rng.choice(WORDS)}"')
    if name == "aggregate":
        return MIX[name].replace("GROUP BY ?d", f"GROUP BY ?d HAVING (COUNT(?s) > {n % 10})")
    if name in ("join", "optional", "construct"):
        return f"{MIX[name]} OFFSET {n % 500}"
    if name == "path":
        return f"{MIX[name]} OFFSET {n % 5}"
    if name == "count":
        return MIX[name].replace("COUNT(*) AS", f"COUNT(*) + {n} AS")
    if name == "ask":
        return MIX[name][:-1] + f"FILTER(?o != {n}) }}"
    raise KeyError(name)
