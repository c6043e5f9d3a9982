"""The remote backend: a SPARQL 1.1 endpoint (query, and update where it differs), with the
operations of ``kb.backends`` over HTTP (httpx). Where the server does not keep the union of
the named graphs in its default graph, every write here keeps it (``kb.union``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

import pyoxigraph as ox

from kb import union
from kb.backends import DROPS_ONLY, OxResult, check_syntax, declare_prefixes_of, keep_union
from kb.errors import QueryError, StoreError


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
        text = declare_prefixes_of(text, prefixes)
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
        text = declare_prefixes_of(text, prefixes)
        if not self.keep_union:
            self._post(self.update_url, {"update": text})
            return
        kept = keep_union(text)
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
        if replaced and not DROPS_ONLY.fullmatch(before or ""):
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

    doc = json.loads(body)
    for row in doc.get("results", {}).get("bindings", []):
        for value in row.values():
            if value.get("value", "").startswith("nodeID://"):
                value["type"] = "bnode"
                value["value"] = re.sub(r"[^A-Za-z0-9_]", "", value["value"][len("nodeID://"):])
    return json.dumps(doc).encode()


def _is_graph_query(text: str) -> bool:
    """True for CONSTRUCT and DESCRIBE queries (strings, IRIs and comments ignored)."""

    from kb.safety import mask_literals

    m = re.search(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", mask_literals(text), re.IGNORECASE)
    return m is not None and m.group(1).upper() in ("CONSTRUCT", "DESCRIBE")
