"""The search index: SQLite FTS5 with its trigram tokenizer, kept in step with the store.

One row is one literal of the store (of ``NAMES`` and ``TEXTS``, folded by ``fold``), keyed
by its named graph: every write of ``KnowledgeBase`` re-indexes the graphs it touched
(``follow_writes``). It lives in ``kb-search.sqlite`` in an on-disk store's folder, in memory
for an in-memory store, and for a remote store in ``settings.search_index`` or a file per
endpoint in the user's cache folder (built from the store at its first use, then following
this knowledge base's own writes); ``search_index="off"``: none. An index of another format,
marked by an unfinished write, or (embedded stores) missing graphs of the store is rebuilt
when opened; ``reindex`` builds it anew.

This module is the index itself (its tables, what it covers, how it finds); keeping it in
step with the store is ``kb.search_sync``.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any

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
TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(id INTEGER PRIMARY KEY, graph TEXT NOT NULL,
  subject TEXT NOT NULL, predicate TEXT NOT NULL, text TEXT NOT NULL, lang TEXT NOT NULL,
  name TEXT, body TEXT, wide INTEGER NOT NULL);  -- name or body: the folded text
CREATE INDEX IF NOT EXISTS entries_graph ON entries(graph);
CREATE INDEX IF NOT EXISTS entries_name ON entries(name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_wide ON entries(id) WHERE wide;  -- names in CJK scripts
CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject);
CREATE TABLE IF NOT EXISTS types(graph TEXT NOT NULL, subject TEXT NOT NULL, class TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS types_graph ON types(graph);
CREATE INDEX IF NOT EXISTS types_subject ON types(subject);
CREATE VIRTUAL TABLE IF NOT EXISTS names USING fts5(name, content='entries',
  content_rowid='id', tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(body, content='entries',
  content_rowid='id', tokenize='trigram');
"""
#: Of the trigram matches, at most this many names and as many texts are ranked (BM25): a
#: word in tens of thousands of labels costs what a rarer one does.
RANKED = 200


def fold(text: str) -> str:
    """``text`` as the index compares it: NFKD, without combining marks, case-folded, its
    whitespace runs made single spaces.

    >>> fold("  Bioéasy\\u00a0ＢＩＯ ")
    'bioeasy bio'
    """
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c))
                    .casefold().split())


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
        """Put ``rows`` (graph, subject, predicate, text or class, lang) in place of what the
        index held for ``graphs`` (None: every graph), in one transaction; ``known``: the
        store's graphs now; ``rows`` are read in batches (bounded memory). Returns the names
        and texts written."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if graphs is None:
                    db.execute("DELETE FROM entries")
                    db.execute("DELETE FROM types")
                    db.execute("INSERT INTO names(names) VALUES ('delete-all')")
                    db.execute("INSERT INTO texts(texts) VALUES ('delete-all')")
                for g in set(graphs or ()):
                    for table, column in (("names", "name"), ("texts", "body")):
                        db.execute(f"INSERT INTO {table}({table}, rowid, {column}) SELECT "
                                   f"'delete', id, {column} FROM entries WHERE graph = ? AND "
                                   f"{column} IS NOT NULL", (g,))
                    db.execute("DELETE FROM entries WHERE graph = ?", (g,))
                    db.execute("DELETE FROM types WHERE graph = ?", (g,))
                start = n = db.execute("SELECT coalesce(max(id), 0) FROM entries").fetchone()[0]
                rows = iter(rows)
                while batch := list(itertools.islice(rows, 50_000)):
                    entries = [(g, s, p, t, lang, f if p in _NAME_SET else None,
                                None if p in _NAME_SET else f,
                                p in _NAME_SET and any(c >= "\u2e80" for c in f))
                               for g, s, p, t, lang in batch if p != TYPE and (f := fold(t))]
                    db.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   ((n + i, *e) for i, e in enumerate(entries, 1)))
                    db.executemany("INSERT INTO types VALUES (?, ?, ?)",
                                   [(g, s, t) for g, s, p, t, _ in batch if p == TYPE])
                    n += len(entries)
                for table, column in (("names", "name"), ("texts", "body")):
                    db.execute(f"INSERT INTO {table}(rowid, {column}) SELECT id, {column} FROM "
                               f"entries WHERE id > ? AND {column} IS NOT NULL", (start,))
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                    ("graphs", "\n".join(sorted(known))), ("format", FORMAT)])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return n - start

    def find(self, query: str, cap: int) -> list[tuple[Any, ...]]:
        """Entries matching the folded ``query``: (tier, score, id, graph, subject,
        predicate, text, folded, name?); tier 0 is an exact name, 1 a name prefix, 2 a name
        and 3 a text holding every word (by BM25). Words of three characters or more are
        found by their trigrams; a query of one or two characters only as a name's start,
        or inside a name in a CJK script (scanned in the index's own table)."""
        words = query.split()
        quoted = ['"' + w.replace('"', '""') + '"' for w in words if len(w) > 2]
        phrases = " AND ".join(quoted)
        found: dict[int, tuple[int, float]] = {}
        with self._lock:
            db = self._db
            for (i,) in db.execute("SELECT id FROM entries WHERE name = ? LIMIT ?", (query, cap)):
                found[i] = (0, 0.0)
            for i, n in db.execute("SELECT id, length(name) FROM entries WHERE name > ? AND "
                                   "name < ? LIMIT ?", (query, query + "\U0010ffff", cap)):
                found.setdefault(i, (1, n))
            rows = []
            for tier, table, column in ((2, "names", "name"), (3, "texts", "body")):
                if not phrases:  # names (tier 2), then texts (tier 3)
                    break
                # BM25 reads every match of each word: when a word is in more than RANKED
                # entries, the first RANKED matches are ranked shortest first instead
                common = any(len(db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? "
                                            "LIMIT ?", (w, RANKED + 1)).fetchall()) > RANKED
                             for w in quoted)
                score = f"length({column})" if common else f"bm25({table})"
                rows += db.execute(f"SELECT {tier}, {score}, rowid FROM {table} WHERE {table} "
                                   "MATCH ? LIMIT ?", (phrases, RANKED)).fetchall()
            if not phrases and any(c >= "\u2e80" for c in query):
                rows = db.execute("SELECT 2, length(name), id FROM entries WHERE wide AND "
                                  "instr(name, ?) > 0 LIMIT ?", (query, RANKED)).fetchall()
            for tier, score, i in sorted(rows)[:cap]:
                found.setdefault(i, (tier, score))
            marks = ",".join("?" * len(found))
            details = {r[0]: r for r in db.execute(
                "SELECT id, graph, subject, predicate, text, coalesce(name, body), "
                f"name IS NOT NULL FROM entries WHERE id IN ({marks})", list(found))}
        short = [w for w in words if len(w) < 3]
        return [(*found[i], *d) for i, d in details.items() if all(w in d[5] for w in short)]

    def describe(self, subjects: list[str]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """The names (subject, predicate, text, lang) and classes (subject, class) of
        ``subjects``."""
        marks = ",".join("?" * len(subjects))
        with self._lock:
            names = self._db.execute(f"SELECT subject, predicate, text, lang FROM entries WHERE "
                                     f"subject IN ({marks}) AND name IS NOT NULL",
                                     subjects).fetchall()
            types = self._db.execute(f"SELECT DISTINCT subject, class FROM types WHERE subject "
                                     f"IN ({marks}) ORDER BY class", subjects).fetchall()
        return names, types

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM entries").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_NAME_SET = frozenset(NAMES)


__all__ = ["FILE_NAME", "FORMAT", "NAMES", "SKIPPED_GRAPHS", "TEXTS", "TYPE", "SearchIndex",
           "fold"]
