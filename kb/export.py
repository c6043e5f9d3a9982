"""RDF exports: the whole dataset (TriG, N-Quads, JSON-LD) or one graph (Turtle, N-Triples,
JSON-LD, RDF/XML), streamed, with readable prefixes and a stable, byte-identical output.

How the output is made stable and streamed, whatever the backend:

1. Each graph is dumped by the engine as N-Triples into a temporary file (on disk, not in
   memory).
2. Blank nodes get labels computed from their content: a hash of the statements each one is
   part of (with the other blank nodes masked), refined by the hashes of its blank
   neighbours until that tells no more apart (colour refinement). The engine's own labels
   (random per load) never reach the output, so the same data loaded twice, into any store,
   exports to the same bytes. Blank nodes that this cannot tell apart (a triangle and a
   hexagon of blank nodes look alike to it) are labelled, with the blank nodes they are
   linked to, by RDFC-1.0 (pyoxigraph's ``Dataset.canonicalize``, labels ``_:c14nN``).
   RDFC is not used for all blank nodes: on the 100k benchmark data it alone takes 3.3 s,
   more than the whole export (2.4 s), and its worst case is exponential; so look-alike
   components over ``RDFC_MAX_COMPONENT`` blank nodes keep the engine's order (not
   canonical).
3. The relabelled lines of each graph are sorted (an external merge sort over temporary files,
   ``SORT_CHUNK_LINES`` lines in memory at a time): subjects come out sorted and grouped.
4. The sorted lines are written out as they are (N-Triples, N-Quads), or re-parsed and
   written by pyoxigraph's streaming serializers (Turtle, TriG, RDF/XML) with the prefixes of
   ``kb.namespaces.PREFIXES``, or by the streaming JSON-LD compactor below (one node object
   per subject, compacted with ``ontology/context.jsonld``).

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
import hashlib
import heapq
import json
import queue
import re
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb.errors import InvalidParameter, KbError, LoadError, NotFound
from kb.formats import rdf_format
from kb.namespaces import GRAPH, ONTOLOGY_GRAPH, PREFIXES

#: Lines sorted in memory at a time; longer graphs are merged from sorted runs on disk.
SORT_CHUNK_LINES = 200_000

#: Blank-node colour refinement stops after this many rounds (or when stable).
MAX_REFINEMENT_ROUNDS = 64
#: The largest component of look-alike blank nodes labelled by RDFC-1.0; larger ones are
#: numbered in the engine's order (not canonical). RDFC's worst case is exponential: a cycle
#: of 100 blank nodes takes 0.2 s, of 1,000 more than 2 minutes; 3,000 hexagons 1.9 s.
RDFC_MAX_COMPONENT = 128

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

_MASK = (1 << 128) - 1
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


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
    graphs: tuple[str | None, ...]  # None: the store's own default graph
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
        graphs: list[str | None] = list(kb.graphs())
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
        labels, canonical = _blank_labels(files, plan.graphs)
        extra = _canonical_lines(files, plan.graphs, canonical)
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


def _dump_graph(kb, graph: str | None, path: Path) -> Path:
    from kb.engine import run_in_engine_thread

    def dump() -> None:
        with path.open("wb") as f:
            if graph is None:
                kb.backend.store.dump(f, ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
            else:
                kb.backend.dump(f, ox.RdfFormat.N_TRIPLES, graph)

    try:
        run_in_engine_thread(dump)
    except OSError as e:
        raise KbError(f"Cannot write the export's temporary files: {e}") from e
    return path


# --- step 2: blank node labels --------------------------------------------------------------


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b"\x00".join(parts), digest_size=16).digest(), "big")


def _split(line: bytes) -> tuple[bytes, bytes, bytes]:
    """Subject, predicate and object of an N-Triples line as written by the engine."""
    s, p, rest = line.split(b" ", 2)
    return s, p, rest[:-3] if rest.endswith(b" .\n") else rest.rstrip(b"\n .")


def _blank_labels(files: list[Path], graphs: Iterable[str | None]
                  ) -> tuple[dict[bytes, bytes], set[bytes]]:
    """Engine label (``_:xyz``) -> content label (``_:b`` + 16 hex digits), and the blank
    nodes left to RDFC-1.0 (``_canonical_lines``)."""
    names = [(g or "").encode() for g in graphs]
    sig: dict[bytes, int] = {}
    edges: list[tuple[bytes, bytes, bytes, bytes]] = []  # blank-to-blank links
    for path, g in zip(files, names, strict=True):
        with path.open("rb") as f:
            for line in f:
                if b"_:" not in line:
                    continue
                s, p, o = _split(line)
                sb, ob = s.startswith(b"_:"), o.startswith(b"_:")
                if sb:
                    sig[s] = (sig.get(s, 0) + _h(b">", p, b"_:" if ob else o, g)) & _MASK
                if ob:
                    sig[o] = (sig.get(o, 0) + _h(b"<", b"_:" if sb else s, p, g)) & _MASK
                if sb and ob:
                    edges.append((s, p, o, g))
    if not sig:
        return {}, set()
    # Colour refinement: a blank node is also told apart by its blank neighbours, their
    # neighbours, and so on, until the partition stops getting finer (chains such as RDF
    # lists need as many rounds as they are long).
    base, distinct = sig, len(set(sig.values()))
    for _ in range(MAX_REFINEMENT_ROUNDS if edges else 0):
        refined = dict(base)
        for s, p, o, g in edges:
            refined[s] = (refined[s] + _h(b">>", p, b"%x" % sig[o], g)) & _MASK
            refined[o] = (refined[o] + _h(b"<<", p, b"%x" % sig[s], g)) & _MASK
        now = len(set(refined.values()))
        sig = refined
        if now == distinct:
            break
        distinct = now
    # Blank nodes that share a signature (a triangle and a hexagon look alike to colour
    # refinement): their components go to RDFC-1.0, which labels them canonically
    counts: dict[int, int] = defaultdict(int)
    for v in sig.values():
        counts[v] += 1
    canonical: set[bytes] = set()
    if any(n > 1 for n in counts.values()):
        for component in _components(sig, edges):
            if (len(component) <= RDFC_MAX_COMPONENT
                    and any(counts[sig[b]] > 1 for b in component)):
                canonical.update(component)
    labels: dict[bytes, bytes] = {}
    taken: dict[bytes, int] = {}
    for old in sorted(sig, key=lambda b: (sig[b], b)):
        if old in canonical:
            continue
        label = b"_:b%016x" % (sig[old] >> 64)
        if label in taken:
            taken[label] += 1
            label = b"%s_%d" % (label, taken[label])
        else:
            taken[label] = 0
        labels[old] = label
    return labels, canonical


def _components(sig: dict[bytes, int],
                edges: list[tuple[bytes, bytes, bytes, bytes]]) -> list[list[bytes]]:
    """The blank nodes joined by blank-to-blank statements (in any graph)."""
    parent = {b: b for b in sig}

    def root(b: bytes) -> bytes:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for s, _, o, _ in edges:
        a, b = root(s), root(o)
        if a != b:
            parent[a] = b
    out: dict[bytes, list[bytes]] = defaultdict(list)
    for b in sig:
        out[root(b)].append(b)
    return list(out.values())


def _canonical_lines(files: list[Path], graphs: Iterable[str | None],
                     nodes: set[bytes]) -> list[list[bytes]]:
    """Per graph, the statements of ``nodes`` with their blank nodes labelled by RDFC-1.0
    (pyoxigraph's ``Dataset.canonicalize``), as N-Triples lines."""
    out: list[list[bytes]] = []
    if not nodes:
        return [[] for _ in files]
    quads: list[ox.Quad] = []
    names: list[ox.NamedNode | ox.DefaultGraph] = []
    for path, g in zip(files, graphs, strict=True):
        name = ox.DefaultGraph() if g is None else ox.NamedNode(g)
        names.append(name)
        with path.open("rb") as f:
            lines = b"".join(line for line in f if b"_:" in line and _mentions(line, nodes))
        quads += [ox.Quad(t.subject, t.predicate, t.object, name)
                  for t in ox.parse(lines, format=ox.RdfFormat.N_TRIPLES)]
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    for name in names:
        triples = [q.triple for q in dataset.quads_for_graph_name(name)]
        text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) if triples else b""
        out.append(text.splitlines(keepends=True))  # type: ignore[union-attr]
    return out


def _mentions(line: bytes, nodes: set[bytes]) -> bool:
    s, _, o = _split(line)
    return s in nodes or o in nodes


def _relabel(line: bytes, labels: dict[bytes, bytes]) -> bytes:
    if not labels or b"_:" not in line:
        return line
    s, p, o = _split(line)
    if s.startswith(b"_:"):
        s = labels.get(s, s)
    if o.startswith(b"_:"):
        o = labels.get(o, o)
    return b"%s %s %s .\n" % (s, p, o)


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
            if canonical and b"_:" in line and _mentions(line, canonical):
                continue  # replaced by its line in ``more``
            chunk.append(_relabel(line, labels))
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

Parts = list[tuple[str | None, Path]]


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


def _triples(path: Path) -> Iterator[ox.Triple]:
    yield from ox.parse(path=str(path), format=ox.RdfFormat.N_TRIPLES)


def _write_ox(fmt: ox.RdfFormat) -> Callable[[Parts, IO[bytes], bool], None]:
    def write(parts: Parts, output: IO[bytes], dataset: bool) -> None:
        if dataset:
            def items() -> Iterator[ox.Quad]:
                for graph, path in parts:
                    g = ox.DefaultGraph() if graph is None else ox.NamedNode(graph)
                    for t in _triples(path):
                        yield ox.Quad(t.subject, t.predicate, t.object, g)
            source: Iterable[ox.Quad] | Iterable[ox.Triple] = items()
        else:
            source = (t for _, path in parts for t in _triples(path))
        try:
            ox.serialize(source, output, fmt, prefixes=PREFIXES)
        except ValueError as e:  # RDF/XML cannot write every predicate IRI
            raise InvalidParameter("format", f"cannot write this graph as {fmt.name}: {e}; "
                                   "use Turtle or N-Triples") from None

    return write


def _write_jsonld(parts: Parts, output: IO[bytes], dataset: bool) -> None:
    compactor = JsonLdCompactor(load_context())
    output.write(b'{\n  "@context": ')
    output.write(json.dumps(compactor.context, ensure_ascii=False).encode())
    output.write(b',\n  "@graph": [')
    first = True

    def emit(obj: dict, indent: str) -> None:
        nonlocal first
        output.write(b"" if first else b",")
        output.write(f"\n{indent}".encode())
        output.write(json.dumps(obj, ensure_ascii=False).encode())
        first = False

    for graph, path in parts:
        if dataset and graph is not None:
            output.write(b"" if first else b",")
            output.write(b'\n    {"@id": %s, "@graph": [' % json.dumps(
                compactor.iri(graph)).encode())
            first = True
            for node in compactor.nodes(_triples(path)):
                emit(node, "      ")
            output.write(b"\n    ]}")
            first = False
        else:
            for node in compactor.nodes(_triples(path)):
                emit(node, "    ")
    output.write(b"\n  ]\n}\n")


_WRITERS: dict[str, Callable[[Parts, IO[bytes], bool], None]] = {
    "nt": _write_nt,
    "nq": _write_nq,
    "ttl": _write_ox(ox.RdfFormat.TURTLE),
    "trig": _write_ox(ox.RdfFormat.TRIG),
    "rdfxml": _write_ox(ox.RdfFormat.RDF_XML),
    "jsonld": _write_jsonld,
}


# --- JSON-LD compaction ---------------------------------------------------------------------


def load_context() -> dict:
    """The project's JSON-LD context (``ontology/context.jsonld``'s ``@context``), with the
    prefixes of ``kb.namespaces`` it does not define added (its own terms win)."""
    from kb.bundled import CONTEXT_FILE

    try:
        context = dict(json.loads(CONTEXT_FILE.read_text(encoding="utf-8"))["@context"])
    except (OSError, ValueError, KeyError, TypeError) as e:  # a broken installation
        raise LoadError(f"the JSON-LD context cannot be read ({type(e).__name__}: {e}); "
                        "reinstall medsupply-kb", path=CONTEXT_FILE.name) from e
    for prefix, namespace in PREFIXES.items():
        context.setdefault(prefix, namespace)
    return context


class JsonLdCompactor:
    """Compacts one subject's triples at a time into a JSON-LD node object, with the terms
    and prefixes of a context (type coercions ``@id`` and datatypes, ``@language``
    containers); anything a term does not fit is written with a compact IRI key and an
    expanded value, which is always correct JSON-LD."""

    def __init__(self, context: dict) -> None:
        self.context = context
        self.prefixes: list[tuple[str, str]] = []
        self.terms: dict[str, list[tuple[str, dict]]] = {}
        for term, value in context.items():
            if term.startswith("@"):
                continue
            if isinstance(value, str):
                if value[-1:] in ":/?#[]@" and ":" not in term:
                    self.prefixes.append((term, value))
                continue
            if isinstance(value, dict) and isinstance(value.get("@id"), str):
                definition = dict(value)
                definition["@id"] = self._expand(value["@id"], context)
                if "@type" in definition and definition["@type"] != "@id":
                    definition["@type"] = self._expand(definition["@type"], context)
                self.terms.setdefault(definition["@id"], []).append((term, definition))
        self.prefixes.sort(key=lambda p: (-len(p[1]), p[0]))  # longest namespace first

    @staticmethod
    def _expand(value: str, context: dict) -> str:
        prefix, sep, local = value.partition(":")
        target = context.get(prefix)
        if sep and isinstance(target, str) and not local.startswith("//"):
            return target + local
        return value

    def iri(self, iri: str) -> str:
        """``prefix:local`` where a prefix of the context fits, else the IRI."""
        for prefix, namespace in self.prefixes:
            if iri.startswith(namespace):
                local = iri[len(namespace):]
                if not local.startswith("//"):
                    return f"{prefix}:{local}"
        return iri

    def _ref(self, term: object) -> str:
        if isinstance(term, ox.BlankNode):
            return f"_:{term.value}"
        return self.iri(term.value)  # type: ignore[attr-defined]

    def _value(self, term: object) -> object:
        if isinstance(term, ox.Literal):
            dt = term.datatype.value
            if term.language:
                return {"@value": term.value, "@language": term.language}
            if dt == _XSD_STRING:
                return term.value
            return {"@value": term.value, "@type": self.iri(dt)}
        return {"@id": self._ref(term)}

    def node(self, subject: object, pairs: list[tuple[object, object]]) -> dict:
        node: dict[str, object] = {"@id": self._ref(subject)}
        by_predicate: dict[str, list[object]] = {}
        for p, o in pairs:
            by_predicate.setdefault(p.value, []).append(o)  # type: ignore[attr-defined]
        types = by_predicate.pop(_RDF_TYPE, [])
        iri_types = [t for t in types if isinstance(t, ox.NamedNode)]
        if iri_types:
            node["@type"] = _one([self.iri(t.value) for t in iri_types])
        other_types = [t for t in types if not isinstance(t, ox.NamedNode)]
        if other_types:
            by_predicate[_RDF_TYPE] = other_types
        for predicate, objects in by_predicate.items():
            rest = objects
            for term, definition in self.terms.get(predicate, []):
                fitted, rest = self._fit(definition, rest)
                if fitted is not None:
                    node[term] = fitted
                if not rest:
                    break
            if rest:
                node[self.iri(predicate)] = _one([self._value(o) for o in rest])
        return node

    def _fit(self, definition: dict, objects: list[object]) -> tuple[object | None, list[object]]:
        """The values a term can hold in compact form, and the ones it cannot."""
        kind = definition.get("@type")
        container = definition.get("@container")
        fit: list[object] = []
        rest: list[object] = []
        if container == "@language":
            langs: dict[str, list[str]] = {}
            for o in objects:
                if isinstance(o, ox.Literal) and o.language:
                    langs.setdefault(o.language, []).append(o.value)
                else:
                    rest.append(o)
            return ({k: _one(v) for k, v in langs.items()} if langs else None), rest
        if container is not None or "@language" in definition or "@reverse" in definition:
            return None, list(objects)
        for o in objects:
            if kind == "@id" and isinstance(o, ox.NamedNode | ox.BlankNode):
                fit.append(self._ref(o))
            elif kind not in (None, "@id") and isinstance(o, ox.Literal) and not o.language \
                    and o.datatype.value == kind:
                fit.append(o.value)
            elif kind is None:
                fit.append(self._value(o))
            else:
                rest.append(o)
        return (_one(fit) if fit else None), rest

    def nodes(self, triples: Iterable[ox.Triple]) -> Iterator[dict]:
        """Node objects for triples grouped by subject (as the sorted export has them)."""
        subject: object = None
        pairs: list[tuple[object, object]] = []
        for t in triples:
            if subject is not None and t.subject != subject:
                yield self.node(subject, pairs)
                pairs = []
            subject = t.subject
            pairs.append((t.predicate, t.object))
        if subject is not None:
            yield self.node(subject, pairs)


def _one(values: list) -> object:
    return values[0] if len(values) == 1 else values


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
