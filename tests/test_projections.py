"""Projections (kb.projections) on a hand-made graph and on the bundled data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kb import InvalidParameter, KnowledgeBase, NotFound, topic_graphs
from kb import projections as p
from kb.neighbourhood import neighbourhood

EX = "http://example.org/"
ID = "https://w3id.org/medsupply-kb/id/"
MS = "https://w3id.org/medsupply-kb/ontology#"


def test_neighbourhood_by_depth(groups_kb: KnowledgeBase) -> None:
    one = neighbourhood(groups_kb, f"{EX}a", 1)
    assert sorted(one.nodes) == [f"{EX}{n}" for n in "abcg"]
    assert one.nodes[f"{EX}a"]["label"] == "A"
    two = neighbourhood(groups_kb, f"{EX}a", 2)
    assert sorted(two.nodes) == [f"{EX}{n}" for n in "abcdg"]  # d through the bridge
    three = neighbourhood(groups_kb, f"{EX}a", 3)
    assert sorted(three.nodes) == [f"{EX}{n}" for n in "abcdefg"]
    assert not any(d.get("more") for _, d in three.nodes(data=True))


def test_neighbourhood_rejects_bad_input(groups_kb: KnowledgeBase) -> None:
    with pytest.raises(NotFound, match="nobody"):
        neighbourhood(groups_kb, f"{EX}nobody")
    with pytest.raises(InvalidParameter, match="depth"):
        neighbourhood(groups_kb, f"{EX}a", 4)
    with pytest.raises(InvalidParameter, match="iri"):
        neighbourhood(groups_kb, "not an iri")


def test_neighbourhood_leaves_out_what_the_entity_graph_leaves_out(bundled: KnowledgeBase) -> None:
    """The neighbourhood's links are the entity projection's (no ontology, reference graphs,
    provenance or hub links): its nodes within 2 hops are networkx's ego graph of it."""
    import networkx as nx

    nl = f"{ID}country/NL"
    ego = nx.ego_graph(p.entity_graph(bundled), nl, radius=2, undirected=True)
    assert set(neighbourhood(bundled, nl, 2).nodes) == set(ego.nodes)


def test_entity_graph_restricts_to_graphs_and_classes(bundled: KnowledgeBase) -> None:
    full = p.entity_graph(bundled)
    assert all(not n.startswith("_:") for n in full)
    assert not any(d["predicate"] == p.RDF_TYPE for _, _, d in full.edges(data=True))
    typed = p.entity_graph(bundled, include_types=True)
    assert any(d["predicate"] == p.RDF_TYPE for _, _, d in typed.edges(data=True))
    nl = "https://w3id.org/medsupply-kb/graph/src/scmp-2020-03-29"
    if nl in bundled.graphs():
        only = p.entity_graph(bundled, graphs=[nl])
        assert {d["graph"] for _, _, d in only.edges(data=True)} == {nl}
    countries = p.entity_graph(bundled, classes=[f"{MS}Country"])
    assert countries.number_of_nodes() and all(
        f"{MS}Country" in d["types"] for _, d in countries.nodes(data=True))


HAND_MADE = f"""
@prefix ex: <{EX}> . @prefix ms: <{MS}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix prov: <http://www.w3.org/ns/prov#> . @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
<{EX}g1> {{
  _:n1 ex:knows ex:a . _:n2 ex:knows ex:b . _:n3 ex:knows ex:c .
  ex:a ex:knows ex:b ; ex:likes ex:b ; ms:supplies ex:c ; prov:wasDerivedFrom ex:doc ;
       skos:inScheme ex:scheme ; rdfs:label "A auf Deutsch"@de, "A in English"@en .
  ex:b rdfs:label "B auf Deutsch"@de .
  ex:c a ms:Country .
}}
<{EX}g2> {{ ex:c ex:knows ex:d . ex:d rdfs:label "D in English"@en, "D auf Deutsch"@de . }}
<https://w3id.org/medsupply-kb/graph/ontology> {{
  ms:supplies rdfs:label "supplies goods to"@en . ms:Country rdfs:subClassOf ms:Place .
}}
<https://w3id.org/medsupply-kb/graph/reference-things> {{ ex:d ex:partOf ex:c . }}
"""


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """Two graphs of links, with labels in two languages, blank nodes, provenance and hub
    links, an ontology graph and a reference graph."""
    path = tmp_path_factory.mktemp("hand-made") / "hand-made.trig"
    path.write_text(HAND_MADE)
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        yield kb


def _edges(g) -> set[tuple[str, str, str]]:
    return {(s.removeprefix(EX), o.removeprefix(EX), d["label"]) for s, o, d in g.edges(data=True)}


def test_entity_graph_links_labels_and_what_it_leaves_out(hand_made: KnowledgeBase) -> None:
    g = p.entity_graph(hand_made)
    # two properties between the same two nodes are two edges; blank nodes are left out;
    # an ontology property is labelled with its English label; provenance, hub links, the
    # ontology's and the reference graphs' links are left out
    assert _edges(g) == {("a", "b", "knows"), ("a", "b", "likes"),
                         ("a", "c", "supplies goods to"), ("c", "d", "knows")}
    assert not any(n.startswith("_:") or not n.startswith(EX) for n in g)
    assert g.nodes[f"{EX}a"]["label"] == "A in English"  # English first, whatever the order
    assert g.nodes[f"{EX}d"]["label"] == "D in English"
    assert g.nodes[f"{EX}b"]["label"] == "B auf Deutsch"  # else any label
    assert g.nodes[f"{EX}c"]["label"] == "c"  # else the local name
    assert g.nodes[f"{EX}c"]["types"] == [f"{MS}Country"]
    assert g.nodes[f"{EX}a"]["graphs"] == [f"{EX}g1"]


def test_entity_graph_options_keep_what_is_left_out(hand_made: KnowledgeBase) -> None:
    only_g2 = p.entity_graph(hand_made, graphs=[f"{EX}g2"])
    assert _edges(only_g2) == {("c", "d", "knows")}
    everything = p.entity_graph(hand_made, include_schema=True, include_provenance=True,
                                include_reference_hubs=True)
    assert _edges(everything) >= {("a", "doc", "wasDerivedFrom"), ("a", "scheme", "inScheme"),
                                  ("d", "c", "partOf"), (f"{MS}Country", f"{MS}Place", "subClassOf")}
    assert ("a", "doc", "wasDerivedFrom") in _edges(p.entity_graph(hand_made, include_provenance=True))
    assert ("a", "scheme", "inScheme") in _edges(p.entity_graph(hand_made, include_reference_hubs=True))
    assert (f"{MS}Country", f"{MS}Place", "subClassOf") in _edges(p.entity_graph(hand_made, include_schema=True))


def test_labels_of_some_nodes_prefer_english(hand_made: KnowledgeBase) -> None:
    import networkx as nx

    g = nx.MultiDiGraph()
    for n in "abcd":
        p.new_node(g, f"{EX}{n}")
    p.add_labels_and_types(hand_made, g, [f"{EX}{n}" for n in "abcd"], batch=2)
    assert {n.removeprefix(EX): d["label"] for n, d in g.nodes(data=True)} == {
        "a": "A in English", "b": "B auf Deutsch", "c": "c", "d": "D in English"}
    assert g.nodes[f"{EX}c"]["types"] == [f"{MS}Country"]


def test_statement_graph(bundled: KnowledgeBase) -> None:
    g = topic_graphs.statement_graph(bundled)
    jiang = f"{ID}statement/jiang-fan-2020-04-05"
    mfa = f"{ID}statement/mfa-2020-04-02"
    assert g.has_edge(jiang, mfa, key=f"{MS}echoes")
    assert g.has_edge(f"{ID}person/jiang-fan", jiang, key=f"{MS}speaker")
    assert g.nodes[jiang]["date"] == "2020-04-05"
    assert any(d["predicate"] == f"{MS}respondsTo" for _, _, d in g.edges(data=True))


def test_incident_graph(bundled: KnowledgeBase) -> None:
    g = topic_graphs.incident_graph(bundled)
    recall = f"{ID}incident/nl-mask-recall-2020-03-28"
    shipment = f"{ID}shipment/nl-masks-2020-03"
    assert g.has_edge(recall, f"{ID}country/NL", key=f"{MS}actorCountry")
    assert g.has_edge(recall, shipment, key=f"{MS}concerns")
    assert g.has_edge(shipment, f"{ID}country/CN", key=f"{MS}origin")
    assert g.nodes[recall]["affected_quantity"] == 600_000
    assert f"{MS}Recall" in g.nodes[recall]["types"]


def test_flow_graph_keeps_aggregates_apart(bundled: KnowledgeBase) -> None:
    g = topic_graphs.flow_graph(bundled)
    kinds = {d["kind"] for _, _, d in g.edges(data=True)}
    assert kinds == {"shipment", "manufacturer", "reported aggregate"}
    assert topic_graphs.flow_graph(bundled) is g  # cached until the data changes
    def total(graph, kind):
        return sum(d["count"] for _, _, d in graph.edges(data=True) if d["kind"] == kind)
    later = topic_graphs.flow_graph(bundled, start="2030-01-01")  # dated records drop out, undated stay
    assert total(later, "shipment") < total(g, "shipment")
    # one reported edge per figure (product, unit, period), never a sum of them
    masks = [d for _, _, d in g.out_edges(f"{ID}country/CN", data=True)
             if d["kind"] == "reported aggregate" and d["product"] == f"{ID}product/face-mask"
             and d["unit"].endswith("/NUM")]
    assert sorted((d["start"], d["end"], d["amount"]) for d in masks) == [
        ("2020-03-01", "2020-04-04", 3.86e9), ("2020-03-01", "2020-05-16", 5.09e10)]
    assert g.nodes[f"{ID}country/CN"]["label"] == "China"
