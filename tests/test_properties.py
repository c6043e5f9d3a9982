"""Property tests (hypothesis, fixed seed, bounded examples): loaders round-trip any small
graph, and content negotiation answers any Accept header with a valid answer or 406."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import XSD

from api import negotiation
from kb import KnowledgeBase

pytestmark = [pytest.mark.reliability,
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]

SETTINGS = settings(max_examples=40, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# --- random small graphs ------------------------------------------------------------------------

_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=8)
iris = st.builds(lambda a, b: URIRef(f"http://example.org/{a}/{b}"), _segment, _segment) | \
    st.builds(lambda a: URIRef(f"urn:x:{a}"), _segment)
bnodes = st.sampled_from([BNode(f"b{i}") for i in range(4)])
# any text but surrogates and NUL (which no RDF syntax can hold literally either way)
_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20)
literals = st.one_of(
    st.builds(Literal, _text),
    # language tags in lower case: they are case-insensitive and Oxigraph writes them so
    st.builds(lambda t, lang: Literal(t, lang=lang), _text, st.sampled_from(["en", "zh-hans", "nl"])),
    st.builds(lambda n: Literal(n, datatype=XSD.integer), st.integers(-10**12, 10**12)),
    st.builds(lambda t: Literal(t, datatype=URIRef("http://example.org/dt")), _text),
)
triples = st.tuples(iris | bnodes, iris, iris | bnodes | literals)
graphs = st.lists(triples, min_size=1, max_size=12).map(
    lambda ts: _graph(ts))


def _graph(ts: list) -> Graph:
    g = Graph()
    for t in ts:
        g.add(t)
    return g


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


@pytest.mark.parametrize("fmt,ext", [("nt", "nt"), ("turtle", "ttl")])
@SETTINGS
@given(graph=graphs)
def test_load_then_export_gives_the_same_graph(fresh: Path, fmt: str, ext: str,
                                               graph: Graph) -> None:
    """rdflib writes a random graph; kb load reads it; kb's export, read back, is isomorphic
    (and loading the export again gives the same graph once more)."""
    source = fresh / f"g.{ext}"
    source.write_text(graph.serialize(format=fmt), encoding="utf-8")
    target = "http://example.org/graph/g"
    with KnowledgeBase.open("memory") as kb:
        kb.load([source], graph=target, force=True)
        exported = kb.dump("nt", graph=target)
    back = Graph().parse(data=exported, format="nt")
    assert isomorphic(back, graph), exported.decode()
    again = fresh / "again.nt"
    again.write_bytes(exported)
    with KnowledgeBase.open("memory") as kb:
        kb.load([again], graph=target, force=True)
        assert isomorphic(Graph().parse(data=kb.dump("nt", graph=target), format="nt"), graph)


# --- content negotiation ------------------------------------------------------------------------

_types = st.sampled_from([
    "application/sparql-results+json", "application/json", "application/sparql-results+xml",
    "text/csv", "text/tab-separated-values", "text/turtle", "application/n-triples",
    "application/ld+json", "application/rdf+xml", "application/trig", "application/n-quads",
    "text/html", "text/*", "application/*", "*/*", "image/png", "foo/bar", "*/json", "text",
    "", ";", "text/turtle;charset=utf-8", "application/xml"])
_q = st.one_of(st.just(""), st.builds(lambda q: f";q={q}", st.sampled_from(
    ["0", "1", "0.5", "0.001", "1.0", "2", "-1", "abc", "", "0.0000"])))
_item = st.builds(lambda t, q, extra: t + q + extra, _types, _q,
                  st.sampled_from(["", ";level=1", " ", ";;", ";q"]))
_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)
accepts = st.one_of(st.lists(_item, min_size=1, max_size=4).map(", ".join), _ascii)

MEDIA = {"application/sparql-results+json", "application/sparql-results+xml", "text/csv",
         "text/tab-separated-values", "text/turtle", "application/n-triples",
         "application/ld+json", "application/rdf+xml", "application/trig",
         "application/n-quads", "text/n3", "application/json", "application/xml", "text/xml",
         "text/plain", "text/html"}  # text/html: a page for a browser's Accept


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from api.app import create_app

    kb = KnowledgeBase.open("memory")
    kb.update("INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/a> "
              "<http://example.org/p> 'x' } }")
    with TestClient(create_app(kb)) as c:
        yield c
    kb.close()


QUERIES = ["SELECT * WHERE { ?s ?p ?o }", "ASK { ?s ?p ?o }",
           "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", "DESCRIBE <http://example.org/a>"]


@pytest.mark.parametrize("query", QUERIES)
@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accept=accepts, fmt=st.one_of(st.none(), _ascii, st.sampled_from(["json", "ttl", "csv"])))
def test_any_accept_header_gets_an_answer_or_406(client, query: str, accept: str,
                                                 fmt: str | None) -> None:
    params = {"query": query} | ({"format": fmt} if fmt is not None else {})
    r = client.get("/sparql", params=params, headers={"Accept": accept})
    assert r.status_code in (200, 400, 406), (accept, fmt, r.status_code, r.text[:200])
    if r.status_code == 200:
        media = r.headers["content-type"].split(";")[0].strip()
        assert media in MEDIA, (accept, media)
        assert r.content
    else:
        body = r.json()
        assert body["ok"] is False and body["status"] == r.status_code and body["error"]
        if r.status_code == 400:
            assert fmt is not None  # only a bad format parameter is the client's fault


OFFERS = [m for m, _ in negotiation.RESULTS]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(accept=accepts)
def test_negotiation_never_picks_a_refused_type(accept: str) -> None:
    """Whatever the header, the choice is an offer the header accepts (q > 0 at its most
    specific range); no choice means every offer is refused or unmatched."""
    parsed = negotiation.Accept(accept)
    chosen = negotiation.best(accept, OFFERS)
    if chosen is None:
        assert all(parsed.rank(o) is None for o in OFFERS)
    else:
        assert not parsed.refuses(chosen) and parsed.rank(chosen) is not None
        # no other offer is strictly better by q-value
        assert all(parsed.rank(o) is None or parsed.rank(o)[0] <= parsed.rank(chosen)[0]
                   for o in OFFERS)


@pytest.mark.parametrize("accept, offers, chosen", [
    ("text/*;q=0.9, text/csv;q=0.1", ["text/csv", "text/tab-separated-values"],
     "text/tab-separated-values"),
    ("*/*, text/csv;q=0", ["text/csv", "application/json"], "application/json"),
    ("*/*;q=0", ["text/csv"], None),
    ("*/*, text/csv", ["application/json", "text/csv"], "text/csv"),
    ("text/csv, application/json", ["application/json", "text/csv"], "text/csv"),
    ("*/*", ["application/json", "text/csv"], "application/json"),
    ("", ["application/json", "text/csv"], "application/json"),
    ("nonsense, text/csv", ["application/json", "text/csv"], "text/csv"),
    ("TEXT/CSV", ["application/json", "text/csv"], "text/csv"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
     ["application/trig", "application/n-quads"], "application/trig"),
])
def test_negotiation_examples(accept: str, offers: list[str], chosen: str | None) -> None:
    assert negotiation.best(accept, offers) == chosen


def test_accept_headers_are_capped() -> None:
    """Parsing is linear and bounded: a header over the cap is refused before it is read."""
    with pytest.raises(negotiation.HeaderTooLarge, match="4,096"):
        negotiation.Accept("text/csv," * 600)
    # the worst shapes under the cap still parse (quotes and parameters inside one range)
    for worst in ('a/b;x="' + ";" * 4000 + '"', ";" * 4096, "*/*," * 1024,
                  "text/html;" + "a=b;" * 1000):
        negotiation.best(worst[:4096], OFFERS)
