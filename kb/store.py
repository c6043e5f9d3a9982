"""The knowledge base: one object over the store, whatever the backend.

Over 400 lines, for a reason: it is the façade, one short method per operation that the
CLI, the API and library users call; what it stands on has modules of its own (``engine``,
``backends``, ``remote``, ``union``, ``sparql_text``, ``workers``, ``load``, ``write_checks``).

>>> kb = KnowledgeBase.open("memory")
>>> kb.update("INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> 'c' } }")
>>> [str(row["o"]) for row in kb.select("SELECT ?o WHERE { ?s ?p ?o }")]
['c']
>>> kb.close()
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import pyoxigraph as ox
from rdflib import Dataset, Graph
from rdflib.term import Node

from kb import safety
from kb.backends import OxigraphBackend, check_syntax
from kb.engine import (
    FormatChoice,
    Result,
    Row,
    checked_format,
    parse_result,
    result_boolean,
    result_graph,
    result_kind,
    run_in_engine_thread,
    solution_rows,
)
from kb.errors import InvalidParameter, QueryError, QueryRefused
from kb.formats import rdf_format
from kb.namespaces import BASE, declare_prefixes
from kb.remote import RemoteBackend
from kb.search_sync import close_index, follow_writes
from kb.settings import Settings
from kb.sparql_text import bind_values, engine_errors, query_error
from kb.terms import to_ox
from kb.union import rewrite_update

if TYPE_CHECKING:
    from kb.workers import QueryPool

T = TypeVar("T")
log = logging.getLogger(__name__)

@dataclass(frozen=True)
class GraphCount:
    graph: str
    triples: int


@dataclass(frozen=True)
class Stats:
    triples: int
    graphs: list[GraphCount]
    classes: list[tuple[str, int]]
    properties: list[tuple[str, int]]


STATS_GRAPHS = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g"
STATS_CLASSES = (
    "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY DESC(?n) ?c"
)
STATS_PROPERTIES = "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY DESC(?n) ?p"


class KnowledgeBase:
    """The knowledge base over one backend, chosen by ``settings.store``:

    * a folder path: Oxigraph on disk (created when missing);
    * ``"memory"``: Oxigraph in memory;
    * an ``http(s)://`` URL: a remote SPARQL 1.1 endpoint (``settings.update_url`` for its
      update endpoint where it differs).

    Queries see the union of the named graphs as their default graph. Every write goes
    through this object, which bumps ``generation`` so that views can cache per version.
    """

    def __init__(self, settings: Settings | None = None, *,
                 prefixes: Mapping[str, str] | None = None) -> None:
        self.settings = settings or Settings()
        #: Declared for every query and update that does not declare them itself (the CLI
        #: gives the project's, as the query page does); a query's own PREFIX lines win.
        self.prefixes = dict(prefixes or {})
        location = self.settings.store
        if location == "memory":
            self.backend: OxigraphBackend | RemoteBackend = OxigraphBackend(None)
        elif location.startswith(("http://", "https://")):
            if self.settings.remote_union not in ("server", "kept"):
                raise InvalidParameter("remote_union", f"{self.settings.remote_union!r} is "
                                       "neither 'server' nor 'kept' (KB_REMOTE_UNION)")
            self.backend = RemoteBackend(location, self.settings.update_url,
                                         keep_union=self.settings.remote_union == "kept")
        else:
            self.backend = OxigraphBackend(Path(location))
            if self.backend.ensure_union():
                log.warning("Built the union of the named graphs into the default graph of "
                            "%s (a store written by an earlier version)", location)
        self.generation = 0
        self._write_lock = threading.Lock()
        self._pool: QueryPool | None = None

    @classmethod
    def open(cls, store: str = "memory", **settings: object) -> KnowledgeBase:
        """A knowledge base at ``store`` (folder, ``memory`` or URL); other keywords are
        ``Settings`` fields."""
        return cls(Settings(store=store, **settings))  # type: ignore[arg-type]

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the query workers, flush and release the store (the on-disk store can then
        be opened elsewhere)."""
        if getattr(self, "_pool", None) is not None:
            self._pool.close()
            self._pool = None
        close_index(self)
        if getattr(self, "backend", None) is not None:
            self.backend.close()
            self.backend = None  # type: ignore[assignment]

    @property
    def is_local(self) -> bool:
        """True for the Oxigraph backends (on disk or in memory)."""
        return isinstance(self.backend, OxigraphBackend)

    # --- reading --------------------------------------------------------------------------

    def check_query(self, sparql: str, *, kind: str = "query") -> safety.SparqlScan:
        """Refuse a query or update that must not run (see ``kb.safety.check_sparql``), and
        FROM/USING clauses that name neither a graph of this store nor an allowed host."""
        limit = self.settings.max_query_bytes if kind == "query" else self.settings.max_update_bytes
        scan = safety.check_sparql(
            sparql, max_bytes=limit, allow_hosts=self.settings.allow_hosts, kind=kind
        )
        self._check_dataset(scan)
        return scan

    def _check_dataset(self, scan: safety.SparqlScan) -> None:
        """Refuse FROM/USING graphs that are neither here nor on an allowed host."""
        if scan.dataset_iris:
            local = set(self.graphs())
            for iri in scan.dataset_iris:
                if iri not in local and not iri.startswith(BASE) and not safety.host_allowed(
                    iri, self.settings.allow_hosts
                ):
                    raise QueryRefused(
                        f"<{iri}> names no graph of this knowledge base, and remote graphs "
                        "are not fetched unless the host is allow-listed; list the graphs "
                        "with `kb stats`"
                    )

    def run(
        self,
        sparql: str,
        consume: Callable[[object], T],
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
        bindings: Mapping[str, Node | ox.NamedNode | ox.Literal] | None = None,
        isolated: bool = False,
        client: str | None = None,
    ) -> T:
        """Run a SPARQL query and hand the engine's result to ``consume``, on the engine
        thread that ran it (pyoxigraph results may not cross threads), returning what
        ``consume`` returns. The default graph is the union of all named graphs unless
        ``default_graph`` lists the graphs to use. ``bindings`` bind variables to terms
        (never spliced into the query text). ``isolated`` (for query text from a user):
        with query workers, the query runs in one as ``query`` does (timeout, memory and
        size caps, ``client``'s fair share), and ``consume`` gets the answer parsed back.

        Raises:
            QueryRefused: the query asks for remote data or is too large or too deep.
            QueryError: the query does not parse (with line and column) or fails.
        """
        if isolated and self._pool is not None:
            result = self.query(sparql, default_graph=default_graph, named_graphs=named_graphs,
                                bindings=bindings, client=client)
            with engine_errors():
                return consume(parse_result(result))
        default_graph, named_graphs = _dataset(self.check_query(sparql), default_graph,
                                               named_graphs)
        if bindings:
            sparql = bind_values(sparql, bindings)

        def job() -> T:
            raw = self.backend.query(sparql, default_graph=default_graph,
                                     named_graphs=named_graphs, prefixes=self.prefixes)
            try:
                return consume(raw)
            except BaseException as e:
                # The traceback's frames hold the result, which must not be released on
                # another thread (pyoxigraph results are bound to the thread that made them).
                traceback.clear_frames(e.__traceback__)
                raise
            finally:
                del raw

        with engine_errors(sparql, self.prefixes):
            return run_in_engine_thread(job)

    def query(self, sparql: str, *, format: FormatChoice = None,
              default_graph: list[str] | None = None, named_graphs: list[str] | None = None,
              bindings: Mapping[str, Node | ox.NamedNode | ox.Literal] | None = None,
              in_process: bool = False, client: str | None = None) -> Result:
        """Run a query and serialize its answer with the engine (no per-row Python).

        ``format`` is a format name or object, or a function from the result kind
        (select, ask, graph) to one, for content negotiation; by default SPARQL JSON for
        SELECT/ASK and N-Triples for CONSTRUCT/DESCRIBE. The other options are ``run``'s.
        After ``start_query_workers`` the query runs in a worker process, stopped at the
        timeout (``QueryTimeout``) and capped in size (``ResultTooLarge``), unless
        ``in_process`` (for the server's own queries, such as Graph Store reads).
        """

        if self._pool is None or in_process:
            def serialize(raw: object) -> Result:
                kind = result_kind(raw)
                fmt = checked_format(format)(kind)
                return Result(kind, fmt, raw.serialize(format=fmt))  # type: ignore[attr-defined]

            return self.run(sparql, serialize, default_graph=default_graph,
                            named_graphs=named_graphs, bindings=bindings)
        default_graph, named_graphs = _dataset(self.check_query(sparql), default_graph,
                                               named_graphs)
        if bindings:
            sparql = bind_values(sparql, bindings)
        with engine_errors(sparql, self.prefixes):
            return self._pool.query(sparql, checked_format(format), default_graph=default_graph,
                                    named_graphs=named_graphs, client=client)

    async def query_async(self, sparql: str, *, format: FormatChoice = None,
                          default_graph: list[str] | None = None,
                          named_graphs: list[str] | None = None,
                          bindings: Mapping[str, Node | ox.NamedNode | ox.Literal] | None = None,
                          client: str | None = None) -> Result:
        """``query`` for an event loop (the server): with query workers the answer is awaited
        without tying up a thread, and nothing that may wait (the check of FROM graphs, a
        new snapshot) runs on the loop; without workers, ``query`` runs on a thread."""
        if self._pool is None:
            return await asyncio.to_thread(self.query, sparql, format=format,
                                           default_graph=default_graph,
                                           named_graphs=named_graphs, bindings=bindings)
        if len(sparql) <= 2048:  # scanned in microseconds; the graph list is read on a thread
            scan = safety.check_sparql(sparql, max_bytes=self.settings.max_query_bytes,
                                       allow_hosts=self.settings.allow_hosts, kind="query")
            if scan.dataset_iris:
                await asyncio.to_thread(self._check_dataset, scan)
        else:
            scan = await asyncio.to_thread(self.check_query, sparql)
        default_graph, named_graphs = _dataset(scan, default_graph, named_graphs)
        if bindings:
            sparql = bind_values(sparql, bindings)
        with engine_errors(sparql, self.prefixes):
            return await self._pool.query_async(sparql, checked_format(format),
                                                default_graph=default_graph,
                                                named_graphs=named_graphs, client=client)

    def start_query_workers(self, size: int | None = None) -> None:
        """From now on, run ``query`` in ``size`` worker processes (``settings.query_workers``
        by default) that are killed at ``settings.query_timeout``: what the server does. A
        no-op for a remote store (the remote server has its own limits) or a size of 0."""
        size = self.settings.query_workers if size is None else size
        if self._pool is not None or size < 1 or not self.is_local:
            return
        from kb.workers import QueryPool

        self._pool = QueryPool(self, size=size, timeout=self.settings.query_timeout,
                               max_result_bytes=self.settings.max_result_bytes,
                               cache_bytes=self.settings.result_cache_bytes,
                               memory_bytes=self.settings.query_memory_bytes,
                               per_client=self.settings.query_workers_per_client,
                               replica_bytes=self.settings.replica_memory_bytes)

    def query_workers_status(self) -> dict[str, object] | None:
        """Where the query workers answer from (``QueryPool.status``); None without them."""
        return None if self._pool is None else self._pool.status()

    def select(self, sparql: str, **bindings: Node) -> list[Row]:
        """SELECT rows as dicts of rdflib terms (unbound variables left out)."""
        return self.run(sparql, solution_rows, bindings=bindings)

    def ask(self, sparql: str, **bindings: Node) -> bool:
        return self.run(sparql, result_boolean, bindings=bindings)

    def construct(self, sparql: str, **bindings: Node) -> Graph:
        """CONSTRUCT or DESCRIBE triples as an rdflib Graph."""
        return self.run(sparql, result_graph, bindings=bindings)

    def graphs(self) -> list[str]:
        """The IRIs of the named graphs, sorted."""
        return run_in_engine_thread(self.backend.named_graphs)

    def __len__(self) -> int:
        rows = self.select("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")
        return int(rows[0]["n"])  # type: ignore[call-overload]

    def stats(self) -> Stats:
        """Triples per graph, and the most used classes and properties."""
        graphs = [GraphCount(str(r["g"]), int(r["n"])) for r in self.select(STATS_GRAPHS)]  # type: ignore[call-overload]
        classes = [(str(r["c"]), int(r["n"])) for r in self.select(STATS_CLASSES)]  # type: ignore[call-overload]
        props = [(str(r["p"]), int(r["n"])) for r in self.select(STATS_PROPERTIES)]  # type: ignore[call-overload]
        return Stats(sum(g.triples for g in graphs), graphs, classes, props)

    def dump(
        self, format: str | ox.RdfFormat = "trig", *, graph: str | None = None,
        output: IO[bytes] | None = None,
    ) -> bytes:
        """Serialize the dataset (graphs kept: TriG, N-Quads) or one graph (any format).

        Raises:
            InvalidParameter: a triple format was asked for the whole dataset.
        """
        fmt = format if isinstance(format, ox.RdfFormat) else rdf_format(format)
        if graph is None and not fmt.supports_datasets:
            raise InvalidParameter(
                "format", f"{fmt.name} holds one graph, but the dataset has named graphs: "
                "use TriG or N-Quads for the whole dataset, or pick a graph"
            )
        return run_in_engine_thread(self.backend.dump, output, fmt, graph)

    def graph(self, iri: str | None = None) -> Graph:
        """An rdflib copy of one named graph, or of the union of all graphs."""
        return self.run("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", result_graph,
                        default_graph=[iri] if iri is not None else None)

    def dataset(self) -> Dataset:
        """An rdflib copy of the whole dataset, one rdflib graph per named graph (the union
        the engine keeps in its default graph left out), held by oxrdflib's Oxigraph store:
        the engine's N-Quads read by Oxigraph's parser, 10x rdflib's (100k triples: 1.5 s,
        was 13.5 s; the bundled data: 0.04 s, was 0.44 s). Plain strings come back as
        ``Literal(v, datatype=XSD.string)`` (the same literal in RDF 1.1; patterns with
        ``Literal(v)`` match them)."""
        ds = Dataset(store="Oxigraph")
        ds.parse(data=self.dump("nq"), format="ox-nquads", transactional=False)
        return ds

    # --- writing --------------------------------------------------------------------------

    def update(self, sparql: str) -> None:
        """Run a SPARQL Update atomically: on any error nothing changes.

        Raises:
            QueryRefused: the update uses LOAD or SERVICE to a host not allow-listed.
            QueryError: the update does not parse or fails.
            ValidationFailed: with ``settings.validate_writes``, the update would add SHACL
                violations (see ``kb.write_checks.refuse_nonconforming_write``).
        """
        self.check_query(sparql, kind="update")
        with self._write_lock, follow_writes(self, update=sparql):
            try:
                self._rehearse(sparql)
                if self.settings.validate_writes:
                    from kb.write_checks import refuse_nonconforming_write

                    # the update as the backend will run it: prefixes declared, then the
                    # union's rewrite (kb.union)
                    declared = declare_prefixes(sparql, self.prefixes)
                    try:
                        text = rewrite_update(declared) if self.backend.keeps_union else declared
                        refuse_nonconforming_write(self, lambda store: store.update(text))
                    except (SyntaxError, QueryError):
                        check_syntax(declared)  # the error at the user's line and column
                        raise
                run_in_engine_thread(self.backend.update, sparql, prefixes=self.prefixes)
            except SyntaxError as e:
                raise query_error(e, kind="update", text=sparql, prefixes=self.prefixes) from None
            except (OSError, RuntimeError, ValueError) as e:
                raise QueryError(f"The update failed and changed nothing: {e}") from e
            finally:
                self.generation += 1

    def _rehearse(self, sparql: str) -> None:
        """Run the update on a copy of the store in a process killed at
        ``settings.update_timeout`` (see ``kb.bounded``); the caller holds the write lock.
        Not for a remote store (its server has its own limits)."""
        from kb.bounded import matches_patterns, rehearse_update

        if not self.settings.update_timeout or not self.is_local or not matches_patterns(sparql):
            return
        from kb.backends import rewritten

        try:
            text = rewritten(sparql, self.prefixes)
        except (SyntaxError, QueryError):
            return  # refused as it is: the update below says why
        rehearse_update(self.backend, text, timeout=self.settings.update_timeout,
                        memory_bytes=self.settings.query_memory_bytes)

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None,
              validate: bool | None = None) -> None:
        """Add quads in one atomic step, after running the update ``before`` (used to clear
        the graphs being replaced). An exception raised while ``quads`` is read adds
        nothing. ``validate`` (default: ``settings.validate_writes``) refuses a write that
        would add SHACL violations (``ValidationFailed``)."""
        if validate is None:
            validate = self.settings.validate_writes
        with self._write_lock, follow_writes(self, before=before) as noting:
            try:
                if validate:
                    from kb.write_checks import refuse_nonconforming_quads

                    quads = list(quads)
                    refuse_nonconforming_quads(self, quads, before=before)
                run_in_engine_thread(self.backend.write, noting(quads), before=before)
            finally:
                self.generation += 1

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> int | None:
        """Parse a triple-format ``source`` (bytes or a binary file) with the engine's bulk
        loader into ``graph``, after running the update ``before``; all or nothing. A
        ``source`` that is an iterator of byte chunks (whole lines of N-Triples) is loaded one
        chunk per pass of the loader, in bounded memory, not atomically; the search index
        follows once, at the end (not after each chunk: that re-reads the graph each time).

        Returns the number of triples read (duplicates counted) where the backend counts
        them (the engine's N-Triples loader does), else None.

        Raises:
            SyntaxError: from the engine, with ``lineno`` and ``offset``.
        """
        chunks = [source] if isinstance(source, bytes) or hasattr(source, "read") else source
        read: int | None = 0
        with self._write_lock, follow_writes(self, graphs=[graph], before=before):
            try:
                for chunk in chunks:
                    n = run_in_engine_thread(self.backend.bulk_load, chunk, format, graph=graph,
                                             base_iri=base_iri, before=before)
                    read = None if n is None or read is None else read + n
                    before = None
            finally:
                self.generation += 1
        return read

    def refuse_nonconforming(self, apply: Callable[[ox.Store], None]) -> None:
        """Raise ``ValidationFailed`` if ``apply``, run on an in-memory copy of the store,
        would add SHACL violations (see ``kb.write_checks.refuse_nonconforming_write``); no
        write runs meanwhile."""
        from kb.write_checks import refuse_nonconforming_write

        with self._write_lock:
            refuse_nonconforming_write(self, apply)

    def drop_graph(self, iri: str) -> None:
        """Remove the named graph ``iri`` (and from the union what only it held)."""
        self.write([], before=f"DROP SILENT GRAPH {ox.NamedNode(iri)}")

    def replace_graph(self, iri: str, triples: Iterable[tuple[Node, Node, Node]]) -> int:
        """Replace the content of graph ``iri`` with rdflib ``triples``; returns the count."""
        g = ox.NamedNode(iri)
        count = 0

        def quads() -> Iterator[ox.Quad]:
            nonlocal count
            for s, p, o in triples:
                count += 1
                yield ox.Quad(to_ox(s), to_ox(p), to_ox(o), g)  # type: ignore[arg-type]

        self.write(quads(), before=f"DROP SILENT GRAPH <{iri}>")
        return count

    def load(self, paths: Iterable[str | Path], **options: object):
        """Load files or folders; see ``kb.load.load_paths``. A table named with its CSVW
        metadata beside it (``x.csv`` and ``x.csv-metadata.json``) is imported with that
        mapping (``kb.imports``), after the RDF files."""
        from kb.imports import import_table, metadata_beside
        from kb.load import FileLoad, load_paths

        paths = list(paths)
        tables = [Path(p) for p in paths if Path(p).is_file() and metadata_beside(Path(p))
                  and options.get("format") is None]
        rest = [p for p in paths if Path(p) not in tables]
        report = load_paths(self, rest, **options) if rest else load_paths(self, [])  # type: ignore[arg-type]
        for table in tables:
            done = import_table(self, table, metadata_beside(table),  # type: ignore[arg-type]
                                graph=options.get("graph"))  # type: ignore[arg-type]
            report.files.append(FileLoad(table, "CSVW", {done.graph: done.triples}))
        return report


def _dataset(scan: safety.SparqlScan, default_graph: list[str] | None,
             named_graphs: list[str] | None) -> tuple[list[str] | None, list[str] | None]:
    """The dataset to query: the protocol's graphs, else the query's own ``FROM`` merge when
    it names several graphs (passed on, so that the merge is a set: see
    ``kb.backends.query_store``)."""
    if default_graph is None and len(scan.from_graphs) > 1:
        return scan.from_graphs, (scan.from_named_graphs if named_graphs is None
                                  else named_graphs)
    return default_graph, named_graphs


__all__ = ["KnowledgeBase", "Result", "Row", "Stats", "run_in_engine_thread"]
