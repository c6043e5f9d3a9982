"""The ``kb`` command as a user runs it: a subprocess, exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import rdflib

from tests.conftest import DATA, run_kb

EX = "http://example.org/"


def test_load_query_update_export_stats(tmp_path: Path) -> None:
    store = tmp_path / "store"
    loaded = run_kb("load", str(DATA / "people.ttl"), str(DATA / "graphs.trig"), store=store)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded 9 triples from 2 file(s) into 4 graph(s)" in loaded.stderr
    again = run_kb("load", str(DATA / "people.ttl"), store=store)
    assert "1 unchanged file(s) skipped" in again.stderr

    q = "SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l } ORDER BY ?l"
    out = run_kb("query", q, store=store)  # not a terminal: JSON
    assert [b["l"]["value"] for b in json.loads(out.stdout)["results"]["bindings"]] == [
        "Alice", "Bob"]
    table = run_kb("query", q, "--format", "table", store=store)
    assert "Alice" in table.stdout and "2 row(s)" in table.stdout
    csv = run_kb("query", q, "--format", "csv", store=store)
    assert csv.stdout.split() == ["l", "Alice", "Bob"]

    query_file = tmp_path / "q.rq"
    query_file.write_text(f"CONSTRUCT WHERE {{ ?s <{EX}knows> ?o }}")
    ttl = run_kb("query", f"@{query_file}", store=store)
    graph = rdflib.Graph().parse(data=ttl.stdout, format="turtle")
    assert len(graph) == 1

    updated = run_kb("update", f"INSERT DATA {{ GRAPH <{EX}g3> {{ <{EX}x> <{EX}p> 1 }} }}",
                     store=store)
    assert updated.returncode == 0, updated.stderr
    ask = run_kb("query", f"ASK {{ <{EX}x> <{EX}p> 1 }}", store=store)
    assert json.loads(ask.stdout)["boolean"] is True

    dump = tmp_path / "dump.nq"
    exported = run_kb("export", "--format", "nq", "-o", str(dump), store=store)
    assert exported.returncode == 0, exported.stderr
    ds = rdflib.Dataset()
    ds.parse(dump, format="nquads")
    assert f"{EX}g3" in {str(g.identifier) for g in ds.graphs()}

    stats = json.loads(run_kb("stats", "--json", store=store).stdout)
    assert stats["graphs"][f"{EX}g1"] == 1 and stats["classes"][f"{EX}Person"] == 2


def test_python_dash_m_and_help() -> None:
    out = run_kb("--help")
    assert out.returncode == 0
    for command in ("load", "query", "update", "export", "stats", "serve"):
        assert command in out.stdout
        assert run_kb(command, "--help").returncode == 0


def _error(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_error_paths_have_clear_messages_and_exit_1(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert "nothing.ttl: no such file or folder" in _error(
        run_kb("load", "nothing.ttl", store=store))
    message = _error(run_kb("load", str(DATA / "people.ttl"), str(DATA / "broken.ttl"),
                            store=store))
    assert "broken.ttl, line 6, column 1: syntax error" in message
    assert "not an RDF file extension" in _error(
        run_kb("load", str(DATA / "__init__.py"), store=store) if (DATA / "__init__.py").exists()
        else run_kb("load", str(Path(__file__)), store=store))
    assert "unknown RDF format 'yaml'" in _error(
        run_kb("load", "--format", "yaml", str(DATA / "people.ttl"), store=store))
    assert "SPARQL query syntax error at line 1" in _error(
        run_kb("query", "SELECT * WHERE { ?s ?p }", store=store))
    assert "SERVICE <http://127.0.0.1:9/> is refused" in _error(
        run_kb("query", "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", store=store))
    assert "TriG or N-Quads" in _error(run_kb("export", "--format", "ttl", store=store))
    # nothing of the failed load landed
    count = run_kb("query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "-f", "csv",
                   store=store)
    assert count.stdout.split() == ["n", "0"]


def test_store_from_environment(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "KB_STORE": str(tmp_path / "envstore")}
    subprocess.run([sys.executable, "-m", "kb", "load", str(DATA / "people.ttl")], env=env,
                   check=True, capture_output=True)
    assert (tmp_path / "envstore" / "CURRENT").exists()


# --- prefixes, errors, output ---------------------------------------------------------------

def test_the_knowledge_bases_prefixes_are_declared_and_the_querys_own_win(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run_kb("update", 'INSERT DATA { GRAPH msg:notes { country:NL rdfs:label "NL" } }',
                  store=store).returncode == 0
    rows = run_kb("query", "SELECT ?g ?l WHERE { GRAPH ?g { country:NL rdfs:label ?l } }",
                  "-f", "csv", store=store)
    assert rows.stdout.split() == ["g,l", "https://w3id.org/medsupply-kb/graph/notes,NL"]
    # the union (the default graph) follows, and INSERT without GRAPH reaches it too
    assert run_kb("update", 'INSERT DATA { country:ES rdfs:label "ES" }',
                  store=store).returncode == 0
    union = run_kb("query", "SELECT ?l WHERE { ?c rdfs:label ?l } ORDER BY ?l", "-f", "csv",
                   store=store)
    assert union.stdout.split() == ["l", "ES", "NL"], union.stderr
    own = run_kb("query", "PREFIX rdfs: <http://example.org/> ASK { ?s rdfs:label ?l }",
                 "-f", "csv", store=store)
    assert json.loads(run_kb("query", "PREFIX rdfs: <http://example.org/> "
                             "ASK { ?s rdfs:label ?l }", store=store).stdout)["boolean"] is False
    assert own.returncode == 1 or own.stdout  # ASK has no CSV: refused or printed, never a crash


def test_an_unknown_prefix_is_named_where_it_is_with_the_known_ones(tmp_path: Path) -> None:
    message = _error(run_kb("query", "SELECT ?s WHERE {\n  ?s a ms:Country .\n"
                            "  ?s nope:name ?n }", store=tmp_path / "store"))
    assert "unknown prefix `nope:` at line 3, column 6; known prefixes: agent:," in message
    assert "ms:," in message and "Prefix not found" not in message and "['" not in message
    update = _error(run_kb("update", "INSERT DATA { <urn:a> <urn:b> zz:c }",
                           store=tmp_path / "store"))
    assert "SPARQL update syntax error: unknown prefix `zz:` at line 1, column 31" in update
    # any other syntax error: a sentence, not the engine's grammar
    other = _error(run_kb("query", "SELECT * WHERE { ?s ?p ?o FILTER(?o > 3 }",
                          store=tmp_path / "store"))
    assert "line 1, column 42" in other and "..=" not in other and "\\u{" not in other


def test_piped_output_ends_with_a_newline_and_select_star_keeps_the_written_order(
        tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_kb("load", str(DATA / "people.ttl"), store=store)
    star = "SELECT * WHERE { ?s rdfs:label ?label . ?s a ?type } ORDER BY ?label"
    for fmt in ("json", "csv", "tsv", "xml"):
        out = run_kb("query", star, "-f", fmt, store=store)
        assert out.returncode == 0, out.stderr
        assert out.stdout.endswith("\n"), fmt
    head = run_kb("query", star, "-f", "csv", store=store).stdout.splitlines()[0]
    assert head == "s,label,type"
    assert json.loads(run_kb("query", star, store=store).stdout)["head"]["vars"] == [
        "s", "label", "type"]
    ttl = run_kb("query", "CONSTRUCT WHERE { ?s rdfs:label ?l }", store=store)
    assert ttl.stdout.endswith("\n")
    # SELECT * in a subquery and DISTINCT keep working
    inner = run_kb("query", "SELECT DISTINCT * WHERE { { SELECT * WHERE { ?s a ?t } } }",
                   "-f", "csv", store=store)
    assert inner.stdout.splitlines()[0] == "s,t"


def _run_80_columns(*args: str, store: Path) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")} | {"COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "kb", *args, "--store", str(store)],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout


def test_tables_fit_80_columns_and_never_break_a_word(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = tmp_path / "events.ttl"
    data.write_text(
        "@prefix ex: <http://example.org/> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
        'ex:recall-of-600000-masks-2020-03-28 ex:date "2020-03-23"^^xsd:date ; ex:label '
        '"Dutch recall of 600,000 masks from China, reported by the health ministry" ; '
        "ex:by ex:ministry-of-health-welfare-and-sport ; ex:in ex:netherlands ; "
        "ex:about ex:kn95-respirator-masks .\n", encoding="utf-8")
    run_kb("load", str(data), store=store)
    narrow = _run_80_columns("query", "-f", "table", "SELECT ?e ?d ?l WHERE { ?e "
                             "<http://example.org/date> ?d ; <http://example.org/label> ?l }",
                             store=store)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "2020-03-23" in narrow and "<http://example.org/recall-of-600000-masks-2020-03-28>" \
        in narrow
    # too many columns for 80: one block per row, every value whole
    wide = _run_80_columns("query", "-f", "table", "PREFIX ex: <http://example.org/> SELECT * "
                           "WHERE { ?e ex:by ?by ; ex:in ?in ; ex:about ?about ; ex:date ?d }",
                           store=store)
    assert max(len(line) for line in wide.splitlines()) <= 80
    for value in ("<http://example.org/ministry-of-health-welfare-and-sport>",
                  "<http://example.org/kn95-respirator-masks>", "2020-03-23", "1 row(s)"):
        assert value in wide


def test_output_folders_are_created_and_unwritable_paths_are_explained(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_kb("load", str(DATA / "people.ttl"), store=store)
    out = tmp_path / "out"
    assert run_kb("export", "-o", str(out / "a" / "dump.trig"), store=store).returncode == 0
    assert (out / "a" / "dump.trig").stat().st_size > 0
    csv = run_kb("graph", "export", "--format", "csv", "-o", str(out / "neo4j" / "people"),
                 store=store)
    assert csv.returncode == 0, csv.stderr
    assert (out / "neo4j" / "people-nodes.csv").exists()
    page = run_kb("viz", "entity", "http://example.org/alice", "-o",
                  str(out / "pages" / "alice.html"), store=store)
    assert page.returncode == 0, page.stderr
    assert (out / "pages" / "alice.html").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["export"], ["graph", "export"],
                 ["viz", "entity", "http://example.org/alice"]):
        message = _error(run_kb(*args, "-o", str(blocker / "x.out"), store=store))
        assert f"Cannot create the folder {blocker}" in message
    folder = run_kb("export", "-o", str(out), store=store)
    assert folder.returncode == 2 and "is a directory" in folder.stderr


def test_every_command_takes_the_store_after_its_name(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kb.cli import _leaf_commands, cli

    def names(group, path=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from names(command, (*path, name))
            else:
                yield (*path, name)

    commands = list(names(cli))
    assert len(commands) == len(list(_leaf_commands(cli))) > 15
    for path in commands:
        result = CliRunner().invoke(cli, [*path, "--store", str(tmp_path / "s"), "--help"])
        assert result.exit_code == 0, (path, result.output)
    # and it is the store used, over KB_STORE and over the option before the command
    store = tmp_path / "after"
    loaded = run_kb("load", "--store", str(store), str(DATA / "people.ttl"),
                    store=tmp_path / "before")
    assert loaded.returncode == 0, loaded.stderr
    stats = json.loads(run_kb("stats", "--json", "--store", str(store)).stdout)
    assert stats["store"] == str(store) and stats["triples"] > 0
    assert not (tmp_path / "before").exists()


def test_help_texts_describe_every_option_and_name_files_that_exist() -> None:
    import shlex

    import click
    from click.testing import CliRunner

    from kb.cli import _leaf_commands, cli
    from tests.conftest import ROOT

    for command in _leaf_commands(cli):
        assert command.help, command.name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, (command.name, param.opts)
    texts = [CliRunner().invoke(cli, ["--help"]).output]
    for path in (["load"], ["query"], ["export"], ["graph", "export"], ["viz", "flows"],
                 ["viz", "entity"], ["analytics", "ego"], ["update"], ["validate"]):
        texts.append(CliRunner().invoke(cli, [*path, "--help"]).output)
    named = []
    for text in texts:
        for line in text.splitlines():
            words = shlex.split(line.strip()) if line.strip().startswith("kb ") else []
            named += [w[1:] for w in words if w.startswith("@")]
            if words[1:2] in (["load"], ["validate"]):
                named += [w for i, w in enumerate(words[2:], 2)
                          if not w.startswith("-") and not words[i - 1].startswith("--")]
    assert "ontology/competency/cq24-complaints-march-april.rq" in named and "data" in named
    for path in named:
        assert (ROOT / path).exists(), path
    flows = CliRunner().invoke(cli, ["viz", "flows", "--help"]).output
    assert "Only this product category" in flows and "YYYY-MM-DD" in flows


def test_depth_is_the_one_name_and_radius_still_works(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_kb("load", str(DATA / "people.ttl"), store=store)
    by_depth = run_kb("analytics", "ego", "http://example.org/alice", "--depth", "2",
                      "-f", "json", store=store)
    by_radius = run_kb("analytics", "ego", "http://example.org/alice", "--radius", "2",
                       "-f", "json", store=store)
    assert by_depth.returncode == 0, by_depth.stderr
    assert json.loads(by_depth.stdout) == json.loads(by_radius.stdout) != []
    assert "--radius" not in run_kb("analytics", "ego", "--help").stdout
    assert "--depth" in run_kb("viz", "entity", "--help").stdout
    assert "1<=x<=3" in run_kb("analytics", "ego", "--help").stdout
    assert run_kb("analytics", "ego", "http://example.org/alice", "--depth", "4",
                  store=store).returncode == 2


def test_loading_the_ontology_folder_does_what_a_user_means(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    store = tmp_path / "store"
    loaded = run_kb("load", "ontology", "data", store=store, cwd=ROOT)
    assert loaded.returncode == 0, loaded.stderr
    assert "Left out ontology/shapes.ttl: SHACL shapes, not data" in loaded.stderr
    assert "Left out ontology/context.jsonld" in loaded.stderr
    graphs = json.loads(run_kb("stats", "--json", store=store).stdout)["graphs"]
    assert graphs["https://w3id.org/medsupply-kb/graph/ontology"] > 500
    assert not [g for g in graphs if "/graph/file/" in g]
    shapes = run_kb("query", "ASK { ?s a sh:NodeShape }", store=store)
    assert json.loads(shapes.stdout)["boolean"] is False
    owl = run_kb("export", "--ontology", "-f", "ttl", store=store)
    assert owl.returncode == 0 and "owl:Ontology" in owl.stdout
    page = run_kb("viz", "ontology", "-o", str(tmp_path / "ontology.html"), store=store)
    assert page.returncode == 0, page.stderr
    # named on its own, a file loads as asked
    shapes_file = run_kb("load", str(ROOT / "ontology" / "shapes.ttl"), store=store)
    assert "graph(s)" in shapes_file.stderr and "Left out" not in shapes_file.stderr


def test_make_help_prints_the_values_in_effect() -> None:
    import subprocess

    from tests.conftest import ROOT

    out = subprocess.run(["make", "-s", "help", "STORE=elsewhere/store", "PORT=8123"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "into elsewhere/store" in out and "http://127.0.0.1:8123/" in out and "$(" not in out


def test_a_remote_store_gets_the_prefixes_too(oxigraph_server: str) -> None:
    import httpx

    httpx.post(f"{oxigraph_server}/update", data={"update": "DROP ALL"}).raise_for_status()
    store = f"{oxigraph_server}/query"
    assert run_kb("update", 'INSERT DATA { GRAPH msg:notes { country:NL rdfs:label "NL" } }',
                  store=store).returncode == 0
    rows = run_kb("query", "SELECT ?l WHERE {\n  country:NL rdfs:label ?l }", "-f", "csv",
                  store=store)
    assert rows.stdout.split() == ["l", "NL"], rows.stderr
    own = run_kb("query", "PREFIX country: <urn:x:> ASK { country:NL ?p ?o }", store=store)
    assert json.loads(own.stdout)["boolean"] is False


def test_a_saved_querys_parameters_are_bound_and_can_be_changed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_kb("load", str(DATA / "people.ttl"), store=store)
    saved = tmp_path / "label.rq"
    saved.write_text("# title: A label\n# param: who = <http://example.org/alice>\n"
                     "SELECT ?l WHERE { ?who rdfs:label ?l }\n", encoding="utf-8")
    default = run_kb("query", f"@{saved}", "-f", "csv", store=store)
    assert default.stdout.split() == ["l", "Alice"], default.stderr
    bob = run_kb("query", f"@{saved}", "--param", "who=<http://example.org/bob>", "-f", "csv",
                 store=store)
    assert bob.stdout.split() == ["l", "Bob"], bob.stderr
    assert "not a parameter of label (known: who)" in _error(
        run_kb("query", f"@{saved}", "--param", "whom=x", store=store))
    inline = run_kb("query", "SELECT * { ?s ?p ?o }", "--param", "s=x", store=store)
    assert inline.returncode == 2 and "give the query as @FILE.rq" in inline.stderr


def test_declared_prefixes_reach_the_query_workers(tmp_path: Path) -> None:
    """The prefix plumbing under the CLI also serves the server's worker processes."""
    from kb import KnowledgeBase
    from kb.errors import QueryError
    from kb.namespaces import PREFIXES

    with KnowledgeBase.open(str(tmp_path / "store"), query_timeout=120) as kb:
        kb.prefixes = dict(PREFIXES)
        kb.update('INSERT DATA { GRAPH msg:g { country:NL rdfs:label "NL" } }')
        kb.start_query_workers(1)
        assert kb.query("SELECT ?l { country:NL rdfs:label ?l }", format="csv").data.split() \
            == [b"l", b"NL"]
        try:
            kb.query("SELECT ?l {\n country:NL zz:label ?l }")
        except QueryError as e:
            assert "unknown prefix `zz:` at line 2, column 13" in str(e) and e.line == 2
        else:
            raise AssertionError("an unknown prefix was accepted")
