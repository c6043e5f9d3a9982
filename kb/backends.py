"""Where the quads live: Oxigraph (on disk or in memory), here, or a remote SPARQL 1.1
endpoint (``kb.remote``).

Only ``kb.store`` constructs a backend. Each backend offers the same small set of
operations, all taking and returning pyoxigraph values:

* ``query(text, default_graph=, named_graphs=, prefixes=)`` -> solutions, boolean or triples
* ``update(text, prefixes=)``, atomic (``prefixes``: declared where the text does not)
* ``write(quads, before=)``: run the update ``before`` (if any), then add the quads; a failure
  while reading ``quads`` adds nothing
* ``bulk_load(source, format, graph=, base_iri=, before=)``: the same for a triple file, parsed
  by the engine (blank nodes renamed per load); returns the number of triples it read
  (duplicates counted), or None where it does not count them
* ``dump(output, format, graph)``, ``named_graphs()``, ``close()``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb import union
from kb.errors import QueryError, StoreError
from kb.twice import TwiceReader

OxResult = object  # ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | RemoteTriples


class OxigraphBackend:
    """An Oxigraph store: on disk when ``path`` is given, in memory otherwise.

    ``store``, the pyoxigraph ``Store``, is part of this backend's interface for the modules
    that must read the engine itself, on the engine thread and under the knowledge base's
    write lock: ``kb.write_checks`` (overlays of a write being checked) and ``kb.workers``
    (snapshots). Everything that writes goes through this class's methods (``kb.union``).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        try:
            if path is None:
                self.store = ox.Store()
            else:
                path.mkdir(parents=True, exist_ok=True)
                self.store = ox.Store(str(path))
        except OSError as e:
            hint = (
                " Another process (a running `kb serve`?) holds this store; stop it or use "
                "its HTTP endpoint." if "lock" in str(e).lower() else ""
            )
            raise StoreError(f"Cannot open the store at {path}: {e}.{hint}") from e

    #: The engine's default graph is the set union of the named graphs, kept by every write.
    keeps_union = True

    @property
    def location(self) -> str:
        return "memory" if self.path is None else str(self.path)

    def query(
        self,
        text: str,
        *,
        default_graph: list[str] | None = None,
        named_graphs: list[str] | None = None,
        prefixes: Mapping[str, str] | None = None,
    ) -> OxResult:
        return query_store(self.store, text, default_graph=default_graph,
                           named_graphs=named_graphs, prefixes=prefixes)

    # Writes keep the engine's default graph equal to the set union of the named graphs
    # (see kb.union): in one transaction where the change is small, and with the bulk
    # loader (as atomic as before: not at all) where it is large.

    def update(self, text: str, *, prefixes: Mapping[str, str] | None = None) -> None:
        # Declared in the text (on its first line): the rewrite must see every prefix.
        text = declare_prefixes_of(text, prefixes)
        kept = keep_union(text)
        try:
            self.store.update(kept)
        except SyntaxError:
            check_syntax(text)
            raise

    def write(self, quads: Iterable[ox.Quad], *, before: str | None = None) -> None:
        quads = list(quads)
        replaced = union.graphs_named(before) if before else []
        if not quads and not before:
            return
        if len(quads) <= _ATOMIC_WRITE_QUADS:
            self.store.update(_change(before, replaced, quads))
            return
        if before:
            self.store.update(_change(before, replaced, []))
        default = ox.DefaultGraph()
        with self._bulk():
            self.store.bulk_extend(item for q in quads for item in (
                q, ox.Quad(q.subject, q.predicate, q.object, default)))

    def bulk_load(self, source: object, format: ox.RdfFormat, *, graph: str, base_iri: str,
                  before: str | None = None) -> int | None:
        if before:
            self.store.update(_change(before, union.graphs_named(before), []))
        target = ox.NamedNode(graph)
        with self._bulk():
            if format == ox.RdfFormat.N_TRIPLES:
                # One pass of the engine's loader over each line twice, as N-Quads: into
                # the graph and into the union, with the same blank nodes (one load).
                reader = TwiceReader(source, target)  # type: ignore[arg-type]
                try:
                    self.store.bulk_load(reader, ox.RdfFormat.N_QUADS, base_iri=base_iri)
                except SyntaxError as e:
                    raise reader.located(e) from None
                return reader.statements
            self.store.bulk_load(source, format, to_graph=target, base_iri=base_iri)
            self._copy_to_union(target)
            return None

    @contextmanager
    def _bulk(self) -> Iterator[None]:
        """Around the bulk loader's steps, which are not one transaction: a marker file in
        the store's folder says the union may be incomplete, so that a store killed in the
        middle rebuilds it when it is opened again."""
        marker = None if self.path is None else self.path / _UNION_MARKER
        if marker is not None:
            marker.touch()
        yield
        if marker is not None:
            self.store.flush()
            marker.unlink()

    def _copy_to_union(self, *graphs: ox.NamedNode) -> None:
        default = ox.DefaultGraph()
        self.store.bulk_extend(
            ox.Quad(q.subject, q.predicate, q.object, default)
            for g in graphs for q in self.store.quads_for_pattern(None, None, None, g)
        )

    def ensure_union(self) -> bool:
        """Rebuild the union where it may be wrong: a store written before the union was
        kept (its default graph empty, its named graphs not), or killed during a bulk load.
        True if it was rebuilt."""
        store = self.store
        marker = None if self.path is None else self.path / _UNION_MARKER
        if not (marker is not None and marker.exists()):
            if next(iter(store.quads_for_pattern(None, None, None, ox.DefaultGraph())), None):
                return False
            if next(iter(store.quads_for_pattern(None, None, None, None)), None) is None:
                return False
        store.clear_graph(ox.DefaultGraph())
        with self._bulk():
            self._copy_to_union(*(g for g in store.named_graphs()
                                  if isinstance(g, ox.NamedNode)))
        return True

    def dump(self, output: IO[bytes] | None, format: ox.RdfFormat, graph: str | None) -> bytes:
        if graph is not None:
            return self.store.dump(output, format=format, from_graph=ox.NamedNode(graph)) or b""
        # The dataset is its named graphs: the default graph is their union, derived.
        quads = (q for g in self.store.named_graphs()
                 for q in self.store.quads_for_pattern(None, None, None, g))
        return ox.serialize(quads, output, format=format) or b""

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode))

    def flush(self) -> None:
        if self.path is not None:
            self.store.flush()

    def close(self) -> None:
        if self.path is not None:
            self.store.flush()
        del self.store


#: In an on-disk store's folder while a bulk write runs (see ``OxigraphBackend._bulk``).
_UNION_MARKER = "kb-union-incomplete"

#: Writes up to this many quads are one SPARQL Update (one transaction, all or nothing);
#: larger ones go through the bulk loader.
_ATOMIC_WRITE_QUADS = 50_000


def _change(before: str | None, replaced: list[str], quads: list[ox.Quad]) -> str:
    """One update: ``before`` (a change confined to the ``replaced`` graphs), then the
    ``quads``, with the union kept around them."""
    steps = []
    if replaced:
        steps.append(union.drop_sole(replaced))
    if before:
        steps.append(before)
    if quads:
        blocks: dict[str, list[ox.Triple]] = {}
        for q in quads:
            name = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else ""
            blocks.setdefault(name, []).append(q.triple)
        body = []
        for name, triples in blocks.items():
            text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES).decode()
            body.append(f"GRAPH <{name}> {{\n{text}}}" if name else text)
        every = [t for triples in blocks.values() for t in triples]
        body.append(ox.serialize(every, format=ox.RdfFormat.N_TRIPLES).decode())
        steps.append("INSERT DATA {\n" + "\n".join(body) + "\n}")
    if replaced and not DROPS_ONLY.fullmatch(before or ""):
        steps.append(union.add_graphs(replaced))  # what the change kept of those graphs
    return " ;\n".join(steps)


DROPS_ONLY = re.compile(r"(\s*DROP\s+(SILENT\s+)?GRAPH\s*<[^<>]*>\s*;?)+\s*", re.IGNORECASE)


def rewritten(update: str, prefixes: Mapping[str, str] | None = None) -> str:
    """``update`` as ``OxigraphBackend.update`` runs it: prefixes declared, union kept."""
    return keep_union(declare_prefixes_of(update, prefixes))


def keep_union(update: str) -> str:
    """``update`` rewritten to keep the union (``kb.union``)."""
    try:
        return union.rewrite_update(update)
    except QueryError:
        check_syntax(update)
        raise


def check_syntax(update: str) -> None:
    """Raise the engine's syntax error for the user's own text, if it has one, so that its
    line and column are the user's and not those of the union's rewrite of it (the text
    runs on an empty, throw-away store)."""
    ox.Store().update(update)


def declare_prefixes_of(text: str, prefixes: Mapping[str, str] | None) -> str:
    if not prefixes:
        return text
    from kb.namespaces import declare_prefixes  # rdflib: not at import (the query workers)

    return declare_prefixes(text, prefixes)


def query_store(store: ox.Store, text: str, *, default_graph: list[str] | None = None,
                named_graphs: list[str] | None = None,
                prefixes: Mapping[str, str] | None = None) -> OxResult:
    """Query a pyoxigraph store with the knowledge base's dataset rules: the default graph
    is the store's own, which the knowledge base keeps equal to the set union of the named
    graphs (``kb.union``), unless ``default_graph`` lists graphs. A merge of several graphs
    is a set too: their triples are merged into a scratch store first (the engine's own
    merge counts a triple once per graph that holds it). ``prefixes`` are declared for a
    query that does not declare them itself."""
    kwargs: dict[str, object] = {"prefixes": dict(prefixes)} if prefixes else {}
    if default_graph is not None and len(default_graph) > 1:
        merged = _merge(store, default_graph, named_graphs)
        return merged.query(text, default_graph=ox.DefaultGraph(), **kwargs)
    if default_graph is not None:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graph]
    if named_graphs is not None:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
    return store.query(text, **kwargs)


def _merge(store: ox.Store, default_graph: list[str],
           named_graphs: list[str] | None) -> ox.Store:
    """An in-memory store whose default graph is the RDF merge of ``default_graph`` and
    whose named graphs are ``named_graphs`` (none when not given, as the protocol says)."""
    merged = ox.Store()
    default = ox.DefaultGraph()
    merged.bulk_extend(
        ox.Quad(q.subject, q.predicate, q.object, default)
        for g in dict.fromkeys(default_graph)
        for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g))
    )
    for g in named_graphs or []:
        merged.bulk_extend(store.quads_for_pattern(None, None, None, ox.NamedNode(g)))
    return merged
