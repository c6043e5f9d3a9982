"""The project's namespaces and the one prefix map everything else uses."""

from __future__ import annotations

from rdflib import Namespace

BASE = "https://w3id.org/medsupply-kb/"
MS = Namespace(BASE + "ontology#")
ID = Namespace(BASE + "id/")
GRAPH = Namespace(BASE + "graph/")

#: Named graphs with a fixed role.
ONTOLOGY_GRAPH = GRAPH["ontology"]
INFERRED_GRAPH = GRAPH["inferred"]
ANALYTICS_GRAPH = GRAPH["analytics"]
LOADS_GRAPH = GRAPH["loads"]

PREFIXES: dict[str, str] = {
    "ms": str(MS),
    "msid": str(ID),
    "msg": str(GRAPH),
    "gsrc": str(GRAPH) + "source/",
    "country": str(ID) + "country/",
    "agent": str(ID) + "org/",
    "person": str(ID) + "person/",
    "post": str(ID) + "post/",
    "product": str(ID) + "product/",
    "standard": str(ID) + "standard/",
    "source": str(ID) + "source/",
    "claim": str(ID) + "claim/",
    "incident": str(ID) + "incident/",
    "shipment": str(ID) + "shipment/",
    "statement": str(ID) + "statement/",
    "event": str(ID) + "event/",
    "regulation": str(ID) + "regulation/",
    "correction": str(ID) + "correction/",
    "conflict": str(ID) + "conflict/",
    "rate": str(ID) + "rate/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "schema": "https://schema.org/",
    "org": "http://www.w3.org/ns/org#",
    "qudt": "http://qudt.org/schema/qudt/",
    "unit": "http://qudt.org/vocab/unit/",
    "time": "http://www.w3.org/2006/time#",
    "void": "http://rdfs.org/ns/void#",
    "sh": "http://www.w3.org/ns/shacl#",
    "wd": "http://www.wikidata.org/entity/",
}


def sparql_prefixes() -> str:
    """The prefix map as SPARQL ``PREFIX`` lines."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())
