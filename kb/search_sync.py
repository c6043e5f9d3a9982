"""Keeping the search index (``kb.search_index``) in step with the store.

Where a knowledge base's index lives (``index_path``), opening it and rebuilding it when it
is missing or stale (``open_index``), building it anew (``reindex``), and re-indexing the
graphs each write touched (``follow_writes``, around every write of ``KnowledgeBase``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from kb import union
from kb.engine import run_in_engine_thread
from kb.errors import KbError
from kb.search_index import FILE_NAME, FORMAT, NAMES, SKIPPED_GRAPHS, TEXTS, TYPE, SearchIndex

log = logging.getLogger(__name__)

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
    known = kb.graphs()
    if kb.is_local:  # the engine's iterators stay on its thread: read and write there
        count = run_in_engine_thread(index.replace, graphs, _literals(kb, graphs), known)
    else:
        count = index.replace(graphs, run_in_engine_thread(_remote_literals, kb, graphs), known)
    index.set_meta(dirty="0")
    return count


def _literals(kb: Any, graphs: list[str] | None) -> Iterator[tuple[str, ...]]:
    """(graph, subject, predicate, text or class, lang) of the indexed properties and of
    ``rdf:type`` in ``graphs`` (None: all), streamed from the engine's indexes."""
    store = kb.backend.store
    scopes = [None] if graphs is None else [ox.NamedNode(g) for g in graphs]
    for p in (*NAMES, *TEXTS, TYPE):
        wanted = ox.NamedNode if p == TYPE else ox.Literal
        for g in scopes:
            yield from ((q.graph_name.value, q.subject.value, p, q.object.value,
                         getattr(q.object, "language", None) or "")
                        for q in store.quads_for_pattern(None, ox.NamedNode(p), None, g)
                        if type(q.graph_name) is ox.NamedNode and type(q.subject) is ox.NamedNode
                        and type(q.object) is wanted and q.graph_name.value not in SKIPPED_GRAPHS)


def _remote_literals(kb: Any, graphs: list[str] | None) -> list[tuple[str, ...]]:
    """``_literals`` of a remote store, by one SPARQL query."""
    skipped = ", ".join(f"<{g}>" for g in sorted(SKIPPED_GRAPHS))
    scope = f"FILTER(?g NOT IN ({skipped})) " if graphs is None else (
        "VALUES ?g { " + " ".join(str(ox.NamedNode(g)) for g in graphs) + " } ")
    predicates = " ".join(f"<{p}>" for p in (*NAMES, *TEXTS, TYPE))
    result = kb.backend.query(
        f"SELECT ?g ?s ?p ?o (LANG(?o) AS ?lang) WHERE {{ {scope}VALUES ?p {{ {predicates} }} "
        "GRAPH ?g { ?s ?p ?o } FILTER(isIRI(?s) && (isLiteral(?o) || isIRI(?o) && "
        f"?p = <{TYPE}>)) }}")
    return [(r["g"].value, r["s"].value, r["p"].value, r["o"].value,
             r["lang"].value if r["lang"] is not None else "") for r in result]


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
            if update is None:
                rebuild(kb, index, {g.value for g in touched if isinstance(g, ox.NamedNode)}
                        | {g for g in touched if isinstance(g, str)})
            elif failed:  # an update is all or nothing: it changed nothing
                index.set_meta(dirty="0")
            else:
                rebuild(kb, index, _update_scope(kb, update, known))
        except Exception:  # the write stands; the index is rebuilt when next opened
            log.exception("The search index could not follow a write; it will be rebuilt")
            close_index(kb)


def _update_scope(kb: Any, update: str, before: set[str]) -> set[str] | None:
    """The graphs a SPARQL Update may have changed: those it names that exist before or after
    it, the hand-edits graph, and graphs it created or dropped; None (every graph) when it
    may change graphs it does not name."""
    named = union.iris_named(update, kb.prefixes)
    if named is None:
        return None
    after = set(kb.graphs())
    return (named & (before | after)) | (before ^ after) | ({union.EDITS_GRAPH} & after)


def close_index(kb: Any) -> None:
    """Close ``kb``'s index, if it opened one."""
    index = getattr(kb, "_search_index", None)
    if index is not None:
        kb._search_index = None
        index.close()


__all__ = ["close_index", "follow_writes", "index_path", "open_index", "rebuild", "reindex"]
