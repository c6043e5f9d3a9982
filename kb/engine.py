"""The engine's primitives: a thread with a deep stack to run pyoxigraph on, and its answers
(serialized results, rows, booleans, graphs). Everything that calls the engine imports them
from here; ``kb.store`` builds the knowledge base on top of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pyoxigraph as ox
from rdflib import Graph
from rdflib.term import Node

from kb.errors import InvalidParameter, QueryError
from kb.formats import rdf_format, results_format
from kb.terms import to_rdflib

T = TypeVar("T")

#: pyoxigraph runs on the calling thread's stack and has no depth limit of its own: a few
#: thousand nested brackets in a query overflow an 8 MB stack and kill the process. Every
#: call into it runs on a thread with this much stack (only touched pages are committed).
ENGINE_STACK_BYTES = 256 * 1024 * 1024

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def run_in_engine_thread(fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Run ``fn`` on a worker thread with a large stack and return its result."""
    global _executor
    with _executor_lock:
        previous = threading.stack_size(ENGINE_STACK_BYTES)
        try:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="kb-engine")
            future = _executor.submit(fn, *args, **kwargs)
        finally:
            threading.stack_size(previous)
    return future.result()


Row = dict[str, Node]

FormatChoice = str | ox.QueryResultsFormat | ox.RdfFormat | Callable[[str], object] | None


def result_kind(raw: object) -> str:
    """``select``, ``ask`` or ``graph`` for an engine result."""
    if isinstance(raw, ox.QueryBoolean):
        return "ask"
    if isinstance(raw, ox.QuerySolutions):
        return "select"
    return "graph"


def _resolve_format(kind: str, choice: FormatChoice) -> ox.QueryResultsFormat | ox.RdfFormat:
    if callable(choice) and not isinstance(choice, ox.QueryResultsFormat | ox.RdfFormat):
        choice = choice(kind)  # type: ignore[assignment]
    if choice is None:
        return ox.RdfFormat.N_TRIPLES if kind == "graph" else ox.QueryResultsFormat.JSON
    if isinstance(choice, ox.QueryResultsFormat | ox.RdfFormat):
        return choice
    return rdf_format(str(choice)) if kind == "graph" else results_format(str(choice))


def checked_format(choice: FormatChoice) -> Callable[[str], ox.QueryResultsFormat | ox.RdfFormat]:
    """The engine format for each result kind, refusing one made for the other kinds."""
    def choose(kind: str) -> ox.QueryResultsFormat | ox.RdfFormat:
        fmt = _resolve_format(kind, choice)
        if kind == "graph" and not isinstance(fmt, ox.RdfFormat):
            raise InvalidParameter("format", f"{fmt.name} is for SELECT/ASK results")
        if kind != "graph" and not isinstance(fmt, ox.QueryResultsFormat):
            raise InvalidParameter("format", f"{fmt.name} is for CONSTRUCT/DESCRIBE")
        return fmt
    return choose


@dataclass(frozen=True)
class Result:
    """A query answer serialized by the engine: ``kind`` is select, ask or graph."""

    kind: str
    format: ox.QueryResultsFormat | ox.RdfFormat
    data: bytes

    @property
    def media_type(self) -> str:
        return self.format.media_type


def parse_result(result: Result) -> object:
    """A serialized answer read back as the engine's objects (what ``run`` hands ``consume``)."""
    if result.kind == "graph":
        return ox.parse(result.data, format=result.format)  # type: ignore[arg-type]
    return ox.parse_query_results(result.data, format=result.format)  # type: ignore[arg-type]


def solution_rows(raw: object) -> list[Row]:
    if not isinstance(raw, ox.QuerySolutions):
        raise QueryError(f"a SELECT query is needed here; this is {result_kind(raw)}")
    names = [v.value for v in raw.variables]
    return [
        {name: to_rdflib(value) for name in names if (value := solution[name]) is not None}
        for solution in raw
    ]


def result_boolean(raw: object) -> bool:
    if not isinstance(raw, ox.QueryBoolean):
        raise QueryError(f"an ASK query is needed here; this is {result_kind(raw)}")
    return bool(raw)


def result_graph(raw: object) -> Graph:
    """CONSTRUCT/DESCRIBE results as an rdflib Graph (a ``consume`` for ``run``)."""
    if result_kind(raw) != "graph":
        raise QueryError(f"a CONSTRUCT or DESCRIBE query is needed; this is {result_kind(raw)}")
    g = Graph()
    for t in raw:  # type: ignore[attr-defined]
        g.add((to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)))  # type: ignore[arg-type]
    return g


__all__ = ["ENGINE_STACK_BYTES", "FormatChoice", "Result", "Row", "checked_format",
           "parse_result", "result_boolean", "result_graph", "result_kind",
           "run_in_engine_thread", "solution_rows"]
