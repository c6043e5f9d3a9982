"""``KnowledgeBase.dataset()``: an rdflib view of the store's named graphs, held by oxrdflib's
Oxigraph store (no reparse by rdflib)."""

from __future__ import annotations

from pathlib import Path

import rdflib
from rdflib import XSD, Literal, URIRef

from kb import KnowledgeBase

DATA = Path(__file__).parent / "data"
EX = "http://example.org/"


def test_the_dataset_holds_the_named_graphs_not_the_union() -> None:
    with KnowledgeBase.open("memory") as kb:
        kb.load([DATA / "graphs.trig"])
        ds = kb.dataset()
        assert isinstance(ds, rdflib.Dataset)
        assert type(ds.store).__name__ == "OxigraphStore"
        sizes = {str(g.identifier): len(g) for g in ds.graphs()}
        assert sizes[f"{EX}g1"] == 1 and sizes[f"{EX}g2"] == 2
        # the engine keeps the union of the graphs in its default graph: not copied here
        assert len(ds.default_context) == 0
        # each triple is in its own graph once
        found = ds.query("SELECT ?g ?o WHERE { GRAPH ?g { ?b <http://example.org/q> ?o } }")
        # oxrdflib gives plain strings their datatype (RDF 1.1: the same literal)
        assert [(str(g), o) for g, o in found] == [(f"{EX}g2", Literal("blank", datatype=XSD.string))]
        assert (None, URIRef(f"{EX}q"), Literal("blank")) in ds.graph(URIRef(f"{EX}g2"))
        assert (URIRef(f"{EX}a"), URIRef(f"{EX}p"), URIRef(f"{EX}b"),
                URIRef(f"{EX}g1")) in set(ds.quads())
