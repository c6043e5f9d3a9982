"""Reasoning on request: what the ontology implies, materialised into the ``inferred`` graph.

The closure (RDFS or OWL-RL, by owlrl) is computed on an rdflib copy of the store; only the
triples it adds are kept, never written into source graphs. Junk the rules produce is
dropped: triples whose subject is a literal, axiomatic triples about the RDF/RDFS/OWL/XSD
vocabularies themselves, and reflexive ``owl:sameAs``/``owl:equivalentClass`` triples.

Reasoning runs only when its inputs changed: the inferred graph records a digest of the
profile and of the asserted triples it was computed from (``dcterms:identifier
"sha256:…"`` on the graph's IRI, with the time and the count), and a run that finds the
same digest keeps the graph as it is (``force`` redoes it). ``make serve`` reasons on every
start, and this is what makes a restart with nothing changed quick.

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

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pyoxigraph as ox
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, VOID, XSD

from kb.errors import InvalidParameter
from kb.namespaces import ANALYTICS_GRAPH, INFERRED_GRAPH
from kb.terms import to_rdflib

PROFILES = ("rdfs", "owlrl")
_VOCABULARIES = (str(RDF), str(RDFS), str(OWL), str(XSD))
#: Part of the inputs' digest: change it when what a run keeps changes (``_keep``, the
#: closure's options), so that stores reasoned by an older version are reasoned again.
RULES_VERSION = "1"


@dataclass(frozen=True)
class ReasoningReport:
    profile: str
    asserted: int
    added: int
    skipped: bool = False  # the inputs were those of the last run: nothing was redone


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


def reason(kb, *, profile: str = "owlrl", force: bool = False) -> ReasoningReport:
    """Materialise the closure of the asserted graphs into the ``inferred`` graph
    (replacing what was there), unless the graph was computed with this profile from the
    same asserted triples (then ``skipped``); ``force`` reasons anyway."""
    if profile not in PROFILES:
        raise InvalidParameter("profile", f"{profile!r} is not one of {', '.join(PROFILES)}")
    # derived scores are no premises: reasoning over them would copy them into `inferred`
    graphs = [g for g in asserted_graphs(kb) if g != str(ANALYTICS_GRAPH)]
    lines: list[bytes] = []
    if graphs:  # N-Triples from the engine: one snapshot for the digest and the closure
        data = kb.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", format="nt",
                        default_graph=graphs, in_process=True).data
        lines = sorted(set(data.splitlines()))
    digest = inputs_digest(profile, lines)
    if not force:
        added = _recorded(kb, digest)
        if added is not None:
            return ReasoningReport(profile, len(lines), added, skipped=True)
    import owlrl

    asserted = Graph()
    for t in ox.parse(b"\n".join(lines), format=ox.RdfFormat.N_TRIPLES):
        asserted.add((to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)))  # type: ignore[arg-type]
    closure = Graph()
    closure += asserted
    semantics = owlrl.RDFS_Semantics if profile == "rdfs" else owlrl.OWLRL_Semantics
    owlrl.DeductiveClosure(semantics, axiomatic_triples=False, datatype_axioms=False).expand(
        closure)
    new = [t for t in closure if t not in asserted and _keep(*t)]
    kb.replace_graph(str(INFERRED_GRAPH), [*new, *_record(profile, digest, len(new))])
    return ReasoningReport(profile, len(asserted), len(new))


def inputs_digest(profile: str, lines: list[bytes]) -> str:
    """The digest of a run's inputs: the profile, ``RULES_VERSION`` and the asserted
    triples (sorted, distinct N-Triples lines; blank nodes keep the store's labels)."""
    h = hashlib.sha256(f"{profile} {RULES_VERSION}\n".encode())
    for line in lines:
        h.update(line)
        h.update(b"\n")
    return h.hexdigest()


def _record(profile: str, digest: str, added: int) -> list[tuple[URIRef, URIRef, Literal]]:
    """The inferred graph's description of itself: what it was computed from and when."""
    g = INFERRED_GRAPH
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        (g, DCTERMS.identifier, Literal(f"sha256:{digest}")),
        (g, DCTERMS.description, Literal(
            f"The {'OWL-RL' if profile == 'owlrl' else 'RDFS'} closure (owlrl) of the asserted "
            "graphs; dcterms:identifier is the digest of the profile and of the asserted "
            "triples it was computed from.")),
        (g, PROV.generatedAtTime, Literal(now, datatype=XSD.dateTime)),
        (g, VOID.triples, Literal(added)),
    ]


def _recorded(kb, digest: str) -> int | None:
    """The number of triples inferred by the last run, if its inputs had ``digest``."""
    rows = kb.select(f"""SELECT ?n WHERE {{ GRAPH <{INFERRED_GRAPH}> {{
        <{INFERRED_GRAPH}> <{DCTERMS.identifier}> "sha256:{digest}" ; <{VOID.triples}> ?n }} }}""")
    return int(rows[0]["n"]) if rows else None  # type: ignore[call-overload]


def asserted_graphs(kb) -> list[str]:
    """The named graphs without the ``inferred`` one: pass them as ``default_graph`` to
    query what the sources assert, without what reasoning derived."""
    return [g for g in kb.graphs() if g != str(INFERRED_GRAPH)]
