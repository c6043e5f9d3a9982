"""Saved queries: ``.rq`` files with the question in words, parameters and the expected answer.

The competency questions of the ontology (``ontology/competency/``) are saved queries; the
tests run each one and compare the answer with the one written in the file. A file looks
like this::

    # title: Recalls by country
    # question: Which quality incidents did a country report?
    # param: country = <https://w3id.org/medsupply-kb/id/country/NL>
    # expected: unordered
    # | incident |
    # | msid:incident/nl-mask-recall-2020-03-28 |
    SELECT ?incident WHERE { ?incident ms:actorCountry ?country }

``# param: NAME = TERM`` binds the variable ``?NAME`` (a default the caller may override).
``# expected:`` is ``unordered``, ``ordered``, ``ask true`` or ``ask false``; the table's
cells are IRIs in prefixed form (the prefixes of ``kb.namespaces.PREFIXES``, plus ``msid:``)
or ``<iri>``, and literals by their lexical form (numbers compare by value); an empty cell is
an unbound variable. The prefixes of ``kb.namespaces`` are added to every query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyoxigraph as ox
from rdflib import URIRef
from rdflib.term import Node

from kb.errors import InvalidParameter, NotFound
from kb.namespaces import expand, shorten, sparql_prefixes

_HEADER = re.compile(r"^#\s*(title|question|param|expected)\s*:\s*(.*)$")
_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$")


@dataclass
class SavedQuery:
    """A query file: its name (file stem), words, SPARQL, parameters and expected answer."""

    name: str
    title: str
    question: str
    sparql: str
    params: dict[str, ox.NamedNode | ox.Literal] = field(default_factory=dict)
    expected_mode: str | None = None  # unordered, ordered, ask
    expected_vars: list[str] = field(default_factory=list)
    expected_rows: list[list[str]] = field(default_factory=list)
    expected_boolean: bool | None = None

    @property
    def text(self) -> str:
        """The SPARQL with the project's prefixes declared."""
        return sparql_prefixes() + self.sparql

    def bindings(self, overrides: dict[str, str] | None = None) -> dict[str, object]:
        """The parameters' terms, with ``overrides`` (name -> IRI or literal text) applied.

        Raises:
            InvalidParameter: an unknown parameter name, or a value that is not a valid IRI.
        """
        values: dict[str, object] = dict(self.params)
        for name, raw in (overrides or {}).items():
            if name not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise InvalidParameter(name, f"not a parameter of {self.name} (known: {known})")
            default = self.params[name]
            if isinstance(default, ox.NamedNode):
                try:
                    values[name] = ox.NamedNode(expand(raw))
                except ValueError as e:
                    raise InvalidParameter(name, f"{raw!r} is not a valid IRI: {e}") from None
            else:
                values[name] = ox.Literal(raw)
        return values


def _term(text: str) -> ox.NamedNode | ox.Literal:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return ox.Literal(text[1:-1])
    return ox.NamedNode(expand(text))


def parse(path: Path) -> SavedQuery:
    """Read one ``.rq`` file."""
    query = SavedQuery(name=path.stem, title=path.stem, question="", sparql="")
    body: list[str] = []
    in_expected = False
    for line in path.read_text(encoding="utf-8").splitlines():
        header = _HEADER.match(line)
        if header and not body:
            key, value = header.groups()
            in_expected = key == "expected"
            if key == "title":
                query.title = value.strip()
            elif key == "question":
                query.question = value.strip()
            elif key == "param":
                m = _PARAM.match(value.strip())
                if m is None:
                    raise InvalidParameter("param", f"{path.name}: write '# param: name = <iri>'")
                query.params[m.group(1)] = _term(m.group(2))
            else:
                mode = value.strip().lower()
                if mode.startswith("ask"):
                    query.expected_mode = "ask"
                    query.expected_boolean = mode.split()[-1] == "true"
                else:
                    query.expected_mode = mode
            continue
        if in_expected and line.startswith("#") and "|" in line and not body:
            cells = [c.strip() for c in line.lstrip("#").strip().strip("|").split("|")]
            if not query.expected_vars:
                query.expected_vars = cells
            else:
                query.expected_rows.append(cells)
            continue
        if line.startswith("#") and not body:
            continue
        body.append(line)
    query.sparql = "\n".join(body).strip() + "\n"
    return query


def load_saved_queries(folder: Path) -> list[SavedQuery]:
    """Every ``.rq`` file of ``folder``, sorted by name."""
    return [parse(p) for p in sorted(folder.glob("*.rq"))]


def find(queries: list[SavedQuery], name: str) -> SavedQuery:
    for q in queries:
        if q.name == name:
            return q
    raise NotFound(f"No saved query named {name!r}; GET /queries lists them")


def render(term: Node | None) -> str:
    """How a term is written in an expected-answer table."""
    if term is None:
        return ""
    if isinstance(term, URIRef):
        return shorten(str(term))
    return str(term)


def _same(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    try:
        return Decimal(expected) == Decimal(actual)
    except (InvalidOperation, ValueError):
        return expand(expected) == expand(actual) if ":" in expected else False


def compare(query: SavedQuery, rows: list[dict[str, Node]] | bool) -> list[str]:
    """Differences between the expected answer and ``rows`` (empty when they agree)."""
    if query.expected_mode == "ask":
        return [] if rows == query.expected_boolean else [
            f"expected {query.expected_boolean}, got {rows}"]
    assert isinstance(rows, list)
    actual = [[render(row.get(v)) for v in query.expected_vars] for row in rows]
    expected = [list(r) for r in query.expected_rows]
    if query.expected_mode == "ordered":
        pairs = list(zip(expected, actual, strict=False))
        if len(expected) == len(actual) and all(
            all(_same(e, a) for e, a in zip(er, ar, strict=True)) for er, ar in pairs
        ):
            return []
        return [f"expected (in order) {expected}", f"got {actual}"]
    missing = [list(r) for r in expected]
    extra = []
    for row in actual:
        match = next((m for m in missing
                      if all(_same(e, a) for e, a in zip(m, row, strict=True))), None)
        if match is None:
            extra.append(row)
        else:
            missing.remove(match)
    problems = [f"missing row {m}" for m in missing] + [f"unexpected row {x}" for x in extra]
    return problems
