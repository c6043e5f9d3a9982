"""The default graph as a *set*: the union of the named graphs, each triple once.

Every fact sits in the named graph of the source that asserts it, and queries see the
union of those graphs as their default graph. SPARQL makes that default graph an RDF
merge, a set of triples: a triple stated by three sources matches once, and ``GRAPH ?g``
still sees each source. Oxigraph 0.5 answers ``use_default_graph_as_union`` (and merges
named with ``FROM``) as a bag instead, so a triple held by three graphs matches three
times and every ``COUNT`` and ``SUM`` multiplies it.

So the knowledge base keeps the union itself: the engine's own default graph holds every
triple of every named graph, once, and every write keeps it so inside the same
transaction. This module holds the SPARQL texts that do it; ``kb.backends`` runs them.

Writes by the knowledge base (loads, graph replacements, the Graph Store, analytics) know
the graphs they touch, and keep the union with two scoped steps around the change::

    DELETE the triples held only by the touched graphs from the default graph
    … the change …
    INSERT the touched graphs' triples into the default graph

SPARQL Update from users is rewritten by :func:`rewrite_update` to this contract:

* ``INSERT`` without ``GRAPH`` (``INSERT DATA`` or a template) puts its triples into the
  hand-edits graph (:data:`EDITS_GRAPH`), whose ``dcterms:modified`` records when;
* ``DELETE`` without ``GRAPH`` (``DELETE DATA``, ``DELETE WHERE``, a template, ``CLEAR
  DEFAULT``) removes the triple from what queries see: from every named graph that holds it;
* operations on named graphs act on those graphs, and the union follows;
* ``WHERE`` patterns without ``GRAPH`` match the union, as queries do;
* ``ADD``/``COPY``/``MOVE … TO DEFAULT`` and ``MOVE DEFAULT`` are refused: the default
  graph is derived, write to a named graph instead.

>>> print(rewrite_update("INSERT DATA { <urn:a> <urn:b> 1 }").split(" ;")[0])
INSERT DATA { GRAPH <https://w3id.org/medsupply-kb/graph/edits> { <urn:a> <urn:b> 1  } \
GRAPH <https://w3id.org/medsupply-kb/graph/x-union-pending> { <urn:a> <urn:b> 1  } }
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kb.errors import QueryError
from kb.safety import mask_literals

__all__ = ["EDITS_GRAPH", "add_graphs", "drop_sole", "graphs_named", "iris_named",
           "rewrite_update"]

# The graph IRIs are spelled out (not taken from kb.namespaces, which imports rdflib): the
# query workers import this module, and start faster without rdflib.
_GRAPHS = "https://w3id.org/medsupply-kb/graph/"
#: Where triples inserted without ``GRAPH`` go: the hand-edits graph.
EDITS_GRAPH = _GRAPHS + "edits"
#: Scratch graph of one rewritten update: what an operation inserted, added to the union
#: and dropped in the same transaction (never visible).
_SCRATCH = _GRAPHS + "x-union-pending"
_MODIFIED = "http://purl.org/dc/terms/modified"


#: Remove from the union what no named graph holds any more (after named-graph deletes).
_ORPHANS = "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o FILTER NOT EXISTS { GRAPH ?g { ?s ?p ?o } } }"
#: Remove from every named graph what was deleted from the union (deletes without GRAPH).
_PROPAGATE = ("DELETE { GRAPH ?g { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ?p ?o } "
              "FILTER NOT EXISTS { ?s ?p ?o } }")


def _values(graphs: Iterable[str]) -> str:
    return " ".join(f"<{g}>" for g in sorted(set(graphs)))


def drop_sole(graphs: Iterable[str]) -> str:
    """Delete from the union the triples that no graph but ``graphs`` holds (the step
    before a change confined to ``graphs``)."""
    values = _values(graphs)
    listed = values.replace(" ", ", ")
    return (f"DELETE {{ ?s ?p ?o }} WHERE {{ VALUES ?a {{ {values} }} GRAPH ?a {{ ?s ?p ?o }} "
            f"FILTER NOT EXISTS {{ GRAPH ?h {{ ?s ?p ?o }} FILTER (?h NOT IN ({listed})) }} }}")


def add_graphs(graphs: Iterable[str]) -> str:
    """Insert the triples of ``graphs`` into the union (the step after the change)."""
    return (f"INSERT {{ ?s ?p ?o }} WHERE {{ VALUES ?a {{ {_values(graphs)} }} "
            "GRAPH ?a { ?s ?p ?o } }")


_GRAPH_IRI = re.compile(r"\bGRAPH\s*<([^<>\s]*)>", re.IGNORECASE)


def graphs_named(update: str) -> list[str]:
    """The graphs an update of the knowledge base's own (``DROP SILENT GRAPH <g>``, ``DELETE
    WHERE { GRAPH <g> { … } }``) names with ``GRAPH <iri>``."""
    return sorted(set(_GRAPH_IRI.findall(update)))


# --- user updates ---------------------------------------------------------------------------


@dataclass
class _Effects:
    """What one operation does to the default graph and to named graphs."""

    text: str
    inserts: bool = False  # into the scratch graph too (added to the union after)
    targets: list[str] = field(default_factory=list)  # named graphs filled wholesale
    default_delete: bool = False
    named_delete: bool = False
    edits: bool = False  # the hand-edits graph was written


def rewrite_update(update: str) -> str:
    """``update`` rewritten so that it keeps the union and follows the module's contract,
    one transaction as before (steps are appended after each operation).

    Raises:
        QueryError: an operation would write the default graph itself (``ADD``, ``COPY``
            or ``MOVE`` to ``DEFAULT``, ``MOVE DEFAULT``).
    """
    masked = mask_literals(update)
    parts: list[str] = []
    edits = False
    for start, end in _operations(masked):
        effects = _operation(update[start:end], masked[start:end])
        parts.append(effects.text)
        steps = []
        if effects.inserts:
            steps += [f"ADD SILENT <{_SCRATCH}> TO DEFAULT", f"DROP SILENT GRAPH <{_SCRATCH}>"]
        steps += [f"ADD SILENT <{g}> TO DEFAULT" for g in effects.targets]
        if effects.default_delete:
            steps.append(_PROPAGATE)
        if effects.named_delete:
            steps.append(_ORPHANS)
        edits = edits or effects.edits
        if steps:
            parts.append(" ;\n".join(steps))
    if edits:
        parts.append(_stamp_edits())
    return " ;\n".join(p for p in parts if p.strip())


_IRI = re.compile(r"<([^<>\s]*)>")
_PNAME = re.compile(r"(?<![\w?$])([A-Za-z][\w.\-]*)?:([\w\-.:%]+)")
_DECLARED = re.compile(r"PREFIX\s+([A-Za-z][\w.\-]*)?:\s*<([^<>\s]*)>", re.IGNORECASE)
#: A graph given by a variable, relative IRIs (BASE), or CLEAR/DROP of many graphs.
_ANY_GRAPH = re.compile(r"\b(?:GRAPH|WITH)\s*[?$]|\bBASE\b|\b(?:CLEAR|DROP)\s+(?:SILENT\s+)?"
                        r"(?:DEFAULT|NAMED|ALL)\b", re.IGNORECASE)


def iris_named(update: str, prefixes: dict[str, str]) -> set[str] | None:
    """The IRIs a user update writes (``<…>``, or prefixed names with its own or
    ``prefixes``): a superset of the named graphs it can change; None when it can change
    graphs it does not name (a ``DELETE`` without ``GRAPH``, which deletes from every graph
    holding the triple, ``CLEAR DEFAULT``, ``NAMED`` or ``ALL``, a graph in a variable).

    >>> sorted(iris_named("DELETE WHERE { GRAPH ex:g { ?s ?p ?o } }", {"ex": "urn:x:"}))
    ['urn:x:g']
    >>> iris_named("DELETE DATA { <urn:a> <urn:b> 1 }", {}) is None
    True
    """
    masked = mask_literals(update)
    if _ANY_GRAPH.search(masked) or any(_operation(update[s:e], masked[s:e]).default_delete
                                        for s, e in _operations(masked)):
        return None
    prefixes = {**prefixes, **{p or "": iri for p, iri in _DECLARED.findall(update)}}
    return {m.group(1) for m in _IRI.finditer(update)} | {
        prefixes[m.group(1) or ""] + m.group(2).rstrip(".") for m in _PNAME.finditer(masked)
        if (m.group(1) or "") in prefixes}


def _stamp_edits() -> str:
    """Record when the default graph was last edited by hand (in the edits graph, and so in
    the union)."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    triple = (f"<{EDITS_GRAPH}> <{_MODIFIED}> "
              f"\"{now}\"^^<http://www.w3.org/2001/XMLSchema#dateTime>")
    return (f"DELETE WHERE {{ GRAPH <{EDITS_GRAPH}> {{ <{EDITS_GRAPH}> <{_MODIFIED}> ?t }} }} ;\n"
            f"DELETE WHERE {{ <{EDITS_GRAPH}> <{_MODIFIED}> ?t }} ;\n"
            f"INSERT DATA {{ GRAPH <{EDITS_GRAPH}> {{ {triple} }} {triple} }}")


def _operations(masked: str) -> list[tuple[int, int]]:
    """Spans of the operations of an update request (split at ``;`` outside brackets)."""
    spans, depth, start = [], 0, 0
    for i, c in enumerate(masked):
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c == ";" and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(masked)))
    return [(s, e) for s, e in spans if masked[s:e].strip()]


_PROLOGUE = re.compile(r"\s*(?:(?:PREFIX\s+[^\s:]*:\s*<[^>]*>|BASE\s*<[^>]*>)\s*)*",
                       re.IGNORECASE)
_KEYWORD = re.compile(r"[A-Za-z]+")
_GRAPH_KEYWORD = re.compile(r"(?<![\w:\-?$])GRAPH(?![\w:\-])", re.IGNORECASE)


def _operation(text: str, masked: str) -> _Effects:
    """Rewrite one operation and say what it does (``masked``: ``text`` with strings, IRIs
    and comments blanked, same length)."""
    body = _PROLOGUE.match(masked).end()  # type: ignore[union-attr]
    words = _KEYWORD.findall(masked[body:body + 200].upper())
    head = words[0] if words else ""
    effects = _Effects(text)
    if head in ("INSERT", "DELETE") and len(words) > 1 and words[1] == "DATA":
        brace = masked.index("{", body)
        end, pieces = _template(masked, brace)
        if head == "INSERT":
            effects.text = (text[:brace] + _insert_template(text, pieces, into_edits=True)
                            + text[end + 1:])
            effects.inserts = True
            effects.edits = any(kind == "triples" for kind, *_ in pieces)
        else:
            _note_deletes(effects, pieces, with_graph=False)
        return effects
    if head == "DELETE" and len(words) > 1 and words[1] == "WHERE":
        brace = masked.index("{", body)
        _, pieces = _template(masked, brace)
        _note_deletes(effects, pieces, with_graph=False)
        return effects
    if head in ("WITH", "DELETE", "INSERT"):
        return _modify(text, masked, body, effects)
    if head in ("CLEAR", "DROP"):
        target = [w for w in words[1:3] if w != "SILENT"][:1]
        if target == ["DEFAULT"]:
            effects.default_delete = True
        else:  # GRAPH <g>, NAMED, ALL
            effects.named_delete = True
        return effects
    if head in ("ADD", "COPY", "MOVE"):
        rest = [w for w in words[1:] if w != "SILENT"]
        if "TO" in rest and rest[rest.index("TO") + 1:rest.index("TO") + 2] == ["DEFAULT"]:
            raise QueryError(f"{head} … TO DEFAULT is refused: the default graph is the union "
                             "of the named graphs; write into a named graph instead")
        if head == "MOVE" and rest[:1] == ["DEFAULT"]:
            raise QueryError("MOVE DEFAULT is refused: the default graph is the union of the "
                             "named graphs; use COPY DEFAULT TO <graph> to snapshot it")
        target = _last_iri(text, masked)
        if target:
            effects.targets.append(target)
        effects.named_delete = head in ("COPY", "MOVE")
        return effects
    if head == "LOAD":
        if "INTO" not in words:
            effects.text = f"{text.rstrip()} INTO GRAPH <{EDITS_GRAPH}>"
            effects.targets.append(EDITS_GRAPH)
            effects.edits = True
        elif target := _last_iri(text, masked):
            effects.targets.append(target)
        return effects
    return effects  # CREATE, or something the engine will refuse with its own message


def _last_iri(text: str, masked: str) -> str | None:
    """The last IRI written ``<…>`` in an operation (the target of ADD/COPY/MOVE/LOAD)."""
    found = list(re.finditer(r"<[^>]*>", masked))
    return text[found[-1].start() + 1:found[-1].end() - 1] if found else None


def _modify(text: str, masked: str, body: int, effects: _Effects) -> _Effects:
    """``[WITH g] [DELETE {…}] [INSERT {…}] [USING …] WHERE {…}``."""
    with_graph = bool(re.match(r"\s*WITH\b", masked[body:], re.IGNORECASE))
    out, pos, at = [], 0, body
    while m := _TEMPLATE_HEAD.match(masked, at):
        brace = m.end() - 1
        end, pieces = _template(masked, brace)
        if m.group(1).upper() == "INSERT":
            out += [text[pos:brace], _insert_template(text, pieces, into_edits=not with_graph)]
            pos = end + 1
            effects.inserts = True
            effects.edits = effects.edits or (
                not with_graph and any(kind == "triples" for kind, *_ in pieces))
        else:
            _note_deletes(effects, pieces, with_graph=with_graph)
        at = end + 1
    out.append(text[pos:])
    effects.text = "".join(out)
    return effects


_TEMPLATE_HEAD = re.compile(r"\s*(?:WITH\s*(?:<[^>]*>|\S+)\s*)?(DELETE|INSERT)\s*\{",
                            re.IGNORECASE)


def _note_deletes(effects: _Effects, pieces: list[tuple], *, with_graph: bool) -> None:
    for kind, *_ in pieces:
        if kind == "graph" or with_graph:
            effects.named_delete = True
        else:
            effects.default_delete = True


def _template(masked: str, brace: int) -> tuple[int, list[tuple]]:
    """Split the quad template opened at ``brace`` into pieces: ``("triples", start, end)``
    outside ``GRAPH`` blocks and ``("graph", start, open, close)`` for ``GRAPH x { … }``.
    Returns the index of the closing brace and the pieces."""
    pieces: list[tuple] = []
    i, depth, seg = brace + 1, 0, brace + 1
    while i < len(masked):
        c = masked[i]
        if depth == 0 and (m := _GRAPH_KEYWORD.match(masked, i)):
            _add_triples(pieces, masked, seg, i)
            open_ = masked.index("{", m.end())
            close = _matching(masked, open_)
            pieces.append(("graph", i, open_, close))
            i = seg = close + 1
            continue
        if c in "{([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "}":
            if depth == 0:
                _add_triples(pieces, masked, seg, i)
                return i, pieces
            depth -= 1
        i += 1
    raise QueryError("The update has an unclosed '{'")


def _add_triples(pieces: list[tuple], masked: str, start: int, end: int) -> None:
    stripped = masked[start:end].strip().strip(".").strip()
    if stripped:
        while masked[start] in " \t\r\n.":
            start += 1
        pieces.append(("triples", start, end))


def _matching(masked: str, open_: int) -> int:
    depth = 0
    for i in range(open_, len(masked)):
        if masked[i] == "{":
            depth += 1
        elif masked[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise QueryError("The update has an unclosed '{'")


def _insert_template(text: str, pieces: list[tuple], *, into_edits: bool) -> str:
    """An insert template whose triples also go to the scratch graph (so the union gets
    them), with triples outside ``GRAPH`` put into the edits graph unless ``WITH`` names
    their graph."""
    out = ["{ "]
    for kind, start, *rest in pieces:
        if kind == "triples":
            triples = text[start:rest[0]]
            out.append(f"GRAPH <{EDITS_GRAPH}> {{ {triples} }} " if into_edits
                       else f"{triples} . ")
            out.append(f"GRAPH <{_SCRATCH}> {{ {triples} }} ")
        else:
            open_, close = rest
            out.append(f"{text[start:close + 1]} GRAPH <{_SCRATCH}> {{ {text[open_ + 1:close]} }} ")
    out.append("}")
    return "".join(out)
