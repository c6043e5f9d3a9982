"""Loading files: formats, graphs, replacement, all-or-nothing, and refused inputs."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import KnowledgeBase, LoadError, twice
from kb.namespaces import GRAPH, LOADS_GRAPH
from kb.safety import check_xml
from tests.conftest import DATA

EX = "http://example.org/"


def graph_sizes(kb: KnowledgeBase) -> dict[str, int]:
    return {g.graph: g.triples for g in kb.stats().graphs if g.graph != str(LOADS_GRAPH)}


@pytest.mark.parametrize("name, triples", [
    ("people.ttl", 5), ("shipments.nt", 3), ("thing.jsonld", 1), ("thing.rdf", 1),
])
def test_each_triple_format_goes_into_a_graph_of_its_own(
    memory_kb: KnowledgeBase, name: str, triples: int
) -> None:
    report = memory_kb.load([DATA / name])
    assert report.triples == triples
    assert graph_sizes(memory_kb) == {f"{GRAPH}file/{name}": triples}


def test_trig_keeps_its_graphs_and_default_graph_goes_to_the_file_graph(
    memory_kb: KnowledgeBase,
) -> None:
    memory_kb.load([DATA / "graphs.trig"])
    assert graph_sizes(memory_kb) == {
        f"{EX}g1": 1, f"{EX}g2": 2, f"{GRAPH}file/graphs.trig": 1,
    }


def test_graph_option_and_format_option(memory_kb: KnowledgeBase, tmp_path: Path) -> None:
    odd = tmp_path / "people.data"
    odd.write_bytes((DATA / "people.ttl").read_bytes())
    with pytest.raises(LoadError, match="not an RDF file extension"):
        memory_kb.load([odd])
    memory_kb.load([odd], format="ttl", graph=f"{EX}people")
    assert graph_sizes(memory_kb) == {f"{EX}people": 5}


def test_load_is_recorded_with_provenance(memory_kb: KnowledgeBase) -> None:
    memory_kb.load([DATA / "people.ttl"])
    rows = memory_kb.select(f"""
        PREFIX dcterms: <http://purl.org/dc/terms/>
        PREFIX void: <http://rdfs.org/ns/void#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?label ?n ?when ?hash WHERE {{ GRAPH <{LOADS_GRAPH}> {{
          <{GRAPH}file/people.ttl> dcterms:source ?file ; void:triples ?n .
          ?file dcterms:title ?label ;
                prov:generatedAtTime ?when ; dcterms:identifier ?hash . }} }}""")
    assert len(rows) == 1
    assert str(rows[0]["label"]) == "people.ttl" and int(rows[0]["n"]) == 5
    assert str(rows[0]["hash"]).startswith("sha256:")


def test_loading_again_replaces_instead_of_duplicating(memory_kb: KnowledgeBase,
                                                       tmp_path: Path) -> None:
    copy = tmp_path / "graphs.trig"
    copy.write_bytes((DATA / "graphs.trig").read_bytes())
    memory_kb.load([copy])
    first = memory_kb.load([copy])
    assert [f.skipped for f in first.files] == [True]  # unchanged: nothing to do
    forced = memory_kb.load([copy], force=True)
    assert forced.triples == 4
    assert graph_sizes(memory_kb)[f"{EX}g2"] == 2  # blank nodes not duplicated
    copy.write_text("@prefix ex: <http://example.org/> .\nex:g1 { ex:a ex:p ex:changed . }\n")
    memory_kb.load([copy])
    assert graph_sizes(memory_kb) == {f"{EX}g1": 1}  # g2 and the default part are gone
    assert memory_kb.ask(f"ASK {{ <{EX}a> <{EX}p> <{EX}changed> }}")


def test_syntax_error_names_file_line_column_and_adds_nothing(
    memory_kb: KnowledgeBase,
) -> None:
    with pytest.raises(LoadError) as info:
        memory_kb.load([DATA / "people.ttl", DATA / "broken.ttl"])
    message = str(info.value)
    assert "broken.ttl" in message and "line 6" in message and "column" in message
    assert info.value.line == 6
    assert len(memory_kb) == 0


def _ntriples(lines: list[str]) -> str:
    return "\n".join(lines)  # no newline after the last line


NT_LINES = [f'<{EX}s{i}> <{EX}p> "v {i}" .' for i in range(20)]
NT_LINES[3] = f"<{EX}s3> <{EX}p> <{EX}o#3>. # a comment after the triple, ending with a dot."
NT_LINES[5] = "# a comment line ."
NT_LINES[7] = ""
NT_LINES[9] = f"<{EX}s9>\t<{EX}p>  _:b .\r"
NT_LINES[10] = f"<{EX}s10> <{EX}p> _:b ."


def test_ntriples_read_in_blocks_keep_every_triple_in_its_graph_and_the_union(
    memory_kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(twice, "BLOCK", 64)  # many blocks, cut in the middle of lines
    doc = tmp_path / "lines.nt"
    doc.write_text(_ntriples(NT_LINES))
    assert memory_kb.load([doc]).triples == 18
    graph = f"{GRAPH}file/lines.nt"
    assert graph_sizes(memory_kb) == {graph: 18}
    for where in (f"GRAPH <{graph}> {{ ?s ?p ?o }}", f"?s <{EX}p> ?o"):  # graph, union
        rows = memory_kb.select(f"SELECT ?s ?o WHERE {{ {where} }}")
        assert len(rows) == 18
        assert len({r["o"] for r in rows if str(r["s"]) in (f"{EX}s9", f"{EX}s10")}) == 1
    again = memory_kb.load([doc])  # the digest taken while loading is the file's
    assert [f.skipped for f in again.files] == [True]


def test_ntriples_syntax_error_in_a_later_block_names_its_line_and_column(
    memory_kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(twice, "BLOCK", 64)
    lines = list(NT_LINES)
    lines[16] = f"<{EX}s16> <{EX}p> <{EX}o> <{EX}extra> ."
    doc = tmp_path / "broken.nt"
    doc.write_text(_ntriples(lines))
    with pytest.raises(LoadError) as info:
        memory_kb.load([doc])
    assert (info.value.line, info.value.column) == (17, len(f"<{EX}s16> <{EX}p> <{EX}o> ") + 1)
    assert len(memory_kb) == 0


def test_failed_reload_keeps_the_previous_version(memory_kb: KnowledgeBase,
                                                  tmp_path: Path) -> None:
    f = tmp_path / "people.ttl"
    f.write_bytes((DATA / "people.ttl").read_bytes())
    memory_kb.load([f])
    before = memory_kb.dump("nq")
    f.write_text("@prefix ex: <http://example.org/> .\nex:a ex:b .\n")
    with pytest.raises(LoadError, match="line 2"):
        memory_kb.load([f])
    assert memory_kb.dump("nq") == before


def test_folders_are_searched_for_rdf_files(memory_kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "people.ttl").write_bytes((DATA / "people.ttl").read_bytes())
    (tmp_path / "notes.md").write_text("# not RDF\n")
    report = memory_kb.load([tmp_path])
    assert [f.path.name for f in report.files] == ["people.ttl"]


def test_missing_file(memory_kb: KnowledgeBase) -> None:
    with pytest.raises(LoadError, match="no such file"):
        memory_kb.load([DATA / "nothing-here.ttl"])


# --- inputs that must not reach out or blow up ----------------------------------------------


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP listener that records every request it gets (it must get none)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.end_headers()
            self.wfile.write(b'{"@context": {"name": "http://example.org/name"}}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_remote_jsonld_context_is_refused_unless_allowed(
    tmp_path: Path, canary: tuple[str, list[str]]
) -> None:
    url, hits = canary
    doc = tmp_path / "remote.jsonld"
    doc.write_text(f'{{"@context": "{url}/ctx.jsonld", "@id": "{EX}x", "name": "X"}}')
    with KnowledgeBase.open("memory") as kb, pytest.raises(LoadError, match="allow-listed"):
        kb.load([doc])
    assert hits == []
    with KnowledgeBase.open("memory", allow_hosts=("127.0.0.1",)) as kb:
        kb.load([doc])
        assert kb.ask(f"ASK {{ <{EX}x> <{EX}name> 'X' }}")
    assert hits == ["/ctx.jsonld"]


def test_deeply_nested_jsonld_is_refused(memory_kb: KnowledgeBase, tmp_path: Path) -> None:
    doc = tmp_path / "deep.jsonld"
    doc.write_text('{"@id": "http://example.org/x", "http://example.org/p": ' * 5000
                   + "1" + "}" * 5000)
    with pytest.raises(LoadError, match="nested"):
        memory_kb.load([doc])


def _nested(levels: int) -> str:
    return '{"http://example.org/p": ' * (levels - 1) + "{}" + "}" * (levels - 1)


@pytest.mark.parametrize("text, message, line, column", [
    (_nested(101), "JSON nested more than 100 levels deep", None, None),
    ("[" * 100 + "1" + "]" * 100, "JSON nested more than 100 levels deep", None, None),
    ('{\n  "@id": "http://example.org/a",\n  "http://example.org/p": }', "not valid JSON", 3, 27),
    ('{"@context": [{"ex": "http://example.org/"}, "http://remote.example/c.jsonld"], "@id": "ex:a"}',
     "remote JSON-LD context <http://remote.example/c.jsonld> refused", None, None),
    ('{"@context": {"@import": "http://remote.example/c.jsonld"}, "@id": "http://example.org/a"}',
     "remote JSON-LD context <http://remote.example/c.jsonld> refused", None, None),
    ('{"@graph": [{"@context": "http://remote.example/c.jsonld", "@id": "http://example.org/a"}]}',
     "remote JSON-LD context <http://remote.example/c.jsonld> refused", None, None),
], ids=["deep-objects", "deep-lists", "not-json", "remote-context-in-a-list", "remote-import",
        "remote-context-deep-inside"])
def test_refused_jsonld_says_why_and_where(
    memory_kb: KnowledgeBase, tmp_path: Path, text: str, message: str, line: int | None,
    column: int | None,
) -> None:
    doc = tmp_path / "upload.jsonld"
    doc.write_text(text)
    with pytest.raises(LoadError, match=message) as info:
        memory_kb.load([doc])
    assert (info.value.path, info.value.line, info.value.column) == (str(doc), line, column)
    assert len(memory_kb) == 0


def test_jsonld_as_deep_as_allowed_loads(memory_kb: KnowledgeBase, tmp_path: Path) -> None:
    doc = tmp_path / "deep.jsonld"
    doc.write_text('{"@id": "http://example.org/a", "http://example.org/p": ' + _nested(99) + "}")
    memory_kb.load([doc])
    assert len(memory_kb) > 0


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="http://example.org/x"><ex:p>&c;</ex:p></rdf:Description>
</rdf:RDF>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE rdf:RDF [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about="http://example.org/x"><ex:p>&xxe;</ex:p></rdf:Description>
</rdf:RDF>
"""


@pytest.mark.parametrize("text, message", [
    (BILLION_LAUGHS, "nested entities"),
    (XXE, "external or parameter entity"),
    ("<?xml version='1.0'?>" + "<a>" * 1000 + "</a>" * 1000, "nested more than"),
])
def test_dangerous_rdfxml_is_refused_before_parsing(
    memory_kb: KnowledgeBase, tmp_path: Path, text: str, message: str
) -> None:
    doc = tmp_path / "bomb.rdf"
    doc.write_text(text)
    with pytest.raises(LoadError, match=message) as info:
        memory_kb.load([doc])
    assert "bomb.rdf, line" in str(info.value)
    assert len(memory_kb) == 0


RDF = ('<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
       'xmlns:ex="http://example.org/">')


def _entities(n: int) -> str:
    return "<!DOCTYPE a [\n" + "".join(f'<!ENTITY e{i} "v">\n' for i in range(n)) + "]>\n<a/>"


def _expanding(size: int, uses: int) -> str:
    return f'<!DOCTYPE a [ <!ENTITY x "{"y" * size}"> ]>\n<a>' + "&x;" * uses + "</a>"


@pytest.mark.parametrize("text, message, line, column", [
    # where a document goes too deep: the start of the element one level too deep
    ("<a>" * 257 + "</a>" * 257, "elements nested more than 256 levels deep", 1, 3 * 256 + 1),
    # closing elements on the way does not reset the count
    ("<a>" * 200 + "<b/>" * 60 + "<c>" * 100 + "</c>" * 100 + "</a>" * 200,
     "elements nested more than 256 levels deep", 1, None),
    (f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF SYSTEM "http://example.org/x.dtd">\n{RDF}</rdf:RDF>',
     "external DTD <http://example.org/x.dtd> refused", 2, None),
    (f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF PUBLIC "-//X//DTD X//EN" "http://example.org/x.dtd">'
     f"\n{RDF}</rdf:RDF>", "external DTD <http://example.org/x.dtd> refused", 2, None),
    (f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [ <!ENTITY % p "x"> ]>\n{RDF}</rdf:RDF>',
     "external or parameter entity 'p' refused", 2, None),
    (_entities(201), "more than 200 entity declarations", 202, None),
    (_expanding(10_000, 300), "entity expansion makes the document far larger", 2, None),
    ('<!DOCTYPE a [ <!ENTITY x "' + "y" * 10_000 + '"> ]>\n<a>' + '<b v="&x;"/>' * 300 + "</a>",
     "entity expansion makes the document far larger", 2, None),
    (f'<?xml version="1.0"?>\n{RDF}\n  <ex:a></ex:b>\n</rdf:RDF>',
     "not well-formed XML: mismatched tag", 3, None),
    (f'<?xml version="1.0"?>\n{RDF}\n', "not well-formed XML: no element found", 3, 1),
], ids=["deep", "deep-after-siblings", "system-dtd", "public-dtd", "parameter-entity", "201-entities", "expansion",
        "expansion-in-attributes", "mismatched-tag", "truncated"])
def test_refused_rdfxml_says_why_and_where(
    memory_kb: KnowledgeBase, tmp_path: Path, text: str, message: str, line: int,
    column: int | None,
) -> None:
    doc = tmp_path / "upload.rdf"
    doc.write_text(text)
    with pytest.raises(LoadError, match=message) as info:
        memory_kb.load([doc])
    assert (info.value.path, info.value.line) == (str(doc), line)
    assert info.value.column is not None
    if column is not None:
        assert info.value.column == column
    assert len(memory_kb) == 0


@pytest.mark.parametrize("text", [
    "<a>" * 256 + "</a>" * 256,  # as deep as allowed
    "<a>" + "<b/>" * 300 + "<c><d/></c>" * 300 + "</a>",  # wide: depth comes back down
    _entities(200),  # as many entities as allowed
    _expanding(100, 1000),  # entities that expand a little
    "<a>" + "x" * 1_500_000 + "</a>",  # a large document that expands nothing
])
def test_rdfxml_within_the_limits_passes_the_checks(text: str) -> None:
    check_xml(text.encode(), path="ok.rdf")
