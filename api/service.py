"""The SPARQL service description of ``/sparql`` (sd: with VoID statistics per graph)."""

from __future__ import annotations

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, XSD

from api import negotiation
from kb.store import KnowledgeBase

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
#: rdflib's serializer names of the graph formats the description is offered in.
RDFLIB_NAMES = {"Turtle": "turtle", "N-Triples": "nt", "JSON-LD": "json-ld",
                "RDF/XML": "xml", "TriG": "trig", "N-Quads": "nquads", "N3": "n3"}


def service_description(kb: KnowledgeBase, endpoint: str) -> Graph:
    """The sd: description of the endpoint, with VoID statistics per named graph."""
    g = Graph()
    g.bind("sd", SD)
    g.bind("void", VOID)
    service = URIRef(endpoint)
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, service))
    for language in (SD.SPARQL11Query, SD.SPARQL11Update):
        g.add((service, SD.supportedLanguage, language))
    g.add((service, SD.feature, SD.UnionDefaultGraph))
    for media, _ in negotiation.RESULTS + negotiation.GRAPHS:
        g.add((service, SD.resultFormat, Literal(media)))
    dataset = BNode()
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    stats = kb.stats()
    default = BNode()
    g.add((dataset, SD.defaultGraph, default))
    g.add((default, RDF.type, SD.Graph))
    g.add((default, VOID.triples, Literal(stats.triples, datatype=XSD.integer)))
    for count in stats.graphs:
        named, graph = BNode(), BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(count.graph)))
        g.add((named, SD.graph, graph))
        g.add((graph, RDF.type, SD.Graph))
        g.add((graph, VOID.triples, Literal(count.triples, datatype=XSD.integer)))
    return g
