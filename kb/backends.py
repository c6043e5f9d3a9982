"""Where the quads live: Oxigraph (on disk or in memory) or a remote SPARQL 1.1 endpoint.

Only ``kb.store`` constructs a backend. Each backend offers the same small set of
operations, all taking and returning pyoxigraph values:

* ``query(text, default_graph=, named_graphs=, prefixes=)`` -> solutions, boolean or triples
* ``update(text, prefixes=)``, atomic (``prefixes``: declared where the text does not)
* ``write(quads, before=)``: run the update ``before`` (if any), then add the quads; a failure
  while reading ``quads`` adds nothing
* ``bulk_load(source, format, graph=, base_iri=, before=)``: the same for a triple file, parsed
  by the engine (blank nodes renamed per load)
* ``dump(output, format, graph)``, ``named_graphs()``, ``close()``
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb import union
from kb.errors import QueryError, StoreError

OxResult = object  # ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | RemoteTriples


class OxigraphBackend:
    """An Oxigraph store: on disk when ``path`` is given, in memory otherwise."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is None:
                self.store = ox.Store()
            else:
                path.mkdir(parents=True, exist_ok=True)
                self.store = ox.Store(str(path))
        except OSError as e:
            hint = (
                " Another process (a running `kb serve`?) holds this store; stop it or use "
                "its HTTP endpoint." if "lock" in str(e).lower() else ""
            )
            raise StoreError(f"Cannot open the store at {path}: {e}.{hint}") from e

    #: The engine's default graph is the set union of the named graphs, kept by every write.
    keeps_union = True

    @property
    def location(self) -> str:
        return "memory" if self.path is None else str(self.path)

    def query(
        self,
        text: str,
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
        prefixes: Mapping[str, str] | None = None,
    ) -> OxResult:
        return query_store(self.store, text, default_graph=default_graph,
                           named_graphs=named_graphs, prefixes=prefixes)

    # Writes keep the engine's default graph equal to the set union of the named graphs
    # (see kb.union): in one transaction where the change is small, and with the bulk
    # loader (as atomic as before: not at all) where it is large.

    def update(self, text: str, *, prefixes: Mapping[str, str] | None = None) -> None:
        # Declared in the text (on its first line): the rewrite must see every prefix.
        text = _declare(text, prefixes)
        kept = _kept(text)
        try:
            self.store.update(kept)
        except SyntaxError:
            check_syntax(text)
            raise

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None) -> None:
        quads = list(quads)
        replaced = union.graphs_named(before) if before else []
        if not quads and not before:
            return
        if len(quads) <= _ATOMIC_WRITE_QUADS:
            self.store.update(_change(before, replaced, quads))
            return
        if before:
            self.store.update(_change(before, replaced, []))
        default = ox.DefaultGraph()
        with self._bulk():
            self.store.bulk_extend(item for q in quads for item in (
                q, ox.Quad(q.subject, q.predicate, q.object, default)))

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> None:
        if before:
            self.store.update(_change(before, union.graphs_named(before), []))
        target = ox.NamedNode(graph)
        with self._bulk():
            if format == ox.RdfFormat.N_TRIPLES:
                # One pass of the engine's loader over each line twice, as N-Quads: into
                # the graph and into the union, with the same blank nodes (one load).
                try:
                    self.store.bulk_load(_TwiceReader(source, target), ox.RdfFormat.N_QUADS,
                                         base_iri=base_iri)
                except SyntaxError as e:
                    raise _TwiceReader.located(e) from None
            else:
                self.store.bulk_load(source, format, to_graph=target, base_iri=base_iri)
                self._copy_to_union(target)

    @contextmanager
    def _bulk(self) -> Iterator[None]:
        """Around the bulk loader's steps, which are not one transaction: a marker file in
        the store's folder says the union may be incomplete, so that a store killed in the
        middle rebuilds it when it is opened again."""
        marker = None if self.path is None else self.path / _UNION_MARKER
        if marker is not None:
            marker.touch()
        yield
        if marker is not None:
            self.store.flush()
            marker.unlink()

    def _copy_to_union(self, *graphs: ox.NamedNode) -> None:
        default = ox.DefaultGraph()
        self.store.bulk_extend(
            ox.Quad(q.subject, q.predicate, q.object, default)
            for g in graphs for q in self.store.quads_for_pattern(None, None, None, g)
        )

    def ensure_union(self) -> bool:
        """Rebuild the union where it may be wrong: a store written before the union was
        kept (its default graph empty, its named graphs not), or killed during a bulk load.
        True if it was rebuilt."""
        store = self.store
        marker = None if self.path is None else self.path / _UNION_MARKER
        if not (marker is not None and marker.exists()):
            if next(iter(store.quads_for_pattern(None, None, None, ox.DefaultGraph())), None):
                return False
            if next(iter(store.quads_for_pattern(None, None, None, None)), None) is None:
                return False
        store.clear_graph(ox.DefaultGraph())
        with self._bulk():
            self._copy_to_union(*(g for g in store.named_graphs()
                                  if isinstance(g, ox.NamedNode)))
        return True

    def dump(self, output: IO[bytes] | None, format: ox.RdfFormat, graph: str | None) -> bytes:
        if graph is not None:
            return self.store.dump(output, format=format, from_graph=ox.NamedNode(graph)) or b""
        # The dataset is its named graphs: the default graph is their union, derived.
        quads = (q for g in self.store.named_graphs()
                 for q in self.store.quads_for_pattern(None, None, None, g))
        return ox.serialize(quads, output, format=format) or b""

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode))

    def flush(self) -> None:
        if self.path is not None:
            self.store.flush()

    def close(self) -> None:
        if self.path is not None:
            self.store.flush()
        del self.store


class _TwiceReader(io.RawIOBase):
    """N-Triples (bytes or a binary file) read as N-Quads that hold each triple twice:
    first in ``graph``, then in the default graph. Every input line becomes two lines, so
    an error's line number maps back (``located``); columns are unchanged."""

    def __init__(self, source: object, graph: ox.NamedNode) -> None:
        self._lines = iter(io.BytesIO(source) if isinstance(source, bytes) else source)
        self._tag = f" {graph} .\n".encode()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = list(itertools.islice(self._lines, 4096))
            if not chunk:
                return 0
            self._buffer = b"".join(self._twice(line) for line in chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def _twice(self, line: bytes) -> bytes:
        triple = line.strip()
        if not triple or triple.startswith(b"#"):
            return b"\n\n"
        if not triple.endswith(b"."):  # a comment after the triple: let the parser cut it
            parsed = list(ox.parse(triple, format=ox.RdfFormat.N_TRIPLES))
            if not parsed:
                return b"\n\n"
            triple = ox.serialize(parsed, format=ox.RdfFormat.N_TRIPLES).strip()
        return triple[:-1].rstrip() + self._tag + triple + b"\n"

    @staticmethod
    def located(e: SyntaxError) -> SyntaxError:
        """``e`` with the line number of the N-Triples input."""
        if e.lineno is not None:
            e.lineno = (e.lineno + 1) // 2
        return e


#: In an on-disk store's folder while a bulk write runs (see ``OxigraphBackend._bulk``).
_UNION_MARKER = "kb-union-incomplete"

#: Writes up to this many quads are one SPARQL Update (one transaction, all or nothing);
#: larger ones go through the bulk loader.
_ATOMIC_WRITE_QUADS = 50_000


def _change(before: str | None, replaced: list[str], quads: list[ox.Quad]) -> str:
    """One update: ``before`` (a change confined to the ``replaced`` graphs), then the
    ``quads``, with the union kept around them."""
    steps = []
    if replaced:
        steps.append(union.drop_sole(replaced))
    if before:
        steps.append(before)
    if quads:
        blocks: dict[str, list[ox.Triple]] = {}
        for q in quads:
            name = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else ""
            blocks.setdefault(name, []).append(q.triple)
        body = []
        for name, triples in blocks.items():
            text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode()
            body.append(f"GRAPH <{name}> {{\n{text}}}" if name else text)
        every = [t for triples in blocks.values() for t in triples]
        body.append(ox.serialize(every, format=ox.RdfFormat.N_TRIPLES).decode())
        steps.append("INSERT DATA {\n" + "\n".join(body) + "\n}")
    if replaced and not _DROPS_ONLY.fullmatch(before or ""):
        steps.append(union.add_graphs(replaced))  # what the change kept of those graphs
    return " ;\n".join(steps)


_DROPS_ONLY = re.compile(r"(\s*DROP\s+(SILENT\s+)?GRAPH\s*<[^<>]*>\s*;?)+\s*", re.IGNORECASE)


def rewritten(update: str, prefixes: Mapping[str, str] | None = None) -> str:
    """``update`` as ``OxigraphBackend.update`` runs it: prefixes declared, union kept."""
    return _kept(_declare(update, prefixes))


def _kept(update: str) -> str:
    """``update`` rewritten to keep the union (``kb.union``)."""
    try:
        return union.rewrite_update(update)
    except QueryError:
        check_syntax(update)
        raise


def check_syntax(update: str) -> None:
    """Raise the engine's syntax error for the user's own text, if it has one, so that its
    line and column are the user's and not those of the union's rewrite of it (the text
    runs on an empty, throw-away store)."""
    ox.Store().update(update)


def _declare(text: str, prefixes: Mapping[str, str] | None) -> str:
    if not prefixes:
        return text
    from kb.namespaces import declare_prefixes  # rdflib: not at import (the query workers)

    return declare_prefixes(text, prefixes)


def query_store(store: ox.Store, text: str, *, default_graph: list[str] | None = None,
                named_graphs: list[str] | None = None,
                prefixes: Mapping[str, str] | None = None) -> OxResult:
    """Query a pyoxigraph store with the knowledge base's dataset rules: the default graph
    is the store's own, which the knowledge base keeps equal to the set union of the named
    graphs (``kb.union``), unless ``default_graph`` lists graphs. A merge of several graphs
    is a set too: their triples are merged into a scratch store first (the engine's own
    merge counts a triple once per graph that holds it). ``prefixes`` are declared for a
    query that does not declare them itself."""
    kwargs: dict[str, object] = {"prefixes": dict(prefixes)} if prefixes else {}
    if default_graph is not None and len(default_graph) > 1:
        merged = _merge(store, default_graph, named_graphs)
        return merged.query(text, default_graph=ox.DefaultGraph(), **kwargs)
    if default_graph is not None:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graph]
    if named_graphs is not None:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
    return store.query(text, **kwargs)


def _merge(store: ox.Store, default_graph: list[str],
           named_graphs: list[str] | None) -> ox.Store:
    """An in-memory store whose default graph is the RDF merge of ``default_graph`` and
    whose named graphs are ``named_graphs`` (none when not given, as the protocol says)."""
    merged = ox.Store()
    default = ox.DefaultGraph()
    merged.bulk_extend(
        ox.Quad(q.subject, q.predicate, q.object, default)
        for g in dict.fromkeys(default_graph)
        for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g))
    )
    for g in named_graphs or []:
        merged.bulk_extend(store.quads_for_pattern(None, None, None, ox.NamedNode(g)))
    return merged


class RemoteTriples:
    """The triples a remote CONSTRUCT or DESCRIBE returned (pyoxigraph has no public
    constructor for ``QueryTriples``)."""

    def __init__(self, triples: list[ox.Triple]) -> None:
        self.triples = triples

    def __iter__(self) -> Iterator[ox.Triple]:
        return iter(self.triples)

    def serialize(self, output: IO[bytes] | None = None, format: ox.RdfFormat = ox.RdfFormat.N_TRIPLES) -> bytes | None:  # noqa: E501
        return ox.serialize(self.triples, output, format=format)


_QUAD_INSERT_BATCH = 50_000


class RemoteBackend:
    """A SPARQL 1.1 Query/Update endpoint (Oxigraph server, Virtuoso, Fuseki, GraphDB…).

    The server decides what the default graph is: configure it to use the union of the
    named graphs (``oxigraph serve --union-default-graph``; see the README for others).
    """

    def __init__(self, query_url: str, update_url: str | None = None, timeout: float = 60.0,
                 *, keep_union: bool = False):
        import httpx

        self.keep_union = self.keeps_union = keep_union
        self.query_url = query_url
        self.update_url = update_url or _guess_update_url(query_url)
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._httpx = httpx

    @property
    def location(self) -> str:
        return self.query_url

    def _post(self, url: str, data: dict[str, object], accept: str | None = None
              ) -> tuple[bytes, str]:
        """POST ``data``; the answer's body and its media type (per call: concurrent queries
        share this backend)."""
        headers = {"Accept": accept} if accept else {}
        try:
            response = self.client.post(url, data=data, headers=headers)
        except self._httpx.HTTPError as e:
            raise StoreError(f"Cannot reach the SPARQL endpoint {url}: {e}") from e
        if response.status_code >= 400:
            message = response.text.strip()[:500]
            if response.status_code == 400:
                raise QueryError(f"The endpoint {url} refused the request: {message}")
            raise StoreError(f"The endpoint {url} answered {response.status_code}: {message}")
        return response.content, response.headers.get("content-type", "")

    def query(
        self,
        text: str,
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
        prefixes: Mapping[str, str] | None = None,
    ) -> OxResult:
        text = _declare(text, prefixes)
        data: dict[str, object] = {"query": text}
        if default_graph is not None:
            data["default-graph-uri"] = default_graph
        if named_graphs is not None:
            data["named-graph-uri"] = named_graphs
        # Ask for the right kind of answer first: some servers (Virtuoso) answer a CONSTRUCT
        # with SPARQL JSON "s p o" bindings when JSON comes first in Accept.
        accept = ("application/n-triples, application/sparql-results+json;q=0.9"
                  if _is_graph_query(text) else
                  "application/sparql-results+json, application/n-triples;q=0.9")
        body, ctype = self._post(self.query_url, data, accept=accept)
        ctype = ctype.split(";")[0].strip()
        if ctype in ("application/n-triples", "text/plain"):
            return RemoteTriples(list(ox.parse(body, format=ox.RdfFormat.N_TRIPLES)))
        fmt = ox.QueryResultsFormat.from_media_type(ctype) or ox.QueryResultsFormat.JSON
        if fmt == ox.QueryResultsFormat.JSON and b"nodeID://" in body:
            body = _virtuoso_blank_nodes(body)
        return ox.parse_query_results(body, format=fmt)

    def update(self, text: str, *, prefixes: Mapping[str, str] | None = None) -> None:
        text = _declare(text, prefixes)
        if not self.keep_union:
            self._post(self.update_url, {"update": text})
            return
        kept = _kept(text)
        try:
            self._post(self.update_url, {"update": kept})
        except QueryError:
            check_syntax(text)
            raise

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None) -> None:
        # One request, so that servers with transactional updates apply all or nothing.
        # Blank nodes: INSERT DATA may not hold them on some servers (Virtuoso: "Blank node
        # … is not allowed in a constant clause"), so a batch with blank nodes is written
        # as INSERT { … } WHERE {}, standard SPARQL 1.1, where one label is one new node
        # across the batch's graphs.
        replaced = union.graphs_named(before) if before and self.keep_union else []
        parts = [union.drop_sole(replaced)] if replaced else []
        parts += [before] if before else []
        batch: list[ox.Quad] = []

        def flush() -> None:
            by_graph: dict[str, list[ox.Triple]] = {}
            blank = False
            for q in batch:
                by_graph.setdefault(q.graph_name.value, []).append(q.triple)
                blank = blank or isinstance(q.subject, ox.BlankNode) or isinstance(
                    q.object, ox.BlankNode)
            blocks = [
                f"GRAPH <{graph}> {{\n"
                f"{ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode()}}}"
                for graph, triples in by_graph.items()
            ]
            if self.keep_union:  # the same triples into the union
                blocks.append(ox.serialize([q.triple for q in batch],
                                           format=ox.RdfFormat.N_TRIPLES).decode())
            if blank:
                parts.append("INSERT {\n" + "\n".join(blocks) + "\n} WHERE {}")
            else:
                parts.extend(f"INSERT DATA {{ {block} }}" for block in blocks)
            batch.clear()

        for q in quads:
            batch.append(q)
            if len(batch) >= _QUAD_INSERT_BATCH:
                flush()
        if batch:
            flush()
        if replaced and not _DROPS_ONLY.fullmatch(before or ""):
            parts.append(union.add_graphs(replaced))
        if parts:
            self._post(self.update_url, {"update": " ;\n".join(parts)})

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> None:
        g = ox.NamedNode(graph)
        triples = ox.parse(source, format=format, base_iri=base_iri, rename_blank_nodes=True)
        self.write((ox.Quad(t.subject, t.predicate, t.object, g) for t in triples), before=before)

    def dump(self, output: IO[bytes] | None, format: ox.RdfFormat, graph: str | None) -> bytes:
        if graph is not None and output is not None and not format.supports_datasets:
            # One graph: a CONSTRUCT streamed from the server through pyoxigraph's parser
            # and serializer into ``output`` (nothing held in memory).
            query = ("CONSTRUCT { ?s ?p ?o } WHERE { GRAPH "
                     f"{ox.NamedNode(graph)} {{ ?s ?p ?o }} }}")
            headers = {"Accept": "application/n-triples, text/plain;q=0.9, text/turtle;q=0.8"}
            try:
                with self.client.stream("POST", self.query_url, data={"query": query},
                                        headers=headers) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise StoreError(f"The endpoint {self.query_url} answered "
                                         f"{response.status_code}: {response.text[:500]}")
                    ctype = response.headers.get("content-type", "").split(";")[0].strip()
                    source = ox.RdfFormat.N_TRIPLES if ctype in ("text/plain", "") else (
                        ox.RdfFormat.from_media_type(ctype) or ox.RdfFormat.N_TRIPLES)
                    triples = ox.parse(_Reader(response.iter_bytes()), format=source)
                    ox.serialize(triples, output, format)
            except self._httpx.HTTPError as e:
                raise StoreError(f"Cannot reach the SPARQL endpoint {self.query_url}: {e}") from e
            return b""
        if graph is not None:
            result = self.query(
                f"SELECT ?s ?p ?o WHERE {{ GRAPH {ox.NamedNode(graph)} {{ ?s ?p ?o }} }}"
            )
            items: list[ox.Triple] | list[ox.Quad] = [
                ox.Triple(r["s"], r["p"], r["o"]) for r in result  # type: ignore[union-attr]
            ]
        else:
            result = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
            items = [ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in result]  # type: ignore[union-attr]
        return ox.serialize(items, output, format=format) or b""

    def named_graphs(self) -> list[str]:
        result = self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        return sorted(r["g"].value for r in result)  # type: ignore[union-attr]

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()


def _guess_update_url(query_url: str) -> str:
    """Oxigraph and Fuseki serve updates at ``…/update`` beside ``…/query``; others (Virtuoso,
    GraphDB's ``/statements`` aside) take both on one URL."""
    if query_url.rstrip("/").endswith("/query"):
        return query_url.rstrip("/")[: -len("query")] + "update"
    return query_url



class _Reader:
    """A binary file over an iterator of byte chunks (an HTTP response body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _virtuoso_blank_nodes(body: bytes) -> bytes:
    """Virtuoso writes blank nodes in SPARQL JSON results as ``nodeID://b123`` (typed
    ``bnode``, sometimes ``uri``): make them plain blank node labels."""
    import json
    import re

    doc = json.loads(body)
    for row in doc.get("results", {}).get("bindings", []):
        for value in row.values():
            if value.get("value", "").startswith("nodeID://"):
                value["type"] = "bnode"
                value["value"] = re.sub(r"[^A-Za-z0-9_]", "", value["value"][len("nodeID://"):])
    return json.dumps(doc).encode()


def _is_graph_query(text: str) -> bool:
    """True for CONSTRUCT and DESCRIBE queries (strings, IRIs and comments ignored)."""
    import re

    from kb.safety import mask_literals

    m = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", mask_literals(text), re.IGNORECASE)
    return m is not None and m.group(1).upper() in ("CONSTRUCT", "DESCRIBE")
