"""The query mix of the SPARQL benchmarks (``bench.sparql``, ``bench.soak``): queries typical
of this knowledge base over the generated trade data (``bench.generate``) — a label lookup,
joins, an aggregate, a date range, OPTIONAL, a text filter, a property path, COUNT,
CONSTRUCT and ASK. Each answers something non-empty at every generated size."""

from __future__ import annotations

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
