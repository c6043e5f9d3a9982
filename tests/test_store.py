"""The KnowledgeBase over the on-disk and in-memory Oxigraph backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
from rdflib import Literal, URIRef

from kb import InvalidParameter, KnowledgeBase, QueryError, QueryRefused
from kb.safety import check_sparql
from tests.conftest import DATA

EX = "http://example.org/"


def test_on_disk_store_persists_across_reopen(disk_path: Path) -> None:
    with KnowledgeBase.open(str(disk_path)) as kb:
        kb.load([DATA / "people.ttl"])
        kb.update(f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}x> <{EX}p> 'written' }} }}")
    assert (disk_path / "CURRENT").exists()  # a RocksDB folder, not a memory store
    with KnowledgeBase.open(str(disk_path)) as kb:
        labels = {str(r["l"]) for r in kb.select("SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }")}
        assert labels == {"Alice", "Bob"}
        assert kb.ask(f"ASK {{ <{EX}x> <{EX}p> 'written' }}")


def test_second_writer_on_same_folder_gets_a_clear_error(disk_kb: KnowledgeBase,
                                                          disk_path: Path) -> None:
    code = (f"from kb import KnowledgeBase, StoreError\n"
            f"try:\n    KnowledgeBase.open({str(disk_path)!r})\n"
            f"except StoreError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "Cannot open the store" in out.stdout and "kb serve" in out.stdout


def test_default_graph_is_the_union_of_named_graphs(memory_kb: KnowledgeBase) -> None:
    memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g1> {{ <{EX}a> <{EX}p> 1 }} "
                     f"GRAPH <{EX}g2> {{ <{EX}b> <{EX}p> 2 }} }}")
    rows = memory_kb.select(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }} ORDER BY ?s")
    assert [str(r["s"]) for r in rows] == [f"{EX}a", f"{EX}b"]
    only_g1 = memory_kb.query(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }}", default_graph=[f"{EX}g1"])
    assert f"{EX}a".encode() in only_g1.data and f"{EX}b".encode() not in only_g1.data


def test_bindings_are_terms_not_text(memory_kb: KnowledgeBase) -> None:
    memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}a> <{EX}p> 'secret' }} }}")
    injection = EX + "b> ?p ?o . ?x ?y ?z } #"
    with pytest.raises(InvalidParameter, match="not a valid RDF term"):
        memory_kb.select("SELECT ?o WHERE { ?s ?p ?o }", s=URIRef(injection))
    rows = memory_kb.select("SELECT ?s WHERE { ?s ?p ?o }", o=Literal("secret"))
    assert [str(r["s"]) for r in rows] == [f"{EX}a"]
    # a variable seen by a FILTER only, as a saved query's parameter often is
    rows = memory_kb.select("SELECT ?s WHERE { ?s ?p ?o FILTER(STR(?o) = ?v) }", v=Literal("secret"))
    assert [str(r["s"]) for r in rows] == [f"{EX}a"]


def test_bindings_go_into_the_where_group_whatever_comments_and_strings_say(
    memory_kb: KnowledgeBase,
) -> None:
    """A binding is put after the first ``WHERE {`` of the query's own text: never into a
    comment or a string that happens to hold those words."""
    memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}a> <{EX}p> 1 . <{EX}b> <{EX}p> 2 }} }}")
    query = ("# WHERE { in a comment\n"
             "SELECT ?o ('WHERE {' AS ?x) (\"WHERE {\" AS ?y) ('''WHERE { it's''' AS ?z) "
             "(\"\"\"{\"\"\" AS ?w)  # WHERE { in another\n"
             f"WHERE {{ ?s <{EX}p> ?o }}\n"
             "# WHERE { in the last line")
    rows = memory_kb.select(query, s=URIRef(f"{EX}a"))
    assert [(int(r["o"]), str(r["x"]), str(r["y"]), str(r["z"]), str(r["w"])) for r in rows] == [
        (1, "WHERE {", "WHERE {", "WHERE { it's", "{")]


def test_the_engines_substitutions_still_bind_projected_variables_only() -> None:
    """Why kb.sparql_text.bind_values writes a VALUES block and does not pass pyoxigraph's
    ``substitutions=``: the engine refuses a variable outside the projection. When this test
    fails, pyoxigraph binds any variable: switch bind_values to substitutions."""
    import pyoxigraph as ox

    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode(f"{EX}a"), ox.NamedNode(f"{EX}p"), ox.Literal("x")))
    with pytest.raises(RuntimeError, match="projection"):
        store.query("SELECT ?o WHERE { ?s ?p ?o }",
                    substitutions={ox.Variable("s"): ox.NamedNode(f"{EX}a")})


def test_results_are_serialized_by_the_engine(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "people.ttl"])
    q = "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l"
    assert memory_kb.query(q, format="csv").data.split() == [b"l", b"Alice", b"Bob"]
    assert memory_kb.query(q, format="tsv").media_type.startswith("text/tab-separated-values")
    graph = memory_kb.query(f"CONSTRUCT WHERE {{ ?s <{EX}knows> ?o }}", format="turtle")
    assert graph.kind == "graph" and graph.media_type == "text/turtle"
    parsed = rdflib.Graph().parse(data=graph.data, format="turtle")
    assert (URIRef(f"{EX}alice"), URIRef(f"{EX}knows"), URIRef(f"{EX}bob")) in parsed
    with pytest.raises(InvalidParameter, match="unknown results format"):
        memory_kb.query(q, format="turtle")


def test_syntax_error_names_line_and_column(memory_kb: KnowledgeBase) -> None:
    with pytest.raises(QueryError, match=r"line 2, column \d+") as info:
        memory_kb.select("SELECT ?s\nWHERE { ?s ?p }")
    assert info.value.line == 2


def test_failing_update_changes_nothing(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "people.ttl"])
    before = memory_kb.dump("nq")
    with pytest.raises(QueryError):
        memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}new> <{EX}p> 1 }} }} ; "
                         f"CREATE GRAPH <{EX}g2> ; CREATE GRAPH <{EX}g2>")
    with pytest.raises(QueryError, match="syntax"):
        memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}new> <{EX}p> 1 }} }} ; DELETE")
    assert memory_kb.dump("nq") == before


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE SILENT <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "PREFIX r: <http://127.0.0.1:9/> SELECT * WHERE { SERVICE r:sparql { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/\\u0073parql> { ?s ?p ?o } }",
    "SELECT * WHERE { \\u0053ERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }",
    "SELECT * FROM <http://127.0.0.1:9/data.ttl> WHERE { ?s ?p ?o }",
])
def test_remote_access_in_queries_is_refused(memory_kb: KnowledgeBase, text: str) -> None:
    with pytest.raises(QueryRefused):
        memory_kb.select(text)


def test_load_in_update_is_refused_and_allow_list_lets_service_parse() -> None:
    with KnowledgeBase.open("memory") as kb, pytest.raises(QueryRefused, match="LOAD"):
        kb.update("LOAD <http://127.0.0.1:9/x.ttl>")
    with KnowledgeBase.open("memory", allow_hosts=("allowed.example",)) as kb:
        # allowed: the guard lets it through to the engine (SILENT: no answer is fine)
        rows = kb.select("SELECT * WHERE { SERVICE SILENT <http://allowed.example:9/> "
                         "{ ?s ?p ?o } } LIMIT 0")
        assert rows == []


def test_from_a_local_graph_is_allowed(memory_kb: KnowledgeBase) -> None:
    memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g1> {{ <{EX}a> <{EX}p> 1 }} }}")
    rows = memory_kb.select(f"SELECT ?s FROM <{EX}g1> WHERE {{ ?s ?p ?o }}")
    assert [str(r["s"]) for r in rows] == [f"{EX}a"]


def test_too_large_or_too_deep_queries_are_refused(memory_kb: KnowledgeBase) -> None:
    with pytest.raises(QueryRefused, match="limit"):
        memory_kb.select("SELECT * WHERE { ?s ?p ?o } #" + "x" * 40_000)
    with pytest.raises(QueryRefused, match="nests"):
        memory_kb.select("SELECT * WHERE { FILTER(" + "(" * 500 + "1" + ")" * 500 + ") }")


def test_the_graphs_a_query_names_are_read_from_its_text(memory_kb: KnowledgeBase) -> None:
    """FROM, FROM NAMED (by IRI, prefixed name or escaped IRI) choose the graphs; the same
    words inside strings and comments are text, and refuse nothing."""
    memory_kb.update(f"INSERT DATA {{ GRAPH <{EX}g1> {{ <{EX}a> <{EX}p> 1 }} "
                     f"GRAPH <{EX}g2> {{ <{EX}b> <{EX}p> 2 }} GRAPH <{EX}g3> {{ <{EX}c> <{EX}p> 3 }} }}")

    def subjects(query: str) -> list[str]:
        return sorted(str(r["s"]).removeprefix(EX) for r in memory_kb.select(query))

    assert subjects(f"SELECT ?s FROM <{EX}g1> FROM <{EX}g2> WHERE {{ ?s ?p ?o }}") == ["a", "b"]
    assert subjects(f"PREFIX g: <{EX}> SELECT ?s FROM g:g1 FROM g:g3 WHERE {{ ?s ?p ?o }}") == ["a", "c"]
    assert subjects(f"SELECT ?s FROM <{EX}g\\u0031> FROM <{EX}g\\U00000032> WHERE {{ ?s ?p ?o }}") == ["a", "b"]
    assert subjects(f"SELECT ?s FROM <{EX}g1> FROM <{EX}g2> FROM NAMED <{EX}g3> "
                    "WHERE { GRAPH ?g { ?s ?p ?o } }") == ["c"]
    remote = "http://remote.example/data"
    assert subjects(f"SELECT ?s WHERE {{ ?s ?p ?o FILTER(?o NOT IN ('FROM <{remote}>', "
                    f"\"\\\" FROM <{remote}>\", '''\nFROM <{remote}>''', \"\"\"FROM <{remote}>\"\"\")) }}"
                    f" # FROM <{remote}>") == ["a", "b", "c"]


@pytest.mark.parametrize("text, kind, refusal", [
    ("SELECT * WHERE " + "{" * 65 + "}" * 65, "query",
     "The query nests brackets more than 64 levels deep (at character 79)"),
    ("SELECT * WHERE { " + "<< " * 65 + "<urn:s> <urn:p> <urn:o>" + " >>" * 65 + " <urn:p> ?o }",
     "query", "The query nests quoted triples more than 64 levels deep (at character 206)"),
    ("SELECT * WHERE { ?s ?p ?o } \\u0053ERVICE", "query", "Escape sequence at character 28"),
    ("SELECT * WHERE { SERVICE SILENT ?endpoint { ?s ?p ?o } }", "query",
     "SERVICE a variable or unknown IRI is refused"),
    ("SELECT * WHERE { SERVICE nope:x { ?s ?p ?o } }", "query",
     "SERVICE a variable or unknown IRI is refused"),
    ("LOAD <http://allowed.example.evil/x>", "update",
     "LOAD <http://allowed.example.evil/x> is refused"),
    ("LOAD <ftp://allowed.example/x>", "update", "LOAD <ftp://allowed.example/x> is refused"),
    ("SELECT * WHERE { ?s ?p ?o }" + " " * 74, "query",
     "The query is 101 bytes long; the limit is 100 bytes"),
    ("INSERT DATA { }" + " " * 86, "update", "The update is 101 bytes long; the limit is 100"),
], ids=["deep-brackets", "deep-quoted-triples", "escape-outside-strings", "service-variable",
        "service-unknown-prefix", "load-other-host", "load-not-http", "long-query", "long-update"])
def test_refused_sparql_says_what_and_where(text: str, kind: str, refusal: str) -> None:
    with pytest.raises(QueryRefused) as info:
        check_sparql(text, max_bytes=100 if "bytes" in refusal else 10_000,
                     allow_hosts=("allowed.example",), kind=kind)
    assert str(info.value).startswith(refusal)


@pytest.mark.parametrize("text", [
    "SELECT * WHERE " + "{" * 64 + "}" * 64,  # as deep as allowed
    "SELECT * WHERE { " + "<< " * 63 + "<urn:s> <urn:p> <urn:o>" + " >>" * 63 + " <urn:p> ?o }",
    "SELECT * WHERE { ?s ?p ?o }" + " " * 73,  # as long as allowed
    "LOAD SILENT <https://allowed.example/data.ttl>",
    "SELECT * WHERE { SERVICE <http://allowed.example/sparql> { ?s ?p ?o } }",
])
def test_sparql_within_the_limits_passes_the_checks(text: str) -> None:
    check_sparql(text, max_bytes=100 if len(text) == 100 else 10_000,
                 allow_hosts=("allowed.example",))


def test_long_unary_chains_do_not_crash_the_process() -> None:
    # 9,500 "!" overflow an 8 MB stack inside pyoxigraph (a segfault that would kill a
    # server); the engine thread's large stack absorbs it. Run it in a child process so
    # that a regression fails this test instead of killing the test run.
    code = (
        "from kb import KnowledgeBase\n"
        "kb = KnowledgeBase.open('memory')\n"
        "print(kb.ask('ASK { FILTER(' + '!' * 9500 + 'true) }'))\n"
        "print(kb.ask('ASK { FILTER(true ' + '&& true ' * 3000 + ') }'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["True", "True"]  # an even number of negations


def test_dump_of_whole_dataset_needs_a_quad_format(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "graphs.trig"])
    with pytest.raises(InvalidParameter, match="TriG or N-Quads"):
        memory_kb.dump("ttl")
    ds = rdflib.Dataset()
    ds.parse(data=memory_kb.dump("trig"), format="trig")
    assert {str(g.identifier) for g in ds.graphs()} >= {f"{EX}g1", f"{EX}g2"}
    one = rdflib.Graph().parse(data=memory_kb.dump("ttl", graph=f"{EX}g1"), format="turtle")
    assert len(one) == 1


def test_rdflib_views_and_the_pinned_rdflib(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "graphs.trig"])
    assert len(memory_kb.graph(f"{EX}g2")) == 2
    ds = memory_kb.dataset()
    assert isinstance(ds, rdflib.Dataset)
    # rdflib 7.3-7.6 raise "not enough values to unpack" here (rdflib #2019): the pin holds.
    ds.update("INSERT DATA { <urn:s> <urn:p> <urn:o> }")
    assert (URIRef("urn:s"), URIRef("urn:p"), URIRef("urn:o")) in {q[:3] for q in ds.quads()}


def test_stats_count_graphs_classes_and_properties(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "people.ttl"])
    stats = memory_kb.stats()
    counts = {g.graph: g.triples for g in stats.graphs}
    assert counts["https://w3id.org/medsupply-kb/graph/file/people.ttl"] == 5
    assert (f"{EX}Person", 2) in stats.classes
    assert stats.triples == sum(counts.values())
