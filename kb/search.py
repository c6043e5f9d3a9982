"""Full-text search over names, alternative names, source spellings, quotations and evidence.

>>> from kb import KnowledgeBase
>>> kb = KnowledgeBase.open("memory")
>>> kb.update('INSERT DATA { GRAPH <urn:g> { <urn:p> '
...           '<http://www.w3.org/2000/01/rdf-schema#label> "Hua Chúnying", "华春莹"@zh } }')
>>> [(h.iri, h.match, h.kind) for h in search(kb, "chunying")]
[('urn:p', 'Hua Chúnying', 'name')]
>>> [h.match for h in search(kb, "春莹")]
['华春莹']
>>> kb.close()

The index is SQLite FTS5 with its trigram tokenizer, over text folded to lower case without
accents (Unicode NFKD, combining marks dropped): "Bioeasy", "BIOEASY" and "Bioéasy" find
the same entries, and Chinese text is found by any three of its characters. A query shorter
than three characters (a Chinese given name such as 春莹) cannot use trigrams: it scans the
names in the index's own table, never the store.

One row of the index is one literal of the store, keyed by its named graph, so a write
re-indexes the graphs it touched (``follow_writes``, around every write of
``KnowledgeBase``). The index lives in ``kb-search.sqlite`` in an on-disk store's folder, in
memory for an in-memory store, and for a remote store in ``settings.search_index`` or else a
file per endpoint in the user's cache folder; ``search_index="off"`` keeps none. An index of
another format, left marked by a write that did not finish, or (on disk) missing graphs of
the store is rebuilt when it is opened; ``reindex`` rebuilds it on demand.

Ranking: an exact name first, then names that start with the query, then the rest by BM25
(a name weighs ten times a text); one hit per entity, with its class and source graphs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kb import union
from kb.engine import run_in_engine_thread
from kb.errors import InvalidParameter, KbError
from kb.safety import mask_literals

log = logging.getLogger(__name__)

_RDFS = "http://www.w3.org/2000/01/rdf-schema#"
_SKOS = "http://www.w3.org/2004/02/skos/core#"
_SCHEMA = "https://schema.org/"
_DCT = "http://purl.org/dc/terms/"
_MS = "https://w3id.org/medsupply-kb/ontology#"
_GRAPHS = "https://w3id.org/medsupply-kb/graph/"
_INFERRED = _GRAPHS + "inferred"
#: Not indexed: what the reasoner derived (labels again, under their super-properties) and
#: the records of loads (file names), which are no source's words.
SKIPPED_GRAPHS = frozenset({_INFERRED, _GRAPHS + "loads"})

#: Names: labels, alternative and hidden names, a source's spelling, codes. The first ones
#: are preferred, in this order, as the label a hit is shown with.
NAMES = (_RDFS + "label", _SKOS + "prefLabel", _SCHEMA + "name", _DCT + "title",
         _SKOS + "altLabel", _SCHEMA + "alternateName", _SKOS + "hiddenLabel",
         "http://xmlns.com/foaf/0.1/name", _MS + "asPrinted", _MS + "correctedForm",
         _SKOS + "notation", _MS + "iso3166Alpha2", _MS + "iso3166Alpha3")
#: Texts: a statement's words, a source's evidence, reasons, requirements, notes.
TEXTS = (_MS + "quotation", _MS + "evidence", _MS + "sourceSentence", _MS + "reason",
         _MS + "requirement", _MS + "datePrinted", _RDFS + "comment", _SKOS + "definition",
         _SKOS + "scopeNote", _DCT + "description", _SCHEMA + "description", _SCHEMA + "text",
         _DCT + "bibliographicCitation")

#: Bumped when the tables or what they cover change: an index of another format is rebuilt.
FORMAT = "1"
FILE_NAME = "kb-search.sqlite"
MAX_QUERY = 200  # characters
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(id INTEGER PRIMARY KEY, graph TEXT NOT NULL,
  subject TEXT NOT NULL, predicate TEXT NOT NULL, text TEXT NOT NULL, lang TEXT NOT NULL,
  name TEXT, body TEXT);  -- name or body: the folded text (one of the two)
CREATE INDEX IF NOT EXISTS entries_graph ON entries(graph);
CREATE INDEX IF NOT EXISTS entries_name ON entries(name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(name, body, content='entries',
  content_rowid='id', tokenize='trigram');
"""


def fold(text: str) -> str:
    """``text`` as the index compares it: NFKD, without combining marks, case-folded, its
    whitespace runs made single spaces.

    >>> fold("  Bioéasy\\u00a0ＢＩＯ ")
    'bioeasy bio'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c))
                    .casefold().split())


@dataclass(frozen=True)
class Hit:
    """One entity found: its IRI, label, classes (asserted), the graphs whose text matched,
    the best-matching text and its property, and ``kind``: ``exact name``, ``name
    prefix``, ``name`` or ``text``."""

    iri: str
    label: str
    classes: list[str]
    graphs: list[str]
    match: str
    property: str
    kind: str


class SearchIndex:
    """The SQLite index: one connection, shared by threads under a lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA_SQL)

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, **values: str) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def replace(self, graphs: Iterable[str] | None, rows: Iterable[tuple[str, ...]],
                known: Iterable[str]) -> int:
        """Put ``rows`` (graph, subject, predicate, text, lang) in place of what the index
        held for ``graphs`` (None: every graph), in one transaction; ``known``: the store's
        graphs now. Returns the rows written."""
        entries = [(g, s, p, t, lang, *((f, None) if p in _NAME_SET else (None, f)))
                   for g, s, p, t, lang in rows if (f := fold(t))]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if graphs is None:
                    db.execute("DELETE FROM entries")
                    db.execute("INSERT INTO fts(fts) VALUES ('delete-all')")
                else:
                    for g in set(graphs):
                        db.execute("INSERT INTO fts(fts, rowid, name, body) SELECT 'delete', "
                                   "id, name, body FROM entries WHERE graph = ?", (g,))
                        db.execute("DELETE FROM entries WHERE graph = ?", (g,))
                start = db.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()[0]
                db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               ((start + i, *e) for i, e in enumerate(entries, 1)))
                db.execute("INSERT INTO fts(rowid, name, body) SELECT id, name, body FROM "
                           "entries WHERE id > ?", (start,))
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                    ("graphs", "\n".join(sorted(known))), ("format", FORMAT)])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(entries)

    def find(self, query: str, cap: int) -> list[tuple[Any, ...]]:
        """Entries matching the folded ``query``: (tier, score, id, graph, subject,
        predicate, text, name?) with tier 0 an exact name, 1 a name prefix, 2 the rest."""
        words = query.split()
        long_words = [w for w in words if len(w) >= 3]
        found: dict[int, tuple[int, float]] = {}
        with self._lock:
            db = self._db
            for (i,) in db.execute("SELECT id FROM entries WHERE name = ? LIMIT ?", (query, cap)):
                found[i] = (0, 0.0)
            for i, n in db.execute("SELECT id, length(name) FROM entries WHERE name > ? AND "
                                   "name < ? LIMIT ?", (query, query + "\U0010ffff", cap)):
                found.setdefault(i, (1, n))
            if long_words:  # trigrams: every word of three characters or more, anywhere
                match = " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)
                rows = db.execute("SELECT rowid, bm25(fts, 10.0, 1.0) FROM fts WHERE fts "
                                  "MATCH ? ORDER BY rank LIMIT ?", (match, cap)).fetchall()
            else:  # one or two characters: the names only, scanned in the index's table
                rows = db.execute("SELECT id, length(name) FROM entries WHERE name IS NOT NULL "
                                  "AND instr(name, ?) > 0 ORDER BY length(name) LIMIT ?",
                                  (query, cap)).fetchall()
            for i, score in rows:
                found.setdefault(i, (2, score))
            marks = ",".join("?" * len(found))
            details = {r[0]: r for r in db.execute(
                "SELECT id, graph, subject, predicate, text, coalesce(name, body), "
                f"name IS NOT NULL FROM entries WHERE id IN ({marks})", list(found))}
        short = [w for w in words if len(w) < 3]
        return [(*found[i], *d) for i, d in details.items()
                if all(w in d[5] for w in short)]

    def names(self, subjects: list[str]) -> list[tuple[str, str, str, str]]:
        """(subject, predicate, text, lang) of the names of ``subjects``."""
        marks = ",".join("?" * len(subjects))
        with self._lock:
            return self._db.execute(f"SELECT subject, predicate, text, lang FROM entries WHERE "
                                    f"subject IN ({marks}) AND name IS NOT NULL",
                                    subjects).fetchall()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM entries").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_NAME_SET = frozenset(NAMES)


def search(kb: Any, text: str, *, limit: int = 20) -> list[Hit]:
    """The entities whose names or texts match ``text`` (case and accents ignored), best
    first: an exact name, then a name starting with ``text``, then by BM25.

    Raises:
        InvalidParameter: ``text`` is longer than 200 characters, or ``limit`` is not 1-500.
        KbError: the knowledge base keeps no search index (``search_index="off"``).
    """
    if len(text) > MAX_QUERY:
        raise InvalidParameter("q", f"the search text has {len(text)} characters; "
                               f"at most {MAX_QUERY}")
    if not 1 <= limit <= 500:
        raise InvalidParameter("limit", f"{limit} is not between 1 and 500")
    query = fold(text)
    if not query:
        return []
    index = open_index(kb, create=True)
    if index is None:
        raise KbError("This knowledge base keeps no search index (KB_SEARCH_INDEX=off)")
    best: dict[str, tuple[Any, ...]] = {}
    graphs: dict[str, set[str]] = {}
    for entry in sorted(index.find(query, max(200, limit * 10))):
        tier, _, _, graph, subject, _, _, folded, is_name = entry
        if tier == 2 and is_name and query in folded:
            entry = (1.5, *entry[1:])  # a name holding the whole query: before other names
        best.setdefault(subject, entry)
        graphs.setdefault(subject, set()).add(graph)
    chosen = sorted(best.values())[:limit]
    subjects = [e[4] for e in chosen]
    if not subjects:
        return []
    labels = _labels(index.names(subjects))
    classes = _classes(kb, subjects)
    kinds = {0: "exact name", 1: "name prefix"}
    return [Hit(s, labels.get(s, s), classes.get(s, []), sorted(graphs[s]), text_, p,
                kinds.get(tier, "name" if is_name else "text"))
            for tier, _, _, _, s, p, text_, _, is_name in chosen]


def _labels(names: list[tuple[str, str, str, str]]) -> dict[str, str]:
    """The label each subject is shown with: the first of ``NAMES`` it has, English first."""
    order = {p: i for i, p in enumerate(NAMES)}
    best: dict[str, tuple[int, int, str]] = {}
    for subject, predicate, text, lang in names:
        key = (order[predicate], 0 if lang in ("en", "") else 1, text)
        if subject not in best or key < best[subject]:
            best[subject] = key
    return {s: key[2] for s, key in best.items()}


def _classes(kb: Any, subjects: list[str]) -> dict[str, list[str]]:
    """The asserted classes of ``subjects`` (not those the reasoner inferred)."""
    values = " ".join(str(ox.NamedNode(s)) for s in subjects)
    rows = _select(kb, f"SELECT DISTINCT ?s ?c WHERE {{ VALUES ?s {{ {values} }} GRAPH ?g "
                       f"{{ ?s a ?c }} FILTER(?g != <{_INFERRED}> && isIRI(?c)) }}")
    found: dict[str, list[str]] = {}
    for s, c in sorted(rows):
        found.setdefault(s, []).append(c)
    return found


def _select(kb: Any, sparql: str) -> list[tuple[str, ...]]:
    """The rows of the knowledge base's own query (no user text in it), as string tuples."""
    def job() -> list[tuple[str, ...]]:
        result = kb.backend.query(sparql)
        names = [v.value for v in result.variables]
        return [tuple(row[n].value for n in names) for row in result]  # type: ignore[union-attr]
    return run_in_engine_thread(job)


# --- keeping the index in step with the store -----------------------------------------------

_opening = threading.Lock()


def index_path(kb: Any) -> str | None:
    """Where ``kb``'s index lives: a file, ``:memory:``, or None (``search_index="off"``)."""
    setting = getattr(kb.settings, "search_index", None)
    if setting == "off":
        return None
    if setting:
        return setting
    if kb.is_local:
        return ":memory:" if kb.backend.path is None else str(kb.backend.path / FILE_NAME)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = hashlib.sha256(kb.backend.location.encode()).hexdigest()[:16]
    return str(cache / "medsupply-kb" / f"search-{name}.sqlite")


def open_index(kb: Any, *, create: bool) -> SearchIndex | None:
    """``kb``'s index, opened (and built or rebuilt when missing or stale) on first use; None
    when it keeps none, or (``create`` false) a remote store's index does not exist yet."""
    index = getattr(kb, "_search_index", None)
    if index is not None:
        return index
    with _opening:
        if (index := getattr(kb, "_search_index", None)) is not None:
            return index
        path = index_path(kb)
        if path is None or (not create and not kb.is_local and not Path(path).exists()):
            return None
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        index = SearchIndex(path)
        if _stale(kb, index):
            if index.meta("format") is not None:
                log.warning("Rebuilding the search index of %s (%s)", kb.backend.location,
                            "unfinished write" if index.meta("dirty") == "1" else "stale")
            index.set_meta(dirty="1")
            rebuild(kb, index)
        kb._search_index = index
        return index


def _stale(kb: Any, index: SearchIndex) -> bool:
    """An index of another format, marked by a write that did not finish, or (embedded
    stores) not covering the same graphs as the store."""
    if index.meta("format") != FORMAT or index.meta("dirty") == "1":
        return True
    return kb.is_local and index.meta("graphs") != "\n".join(kb.graphs())


def rebuild(kb: Any, index: SearchIndex | None = None, graphs: Iterable[str] | None = None
            ) -> int:
    """Re-index ``graphs`` (None: all) from the store; returns the rows indexed."""
    index = index or open_index(kb, create=True)
    if index is None:
        raise KbError("This knowledge base keeps no search index (KB_SEARCH_INDEX=off)")
    graphs = None if graphs is None else sorted(set(graphs) - SKIPPED_GRAPHS)
    if graphs == []:
        index.set_meta(graphs="\n".join(kb.graphs()), dirty="0")
        return 0
    skipped = ", ".join(f"<{g}>" for g in sorted(SKIPPED_GRAPHS))
    scope = f"FILTER(?g NOT IN ({skipped})) " if graphs is None else (
        "VALUES ?g { " + " ".join(str(ox.NamedNode(g)) for g in graphs) + " } ")
    predicates = " ".join(f"<{p}>" for p in NAMES + TEXTS)
    rows = _select(kb, f"SELECT ?g ?s ?p ?o (LANG(?o) AS ?lang) WHERE {{ {scope}VALUES ?p "
                       f"{{ {predicates} }} GRAPH ?g {{ ?s ?p ?o }} "
                       "FILTER(isIRI(?s) && isLiteral(?o)) }")
    count = index.replace(graphs, rows, kb.graphs())
    index.set_meta(dirty="0")
    return count


def reindex(kb: Any) -> int:
    """Build ``kb``'s index anew from the store (``kb search --reindex``); the rows indexed.

    Raises:
        KbError: the knowledge base keeps no search index (``search_index="off"``).
    """
    close_index(kb)
    path = index_path(kb)
    if path is not None and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
    index = open_index(kb, create=True)
    if index is None:
        raise KbError("This knowledge base keeps no search index (KB_SEARCH_INDEX=off)")
    return index.count()


@contextmanager
def follow_writes(kb: Any, *, graphs: Iterable[str] = (), before: str | None = None,
                  update: str | None = None
                  ) -> Iterator[Callable[[Iterable[ox.Quad]], Iterator[ox.Quad]]]:
    """Around one write of ``kb`` (under its write lock): afterwards, re-index the graphs it
    touched: ``graphs``, those ``before`` names, those of the quads passed through the
    function this yields, and for an ``update`` those it names (all when it may change
    graphs it does not name). The index is marked while the write runs, so that a process
    killed in between leaves it to be rebuilt. Never raises: an index that could not follow
    stays marked, and is rebuilt when next opened."""
    index = open_index(kb, create=kb.is_local)
    if index is None:
        yield lambda quads: iter(quads)
        return
    touched = set(graphs) | set(union.graphs_named(before) if before else ())
    known = set(kb.graphs()) if update is not None else set()
    index.set_meta(dirty="1")

    def noting(quads: Iterable[ox.Quad]) -> Iterator[ox.Quad]:
        for q in quads:
            touched.add(q.graph_name)
            yield q

    failed = True
    try:
        yield noting
        failed = False
    finally:
        try:
            if update is not None:
                scope = None if failed else _update_scope(kb, update, known)
                if failed:  # an update is all or nothing: it changed nothing
                    index.set_meta(dirty="0")
                else:
                    rebuild(kb, index, scope)
            else:
                rebuild(kb, index, {g.value if isinstance(g, ox.NamedNode) else g
                                    for g in touched if not isinstance(g, ox.DefaultGraph)})
        except Exception:  # the write stands; the index is rebuilt when next opened
            log.exception("The search index could not follow a write; it will be rebuilt")
            kb._search_index = None
            index.close()


_IRI = re.compile(r"<([^<>\s]*)>")
_PNAME = re.compile(r"(?<![\w?$])([A-Za-z][\w.\-]*)?:([\w\-]+)")
_DECLARED = re.compile(r"PREFIX\s+([A-Za-z][\w.\-]*)?:\s*<([^<>\s]*)>", re.IGNORECASE)
_ANY_GRAPH = re.compile(r"\b(?:GRAPH|WITH)\s*[?$]|\b(?:CLEAR|DROP)\s+(?:SILENT\s+)?"
                        r"(?:DEFAULT|NAMED|ALL)\b", re.IGNORECASE)


def _update_scope(kb: Any, update: str, before: set[str]) -> set[str] | None:
    """The graphs a SPARQL Update may have changed: those it names (as IRIs or prefixed
    names) that exist before or after it, the hand-edits graph, and graphs it created or
    dropped; None (every graph) when it may change graphs it does not name."""
    masked = mask_literals(update)
    if _ANY_GRAPH.search(masked) or union.deletes_from_union(update):
        return None
    after = set(kb.graphs())
    prefixes = {**kb.prefixes, **{p or "": iri for p, iri in _DECLARED.findall(update)}}
    named = {m.group(1) for m in _IRI.finditer(update)}
    named |= {prefixes[m.group(1) or ""] + m.group(2) for m in _PNAME.finditer(masked)
              if (m.group(1) or "") in prefixes}
    return (named & (before | after)) | (before ^ after) | ({union.EDITS_GRAPH} & after)


def close_index(kb: Any) -> None:
    """Close ``kb``'s index, if it opened one."""
    index = getattr(kb, "_search_index", None)
    if index is not None:
        kb._search_index = None
        index.close()


__all__ = ["NAMES", "TEXTS", "Hit", "SearchIndex", "fold", "follow_writes", "open_index",
           "reindex", "search"]
