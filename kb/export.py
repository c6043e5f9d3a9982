"""RDF exports: the whole dataset (TriG, N-Quads, JSON-LD) or one graph (Turtle, N-Triples,
JSON-LD, RDF/XML), streamed, with readable prefixes and a stable, byte-identical output.

How the output is made stable and streamed, whatever the backend:

1. Each graph is dumped by the engine as N-Triples into a temporary file (on disk, not in
   memory).
2. Blank nodes get labels computed from their content (``kb.blank_labels``), never the
   engine's own (random per load): the same data loaded twice, into any store, exports to
   the same bytes.
3. The relabelled lines of each graph are sorted (an external merge sort over temporary files,
   ``SORT_CHUNK_LINES`` lines in memory at a time): subjects come out sorted and grouped.
4. The sorted lines are written out as they are (N-Triples, N-Quads), or re-parsed and
   written by pyoxigraph's streaming serializers (Turtle, TriG, RDF/XML) with the prefixes of
   ``kb.namespaces.PREFIXES``, or by the streaming JSON-LD compactor of ``kb.jsonld`` (one
   node object per subject, compacted with ``ontology/context.jsonld``).

Memory stays bounded by the sort chunk and the blank-node table (one entry per blank node),
never by the dataset.

>>> from kb.store import KnowledgeBase
>>> kb = KnowledgeBase.open("memory")
>>> kb.update("INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> [ <urn:c> 1 ] } }")
>>> print(export_bytes(kb, "nq").decode(), end="")
<urn:a> <urn:b> _:b5b475bcb7c8b8709 <urn:g> .
_:b5b475bcb7c8b8709 <urn:c> "1"^^<http://www.w3.org/2001/XMLSchema#integer> <urn:g> .
>>> kb.close()
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb.blank_labels import blank_labels, canonical_lines, mentions, relabel
from kb.errors import InvalidParameter, KbError, NotFound
from kb.formats import rdf_format
from kb.jsonld import JsonLdCompactor, Parts, triples_of, write_jsonld
from kb.namespaces import GRAPH, ONTOLOGY_GRAPH, PREFIXES

#: Lines sorted in memory at a time; longer graphs are merged from sorted runs on disk.
SORT_CHUNK_LINES = 200_000

#: Formats an export offers, by short name.
EXPORT_FORMATS = ("trig", "nq", "ttl", "nt", "jsonld", "rdfxml")
#: Which of them hold a whole dataset (named graphs kept).
DATASET_FORMATS = ("trig", "nq", "jsonld")

MEDIA_TYPES = {
    "trig": "application/trig",
    "nq": "application/n-quads",
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}
EXTENSIONS = {"trig": "trig", "nq": "nq", "ttl": "ttl", "nt": "nt", "jsonld": "jsonld",
              "rdfxml": "rdf"}



class NotAcceptable(InvalidParameter):
    """The format cannot hold what was asked for (a one-graph format for the whole
    dataset); HTTP answers 406."""


def format_name(name: str) -> str:
    """The short export format name for a name, alias, extension or media type.

    >>> format_name("turtle"), format_name("application/n-quads"), format_name("rdf")
    ('ttl', 'nq', 'rdfxml')
    """
    key = name.strip().lower()
    if key in EXPORT_FORMATS:
        return key
    aliases = {"rdf": "rdfxml", "owl": "rdfxml", "json-ld": "jsonld", "json": "jsonld"}
    if key in aliases:
        return aliases[key]
    fmt = rdf_format(key)
    for short in EXPORT_FORMATS:
        if rdf_format(short) == fmt:
            return short
    raise InvalidParameter("format", f"{name!r} is not an export format; use one of "
                           f"{', '.join(EXPORT_FORMATS)}")


def graph_iri(name: str) -> str:
    """A graph IRI, or a short name (``ontology``, ``source/x``) under the KB's graph
    namespace."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", name):
        return name
    return f"{GRAPH}{name}"


@dataclass(frozen=True)
class ExportPlan:
    """What an export will write: checked before anything is written, so that an HTTP
    answer can still carry an error status."""

    format: str
    graphs: tuple[str, ...]  # named graphs (the default graph is their union, derived)
    dataset: bool

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def plan_export(kb, format: str = "trig", *, graph: str | None = None) -> ExportPlan:
    """Check an export request and list the graphs it covers.

    Raises:
        NotAcceptable: a one-graph format (Turtle, N-Triples, RDF/XML) for the whole dataset.
        NotFound: the graph does not exist.
        InvalidParameter: an unknown format.
    """
    fmt = format_name(format)
    if graph is None:
        if fmt not in DATASET_FORMATS:
            raise NotAcceptable(
                "format", f"{fmt} holds a single graph, but the whole dataset has named graphs: "
                "use TriG or N-Quads (format=trig or format=nq), which keep the graphs, or "
                "pick one graph")
        # the named graphs: the default graph is their union, derived (kb.union)
        graphs = list(kb.graphs())
        return ExportPlan(fmt, tuple(graphs), True)
    iri = graph_iri(graph)
    try:
        ox.NamedNode(iri)
    except ValueError as e:
        raise InvalidParameter("graph", f"{iri!r} is not an IRI: {e}") from None
    if iri not in set(kb.graphs()):
        raise NotFound(f"no graph <{iri}> in this knowledge base; list them with `kb stats`",
                       iri=iri)
    return ExportPlan(fmt, (iri,), False)


def export(kb, format: str = "trig", *, graph: str | None = None, output: IO[bytes],
           plan: ExportPlan | None = None) -> None:
    """Write the dataset (``graph=None``) or one graph to ``output``, as it goes."""
    plan = plan or plan_export(kb, format, graph=graph)
    with tempfile.TemporaryDirectory(prefix="kb-export-") as tmp:
        work = Path(tmp)
        files = [_dump_graph(kb, g, work / f"g{i}.nt") for i, g in enumerate(plan.graphs)]
        labels, canonical = blank_labels(files, plan.graphs)
        extra = canonical_lines(files, plan.graphs, canonical)
        sorted_files = [_sorted(f, labels, work / f"s{i}.nt", work, canonical, more)
                        for i, (f, more) in enumerate(zip(files, extra, strict=True))]
        writer = _WRITERS[plan.format]
        writer(list(zip(plan.graphs, sorted_files, strict=True)), output, plan.dataset)
    flush = getattr(output, "flush", None)
    if flush is not None:
        flush()


def export_bytes(kb, format: str = "trig", *, graph: str | None = None) -> bytes:
    """The export in memory (for small data and tests)."""
    import io

    buffer = io.BytesIO()
    export(kb, format, graph=graph, output=buffer)
    return buffer.getvalue()


def export_rdf(kb, format: str = "trig", *, graph: str | None = None,
               output: IO[bytes] | None = None) -> bytes:
    """Write the dataset (``graph=None``) or one graph to ``output``, or return the bytes
    when no output is given (then b"" is returned)."""
    if output is None:
        return export_bytes(kb, format, graph=graph)
    export(kb, format, graph=graph, output=output)
    return b""


def export_ontology(kb, format: str = "ttl") -> bytes:
    """The ontology graph alone (Turtle or RDF/XML for Protégé)."""
    return export_rdf(kb, format, graph=str(ONTOLOGY_GRAPH))


def export_stream(kb, plan: ExportPlan, *, chunk_bytes: int = 256 * 1024,
                  max_chunks: int = 16) -> Iterator[bytes]:
    """The export as an iterator of byte chunks (for an HTTP streaming response): a producer
    thread writes into a bounded queue, so memory stays at ``max_chunks`` chunks. Closing
    the iterator early (a client that went away) stops the producer."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=max_chunks)
    stop = threading.Event()

    class _QueueWriter:
        def __init__(self) -> None:
            self.buffer = bytearray()

        def write(self, data: bytes) -> int:
            self.buffer += data
            if len(self.buffer) >= chunk_bytes:
                self.flush()
            return len(data)

        def flush(self) -> None:
            if self.buffer:
                _put(bytes(self.buffer))
                self.buffer.clear()

    def _put(item: bytes | BaseException | None) -> None:
        while True:
            if stop.is_set():
                raise _Cancelled
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def produce() -> None:
        writer = _QueueWriter()
        try:
            export(kb, plan.format, output=writer, plan=plan)  # type: ignore[arg-type]
            writer.flush()
            _put(None)
        except _Cancelled:
            return
        except BaseException as e:  # handed to the consumer
            with contextlib.suppress(_Cancelled):
                _put(e)

    thread = threading.Thread(target=produce, name="kb-export", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Cancelled(Exception):
    pass


# --- step 1: dump ---------------------------------------------------------------------------


def _dump_graph(kb, graph: str, path: Path) -> Path:
    from kb.engine import run_in_engine_thread

    def dump() -> None:
        with path.open("wb") as f:
            kb.backend.dump(f, ox.RdfFormat.N_TRIPLES, graph)

    try:
        run_in_engine_thread(dump)
    except OSError as e:
        raise KbError(f"Cannot write the export's temporary files: {e}") from e
    return path


# --- step 3: sort ---------------------------------------------------------------------------


def _sorted(path: Path, labels: dict[bytes, bytes], out: Path, work: Path,
            canonical: set[bytes] = frozenset(), more: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    """``path``'s lines, relabelled and sorted, in ``out`` (an external merge sort); the
    lines of the ``canonical`` blank nodes are replaced by ``more`` (labelled by RDFC)."""
    runs: list[Path] = []
    chunk: list[bytes] = []

    def spill() -> None:
        chunk.sort()
        run = work / f"{out.stem}-run{len(runs)}.nt"
        with run.open("wb") as f:
            f.writelines(chunk)
        runs.append(run)
        chunk.clear()

    with path.open("rb") as f:
        for line in f:
            if canonical and b"_:" in line and mentions(line, canonical):
                continue  # replaced by its line in ``more``
            chunk.append(relabel(line, labels))
            if len(chunk) >= SORT_CHUNK_LINES:
                spill()
    for line in more:
        chunk.append(line)
        if len(chunk) >= SORT_CHUNK_LINES:
            spill()
    path.unlink()
    if not runs:
        chunk.sort()
        with out.open("wb") as f:
            f.writelines(chunk)
        return out
    if chunk:
        spill()
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(run.open("rb")) for run in runs]
        with out.open("wb") as f:
            f.writelines(heapq.merge(*readers))
    for run in runs:
        run.unlink()
    return out


# --- step 4: write --------------------------------------------------------------------------

def _write_nt(parts: Parts, output: IO[bytes], dataset: bool) -> None:
    for _, path in parts:
        with path.open("rb") as f:
            while block := f.read(1024 * 1024):
                output.write(block)


def _write_nq(parts: Parts, output: IO[bytes], dataset: bool) -> None:
    for graph, path in parts:
        if graph is None:
            _write_nt([(graph, path)], output, dataset)
            continue
        suffix = b" <%s> .\n" % graph.encode()
        with path.open("rb") as f:
            lines: list[bytes] = []
            for line in f:
                lines.append(line[:-3] + suffix)
                if len(lines) >= 4096:
                    output.write(b"".join(lines))
                    lines.clear()
            output.write(b"".join(lines))


def _write_ox(fmt: ox.RdfFormat, parts: Parts, output: IO[bytes], dataset: bool) -> None:
    if dataset:
        def items() -> Iterator[ox.Quad]:
            for graph, path in parts:
                g = ox.DefaultGraph() if graph is None else ox.NamedNode(graph)
                for t in triples_of(path):
                    yield ox.Quad(t.subject, t.predicate, t.object, g)
        source: Iterable[ox.Quad] | Iterable[ox.Triple] = items()
    else:
        source = (t for _, path in parts for t in triples_of(path))
    try:
        ox.serialize(source, output, fmt, prefixes=PREFIXES)
    except ValueError as e:  # RDF/XML cannot write every predicate IRI
        raise InvalidParameter("format", f"cannot write this graph as {fmt.name}: {e}; "
                               "use Turtle or N-Triples") from None


_WRITERS: dict[str, Callable[[Parts, IO[bytes], bool], None]] = {
    "nt": _write_nt,
    "nq": _write_nq,
    "ttl": partial(_write_ox, ox.RdfFormat.TURTLE),
    "trig": partial(_write_ox, ox.RdfFormat.TRIG),
    "rdfxml": partial(_write_ox, ox.RdfFormat.RDF_XML),
    "jsonld": write_jsonld,
}


__all__ = [
    "EXPORT_FORMATS",
    "GRAPH_FORMATS",
    "ONTOLOGY_GRAPH",
    "ExportPlan",
    "JsonLdCompactor",
    "NotAcceptable",
    "export",
    "export_bytes",
    "export_graph",
    "export_ontology",
    "export_rdf",
    "export_stream",
    "format_name",
    "graph_iri",
    "plan_export",
    "write_graph_files",
]

# Graph exports live in kb.graph_export; importable from here too.
from kb.graph_export import GRAPH_FORMATS, export_graph, write_graph_files  # noqa: E402
