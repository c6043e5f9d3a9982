"""Where the quads live: Oxigraph (on disk or in memory) or a remote SPARQL 1.1 endpoint.

Only ``kb.store`` constructs a backend. Each backend offers the same small set of
operations, all taking and returning pyoxigraph values:

* ``query(text, default_graph=, named_graphs=)`` -> solutions, boolean or triples
* ``update(text)``, atomic
* ``write(quads, before=)``: run the update ``before`` (if any), then add the quads; a failure
  while reading ``quads`` adds nothing
* ``bulk_load(source, format, graph=, base_iri=, before=)``: the same for a triple file, parsed
  by the engine (blank nodes renamed per load)
* ``dump(output, format, graph)``, ``named_graphs()``, ``close()``
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyoxigraph as ox

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

    @property
    def location(self) -> str:
        return "memory" if self.path is None else str(self.path)

    def query(
        self,
        text: str,
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
    ) -> OxResult:
        kwargs: dict[str, object] = {}
        if default_graph is not None:
            kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graph]
        else:
            kwargs["use_default_graph_as_union"] = True
        if named_graphs is not None:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        return self.store.query(text, **kwargs)

    def update(self, text: str) -> None:
        self.store.update(text)

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None) -> None:
        if before:
            self.store.update(before)
        self.store.bulk_extend(quads)

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> None:
        if before:
            self.store.update(before)
        self.store.bulk_load(source, format, to_graph=ox.NamedNode(graph), base_iri=base_iri)

    def dump(self, output: IO[bytes] | None, format: ox.RdfFormat, graph: str | None) -> bytes:
        kwargs: dict[str, object] = {"format": format}
        if graph is not None:
            kwargs["from_graph"] = ox.NamedNode(graph)
        return self.store.dump(output, **kwargs) or b""

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode))

    def flush(self) -> None:
        if self.path is not None:
            self.store.flush()

    def close(self) -> None:
        if self.path is not None:
            self.store.flush()
        del self.store


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

    def __init__(self, query_url: str, update_url: str | None = None, timeout: float = 60.0):
        import httpx

        self.query_url = query_url
        self.update_url = update_url or _guess_update_url(query_url)
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._httpx = httpx

    @property
    def location(self) -> str:
        return self.query_url

    def _post(self, url: str, data: dict[str, object], accept: str | None = None) -> bytes:
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
        self._last_content_type = response.headers.get("content-type", "")
        return response.content

    def query(
        self,
        text: str,
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
    ) -> OxResult:
        data: dict[str, object] = {"query": text}
        if default_graph is not None:
            data["default-graph-uri"] = default_graph
        if named_graphs is not None:
            data["named-graph-uri"] = named_graphs
        body = self._post(
            self.query_url, data,
            accept="application/sparql-results+json, application/n-triples;q=0.9",
        )
        ctype = self._last_content_type.split(";")[0].strip()
        if ctype in ("application/n-triples", "text/plain"):
            return RemoteTriples(list(ox.parse(body, format=ox.RdfFormat.N_TRIPLES)))
        fmt = ox.QueryResultsFormat.from_media_type(ctype) or ox.QueryResultsFormat.JSON
        return ox.parse_query_results(body, format=fmt)

    def update(self, text: str) -> None:
        self._post(self.update_url, {"update": text})

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None) -> None:
        # One request, so that servers with transactional updates apply all or nothing.
        parts = [before] if before else []
        by_graph: dict[str, list[ox.Triple]] = {}
        for q in quads:
            by_graph.setdefault(q.graph_name.value, []).append(q.triple)
        for graph, triples in by_graph.items():
            for start in range(0, len(triples), _QUAD_INSERT_BATCH):
                batch = triples[start : start + _QUAD_INSERT_BATCH]
                body = ox.serialize(batch, format=ox.RdfFormat.N_TRIPLES).decode()
                parts.append(f"INSERT DATA {{ GRAPH <{graph}> {{\n{body}}} }}")
        if parts:
            self.update(" ;\n".join(parts))

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> None:
        g = ox.NamedNode(graph)
        triples = ox.parse(source, format=format, base_iri=base_iri, rename_blank_nodes=True)
        self.write((ox.Quad(t.subject, t.predicate, t.object, g) for t in triples), before=before)

    def dump(self, output: IO[bytes] | None, format: ox.RdfFormat, graph: str | None) -> bytes:
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

