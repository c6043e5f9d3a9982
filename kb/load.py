"""Loading RDF files into the knowledge base: all or nothing, per command.

* Formats come from the file extension (``kb.formats.EXTENSIONS``) or ``format=``.
* TriG and N-Quads keep their graphs (their default graph goes to the file's graph); any
  other file goes into one named graph of its own: ``graph=`` or
  ``https://w3id.org/medsupply-kb/graph/file/<file name>``; the project's ontology
  (``ontology/medsupply.ttl``) goes into ``…/graph/ontology``.
* The project's SHACL shapes and JSON-LD context are not data: found in a folder (``kb load
  ontology data``), they are left out, and the report says so.
* Each load is recorded in the ``loads`` graph (PROV / Dublin Core / VoID; written and read
  in ``kb.load_records``): the file, its SHA-256, when it was loaded, and the triples per
  graph. A file loaded again replaces what it loaded before; a file whose content has not
  changed is skipped.
* Parsing is Oxigraph's, streamed into its bulk loader. A syntax error anywhere names the
  file, line and column, and nothing of the command is added.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb import safety
from kb.bundled import CONTEXT_FILE, ONTOLOGY_FILE, SHAPES_FILE
from kb.engine import run_in_engine_thread
from kb.errors import LoadError, QueryError, QueryTimeout, ResultTooLarge
from kb.formats import EXTENSIONS, rdf_format
from kb.load_records import drop_update, file_graph, file_sha256, file_unit, previous_loads, record
from kb.namespaces import ONTOLOGY_GRAPH
from kb.settings import Settings

#: Files of the project with a graph of their own (unless the load names one).
OWN_GRAPHS = {ONTOLOGY_FILE: str(ONTOLOGY_GRAPH)}
#: Files of the project that are not data: left out when a folder is loaded (a file named
#: on its own is loaded as asked).
NOT_DATA = {
    SHAPES_FILE: "SHACL shapes, not data (`kb validate` reads them from there)",
    CONTEXT_FILE: "the JSON-LD context of the exports, not data",
}

#: Files at least this large show a progress bar (on a terminal, unless quiet).
PROGRESS_BYTES = 8 * 1024 * 1024

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class FileLoad:
    """What happened to one file."""

    path: Path
    format: str
    graphs: dict[str, int] = field(default_factory=dict)  # graph IRI -> triples
    skipped: bool = False

    @property
    def triples(self) -> int:
        return sum(self.graphs.values())


@dataclass
class LoadReport:
    """What one load command did."""

    files: list[FileLoad]
    left_out: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)

    @property
    def triples(self) -> int:
        return sum(f.triples for f in self.files)

    @property
    def loaded(self) -> list[FileLoad]:
        return [f for f in self.files if not f.skipped]

    @property
    def skipped(self) -> list[FileLoad]:
        return [f for f in self.files if f.skipped]


@dataclass
class _Plan:
    path: Path
    format: ox.RdfFormat
    unit: str  # IRI of the file as a PROV entity
    graph: str  # graph of a triple file, or of a quad file's default graph
    sha256: str | None  # None: hashed while loading
    previous_graphs: list[str]
    report: FileLoad
    data: bytes | None = None  # pre-read input (RDF/XML and JSON-LD are checked in memory)
    parsed_as: ox.RdfFormat | None = None  # data's format, if parsed beforehand (JSON-LD)
    drop: list[str] = field(default_factory=list)  # graphs to clear before loading
    counts: Counter[str] | None = None  # triples per graph, when parsed beforehand


def discover(paths: Iterable[str | Path], *, format: str | None = None) -> list[Path]:
    """The files named by ``paths``; folders are searched recursively for RDF extensions.

    Raises:
        LoadError: a path does not exist, or a file's extension is not an RDF one (and no
            format was given).
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(
                sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in EXTENSIONS)
            )
        elif p.is_file():
            if format is None and p.suffix.lower() not in EXTENSIONS:
                raise LoadError(
                    f"{p.suffix or 'no extension'!r} is not an RDF file extension (expected "
                    f"{', '.join(sorted(EXTENSIONS))}), or pass --format",
                    path=str(p),
                )
            found.append(p)
        else:
            raise LoadError("no such file or folder", path=str(p))
    return found


def load_paths(
    kb,
    paths: Iterable[str | Path],
    *,
    graph: str | None = None,
    format: str | None = None,
    force: bool = False,
    progress: ProgressFactory | None = None,
    check: Callable[[list[Path]], None] | None = None,
) -> LoadReport:
    """Load files and folders into ``kb``, all or nothing.

    Args:
        kb: the knowledge base.
        paths: files and folders.
        graph: named graph for the triples of non-quad files (default: one per file).
        format: format name for every file (default: from each extension).
        force: reload files whose content has not changed.
        progress: ``progress(label, total_bytes)`` returns a callback taking bytes read;
            used for files of at least ``PROGRESS_BYTES``.
        check: called with the files about to be written, before anything is written; it
            raises (e.g. ``ValidationFailed``) to refuse the load.

    Raises:
        LoadError: a file is missing, unreadable, of unknown format, refused by a safety
            check, or has a syntax error (with file, line and column). Nothing is added.
    """
    named = {Path(p).resolve() for p in paths if Path(p).is_file()}
    files, left_out = [], []
    for path in discover(paths, format=format):
        why = NOT_DATA.get(path.resolve())
        if why is not None and path.resolve() not in named:
            left_out.append((path, why))
        else:
            files.append(path)
    fixed_format = rdf_format(format) if format else None
    previous = previous_loads(kb, [file_unit(p) for p in files])
    plans: list[_Plan] = []
    reports: list[FileLoad] = []
    for path in files:
        fmt = fixed_format or EXTENSIONS[path.suffix.lower()]
        unit = file_unit(path)
        target = graph or OWN_GRAPHS.get(path.resolve()) or file_graph(path)
        before = previous.get(unit)
        # A file loaded before is hashed first (unchanged: skipped); a new N-Triples file is
        # hashed while the engine reads it (``_load_one``), sparing a pass over it.
        deferred = not before and fmt == ox.RdfFormat.N_TRIPLES and not kb.settings.validate_writes
        digest = None if deferred else file_sha256(path)
        report = FileLoad(path, fmt.name)
        reports.append(report)
        if before and before[0] == digest and not force and (
            fmt.supports_datasets or target in before[1]
        ):
            report.skipped = True
            report.graphs = before[2]
            continue
        plans.append(_Plan(path, fmt, unit, target, digest, before[1] if before else [], report))

    for plan in plans:
        _preflight(plan, kb.settings)
        drop = set(plan.previous_graphs)
        if graph is None and not plan.format.supports_datasets:
            drop.add(plan.graph)  # a file's own graph (or the ontology's) holds that file only
        plan.drop = sorted(drop)
    existing = set(kb.graphs()) if any(plan.drop for plan in plans) else set()
    if len(plans) > 1 or any(g in existing for plan in plans for g in plan.drop):
        # Several files, or old graphs to drop first: parse everything before writing
        # anything, so that a syntax error anywhere leaves the store as it was.
        for plan in plans:
            plan.counts = run_in_engine_thread(_count, _parse(plan, None), plan.graph)
    if check is not None and plans:
        check([plan.path for plan in plans])
    elif kb.settings.validate_writes and plans:
        _refuse_nonconforming_load(kb, plans)
    for plan in plans:
        _load_one(kb, plan, progress)
    return LoadReport(reports, left_out)


def _refuse_nonconforming_load(kb, plans: list[_Plan]) -> None:
    """Raise ValidationFailed if the files, replacing what they loaded before, would add
    SHACL violations to the store (the check of every write when validation is on)."""
    def apply(store: ox.Store) -> None:  # the whole load, on a copy of the store
        for plan in plans:
            store.update(drop_update(plan.unit, plan.drop))
            store.bulk_extend(_quads(plan, None))

    kb.refuse_nonconforming(apply)


def _load_one(kb, plan: _Plan, progress: ProgressFactory | None) -> None:
    """Drop what the file loaded before, add its triples, then record the load."""
    before = drop_update(plan.unit, plan.drop)
    if plan.format.supports_datasets:
        # Quad formats: streamed through Python to move default-graph triples into the
        # file's graph; the load record goes into the same atomic write.
        kb.write(_quads(plan, progress), before=before, validate=False)  # see ``check``
        return
    count_query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{plan.graph}> {{ ?s ?p ?o }} }}"
    emptied = plan.graph in plan.drop  # the graph holds this file only
    size_before = 0 if emptied else int(kb.select(count_query)[0]["n"])
    digest = None if plan.sha256 else hashlib.sha256()
    try:
        with _open_input(plan, progress, digest) as source:
            read = kb.bulk_load(source, plan.format, graph=plan.graph, base_iri=plan.unit,
                                before=before)
    except SyntaxError as e:
        raise _load_error(plan, e) from None
    if digest is not None:
        plan.sha256 = digest.hexdigest()
    # The loader's count of the triples it read spares counting a graph that holds this
    # file only (a scan of the whole graph: 1 s at 1M triples, growing with the store).
    size_after = read if emptied and read is not None else int(kb.select(count_query)[0]["n"])
    counts = plan.counts or Counter({plan.graph: size_after - size_before})
    plan.report.graphs = dict(counts)
    graph_sizes = Counter({plan.graph: size_after})
    kb.write(record(plan.path, plan.format, plan.sha256, plan.graph, counts, graph_sizes),
             validate=False)


def _count(items: Iterator[ox.Quad | ox.Triple], graph: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        if isinstance(item, ox.Triple) or isinstance(item.graph_name, ox.DefaultGraph):
            counts[graph] += 1
        else:
            counts[item.graph_name.value] += 1
    return counts


def _exhaust(items: Iterator[object]) -> None:
    for _ in items:
        pass


def _preflight(plan: _Plan, settings: Settings) -> None:
    if plan.format == ox.RdfFormat.RDF_XML:
        plan.data = plan.path.read_bytes()
        safety.check_xml(plan.data, path=str(plan.path))
    elif plan.format == ox.RdfFormat.JSON_LD:
        plan.data = safety.prepare_jsonld(
            plan.path.read_bytes(), path=str(plan.path), allow_hosts=settings.allow_hosts
        )
        if settings.update_timeout:
            plan.data = bounded_jsonld(plan.data, plan.unit, settings, str(plan.path))
            plan.parsed_as = ox.RdfFormat.N_QUADS


def bounded_jsonld(data: bytes, base_iri: str, settings: Settings, name: str) -> bytes:
    """A JSON-LD document as N-Quads, parsed within ``settings.update_timeout`` and the
    query workers' memory cap (``kb.bounded``: its cost can be quadratic in its size).

    Raises:
        LoadError: a syntax error (line, column), or the parse ran past a limit.
    """
    from kb.bounded import parse_bounded

    try:
        return parse_bounded(data, ox.RdfFormat.JSON_LD, base_iri=base_iri,
                             timeout=settings.update_timeout,
                             memory_bytes=settings.query_memory_bytes)
    except SyntaxError as e:
        raise LoadError(_syntax_message(e), path=name, line=e.lineno, column=e.offset) from None
    except (QueryTimeout, ResultTooLarge, QueryError) as e:
        raise LoadError(str(e), path=name) from None


@contextlib.contextmanager
def _open_input(plan: _Plan, progress: ProgressFactory | None,
                digest: hashlib._Hash | None = None) -> Iterator[object]:
    """The file's bytes (pre-read ones, or a reader that reports progress); ``digest``, if
    given, is updated with every byte read (the whole file, once the reader is done)."""
    if plan.data is not None:
        yield plan.data
        return
    try:
        size = plan.path.stat().st_size
        with plan.path.open("rb") as f:
            sinks: list[Callable[[bytes], object]] = [] if digest is None else [digest.update]
            if progress is not None and size >= PROGRESS_BYTES:
                advance = progress(plan.path.name, size)
                sinks.append(lambda chunk: advance(len(chunk)))
            yield _ProgressReader(f, sinks) if sinks else f
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}", path=str(plan.path)) from None


def _parse(plan: _Plan, progress: ProgressFactory | None) -> Iterator[ox.Quad | ox.Triple]:
    """Parse one file (run on the engine thread: pyoxigraph's JSON-LD parser recurses).
    Blank nodes get fresh identifiers: each file's blank nodes are its own."""
    try:
        with _open_input(plan, progress) as source:
            yield from ox.parse(source, format=plan.parsed_as or plan.format,
                                base_iri=plan.unit, rename_blank_nodes=True)
    except SyntaxError as e:
        raise _load_error(plan, e) from None


def _load_error(plan: _Plan, e: SyntaxError) -> LoadError:
    return LoadError(_syntax_message(e), path=str(plan.path), line=e.lineno, column=e.offset)


def _syntax_message(e: SyntaxError) -> str:
    text = str(e.msg or e)
    # pyoxigraph prefixes "Parser error at line L column C: "; the location is added by us.
    if ": " in text and text.startswith("Parser error"):
        text = text.split(": ", 1)[1]
    return f"syntax error: {text}"


def _quads(plan: _Plan, progress: ProgressFactory | None) -> Iterator[ox.Quad]:
    """The file's quads (default graph moved to the file's graph), then its load record."""
    counts: Counter[str] = Counter()
    target = ox.NamedNode(plan.graph)
    for item in _parse(plan, progress):
        if isinstance(item, ox.Triple) or isinstance(item.graph_name, ox.DefaultGraph):
            quad = ox.Quad(item.subject, item.predicate, item.object, target)
        else:
            quad = item
        counts[quad.graph_name.value] += 1
        yield quad
    plan.report.graphs = dict(sorted(counts.items()))
    yield from record(plan.path, plan.format, plan.sha256, plan.graph, counts, counts)


class _ProgressReader:
    """A binary file wrapper that hands the bytes read to ``sinks`` (a progress bar's count,
    a digest)."""

    def __init__(self, f: IO[bytes], sinks: list[Callable[[bytes], object]]) -> None:
        self._f = f
        self._sinks = sinks

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        for sink in self._sinks:
            sink(chunk)
        return chunk

    def readinto(self, buffer: bytearray) -> int:
        n = self._f.readinto(buffer) or 0  # type: ignore[attr-defined]
        for sink in self._sinks:
            sink(bytes(memoryview(buffer)[:n]))
        return n


def upload_quads(
    data: bytes, format: ox.RdfFormat, graph: str, *, allow_hosts: tuple[str, ...] = (),
    name: str = "request body", settings: Settings | None = None,
) -> list[ox.Quad]:
    """Parse an uploaded graph (bytes in a triple format) into quads of ``graph``, with the
    same safety checks as files; blank nodes get fresh identifiers. With ``settings``, a
    JSON-LD document is parsed within their limits (``bounded_jsonld``).

    Raises:
        LoadError: a safety check refused the body, or it has a syntax error (line, column).
    """
    if format.supports_datasets and format != ox.RdfFormat.JSON_LD:  # JSON-LD: usually one graph
        raise LoadError(f"{format.name} holds several graphs; send one graph in a triple "
                        "format (Turtle, N-Triples, JSON-LD, RDF/XML)", path=name)
    if format == ox.RdfFormat.RDF_XML:
        safety.check_xml(data, path=name)
    elif format == ox.RdfFormat.JSON_LD:
        data = safety.prepare_jsonld(data, path=name, allow_hosts=allow_hosts)
        if settings is not None and settings.update_timeout:
            data = bounded_jsonld(data, graph, settings, name)
            format = ox.RdfFormat.N_QUADS
    g = ox.NamedNode(graph)

    def parse() -> list[ox.Quad]:
        return [ox.Quad(t.subject, t.predicate, t.object, g)
                for t in ox.parse(data, format=format, base_iri=graph, rename_blank_nodes=True)]

    try:
        return run_in_engine_thread(parse)
    except SyntaxError as e:
        raise LoadError(_syntax_message(e), path=name, line=e.lineno, column=e.offset) from None
