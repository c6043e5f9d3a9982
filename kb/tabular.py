"""Tables to RDF by W3C CSVW metadata: a small streaming executor of the mapping.

Why CSVW, and why our own executor (issue 18, measured on this machine, see bench/README.md):

* A mapping is one JSON file in the W3C "Metadata Vocabulary for Tabular Data" (CSVW), the
  file a user can put beside a table as ``x.csv-metadata.json``: columns with their titles,
  datatypes, ``null`` and ``required``, and the RDF each cell gives by URI templates
  (``aboutUrl``, ``propertyUrl``, ``valueUrl``). A mapping author reads it column by column;
  RML/YARRRML (``morph-kgc``) needs triples maps, logical sources and joins for the same
  table, and its current release cannot sit beside pyoxigraph 0.5 (2.3.1 from 2023 is all
  pip can give).
* The ``csvw`` package (4.1.1) reads the metadata well, but converts a table to CSVW's JSON
  (csv2json), not to RDF, and holds the whole result in memory; on the same plain CSVW
  metadata (3,000 Comtrade rows, 8 columns) it took 23.5 s where this module took 2.5 s
  (a loaded 2-core machine). This module reads the same metadata and streams RDF: one row
  at a time, in constant memory (``python -m bench import``).

Supported (the part of CSVW mappings need): ``dialect`` (``delimiter``, ``header``, ``trim``,
``encoding``); ``tableSchema.aboutUrl``; per column ``name``, ``titles`` (header cells matched
by name or title, in any order), ``datatype`` (``string``, ``decimal``, ``integer``,
``double``, ``date``, ``anyURI`` or ``{"base": …, "format": regex, "minimum": n}``),
``required``, ``null``, ``default``, ``separator``, ``lang``, ``virtual``, ``suppressOutput``,
``aboutUrl``, ``propertyUrl``, ``valueUrl``. Templates are RFC 6570 ``{name}`` (percent-encoded)
and ``{+name}`` (kept); ``_row`` (data row, from 1), ``_sourceRow`` (line in the file),
``_file`` (the file's name), ``_source`` (the file's IRI) and ``_text`` (the row as written)
are defined too. Prefixed names are the knowledge base's
(``ms:``, ``qudt:``…, ``kb.namespaces.PREFIXES``).

Extensions, under ``kb:`` (CSVW allows such annotations):

* ``"kb:resolve": KIND`` — the cell names an entity (``country``, ``product``, ``unit``,
  ``currency``, ``organization``, ``person``, ``standard``, ``source``): templates see the
  key the resolver gives (``CN`` for "China"), or the row is reported.
* ``"kb:parse": "period"`` (``2020``, ``202003``, ``2020-03``, ``2020-03-01/2020-04-04``)
  defines ``NAME_start`` and ``NAME_end``; ``"kb:parse": "date"`` (with the precision in the
  column named by ``"kb:precision"``) defines ``NAME_day`` (a day), or ``NAME_earliest``,
  ``NAME_latest`` and ``NAME_span`` (the precision of a week, month, year or span of days).
* ``"kb:value": TEMPLATE`` — a virtual column's literal (typed by its ``datatype``).
* ``"kb:default": TEMPLATE`` — the value of an empty cell, from the row's other values.
* ``"kb:if": NAME`` — the column gives its triple only when the variable ``NAME`` has a value.

A template's variable with no value (an empty cell) expands to nothing; a column whose cell
is empty gives no triple, nor does a virtual column whose value expands to nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox

from kb.errors import LoadError
from kb.namespaces import PREFIXES
from kb.tabular_values import base_of, check_value, literal, parse_date, parse_period

_VAR = re.compile(r"\{(\+?)([A-Za-z_][\w.]*)\}")


class ResolveFailed(Exception):
    """A cell names no entity, or several; ``message`` says what would be right."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


#: resolve(kind, text, row_values) -> the key templates use; raises ResolveFailed
Resolver = Callable[[str, str], str]


@dataclass(frozen=True)
class CellError:
    """A bad cell: where it is, what it holds, what is wrong, what would be right."""

    row: int  # line in the file
    column: str
    value: str
    problem: str
    candidates: tuple[str, ...] = ()

    def text(self, file: str) -> str:
        return f"{file}:{self.row}:{self.column}: {self.problem}"


@dataclass
class Column:
    name: str
    titles: list[str]
    spec: dict[str, Any]
    virtual: bool = False


@dataclass
class Mapping:
    """A parsed CSVW metadata document."""

    name: str
    columns: list[Column]
    about: str | None
    delimiter: str = ","
    header: bool = True
    trim: bool = True
    encoding: str = "utf-8"
    title: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The mapping's default language (its ``@context``'s ``@language``), else ``en``."""
        context = self.raw.get("@context")
        for item in context if isinstance(context, list) else [context]:
            if isinstance(item, dict) and item.get("@language"):
                return str(item["@language"])
        return "en"

    @classmethod
    def read(cls, path: Path, name: str | None = None) -> Mapping:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise LoadError(f"not a CSVW metadata file: {e}", path=str(path)) from None
        schema = meta.get("tableSchema")
        if not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
            raise LoadError("a CSVW mapping needs tableSchema.columns", path=str(path))
        columns = []
        for i, spec in enumerate(schema["columns"], start=1):
            titles = spec.get("titles", [])
            titles = [titles] if isinstance(titles, str) else list(titles)
            column = spec.get("name") or (titles[0] if titles else f"_col.{i}")
            columns.append(Column(column, titles, spec, bool(spec.get("virtual"))))
        dialect = meta.get("dialect", {})
        return cls(name or path.stem.removesuffix(".csv-metadata"), columns,
                   schema.get("aboutUrl"), dialect.get("delimiter", ","),
                   dialect.get("header", True), dialect.get("trim", True),
                   dialect.get("encoding", "utf-8"), str(meta.get("dc:title", "")), meta)

    def kinds(self) -> dict[str, str]:
        """column name -> the entity kind it is resolved as"""
        return {c.name: c.spec["kb:resolve"] for c in self.columns if "kb:resolve" in c.spec}


def _expand_name(text: str) -> str:
    prefix, sep, local = text.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return text


def expand_template(template: str, values: dict[str, str | None], *, strict: bool = True,
                    encode: bool = True) -> str | None:
    """RFC 6570 ``{var}``/``{+var}``; None when a variable has no value (``strict``), else
    an empty string in its place; ``encode=False`` for literals (nothing percent-encoded).

    >>> expand_template("country/{c}", {"c": "C N"}), expand_template("{+u}#x", {"u": "a:b/c"})
    ('country/C%20N', 'a:b/c#x')
    >>> expand_template("x/{missing}", {}) is None
    True
    """
    out, missing = [], False
    for text, name, reserved in _compile(template):
        out.append(text)
        if name is None:
            continue
        value = values.get(name)
        if value is None or value == "":
            missing = True
        else:
            out.append(value if reserved or not encode else _quote(value))
    return None if missing and strict else "".join(out)


@lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[tuple[str, str | None, bool], ...]:
    """A template as (text, variable, reserved) parts, parsed once."""
    template, parts, at = _expand_name(template), [], 0
    for m in _VAR.finditer(template):
        parts.append((template[at:m.start()], m.group(2), bool(m.group(1))))
        at = m.end()
    parts.append((template[at:], None, False))
    return tuple(parts)


@lru_cache(maxsize=65536)
def _quote(value: str) -> str:
    return quote(value, safe="")


@dataclass
class Row:
    line: int
    number: int
    cells: list[str]
    triples: list[ox.Triple] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    entities: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (kind, text)

    @property
    def text(self) -> str:
        return ",".join(self.cells)


def read_rows(mapping: Mapping, lines: Iterable[str], file_name: str,
              resolve: Resolver | None = None, source: str = "") -> Iterator[Row]:
    """The rows of a CSV table as triples (or cell errors), one row at a time.

    Raises:
        LoadError: the header lacks a required column.
    """
    reader = csv.reader(lines, delimiter=mapping.delimiter)
    records = ((reader.line_num, cells) for cells in reader)
    return read_records(mapping, records, file_name, resolve, source)


def read_records(mapping: Mapping, records: Iterable[tuple[int, list[str]]], file_name: str,
                 resolve: Resolver | None = None, source: str = "") -> Iterator[Row]:
    """The rows of a table given as (line or row number, cells), as triples (or cell
    errors), one row at a time (a CSV's, or a sheet's: ``kb.spreadsheet``).

    Raises:
        LoadError: the header lacks a required column.
    """
    records = iter(records)
    first = next(records, None) if mapping.header else None
    header = None if first is None else first[1]
    real = [c for c in mapping.columns if not c.virtual]
    if header is None:
        if mapping.header:
            raise LoadError("the table is empty (no header row)", path=file_name)
        where = {c.name: i for i, c in enumerate(real)}
    else:
        cells = [h.strip().casefold() for h in header]
        where = {}
        for c in real:
            for label in (c.name, *c.titles):
                if label.casefold() in cells:
                    where[c.name] = cells.index(label.casefold())
                    break
            else:
                if c.spec.get("required"):
                    names = " or ".join(repr(t) for t in (c.name, *c.titles))
                    raise LoadError(f"the header has no column {names}; it has "
                                    f"{', '.join(repr(h) for h in header)}", path=file_name)
    prepared = _Prepared(mapping, where, file_name, resolve, source)
    for number, (line, cells) in enumerate(records, start=1):
        if not any(c.strip() for c in cells):
            continue
        yield prepared.row(Row(line, number, cells))


class _Prepared:
    """A mapping bound to one table's header: turns rows into triples."""

    def __init__(self, mapping: Mapping, where: dict[str, int], file_name: str,
                 resolve: Resolver | None, source: str) -> None:
        self.mapping, self.where, self.resolve = mapping, where, resolve
        self.file, self.source = file_name, source
        self.predicates: dict[str, ox.NamedNode] = {}

    def _predicate(self, template: str, values: dict[str, str | None]) -> ox.NamedNode:
        node = self.predicates.get(template)
        if node is None:
            node = ox.NamedNode(expand_template(template, values, strict=False) or "")
            if "{" not in template:  # the same on every row
                self.predicates[template] = node
        return node

    def row(self, row: Row) -> Row:
        values: dict[str, str | None] = {"_row": str(row.number), "_sourceRow": str(row.line),
                                         "_file": self.file, "_source": self.source,
                                         "_text": ",".join(row.cells)}
        lists: dict[str, list[str]] = {}
        late: list[Column] = []
        for col in self.mapping.columns:
            if col.virtual:
                continue
            spec = col.spec
            i = self.where.get(col.name)
            text = row.cells[i] if i is not None and i < len(row.cells) else ""
            if self.mapping.trim:
                text = text.strip()
            nulls = spec.get("null", "")
            if text in ([nulls] if isinstance(nulls, str) else nulls):
                text = str(spec.get("default", ""))
            if not text:
                if "kb:default" in spec:
                    late.append(col)
                elif spec.get("required"):
                    row.errors.append(CellError(row.line, col.name, "", "a value is required"))
                values[col.name] = None
                continue
            parts = [p.strip() for p in text.split(spec["separator"])] if spec.get(
                "separator") else [text]
            parsed = [self._cell(row, col, p, values) for p in parts if p]
            lists[col.name] = [p for p in parsed if p is not None]
            values[col.name] = lists[col.name][0] if lists[col.name] else None
        for col in late:
            values[col.name] = expand_template(col.spec["kb:default"], values, strict=False,
                                               encode=base_of(col.spec) == "anyURI")
            lists[col.name] = [values[col.name]] if values[col.name] else []  # type: ignore[list-item]
        if row.errors:
            return row
        about = self.mapping.about
        subjects: dict[str, ox.NamedNode | None] = {}
        for col in self.mapping.columns:
            spec = col.spec
            if spec.get("suppressOutput") or ("kb:if" in spec and not values.get(spec["kb:if"])):
                continue
            prop = spec.get("propertyUrl")
            template = spec.get("aboutUrl", about) or ""
            if template not in subjects:  # each subject expanded once a row
                text = expand_template(template, values, strict=False)
                subjects[template] = ox.NamedNode(text) if text else None
            subject = subjects[template]
            if subject is None or not prop:
                continue
            predicate = self._predicate(prop, values)
            if col.virtual:
                obj: ox.NamedNode | ox.Literal | None = None
                if "valueUrl" in spec:
                    target = expand_template(spec["valueUrl"], values, strict=False)
                    obj = ox.NamedNode(target) if target else None
                elif "kb:value" in spec:
                    text = expand_template(spec["kb:value"], values, strict=False, encode=False)
                    obj = literal(text, spec) if text else None
                if obj is not None:
                    row.triples.append(ox.Triple(subject, predicate, obj))
                continue
            for value in lists.get(col.name, []):
                if "valueUrl" in spec:
                    target = expand_template(spec["valueUrl"], {**values, col.name: value},
                                             strict=False)
                    if target:
                        row.triples.append(ox.Triple(subject, predicate, ox.NamedNode(target)))
                else:
                    row.triples.append(ox.Triple(subject, predicate, literal(value, spec)))
        return row

    def _cell(self, row: Row, col: Column, text: str, values: dict[str, str | None]
              ) -> str | None:
        spec = col.spec
        try:
            value = check_value(text, spec)
            parse = spec.get("kb:parse")
            if parse == "period":
                values[f"{col.name}_start"], values[f"{col.name}_end"] = parse_period(value)
            elif parse == "date":
                precision_col = spec.get("kb:precision")
                i = self.where.get(precision_col) if precision_col else None
                precision = row.cells[i] if i is not None and i < len(row.cells) else None
                for k, v in parse_date(value, precision).items():
                    values[f"{col.name}_{k}"] = v
            kind = spec.get("kb:resolve")
            if kind is not None and self.resolve is not None:
                row.entities[col.name] = (kind, value)
                value = self.resolve(kind, value)
            return value
        except ResolveFailed as e:
            row.errors.append(CellError(row.line, col.name, text, str(e), tuple(e.candidates)))
        except ValueError as e:
            what = {"period": "a period (2020, 202003, 2020-03 or 2020-03-01/2020-04-04)",
                    "date": "a date (2020-03-28, 2020-03, 2020, or 2020-03-23/2020-03-24)"}
            hint = what.get(spec.get("kb:parse", ""), "")
            message = str(e) if not hint or (str(e).startswith("'") and "not" in str(e)) else (
                f"{text!r} is not {hint}: {e}")
            row.errors.append(CellError(row.line, col.name, text, message))
        return None


def open_lines(path: Path, encoding: str = "utf-8") -> io.TextIOWrapper:
    """The table's text, read as it goes (a BOM is dropped)."""
    try:
        return path.open(encoding="utf-8-sig" if encoding.lower() == "utf-8" else encoding,
                         newline="")
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror}", path=str(path)) from None
