"""Loading RDF files into the knowledge base: all or nothing, per command.

* Formats come from the file extension (``kb.formats.EXTENSIONS``) or ``format=``.
* TriG and N-Quads keep their graphs (their default graph goes to the file's graph); any
  other file goes into one named graph of its own: ``graph=`` or
  ``https://w3id.org/medsupply-kb/graph/file/<file name>``.
* Each load is recorded in the ``loads`` graph (PROV / Dublin Core / VoID): the file, its
  SHA-256, when it was loaded, and the triples per graph. A file loaded again replaces what
  it loaded before; a file whose content has not changed is skipped.
* Parsing is Oxigraph's, streamed into its bulk loader. A syntax error anywhere names the
  file, line and column, and nothing of the command is added.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pyoxigraph as ox

from kb import safety
from kb.errors import LoadError
from kb.formats import EXTENSIONS, rdf_format
from kb.namespaces import GRAPH, ID, LOADS_GRAPH, PREFIXES
from kb.store import run_in_engine_thread

XSD = PREFIXES["xsd"]
DCTERMS = PREFIXES["dcterms"]
PROV = PREFIXES["prov"]
VOID = PREFIXES["void"]
RDF_TYPE = ox.NamedNode(PREFIXES["rdf"] + "type")

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
    sha256: str
    previous_graphs: list[str]
    report: FileLoad
    data: bytes | None = None  # pre-read input (RDF/XML and JSON-LD are checked in memory)


def file_unit(path: Path) -> str:
    """The IRI that stands for a loaded file (identified by its name)."""
    return f"{ID}file/{quote(path.name)}"


def file_graph(path: Path) -> str:
    """The named graph of a non-quad file loaded without ``graph=``."""
    return f"{GRAPH}file/{quote(path.name)}"


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
    files = discover(paths, format=format)
    fixed_format = rdf_format(format) if format else None
    previous = _previous_loads(kb, [file_unit(p) for p in files])
    plans: list[_Plan] = []
    reports: list[FileLoad] = []
    for path in files:
        fmt = fixed_format or EXTENSIONS[path.suffix.lower()]
        unit = file_unit(path)
        target = graph or file_graph(path)
        digest = _sha256(path)
        report = FileLoad(path, fmt.name)
        reports.append(report)
        before = previous.get(unit)
        if before and before[0] == digest and not force and (
            fmt.supports_datasets or target in before[1]
        ):
            report.skipped = True
            report.graphs = before[2]
            continue
        plans.append(_Plan(path, fmt, unit, target, digest, before[1] if before else [], report))

    for plan in plans:
        _preflight(plan, kb.settings.allow_hosts)
    if any(plan.previous_graphs for plan in plans):
        # Something will be dropped before the new data is added: make sure the new data
        # parses first, so that a syntax error cannot leave the old graphs dropped.
        for plan in plans:
            run_in_engine_thread(_exhaust, _parse(plan, None))
    if check is not None and plans:
        check([plan.path for plan in plans])
    if plans:
        kb.write(_quads(plans, progress), before=_drop_previous(plans))
    return LoadReport(reports)


def _exhaust(items: Iterator[object]) -> None:
    for _ in items:
        pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror}", path=str(path)) from None
    return h.hexdigest()


def _preflight(plan: _Plan, allow_hosts: tuple[str, ...]) -> None:
    if plan.format == ox.RdfFormat.RDF_XML:
        plan.data = plan.path.read_bytes()
        safety.check_xml(plan.data, path=str(plan.path))
    elif plan.format == ox.RdfFormat.JSON_LD:
        plan.data = safety.prepare_jsonld(
            plan.path.read_bytes(), path=str(plan.path), allow_hosts=allow_hosts
        )


def _parse(plan: _Plan, progress: ProgressFactory | None) -> Iterator[ox.Quad | ox.Triple]:
    """Parse one file (in the engine thread: pyoxigraph's JSON-LD parser recurses)."""
    base = plan.unit
    try:
        if plan.data is not None:
            yield from ox.parse(plan.data, format=plan.format, base_iri=base)
            return
        size = plan.path.stat().st_size
        if progress is not None and size >= PROGRESS_BYTES:
            with plan.path.open("rb") as f:
                reader = _ProgressReader(f, progress(plan.path.name, size))
                yield from ox.parse(reader, format=plan.format, base_iri=base)
        else:
            yield from ox.parse(path=plan.path, format=plan.format, base_iri=base)
    except SyntaxError as e:
        raise LoadError(
            _syntax_message(e), path=str(plan.path), line=e.lineno, column=e.offset
        ) from None
    except OSError as e:
        raise LoadError(f"cannot read: {e}", path=str(plan.path)) from None


def _syntax_message(e: SyntaxError) -> str:
    text = str(e.msg or e)
    # pyoxigraph prefixes "Parser error at line L column C: "; the location is added by us.
    if ": " in text and text.startswith("Parser error"):
        text = text.split(": ", 1)[1]
    return f"syntax error: {text}"


def _quads(plans: list[_Plan], progress: ProgressFactory | None) -> Iterator[ox.Quad]:
    now = ox.Literal(datetime.now(UTC).isoformat(timespec="seconds"),
                     datatype=ox.NamedNode(XSD + "dateTime"))
    loads = ox.NamedNode(LOADS_GRAPH)
    for plan in plans:
        counts: Counter[str] = Counter()
        target = ox.NamedNode(plan.graph)
        for item in _parse(plan, progress):
            if isinstance(item, ox.Triple):
                quad = ox.Quad(item.subject, item.predicate, item.object, target)
            elif isinstance(item.graph_name, ox.DefaultGraph):
                quad = ox.Quad(item.subject, item.predicate, item.object, target)
            else:
                quad = item
            counts[quad.graph_name.value] += 1
            yield quad
        plan.report.graphs = dict(sorted(counts.items()))
        yield from _record(plan, counts, now, loads)


def _record(
    plan: _Plan, counts: Counter[str], now: ox.Literal, loads: ox.NamedNode
) -> Iterator[ox.Quad]:
    """PROV / Dublin Core / VoID description of a loaded file and of the graphs it filled."""
    unit = ox.NamedNode(plan.unit)
    media = ox.Literal(plan.format.media_type)
    yield ox.Quad(unit, RDF_TYPE, ox.NamedNode(PROV + "Entity"), loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "title"), ox.Literal(plan.path.name), loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "format"), media, loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "identifier"),
                  ox.Literal(f"sha256:{plan.sha256}"), loads)
    yield ox.Quad(unit, ox.NamedNode(PROV + "generatedAtTime"), now, loads)
    yield ox.Quad(unit, ox.NamedNode(VOID + "triples"), _integer(sum(counts.values())), loads)
    for graph_iri, n in counts.items():
        g = ox.NamedNode(graph_iri)
        yield ox.Quad(g, ox.NamedNode(DCTERMS + "source"), unit, loads)
        yield ox.Quad(g, ox.NamedNode(DCTERMS + "modified"), now, loads)
        yield ox.Quad(g, ox.NamedNode(VOID + "triples"), _integer(n), loads)
    if not counts:  # an empty file still records that it was loaded, into its own graph
        yield ox.Quad(ox.NamedNode(plan.graph), ox.NamedNode(DCTERMS + "source"), unit, loads)


def _integer(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=ox.NamedNode(XSD + "integer"))


PREVIOUS_LOADS = f"""
PREFIX dcterms: <{DCTERMS}>
PREFIX void: <{VOID}>
SELECT ?unit ?hash ?g ?n WHERE {{
  GRAPH <{LOADS_GRAPH}> {{
    ?unit dcterms:identifier ?hash .
    OPTIONAL {{ ?g dcterms:source ?unit . OPTIONAL {{ ?g void:triples ?n }} }}
  }}
}}
"""


def _previous_loads(kb, units: list[str]) -> dict[str, tuple[str, list[str], dict[str, int]]]:
    """unit IRI -> (sha256, graphs it filled, triples per graph) for files loaded before."""
    if not units:
        return {}
    wanted = set(units)
    out: dict[str, tuple[str, list[str], dict[str, int]]] = {}
    for row in kb.select(PREVIOUS_LOADS):
        unit = str(row["unit"])
        if unit not in wanted:
            continue
        digest = str(row["hash"]).removeprefix("sha256:")
        entry = out.setdefault(unit, (digest, [], {}))
        if "g" in row:
            entry[1].append(str(row["g"]))
            entry[2][str(row["g"])] = int(row["n"]) if "n" in row else 0  # type: ignore[call-overload]
    return out


def _drop_previous(plans: list[_Plan]) -> str | None:
    """The update that removes what the files of ``plans`` loaded before, and its record."""
    ops = []
    for plan in plans:
        for g in sorted(set(plan.previous_graphs)):
            ops.append(f"DROP SILENT GRAPH <{g}>")
            ops.append(f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{g}> ?p ?o }} }}")
        ops.append(f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{plan.unit}> ?p ?o }} }}")
    return " ;\n".join(ops) or None


class _ProgressReader:
    """A binary file wrapper that reports how many bytes have been read."""

    def __init__(self, f: IO[bytes], advance: Callable[[int], None]) -> None:
        self._f = f
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        self._advance(len(chunk))
        return chunk

    def readinto(self, buffer: bytearray) -> int:
        n = self._f.readinto(buffer)  # type: ignore[attr-defined]
        self._advance(n or 0)
        return n or 0


