"""Count once, sum right: the default graph is the set union of the named graphs.

A triple stated by several sources matches once in the default graph (queries, counts,
sums, exports), ``GRAPH ?g`` still sees each source, ``FROM`` merges are sets, and SPARQL
Update acts on what queries see (the contract in ``kb.union``).
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.bundled import load_bundled
from kb.errors import QueryError
from kb.store import KnowledgeBase
from kb.union import EDITS_GRAPH
from tests.conftest import oxigraph, run_kb, serve

EX = "urn:ex:"
THREE = (f"INSERT DATA {{ GRAPH <{EX}g1> {{ <{EX}s> <{EX}v> 5 . <{EX}a> <{EX}v> 1 }} "
         f"GRAPH <{EX}g2> {{ <{EX}s> <{EX}v> 5 . <{EX}b> <{EX}v> 2 }} "
         f"GRAPH <{EX}g3> {{ <{EX}s> <{EX}v> 5 }} }}")
COUNT_SUM = f"SELECT (COUNT(*) AS ?n) (SUM(?o) AS ?sum) WHERE {{ ?s <{EX}v> ?o }}"


def count_sum(kb: KnowledgeBase, query: str = COUNT_SUM, **options) -> tuple[int, int]:
    data = json.loads(kb.query(query, format="json", **options).data)
    row = data["results"]["bindings"][0]
    return int(row["n"]["value"]), int(row.get("sum", {"value": 0})["value"])


def quads_by_graph(kb: KnowledgeBase) -> dict[str, set[tuple[str, str, str]]]:
    found: dict[str, set[tuple[str, str, str]]] = {}
    for row in kb.select("SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"):
        found.setdefault(str(row["g"]), set()).add((str(row["s"]), str(row["p"]), str(row["o"])))
    return found


@pytest.fixture(params=["memory", "disk"])
def kb(request, tmp_path: Path) -> Iterator[KnowledgeBase]:
    location = "memory" if request.param == "memory" else str(tmp_path / "store")
    with KnowledgeBase.open(location) as store:
        yield store


def test_a_triple_in_three_graphs_counts_once(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    assert count_sum(kb) == (3, 8)  # s=5 once, a=1, b=2
    per_graph = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s <{EX}v> ?o }} }}"
    assert count_sum(kb, per_graph)[0] == 5  # each source still seen
    grouped = kb.select(f"SELECT ?s (COUNT(*) AS ?n) WHERE {{ ?s <{EX}v> ?o }} GROUP BY ?s")
    assert {str(r["s"]): int(r["n"]) for r in grouped} == {f"{EX}s": 1, f"{EX}a": 1, f"{EX}b": 1}


def test_merges_named_by_from_or_the_protocol_are_sets(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    from_query = f"SELECT (COUNT(*) AS ?n) (SUM(?o) AS ?sum) FROM <{EX}g1> FROM <{EX}g2> " \
                 f"WHERE {{ ?s <{EX}v> ?o }}"
    assert count_sum(kb, from_query) == (3, 8)
    assert count_sum(kb, default_graph=[f"{EX}g1", f"{EX}g3"]) == (2, 6)
    assert count_sum(kb, default_graph=[f"{EX}g3"]) == (1, 5)
    named = (f"SELECT (COUNT(*) AS ?n) FROM <{EX}g1> FROM <{EX}g2> FROM NAMED <{EX}g3> "
             f"WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}")
    assert count_sum(kb, named)[0] == 1  # only the graph named by FROM NAMED


def test_dropping_a_source_keeps_what_others_assert(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    kb.drop_graph(f"{EX}g1")
    assert count_sum(kb) == (2, 7)
    kb.replace_graph(f"{EX}g2", [])
    kb.replace_graph(f"{EX}g3", [])
    assert count_sum(kb) == (0, 0)
    assert len(kb) == 0


def test_exports_hold_the_sources_not_the_union(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    quads = list(ox.parse(kb.dump("nq"), format=ox.RdfFormat.N_QUADS))
    assert len(quads) == 5
    assert all(isinstance(q.graph_name, ox.NamedNode) for q in quads)
    assert len(kb.graph()) == 3  # the union as an rdflib graph: a set


# --- SPARQL Update: what users see ----------------------------------------------------------


def test_insert_without_graph_goes_into_the_edits_graph(kb: KnowledgeBase) -> None:
    kb.update(f"INSERT DATA {{ <{EX}x> <{EX}v> 7 }}")
    graphs = quads_by_graph(kb)
    assert (f"{EX}x", f"{EX}v", "7") in graphs[EDITS_GRAPH]
    assert count_sum(kb) == (1, 7)
    modified = kb.select(f"SELECT ?t WHERE {{ GRAPH <{EDITS_GRAPH}> {{ <{EDITS_GRAPH}> "
                         "<http://purl.org/dc/terms/modified> ?t } }")
    assert len(modified) == 1  # when the hand edit was made, recorded once


def test_delete_without_graph_removes_the_triple_from_every_source(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    kb.update(f"DELETE DATA {{ <{EX}s> <{EX}v> 5 }}")
    assert count_sum(kb) == (2, 3)
    assert all((f"{EX}s", f"{EX}v", "5") not in triples for triples in quads_by_graph(kb).values())


def test_delete_where_everything_deletes_everything(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    kb.update("DELETE WHERE { ?s ?p ?o }")
    assert len(kb) == 0
    assert kb.select("SELECT * WHERE { ?s ?p ?o }") == []


def test_a_modify_moves_a_fact_from_every_source_into_one_graph(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    kb.update(f"PREFIX ex: <{EX}> DELETE {{ ?s ex:v 5 }} INSERT {{ GRAPH ex:fixed {{ ?s ex:v 6 }} }}"
              " WHERE { ?s ex:v 5 }")
    graphs = quads_by_graph(kb)
    assert graphs[f"{EX}fixed"] == {(f"{EX}s", f"{EX}v", "6")}
    assert count_sum(kb) == (3, 9)


def test_updates_on_named_graphs_keep_the_union(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    kb.update(f"DELETE DATA {{ GRAPH <{EX}g1> {{ <{EX}s> <{EX}v> 5 . <{EX}a> <{EX}v> 1 }} }}")
    assert count_sum(kb) == (2, 7)  # s=5 still said by g2 and g3; a=1 gone
    kb.update(f"DROP GRAPH <{EX}g2> ; CLEAR GRAPH <{EX}g3>")
    assert count_sum(kb) == (0, 0)
    kb.update(f"INSERT {{ GRAPH <{EX}g4> {{ ?s <{EX}v> 9 }} }} WHERE {{ VALUES ?s {{ <{EX}q> }} }}")
    kb.update(f"COPY <{EX}g4> TO <{EX}g5> ; WITH <{EX}g4> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}")
    assert count_sum(kb) == (1, 9)
    assert set(quads_by_graph(kb)) == {f"{EX}g5"}
    kb.update("CLEAR DEFAULT")
    assert len(kb) == 0


def test_writes_into_the_default_graph_itself_are_refused(kb: KnowledgeBase) -> None:
    kb.update(THREE)
    for update in (f"ADD <{EX}g1> TO DEFAULT", f"COPY <{EX}g1> TO DEFAULT",
                   f"MOVE DEFAULT TO <{EX}g9>"):
        with pytest.raises(QueryError, match="default graph is the union"):
            kb.update(update)
    assert count_sum(kb) == (3, 8)


def test_a_store_from_an_earlier_version_gets_its_union(tmp_path: Path) -> None:
    location = tmp_path / "old"
    old = ox.Store(str(location))  # written as before: named graphs only
    for g in ("g1", "g2"):
        old.add(ox.Quad(ox.NamedNode(f"{EX}s"), ox.NamedNode(f"{EX}v"), ox.Literal(5),
                        ox.NamedNode(f"{EX}{g}")))
    old.flush()
    del old
    with KnowledgeBase.open(str(location)) as kb:
        assert count_sum(kb) == (1, 5)


# --- every path that answers ----------------------------------------------------------------


def test_the_incident_list_has_one_row_per_incident_and_label(bundled: KnowledgeBase) -> None:
    rows = bundled.select(
        "PREFIX ms: <https://w3id.org/medsupply-kb/ontology#> "
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        "SELECT ?i ?l WHERE { ?i a ms:QualityIncident ; rdfs:label ?l }")
    pairs = Counter((str(r["i"]), str(r["l"])) for r in rows)
    assert pairs and max(pairs.values()) == 1
    repeated = bundled.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
    union = bundled.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert int(union[0]["n"]) < int(repeated[0]["n"])  # the data does repeat across sources


@pytest.fixture(scope="module")
def three_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    location = tmp_path_factory.mktemp("union") / "store"
    with KnowledgeBase.open(str(location)) as kb:
        kb.update(THREE)
    return location


@pytest.mark.server
@pytest.mark.parametrize("cache", ["67108864", "0"])
def test_the_endpoint_counts_once_with_and_without_its_cache(three_store: Path, cache: str):
    with serve(three_store, result_cache_bytes=cache) as url:
        for _ in range(2):  # the second answer may come from the cache
            r = httpx.get(f"{url}/sparql", params={"query": COUNT_SUM},
                          headers={"Accept": "application/sparql-results+json"}, timeout=30)
            assert r.status_code == 200, r.text
            row = r.json()["results"]["bindings"][0]
            assert (row["n"]["value"], row["sum"]["value"]) == ("3", "8")
        merged = httpx.get(f"{url}/sparql", params={
            "query": COUNT_SUM, "default-graph-uri": [f"{EX}g1", f"{EX}g2"]},
            headers={"Accept": "application/sparql-results+json"}, timeout=30)
        assert merged.json()["results"]["bindings"][0]["n"]["value"] == "3"


def test_kb_query_counts_once(three_store: Path) -> None:
    done = run_kb("query", COUNT_SUM, "--format", "csv", store=three_store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["3,8"]


# --- property: the default graph is the set of distinct triples -----------------------------

_subjects = st.sampled_from([f"{EX}s{i}" for i in range(4)])
_values = st.integers(min_value=0, max_value=3)
_graphs = st.sampled_from([f"{EX}g{i}" for i in range(4)])


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_subjects, _values, _graphs), min_size=1, max_size=25),
       st.lists(_graphs, max_size=2))
def test_counts_sums_and_groups_match_python_over_distinct_triples(quads, dropped) -> None:
    with KnowledgeBase.open("memory") as kb:
        kb.write(ox.Quad(ox.NamedNode(s), ox.NamedNode(f"{EX}v"), ox.Literal(v), ox.NamedNode(g))
                 for s, v, g in quads)
        for g in dropped:
            kb.drop_graph(g)
        distinct = {(s, v) for s, v, g in quads if g not in dropped}
        assert count_sum(kb) == (len(distinct), sum(v for _, v in distinct))
        grouped = kb.select(f"SELECT ?s (COUNT(*) AS ?n) (SUM(?o) AS ?t) "
                            f"WHERE {{ ?s <{EX}v> ?o }} GROUP BY ?s")
        expected = Counter(s for s, _ in distinct)
        assert {str(r["s"]): int(r["n"]) for r in grouped} == dict(expected)
        totals = Counter()
        for s, v in distinct:
            totals[s] += v
        assert {str(r["s"]): int(r["t"]) for r in grouped} == dict(totals)


def test_a_checkpoint_of_the_store_keeps_the_union(three_store: Path, tmp_path: Path) -> None:
    """What the query workers read (a RocksDB checkpoint) holds the union too."""
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(three_store), str(copy)], check=True)
    store = ox.Store.read_only(str(copy))
    assert len(list(store.quads_for_pattern(None, None, None, ox.DefaultGraph()))) == 3


def test_a_store_killed_during_a_bulk_load_rebuilds_its_union(tmp_path: Path) -> None:
    location = tmp_path / "store"
    with KnowledgeBase.open(str(location)) as kb:
        kb.update(THREE)
        store = kb.backend.store
        # what a kill between the bulk loader's two steps leaves: a graph, not its union
        store.bulk_extend([ox.Quad(ox.NamedNode(f"{EX}late"), ox.NamedNode(f"{EX}v"),
                                   ox.Literal(4), ox.NamedNode(f"{EX}g9"))])
        (location / "kb-union-incomplete").touch()
        del store
    with KnowledgeBase.open(str(location)) as kb:
        assert count_sum(kb) == (4, 12)
    assert not (location / "kb-union-incomplete").exists()


# --- a remote Oxigraph server whose default graph the knowledge base keeps -------------------


@pytest.fixture(scope="module")
def plain_oxigraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Oxigraph server with its own default graph (no --union-default-graph)."""
    with oxigraph(tmp_path_factory.mktemp("plain-oxigraph")) as url:
        yield url


@pytest.mark.server
def test_a_remote_server_whose_union_is_kept_counts_once(plain_oxigraph: str) -> None:
    httpx.post(f"{plain_oxigraph}/update", data={"update": "DROP ALL"}).raise_for_status()
    with KnowledgeBase.open(f"{plain_oxigraph}/query", remote_union="kept") as kb:
        kb.update(THREE)
        assert count_sum(kb) == (3, 8)
        kb.drop_graph(f"{EX}g1")
        assert count_sum(kb) == (2, 7)
        kb.write([ox.Quad(ox.NamedNode(f"{EX}c"), ox.NamedNode(f"{EX}v"), ox.Literal(3),
                          ox.NamedNode(f"{EX}g2"))], before=f"DROP SILENT GRAPH <{EX}g2>")
        assert count_sum(kb) == (2, 8)  # g2 replaced: s=5 (still in g3) and c=3
        kb.update(f"DELETE DATA {{ <{EX}s> <{EX}v> 5 }}")
        assert count_sum(kb) == (1, 3)
    # a client of the server itself sees the same set
    r = httpx.post(f"{plain_oxigraph}/query", data={"query": COUNT_SUM},
                   headers={"Accept": "application/sparql-results+json"})
    assert r.json()["results"]["bindings"][0]["n"]["value"] == "1"


@pytest.mark.server
def test_a_remote_server_with_its_own_union_counts_as_it_does(oxigraph_server: str) -> None:
    """What the README says of ``oxigraph serve --union-default-graph``: a bag."""
    httpx.post(f"{oxigraph_server}/update", data={"update": "DROP ALL"}).raise_for_status()
    with KnowledgeBase.open(f"{oxigraph_server}/query") as kb:
        kb.update(THREE)
        assert count_sum(kb) == (5, 18)


def test_an_unknown_remote_union_mode_is_refused() -> None:
    from kb.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="remote_union"):
        KnowledgeBase.open("http://127.0.0.1:9/query", remote_union="union")


@pytest.mark.parametrize("suffix", [".nt", ".ttl"])
def test_a_bulk_load_with_blank_nodes_keeps_one_union(tmp_path: Path, suffix: str) -> None:
    """The bulk loader's union holds the file's own blank nodes (a join between the union
    and the graph finds them), and reloading the changed file leaves none behind."""
    data = tmp_path / f"amounts{suffix}"
    data.write_text("".join(  # N-Triples (and Turtle) with typed numbers and blank nodes
        f'<{EX}r{i}> <{EX}amount> _:q{i} .\n'
        f'_:q{i} <{EX}v> "{i}"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
        for i in range(3)))
    with KnowledgeBase.open(str(tmp_path / "store")) as kb:
        kb.load([data])
        joined = kb.select(f"SELECT ?r ?v WHERE {{ ?r <{EX}amount> ?q . "
                           f"GRAPH ?g {{ ?q <{EX}v> ?v }} }}")
        assert len(joined) == 3
        data.write_text(data.read_text().replace(f"<{EX}r2>", f"<{EX}r9>"))
        kb.load([data])
        assert count_sum(kb, f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{EX}v> ?o }}")[0] == 3
        distinct = ("SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o "
                    "WHERE { GRAPH ?g { ?s ?p ?o } } }")
        assert count_sum(kb, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == count_sum(
            kb, distinct)


def test_a_validated_delete_without_graph_is_checked_as_it_will_run(tmp_path: Path) -> None:
    """With KB_VALIDATE_WRITES, a DELETE without GRAPH is validated for what it does: it
    removes a required property from every source, and is refused."""
    from kb.errors import ValidationFailed

    with KnowledgeBase.open("memory", validate_writes=True) as kb:
        load_bundled(kb)
        incident = "https://w3id.org/medsupply-kb/id/incident/nl-mask-recall-2020-03-28"
        before = len(kb)
        with pytest.raises(ValidationFailed):
            kb.update(f"DELETE WHERE {{ <{incident}> "
                      "<https://w3id.org/medsupply-kb/ontology#actorCountry> ?c }")
        assert len(kb) == before


def test_a_syntax_error_in_an_update_is_placed_in_the_users_text(kb: KnowledgeBase) -> None:
    """The union's rewrite adds text; errors still point at the user's line and column."""
    text = f"INSERT DATA {{\n  <{EX}a> <{EX}b> <{EX}c> .\n  <{EX}a> <{EX}b> oops\n}}"
    with pytest.raises(QueryError) as caught:
        kb.update(text)
    with pytest.raises(SyntaxError, match=r"at 3:29:"):  # where the engine places it
        ox.Store().update(text)
    assert (caught.value.line, caught.value.column) == (3, 29)
    assert len(kb) == 0
