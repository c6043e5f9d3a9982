"""Writes bounded in time and memory: what may run away runs first in a process that can be
killed (``KB_UPDATE_TIMEOUT``, ``KB_QUERY_MEMORY_BYTES``).

pyoxigraph 0.5.13 has no way to stop ``Store.update`` (no timeout, no cancellation), Python
cannot stop a thread, and an on-disk store has one writer: the process that opened it (the
server). A SPARQL Update with a cartesian ``WHERE`` would hold the write lock, and a core,
for hours; one that builds a huge string aborts the process on a failed allocation. So:

* **an update that matches patterns is rehearsed** (:func:`rehearse_update`): the store is
  copied (on disk: a RocksDB checkpoint, hard links, milliseconds; in memory: an N-Quads
  dump), a fresh process opens the copy read-write and runs the update there, and is killed
  at the timeout (``QueryTimeout``: 503, nothing changed) or dies at the memory cap
  (``ResultTooLarge``: 413). Only an update that finished in time is then applied to the
  real store, under the same write lock, so on the same data: it takes about as long again,
  bounded by the rehearsal. An update that fails in the rehearsal is applied anyway, for the
  engine's own error (it fails the same way and changes nothing). ``INSERT DATA`` and the
  other forms without ``WHERE`` cost time in proportion to their text and the graphs they
  touch, and are not rehearsed (:func:`matches_patterns`).
* **a JSON-LD document is parsed** the same way (:func:`parse_bounded`): its property-scoped
  contexts are processed once per node that uses them, so parsing costs up to quadratic time
  in the document's size (a 462 KB document took 16.7 s of CPU). The child sends back
  N-Quads, which the caller reads in linear time. The other formats parse in linear time
  (RDF/XML's entities are capped by ``kb.safety``) and stay in process, bounded by the body
  and file size caps.

Why a rehearsal and not a killable writer process that owns the store: every read of the
server process (pages, projections, analytics, the query workers' snapshots) would then
cross a process boundary, a rewrite of ``kb.store`` and ``kb.workers``; the rehearsal is one
call before the write. Its cost, measured on the bundled data (4,000 triples, on disk) with
an ``INSERT … WHERE { ?s a ?t }`` on this 2-core machine at a load average of 11: 0.3 s
without, 0.9-1.2 s with; of the difference, the checkpoint takes 0.2-0.5 s (it flushes the
memtable the previous write left, with an fsync), the fork and the opening of the copy
0.1-0.2 s, the update itself as long as the real one. ``INSERT DATA`` costs nothing more.

The processes come from a fork server started on first use (``multiprocessing``'s
``forkserver``, with this module and the engine already imported): a fork costs
milliseconds, where a fresh interpreter costs a second of imports.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import resource
import shutil
import signal
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import pyoxigraph as ox

from kb.errors import QueryError, QueryTimeout, ResultTooLarge
from kb.safety import mask_literals

__all__ = ["matches_patterns", "parse_bounded", "rehearse_update"]

_context_lock = threading.Lock()
_context: multiprocessing.context.ForkServerContext | None = None


def _processes() -> multiprocessing.context.ForkServerContext:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            # Preloaded in the fork server: the engine and this module, not the caller's
            # __main__ (`python -m kb` runs the command line when imported).
            context.set_forkserver_preload(["kb.bounded"])
            _context = context
        return _context


def matches_patterns(update: str) -> bool:
    """True unless the update surely has no ``WHERE``: ``INSERT DATA``, ``DELETE DATA``,
    ``DROP``, ``CLEAR``, ``CREATE``, ``ADD``/``COPY``/``MOVE`` cost time in proportion to
    their text and the graphs they touch, and need no rehearsal (every form that matches
    patterns, ``DELETE WHERE`` and ``… WHERE { }``, names the keyword before any
    expression). ``\\u`` escapes could spell it: then True as well."""
    return (
        "\\u" in update.lower()
        or re.search(r"\bWHERE\b", mask_literals(update), re.IGNORECASE) is not None
    )


def rehearse_update(backend: object, text: str, *, timeout: float, memory_bytes: int) -> None:
    """Run the update ``text`` (as the backend would: prefixes declared, the union's
    rewrite applied) on a copy of the Oxigraph ``backend``'s store in a process killed after
    ``timeout`` seconds, capped at ``memory_bytes`` of address space (0: none). The caller
    holds the write lock, so that the real update then runs on the same data.

    Raises:
        QueryTimeout: the update ran longer than ``timeout`` (the store is unchanged).
        ResultTooLarge: it needed more memory than ``memory_bytes``.
        QueryError: its process died for another reason (the engine crashed on it).
    """
    from kb.engine import run_in_engine_thread

    path = getattr(backend, "path", None)
    store = backend.store  # type: ignore[attr-defined]
    if path is None:
        scratch = Path(tempfile.mkdtemp(prefix="kb-rehearsal-"))
    else:  # beside the store (hard links), used only by the holder of its lock: a killed
        # server's leftover copy goes at the next rehearsal
        scratch = Path(path).with_name(Path(path).name + ".rehearsal")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
    try:
        if path is not None:  # hard links: on the store's own file system
            copy = scratch / "store"
            run_in_engine_thread(store.backup, str(copy))
            source = ("rocksdb", str(copy))
        else:
            copy = scratch / "store.nq"
            with copy.open("wb") as out:
                run_in_engine_thread(store.dump, out, ox.RdfFormat.N_QUADS)
            source = ("nquads", str(copy))
        try:
            _run(
                _update,
                (source, text),
                None,
                timeout=timeout,
                memory_bytes=memory_bytes,
                what="update",
            )
        except (SyntaxError, OSError, ValueError, RuntimeError):
            return  # it fails the same way on the store, with the engine's own error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def parse_bounded(
    data: bytes, format: ox.RdfFormat, *, base_iri: str | None, timeout: float, memory_bytes: int
) -> bytes:
    """``data`` as N-Quads (blank nodes renamed, the default graph kept as such), parsed in
    a process killed after ``timeout`` seconds.

    Raises:
        SyntaxError: the engine's, with its line and column.
        QueryTimeout, ResultTooLarge, QueryError: as for ``rehearse_update``.
    """
    return _run(
        _parse,
        (format.media_type, base_iri),
        data,
        timeout=timeout,
        memory_bytes=memory_bytes,
        what="parse",
    )


# --- the parent's side -----------------------------------------------------------------------


def _run(
    job: object, args: tuple, payload: bytes | None, *, timeout: float, memory_bytes: int, what: str
) -> bytes:
    """Run ``job(args, payload)`` in a new process; its answer's bytes."""
    context = _processes()
    conn, child = context.Pipe()
    process = context.Process(
        target=_serve, args=(child, job, args, memory_bytes), name=f"kb-bounded-{what}", daemon=True
    )
    process.start()
    child.close()
    try:
        try:
            if payload is not None:
                conn.send_bytes(payload)
            if not conn.poll(max(0.0, timeout)):
                raise _timed_out(what, timeout)
            reply = conn.recv()
            if reply[0] == "ok":
                return conn.recv_bytes()
        except (EOFError, OSError):
            process.join(5)
            if memory_bytes and process.exitcode == -signal.SIGABRT:
                raise _out_of_memory(what, memory_bytes) from None
            raise QueryError(
                f"The engine's process died running this {what} (the server is "
                "fine, and nothing changed); the input is probably too deeply "
                "nested or too large for the engine."
            ) from None
        if reply[0] == "memory":
            raise _out_of_memory(what, memory_bytes)
        raise reply[1]
    finally:
        process.kill()
        process.join(5)
        with contextlib.suppress(OSError):
            conn.close()


def _timed_out(what: str, timeout: float) -> QueryTimeout:
    if what == "update":
        return QueryTimeout(
            f"Update timeout: the update ran longer than the {timeout:g} s limit "
            "(KB_UPDATE_TIMEOUT) and was stopped; nothing changed. Narrow its WHERE "
            "patterns, or split it."
        )
    return QueryTimeout(
        f"The document took longer than {timeout:g} s to parse (KB_UPDATE_TIMEOUT) and was "
        "refused; nothing changed. JSON-LD contexts scoped to properties or types are "
        "processed again at every node that uses them: define the terms once, in the "
        "top-level @context."
    )


def _out_of_memory(what: str, memory_bytes: int) -> ResultTooLarge:
    return ResultTooLarge(
        f"The {what} needed more than the {memory_bytes / 2**20:,.0f} MB of memory it may use "
        "here (KB_QUERY_MEMORY_BYTES), and was stopped; nothing changed."
    )


# --- the child's side ------------------------------------------------------------------------


def _serve(conn: Connection, job: object, args: tuple, memory_bytes: int) -> None:
    """The child process: run ``job`` on a large-stack thread and send back its answer."""
    from kb.engine import ENGINE_STACK_BYTES

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which kills us
    if memory_bytes:  # an allocation past it fails: the engine aborts, Python raises
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    replies: list[tuple] = []

    def work() -> None:
        try:
            payload = conn.recv_bytes() if job is _parse else None
            replies.append(("ok", job(args, payload)))  # type: ignore[operator]
        except MemoryError:
            replies.append(("memory",))
        except Exception as e:  # raised again in the parent
            replies.append(("error", _sendable(e)))

    threading.stack_size(ENGINE_STACK_BYTES)  # deep input needs a deep stack
    thread = threading.Thread(target=work, name="kb-bounded")
    thread.start()
    thread.join()
    reply = replies[0]
    if reply[0] == "ok":
        conn.send(("ok",))
        conn.send_bytes(reply[1])
    else:
        conn.send(reply)
    conn.close()


def _update(args: tuple, payload: None) -> bytes:
    (kind, path), text = args
    if kind == "rocksdb":
        store = ox.Store(path)
    else:
        store = ox.Store()
        store.bulk_load(path=path, format=ox.RdfFormat.N_QUADS)
    store.update(text)
    return b""


def _parse(args: tuple, payload: bytes) -> bytes:
    media_type, base_iri = args
    fmt = ox.RdfFormat.from_media_type(media_type)
    quads = ox.parse(payload, format=fmt, base_iri=base_iri, rename_blank_nodes=True)
    return ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""


def _sendable(e: Exception) -> Exception:
    """``e`` without its traceback, as a type the parent maps as it maps its own errors."""
    if isinstance(e, SyntaxError):
        copy = SyntaxError(e.msg)
        copy.lineno, copy.offset = e.lineno, e.offset
        return copy
    if isinstance(e, OSError | ValueError | RuntimeError):
        with contextlib.suppress(TypeError):
            return type(e)(*e.args)
    return RuntimeError(str(e))
