"""Users' tables into the knowledge base: ``kb import FILE --mapping NAME|PATH``.

A table (CSV or TSV) is turned into triples by a CSVW mapping (``kb.tabular``: why CSVW and a
streaming executor of our own is said there), its names resolved to the KB's entities
(``kb.resolve``), and written into the named graph of the file
(``…/graph/file/<file name>``, as ``kb load`` names a file's graph): a re-import of the file
replaces what it imported before.

Provenance: the file is a ``ms:SourceDocument`` in its graph; each row is a ``csvw:Row``
(``<file#row=N>``, with its ``csvw:rownum``) that ``csvw:describes`` the nodes it gave; the
load record in the ``loads`` graph holds the file's name, SHA-256, mapping
(``dcterms:conformsTo``), time and triples, as for ``kb load``.

All or nothing: every row is converted and checked before anything is written; a bad cell
(unknown or ambiguous name, a number that is not one, a unit the ontology lacks, a date that
does not parse) is reported as ``file:row:column`` with what would be right, and nothing
changes. With ``skip_bad`` the good rows are imported and the bad ones written to a CSV
report. Up to 50,000 triples are one transaction; larger imports are staged in a temporary
N-Triples file and streamed into the engine's bulk loader in chunks (not atomic, as ``kb
load`` of a large file is not).
"""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb.errors import LoadError
from kb.load_records import file_graph, file_sha256, file_unit, previous_loads
from kb.namespaces import ID, LOADS_GRAPH, PREFIXES
from kb.resolve import CREATABLE, KINDS, Resolver
from kb.spreadsheet import MEDIA_TYPE, is_workbook, open_sheet
from kb.tabular import CellError, Mapping, Row, open_lines, read_records

CSVW = "http://www.w3.org/ns/csvw#"
MAPPING_ID = f"{ID}mapping/"
#: Imports up to this many triples are written in one transaction (see kb.backends).
ATOMIC_TRIPLES = 50_000
#: Larger imports go to the engine's bulk loader in chunks of this many triples (each is two
#: quads there: its graph's and the union's), read from the staged file as the loader asks:
#: one chunk is one batch of the loader, so its memory is bounded by the chunk (50,000:
#: ~100 MB over the store's own, against ~200 MB for 100,000; see bench/README.md).
CHUNK_TRIPLES = 50_000
#: At most this many bad cells are kept for the error message and the preview.
SHOWN_ERRORS = 200


def _iri(prefix: str, local: str) -> ox.NamedNode:
    return ox.NamedNode(PREFIXES[prefix] + local)


TYPE, LABEL = _iri("rdf", "type"), _iri("rdfs", "label")


def shipped_mappings() -> dict[str, Path]:
    """The mappings that come with the package, by name."""
    folder = resources.files("kb") / "mappings"
    return {p.name.removesuffix(".json"): Path(str(p)) for p in folder.iterdir()
            if p.name.endswith(".json")}


def find_mapping(name_or_path: str | Path) -> Mapping:
    """A shipped mapping by name, or a CSVW metadata file by path.

    Raises:
        LoadError: no such mapping, or not a CSVW metadata file.
    """
    shipped = shipped_mappings()
    if str(name_or_path) in shipped:
        return Mapping.read(shipped[str(name_or_path)], str(name_or_path))
    path = Path(name_or_path)
    if not path.is_file():
        raise LoadError(f"no mapping named {str(name_or_path)!r}: use one of "
                        f"{', '.join(sorted(shipped))} or the path of a CSVW metadata file")
    return Mapping.read(path)


def metadata_beside(path: Path) -> Path | None:
    """``x.csv-metadata.json`` beside ``x.csv`` (the CSVW convention), if there is one."""
    candidate = path.with_name(path.name + "-metadata.json")
    return candidate if candidate.is_file() else None


@dataclass
class ImportReport:
    """What an import did, or would do (``dry_run``)."""

    path: Path
    mapping: str
    graph: str
    rows: int = 0
    imported_rows: int = 0
    triples: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    matched: dict[str, dict[str, str]] = field(default_factory=dict)
    created: dict[str, dict[str, str]] = field(default_factory=dict)
    unresolved: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    errors: list[CellError] = field(default_factory=list)
    bad_rows: int = 0
    written: bool = False
    sheet: str | None = None  # of a workbook

    @property
    def where(self) -> str:
        """The table's name in error messages: the file's, with a workbook's sheet."""
        return f"{self.path.name}:{self.sheet}" if self.sheet else self.path.name

    def error_text(self, limit: int = 20) -> str:
        lines = [e.text(self.where) for e in self.errors[:limit]]
        more = self.bad_rows - len({e.row for e in self.errors[:limit]})
        if more > 0:
            lines.append(f"… and {more:,} more bad row(s)")
        return "\n".join(lines)


def import_table(kb, path: str | Path, mapping: str | Path | Mapping, *,
                 graph: str | None = None, skip_bad: str | Path | None = None,
                 create: bool = False, dry_run: bool = False, sheet: str | None = None
                 ) -> ImportReport:
    """Import a table into ``kb`` with a CSVW mapping, all or nothing.

    Args:
        path: the CSV (or TSV, as the mapping's dialect says) file, or an Excel workbook
            (``.xlsx``: its first sheet, or ``sheet``).
        mapping: a shipped mapping's name, a CSVW metadata file, or a parsed ``Mapping``.
        graph: the named graph for its facts (default: the file's own graph).
        skip_bad: import the good rows and write the bad ones to this CSV report.
        create: mint organisations, people and standards that match no entity (once).
        dry_run: convert and resolve, report what would be added, write nothing.
        sheet: the sheet of a workbook to read (default: its first).

    Raises:
        LoadError: a bad row (without ``skip_bad``), an unreadable file or mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise LoadError("no such file", path=str(path))
    if sheet is not None and not is_workbook(path):
        raise LoadError("a sheet is chosen only in an Excel workbook (.xlsx)", path=str(path))
    table = mapping if isinstance(mapping, Mapping) else find_mapping(mapping)
    unit, target = file_unit(path), graph or file_graph(path)
    report = ImportReport(path, table.name, target, sheet=sheet)
    resolver = Resolver.from_kb(kb, create=create)
    digest = file_sha256(path)
    with tempfile.TemporaryDirectory(prefix="kb-import-") as tmp:
        staged = Path(tmp) / "facts.nt"
        with staged.open("wb") as out, _bad_rows_report(skip_bad) as bad:
            _convert(table, path, unit, resolver, report, out, bad)
        report.matched, report.unresolved = resolver.matched, resolver.unresolved
        report.created = resolver.created
        if report.bad_rows and skip_bad is None:
            raise LoadError(f"{report.bad_rows:,} bad row(s); nothing was imported (fix them, "
                            "or import the good rows with --skip-bad REPORT):\n"
                            + report.error_text(), path=str(path))
        extra = [*_created_entities(resolver, table.language),
                 *_file_description(path, unit, table)]
        report.triples += len(extra)
        if dry_run:
            return report
        _write(kb, report, staged, extra, unit, digest, table)
    report.written = True
    return report


def _convert(table: Mapping, path: Path, unit: str, resolver: Resolver, report: ImportReport,
             out: IO[bytes], bad: csv.writer | None) -> None:  # type: ignore[valid-type]
    """Rows -> N-Triples in ``out`` (good rows) and the report (bad ones)."""
    batch: list[ox.Triple] = []
    row_type, describes = ox.NamedNode(CSVW + "Row"), ox.NamedNode(CSVW + "describes")
    rownum = ox.NamedNode(CSVW + "rownum")
    integer = ox.NamedNode(PREFIXES["xsd"] + "integer")
    try:
        with _records(table, path, report) as records:
            for row in read_records(table, records, path.name, resolver, unit):
                report.rows += 1
                if row.errors:
                    _bad(report, row, bad)
                    continue
                report.imported_rows += 1
                node = ox.NamedNode(f"{unit}#row={row.line}")
                batch.append(ox.Triple(node, TYPE, row_type))
                batch.append(ox.Triple(node, rownum, ox.Literal(str(row.line), datatype=integer)))
                for subject in dict.fromkeys(t.subject for t in row.triples):
                    batch.append(ox.Triple(node, describes, subject))
                for t in row.triples:
                    if t.predicate == TYPE:
                        report.classes[t.object.value] += 1
                batch.extend(row.triples)
                if len(batch) >= 20_000:
                    report.triples += _flush(batch, out)
    except UnicodeDecodeError as e:
        raise LoadError(f"not {table.encoding} text (byte {e.start}): save the table as "
                        "UTF-8 CSV", path=str(path)) from None
    except csv.Error as e:
        raise LoadError(f"not a readable table: {e}", path=str(path)) from None
    report.triples += _flush(batch, out)


@contextmanager
def _records(table: Mapping, path: Path, report: ImportReport
             ) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The table's rows as (line or row number, cells): a CSV's, or a workbook sheet's
    (``report.sheet``: the one chosen, else the first; set to the one read)."""
    if is_workbook(path):
        with open_sheet(path, report.sheet) as (report.sheet, rows):
            yield rows
        return
    with open_lines(path, table.encoding) as lines:
        reader = csv.reader(lines, delimiter=table.delimiter)
        yield ((reader.line_num, cells) for cells in reader)


def _flush(batch: list[ox.Triple], out: IO[bytes]) -> int:
    n = len(batch)
    if n:
        ox.serialize(batch, out, format=ox.RdfFormat.N_TRIPLES)
        batch.clear()
    return n


def _bad(report: ImportReport, row: Row, bad: csv.writer | None) -> None:  # type: ignore[valid-type]
    report.bad_rows += 1
    if len(report.errors) < SHOWN_ERRORS:
        report.errors.extend(row.errors)
    if bad is not None:
        for e in row.errors:
            bad.writerow([report.where, e.row, e.column, e.value, e.problem,  # type: ignore[attr-defined]
                          " | ".join(e.candidates)])


class _bad_rows_report:  # a context manager, named like open()
    """The CSV report of bad rows (``--skip-bad REPORT``), or nothing."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.file: IO[str] | None = None

    def __enter__(self):  # -> csv writer or None
        if self.path is None:
            return None
        try:
            self.file = self.path.open("w", encoding="utf-8", newline="")
        except OSError as e:
            raise LoadError(f"cannot write the report: {e.strerror}", path=str(self.path)) from None
        writer = csv.writer(self.file)
        writer.writerow(["file", "row", "column", "value", "problem", "candidates"])
        return writer

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _created_entities(resolver: Resolver, language: str) -> Iterator[ox.Triple]:
    """What ``--create`` minted, and the sources named by URL (their publication date is
    not known: ``kb validate`` lists them for a curator)."""
    for kind, minted in resolver.created.items():
        namespace = KINDS[kind][0]
        for key, name in minted.items():
            node = ox.NamedNode(namespace + key)
            if kind == "source":
                yield ox.Triple(node, TYPE, _iri("ms", "SourceDocument"))
                yield ox.Triple(node, _iri("schema", "url"), ox.NamedNode(name))
                yield ox.Triple(node, _iri("dcterms", "title"), ox.Literal(name))
                yield ox.Triple(node, _iri("dcterms", "language"), ox.Literal(language))
                yield ox.Triple(node, _iri("ms", "retrieval"), ox.Literal(
                    "Named by its URL in an imported table; not read by the curators.",
                    language="en"))
                continue
            yield ox.Triple(node, TYPE, _iri("ms", CREATABLE[kind].removeprefix("ms:")))
            yield ox.Triple(node, LABEL, ox.Literal(name, language="en"))


def _file_description(path: Path, unit: str, table: Mapping) -> Iterator[ox.Triple]:
    """The table as a source document: its name, the day it was last changed (its date as
    far as the knowledge base can tell), its language (the mapping's), how it came."""
    node = ox.NamedNode(unit)
    day = datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
    yield ox.Triple(node, TYPE, _iri("ms", "SourceDocument"))
    yield ox.Triple(node, TYPE, ox.NamedNode(CSVW + "Table"))
    yield ox.Triple(node, _iri("dcterms", "title"), ox.Literal(path.name))
    yield ox.Triple(node, _iri("dcterms", "date"), ox.Literal(day, datatype=_iri("xsd", "date")))
    yield ox.Triple(node, _iri("dcterms", "language"), ox.Literal(table.language))
    yield ox.Triple(node, _iri("dcterms", "bibliographicCitation"),
                    ox.Literal(f"{path.name}, a table imported with the {table.name} mapping"))
    yield ox.Triple(node, _iri("ms", "retrieval"), ox.Literal(
        "A user's table, imported with `kb import` (a CSVW mapping).", language="en"))
    yield ox.Triple(node, _iri("dcterms", "conformsTo"), ox.NamedNode(MAPPING_ID + table.name))


def _write(kb, report: ImportReport, staged: Path, extra: list[ox.Triple], unit: str,
           digest: str, table: Mapping) -> None:
    """Replace what the file imported before with its triples, and record the import."""
    before_graphs = set(previous_loads(kb, [unit]).get(unit, ("", [], {}))[1])
    before_graphs.add(report.graph)
    drop = [f"DROP SILENT GRAPH <{g}>" for g in sorted(before_graphs)]
    drop += [f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{g}> ?p ?o }} }}"
             for g in sorted(before_graphs)]
    drop.append(f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{unit}> ?p ?o }} }}")
    before = " ;\n".join(drop)
    graph = ox.NamedNode(report.graph)
    record = list(_record(report, unit, digest, table))
    if report.triples <= ATOMIC_TRIPLES:
        facts = [ox.Quad(t.subject, t.predicate, t.object, graph)
                 for t in ox.parse(path=str(staged), format=ox.RdfFormat.N_TRIPLES)]
        facts += [ox.Quad(t.subject, t.predicate, t.object, graph) for t in extra]
        kb.write(facts + record, before=before)
        return
    # Larger: the staged N-Triples go to the engine's bulk loader in chunks of lines (as
    # atomic as `kb load` of a large file: not; its marker rebuilds the union after a crash).
    # One bulk load of everything buffers far more: ~1.3 GB for 700k triples. Nothing of a
    # chunk is held in Python: the loader reads it line by line from the staged file.
    with staged.open("ab") as out:
        ox.serialize(extra, out, format=ox.RdfFormat.N_TRIPLES)
    with staged.open("rb") as lines:
        kb.bulk_load(_chunks(lines, CHUNK_TRIPLES), ox.RdfFormat.N_TRIPLES, graph=report.graph,
                     base_iri=unit, before=before)
    kb.write(record, validate=False)


def _chunks(lines: io.BufferedReader, size: int) -> Iterator[_Lines]:
    """The staged file as chunks of ``size`` lines, each read as it goes."""
    while lines.peek(1):
        chunk = _Lines(lines, size)
        yield chunk
        for _ in chunk:  # what the loader left of it
            pass


class _Lines(io.RawIOBase):
    """The next ``limit`` lines of a binary file, as a file and as lines, read as they are
    asked for: a chunk of the staged N-Triples is never joined in memory."""

    def __init__(self, lines: io.BufferedReader, limit: int) -> None:
        self._lines = itertools.islice(lines, limit)
        self._pending = b""

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        if self._pending:
            yield self._pending
            self._pending = b""
        yield from self._lines

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = b"".join(itertools.islice(self._lines, 64))
            if not self._pending:
                return 0
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _record(report: ImportReport, unit: str, digest: str, table: Mapping) -> Iterator[ox.Quad]:
    loads, node, graph = ox.NamedNode(str(LOADS_GRAPH)), ox.NamedNode(unit), ox.NamedNode(
        report.graph)
    now = ox.Literal(datetime.now(UTC).isoformat(timespec="seconds"),
                     datatype=_iri("xsd", "dateTime"))
    n = ox.Literal(str(report.triples), datatype=_iri("xsd", "integer"))
    yield ox.Quad(node, TYPE, _iri("prov", "Entity"), loads)
    yield ox.Quad(node, _iri("dcterms", "title"), ox.Literal(report.path.name), loads)
    media = MEDIA_TYPE if is_workbook(report.path) else "text/csv"
    yield ox.Quad(node, _iri("dcterms", "format"), ox.Literal(media), loads)
    yield ox.Quad(node, _iri("dcterms", "identifier"), ox.Literal(f"sha256:{digest}"), loads)
    yield ox.Quad(node, _iri("dcterms", "conformsTo"), ox.NamedNode(MAPPING_ID + table.name),
                  loads)
    yield ox.Quad(node, _iri("prov", "generatedAtTime"), now, loads)
    yield ox.Quad(node, _iri("void", "triples"), n, loads)
    yield ox.Quad(graph, _iri("dcterms", "source"), node, loads)
    yield ox.Quad(graph, _iri("dcterms", "modified"), now, loads)
    yield ox.Quad(graph, _iri("void", "triples"), n, loads)
