"""Reasoning on request: what the ontology implies, materialised into the ``inferred`` graph.

The closure (RDFS or OWL-RL, by owlrl) is computed on an rdflib copy of the store; only the
triples it adds are kept, never written into source graphs. Junk the rules produce is
dropped: triples whose subject is a literal, axiomatic triples about the RDF/RDFS/OWL/XSD
vocabularies themselves, and reflexive ``owl:sameAs``/``owl:equivalentClass`` triples.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     kb.update('''INSERT DATA { GRAPH <urn:g> {
...       <urn:KN95> <http://www.w3.org/2004/02/skos/core#broader> <urn:Mask> .
...       <http://www.w3.org/2004/02/skos/core#broader>
...           <http://www.w3.org/2000/01/rdf-schema#subPropertyOf>
...           <http://www.w3.org/2004/02/skos/core#broaderTransitive> } }''')
...     reason(kb, profile="rdfs").added > 0
True
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from kb.engine import _graph
from kb.errors import InvalidParameter
from kb.namespaces import INFERRED_GRAPH

PROFILES = ("rdfs", "owlrl")
_VOCABULARIES = (str(RDF), str(RDFS), str(OWL), str(XSD))


@dataclass(frozen=True)
class ReasoningReport:
    profile: str
    asserted: int
    added: int


def _keep(s: object, p: object, o: object) -> bool:
    if isinstance(s, Literal):
        return False
    if isinstance(s, URIRef) and str(s).startswith(_VOCABULARIES):
        return False
    if p in (OWL.sameAs, OWL.equivalentClass, OWL.equivalentProperty, RDFS.subClassOf,
             RDFS.subPropertyOf) and s == o:
        return False
    return not (p == RDF.type and o in (RDFS.Resource, OWL.Thing, RDFS.Class, OWL.Class)
                and not str(s).startswith("https://w3id.org/medsupply-kb/ontology#"))


def reason(kb, *, profile: str = "owlrl") -> ReasoningReport:
    """Materialise the closure of the asserted graphs into the ``inferred`` graph
    (replacing what was there)."""
    import owlrl

    if profile not in PROFILES:
        raise InvalidParameter("profile", f"{profile!r} is not one of {', '.join(PROFILES)}")
    graphs = asserted_graphs(kb)
    asserted = Graph()
    if graphs:
        asserted = kb.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", _graph,
                          default_graph=graphs)
    closure = Graph()
    closure += asserted
    semantics = owlrl.RDFS_Semantics if profile == "rdfs" else owlrl.OWLRL_Semantics
    owlrl.DeductiveClosure(semantics, axiomatic_triples=False, datatype_axioms=False).expand(
        closure)
    new = [t for t in closure if t not in asserted and _keep(*t)]
    kb.replace_graph(str(INFERRED_GRAPH), new)
    return ReasoningReport(profile, len(asserted), len(new))


def asserted_graphs(kb) -> list[str]:
    """The named graphs without the ``inferred`` one: pass them as ``default_graph`` to
    query what the sources assert, without what reasoning derived."""
    return [g for g in kb.graphs() if g != str(INFERRED_GRAPH)]
