"""Queries in worker processes that can be killed: the server's query timeout.

Neither pyoxigraph nor rdflib can stop a running query from Python, and a query the engine
cannot handle may take its process down. So the server runs queries in a pool of worker
processes, each reading a snapshot of the store:

* the snapshot of an on-disk store is a RocksDB checkpoint (``Store.backup``: hard links to
  immutable files, about a millisecond at any size), opened read-only by the workers; nobody
  writes into it, so readers never see a half-done write. An in-memory store is dumped to an
  N-Quads file that each worker loads;
* a new snapshot is taken on the first query after a write (``KnowledgeBase.generation``), so
  a client reads its own writes;
* the worker runs the query on a large-stack thread, serializes the answer with the engine
  (no per-row Python) into a buffer capped at ``max_result_bytes`` and sends the bytes back;
* past the timeout the worker is killed, the request gets ``QueryTimeout`` (HTTP 503), and a
  fresh worker takes its place; a worker that dies on a query is replaced the same way;
* each worker has a cap on its address space (``RLIMIT_AS``): a query that needs more
  (a string doubled with CONCAT, a huge sort) fails an allocation, the engine aborts its
  process, and the request gets ``ResultTooLarge`` (HTTP 413) naming the cap;
* one client (the remote address) holds at most ``per_client`` workers, waiting or running;
  one more query gets ``TooManyQueries`` (HTTP 429, Retry-After) and the others are served;
* answers are kept in a cache keyed by the store's generation, the query, its dataset and
  the formats asked for (as the Wikidata Query Service caches results): a repeated query is
  answered without a worker until the next write.

Every query text a user writes goes through the pool: ``KnowledgeBase.query`` (serialized
answers, the SPARQL protocol's path) and ``KnowledgeBase.run(..., isolated=True)`` (the
answer parsed back for views and saved queries). The library's own fixed queries (pages,
projections, analytics) run in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import multiprocessing
import multiprocessing.connection
import os
import queue
import resource
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyoxigraph as ox

from kb.errors import KbError, QueryError, QueryTimeout, ResultTooLarge, TooManyQueries

if TYPE_CHECKING:
    import threading as _threading

    from kb.engine import Result


class KnowledgeSource(Protocol):
    """What the pool reads of the knowledge base (``kb.store.KnowledgeBase``): its write
    generation, its write lock, its backend (to copy a snapshot) and the prefixes declared
    for its queries."""

    generation: int
    _write_lock: _threading.Lock
    backend: object
    prefixes: Mapping[str, str]

KINDS = ("select", "ask", "graph")
# The worker's answers: ("ok", kind, media type, size) followed by the answer's bytes,
# ("format", kind), ("too-large",), ("memory",) and ("error", exception).
Reply = tuple
#: How much lower than the server the query workers run (``os.nice``).
WORKER_NICENESS = 10
#: Answers smaller than this are read on the event loop; larger ones on a thread.
INLINE_BYTES = 256 * 1024


class QueryPool:
    """``size`` worker processes answering ``kb``'s queries, each stopped after ``timeout``
    seconds and capped at ``memory_bytes`` of address space; one client (``client=``, the
    remote address) holds at most ``per_client`` of them at once, and at most four queries
    a worker run or wait (503 beyond). Use ``query`` or
    ``query_async``; ``close`` stops the workers and removes the snapshots."""

    def __init__(self, kb: KnowledgeSource, *, size: int, timeout: float,
                 max_result_bytes: int, cache_bytes: int = 0, memory_bytes: int = 0,
                 per_client: int = 0) -> None:
        if size < 1:
            raise ValueError("a query pool needs at least one worker")
        self.kb = kb
        self.size = size
        self.timeout = timeout
        self.max_result_bytes = max_result_bytes
        self.memory_bytes = memory_bytes
        self.per_client = per_client or max(1, size // 4)
        self._context = multiprocessing.get_context("spawn")  # no copy of the server's threads
        # Last in, first out: the worker that answered last has the warmest caches.
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._snapshot_lock = threading.Lock()  # one snapshot taken at a time
        self._holds_lock = threading.Lock()  # brief: the current snapshot and who holds which
        self._snapshot: tuple[int, str, str] | None = None  # (generation, kind, path)
        self._holds: Counter[str] = Counter()  # snapshots given to requests not yet answered
        self._snapshots = _snapshot_folder(kb)
        self._numbers = itertools.count()
        self._closed = False
        self._workers: set[_Worker] = set()  # alive, idle or busy
        self._clients: Counter[str] = Counter()  # queries running or waiting, per client
        self._pending = 0  # queries running or waiting, in all
        self.max_pending = 4 * size
        self._cache = _ResultCache(cache_bytes)
        # The first worker is ready before the pool serves (a worker that cannot start says
        # so here); the others start behind it, so that a server answers as soon as one can
        # (each is a fresh interpreter: about a second of imports).
        first = self._start()
        self._ready(first)
        self._idle.put(first)
        if size > 1:
            more = [self._start() for _ in range(size - 1)]  # spawned here, awaited behind
            threading.Thread(target=self._ready_more, args=(more,),
                             name="kb-worker-start", daemon=True).start()

    def _ready_more(self, workers: list[_Worker]) -> None:
        """Give each of ``workers`` to the pool when it is ready."""
        for worker in workers:
            if self._closed:  # close() stops them all
                return
            try:
                self._ready(worker)
            except KbError:
                self._workers.discard(worker)
                continue
            if self._closed:
                worker.kill()
            else:
                self._give_back(worker)

    # --- snapshots -------------------------------------------------------------------------

    def _hold_current(self) -> tuple[int, str, str] | None:
        """The current snapshot, held for one request, if the store has not changed since it
        was taken (never waits: safe on an event loop); else None."""
        with self._holds_lock:
            snapshot = self._snapshot
            if snapshot is None or snapshot[0] != self.kb.generation:
                return None
            self._holds[snapshot[2]] += 1
            return snapshot

    def _hold_new(self) -> tuple[int, str, str]:
        """The snapshot of the store as it is now, held for one request; taken when a write
        happened since the last one (waits for a running write). Old snapshots stay until
        no worker and no waiting request can still be reading them."""
        from kb.engine import run_in_engine_thread

        with self._snapshot_lock:
            if (held := self._hold_current()) is not None:
                return held
            target = self._snapshots / f"{next(self._numbers):06d}"
            with self.kb._write_lock:  # no write between the generation and the copy
                generation = self.kb.generation
                backend = self.kb.backend
                if backend.path is not None:  # type: ignore[union-attr]
                    run_in_engine_thread(backend.store.backup, str(target))  # type: ignore[union-attr]
                    kind = "rocksdb"
                else:
                    target = target.with_suffix(".nq")
                    with target.open("wb") as out:
                        run_in_engine_thread(backend.store.dump, out, ox.RdfFormat.N_QUADS)  # type: ignore[union-attr]
                    kind = "nquads"
            with self._holds_lock:
                self._snapshot = (generation, kind, str(target))
                self._holds[str(target)] += 1
                in_use = {target.name} | {Path(p).name for p, n in self._holds.items() if n} | {
                    Path(w.snapshot).name for w in list(self._workers) if w.snapshot}
            for path in self._snapshots.iterdir():
                if path.name not in in_use:
                    _remove(path)
            return self._snapshot

    def _release(self, snapshot: tuple[int, str, str]) -> None:
        with self._holds_lock:
            self._holds[snapshot[2]] -= 1
            if self._holds[snapshot[2]] <= 0:
                del self._holds[snapshot[2]]

    # --- queries ---------------------------------------------------------------------------

    def query(self, sparql: str, format: Callable[[str], object], *,
              default_graph: list[str] | None = None,
              named_graphs: list[str] | None = None, client: str | None = None) -> Result:
        """Run ``sparql`` in a worker; ``format(kind)`` picks the engine format per result
        kind (it may raise, e.g. when nothing acceptable fits). ``client`` names who asks
        (the remote address), for the fair share.

        Raises:
            QueryTimeout: the query ran past the timeout (it was stopped), or every worker
                stayed busy for that long.
            ResultTooLarge: the serialized answer is larger than ``max_result_bytes``, or
                the query needed more memory than ``memory_bytes``.
            TooManyQueries: ``client`` already has ``per_client`` queries running.
            QueryError: the query failed, or its worker died running it.
        """
        deadline = time.monotonic() + self.timeout
        media, refusals = _media(format)
        snapshot = self._hold_current() or self._hold_new()
        try:
            request, key = self._request(snapshot, sparql, media, default_graph, named_graphs)
            if (hit := self._cache.get(key)) is not None:
                return hit
            with self._share(client):
                worker = self._take(deadline)
                try:
                    reply = worker.ask(request, deadline - time.monotonic())
                except _WorkerLost as lost:
                    raise self._lost(worker, lost) from None
                return self._cache.put(key, self._result(worker, reply, refusals))
        finally:
            self._release(snapshot)

    async def query_async(self, sparql: str, format: Callable[[str], object], *,
                          default_graph: list[str] | None = None,
                          named_graphs: list[str] | None = None,
                          client: str | None = None) -> Result:
        """``query`` for an event loop: nothing here blocks the loop (a new snapshot, a
        replaced worker are handled on threads) and no thread waits for the answer. A
        client that goes away stops its query."""
        deadline = time.monotonic() + self.timeout
        media, refusals = _media(format)
        snapshot = self._hold_current() or await asyncio.to_thread(self._hold_new)
        try:
            request, key = self._request(snapshot, sparql, media, default_graph, named_graphs)
            if (hit := self._cache.get(key)) is not None:
                return hit
            with self._share(client):
                worker = await self._take_async(deadline)
                try:
                    reply = await worker.ask_async(request, deadline - time.monotonic())
                except _WorkerLost as lost:
                    raise await asyncio.to_thread(self._lost, worker, lost) from None
                except asyncio.CancelledError:  # the client went away: its answer is not wanted
                    self._replace(worker)
                    raise
                return self._cache.put(key, self._result(worker, reply, refusals))
        finally:
            self._release(snapshot)

    def _request(self, snapshot: tuple[int, str, str], sparql: str, media: dict[str, str],
                 default_graph: list[str] | None, named_graphs: list[str] | None,
                 ) -> tuple[tuple, tuple]:
        generation, kind, path = snapshot
        request = ((kind, path), sparql, media, default_graph, named_graphs,
                   self.max_result_bytes, self.kb.prefixes)
        key = (generation, sparql, tuple(default_graph or ()) if default_graph is not None
               else None, tuple(named_graphs) if named_graphs is not None else None,
               tuple(media.items()))
        return request, key

    def _over_share(self, client: str) -> TooManyQueries:
        return TooManyQueries(
            f"Too many queries at once: this client already has {self._clients[client]} "
            f"running, its share of the {self.size} query workers. Wait for one to finish, "
            "then try again.", retry_after=max(1, round(self.timeout / 10)))

    @contextmanager
    def _share(self, client: str | None) -> Iterator[None]:
        """Count a query while it waits or runs: refuse one over ``client``'s share, or
        over ``max_pending`` in all (the queue is bounded, and so are the threads that
        wait in it)."""
        with self._holds_lock:
            if self._pending >= self.max_pending:
                raise QueryTimeout(
                    f"The server is busy: {self._pending} queries are running or waiting for "
                    f"its {self.size} query workers. Try again later.")
            if client is not None and self._clients[client] >= self.per_client:
                raise self._over_share(client)
            self._pending += 1
            if client is not None:
                self._clients[client] += 1
        try:
            yield
        finally:
            with self._holds_lock:
                self._pending -= 1
                if client is not None:
                    self._clients[client] -= 1
                    if self._clients[client] <= 0:
                        del self._clients[client]

    def _lost(self, worker: _Worker, lost: _WorkerLost) -> KbError:
        """The error for a worker that timed out or died (it is replaced). Waits for the
        process to end, to read why: call it on a thread."""
        if not lost.timed_out:
            worker.process.join(2)
        code = worker.process.exitcode
        self._replace(worker)
        if lost.timed_out:
            return QueryTimeout(
                f"Query timeout: the query ran longer than the {self.timeout:g} s limit "
                "and was stopped. Narrow it (a LIMIT, more specific patterns) and try again.")
        if self.memory_bytes and code == -signal.SIGABRT:  # the engine's failed allocation
            return self._out_of_memory()
        return QueryError(
            "The query engine's worker process died running this query (the server is "
            "fine); the query is probably too deeply nested or too large for the engine.")

    def _out_of_memory(self) -> ResultTooLarge:
        return ResultTooLarge(
            f"The query needed more than the {self.memory_bytes / 2**20:,.0f} MB of memory a "
            "query may use here, and was stopped. Build smaller values, add a LIMIT, or "
            "narrow the patterns.")

    def _result(self, worker: _Worker, reply: Reply, refusals: dict[str, Exception]) -> Result:
        from kb.engine import Result

        status = reply[0]
        if status == "memory":  # a MemoryError in Python: the worker may be in a bad state
            self._replace(worker)
            raise self._out_of_memory()
        self._give_back(worker)
        if status == "ok":
            _, kind, media_type, data = reply
            return Result(kind, _format(kind, media_type), data)
        if status == "format":
            raise refusals[reply[1]]
        if status == "too-large":
            raise ResultTooLarge(
                f"The answer is larger than the {self.max_result_bytes:,} bytes a query may "
                "return here; add a LIMIT (and OFFSET to page), or use /export for dumps."
            )
        raise reply[1]

    def _busy(self) -> QueryTimeout:
        return QueryTimeout(f"Query timeout: all {self.size} query workers stayed busy for "
                            f"{self.timeout:g} s; try again later.")

    def _take(self, deadline: float) -> _Worker:
        try:
            return self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise self._busy() from None

    async def _take_async(self, deadline: float) -> _Worker:
        """An idle worker, awaited on the loop (no thread waits), or QueryTimeout."""
        loop = asyncio.get_running_loop()
        while True:
            wake = asyncio.Event()
            waiter = (loop, wake)
            self._waiters.add(waiter)
            try:
                try:
                    return self._idle.get_nowait()
                except queue.Empty:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._busy()
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except TimeoutError:
                    raise self._busy() from None
            finally:
                self._waiters.discard(waiter)

    def _give_back(self, worker: _Worker) -> None:
        self._idle.put(worker)
        for loop, wake in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # a loop that has closed
                loop.call_soon_threadsafe(wake.set)

    def _ready(self, worker: _Worker) -> None:
        """Wait until ``worker`` can take queries (a fresh interpreter takes a second or two
        to import the engine; that time is not the first query's)."""
        try:
            ready = worker.conn.poll(60) and worker.conn.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            worker.kill()
            raise QueryError(
                "A query worker process could not start"
                + (f" within {self.memory_bytes / 2**20:,.0f} MB of memory "
                   "(KB_QUERY_MEMORY_BYTES is too small for the engine and the data)"
                   if self.memory_bytes else ""))

    def _start(self) -> _Worker:
        # Ctrl-C reaches the whole process group: a worker that is still importing when it
        # comes would print a traceback. Started with SIGINT ignored (inherited across the
        # spawn's exec), it never sees one; its serve() ignores it for good. Only the main
        # thread may change a signal's handler: replacements, started on a thread, are
        # started after the server is up, when their import is short.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            worker = _Worker(self._context, self.memory_bytes)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start another, both on a background thread (the caller does
        not wait, and an event loop is not held up)."""
        self._workers.discard(worker)

        def replace() -> None:
            worker.kill()
            if not self._closed:
                self._ready_more([self._start()])

        threading.Thread(target=replace, name="kb-worker-start", daemon=True).start()

    def close(self) -> None:
        """Stop every worker (waiting for none) and remove the snapshots."""
        self._closed = True
        workers = list(self._workers)
        for worker in workers:  # all asked at once; a busy one is killed after 2 s
            worker.ask_to_stop()
        deadline = time.monotonic() + 2
        for worker in workers:
            worker.stop(max(0.0, deadline - time.monotonic()))
        self._workers.clear()
        shutil.rmtree(self._snapshots, ignore_errors=True)


def _media(format: Callable[[str], object]) -> tuple[dict[str, str], dict[str, Exception]]:
    """The media type per result kind, and the refusal for kinds ``format`` cannot serve."""
    media: dict[str, str] = {}
    refusals: dict[str, Exception] = {}
    for kind in KINDS:
        try:
            media[kind] = format(kind).media_type  # type: ignore[attr-defined]
        except KbError as e:
            refusals[kind] = e
    return media, refusals


class _ResultCache:
    """Answers by (store generation, query, dataset, formats), least recently used first
    out, within ``limit`` bytes; an answer over an eighth of it is not kept. A write makes
    a new generation, so a cached answer is never stale: the first answer of a generation
    empties the cache."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple, Result] = OrderedDict()
        self._bytes = 0
        self._generation: int | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Result | None:
        if not self.limit:
            return None
        with self._lock:
            result = self._entries.get(key)
            if result is not None:
                self._entries.move_to_end(key)
            return result

    def put(self, key: tuple, result: Result) -> Result:
        size = len(result.data)
        if not self.limit or size > self.limit // 8:
            return result
        with self._lock:
            if self._generation is not None and key[0] < self._generation:
                return result  # a slow query of an older generation: keep the newer cache
            if key[0] != self._generation:
                self._entries.clear()
                self._bytes = 0
                self._generation = key[0]
            if key not in self._entries:
                self._entries[key] = result
                self._bytes += size
            while self._bytes > self.limit:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.data)
        return result


class _WorkerLost(Exception):
    def __init__(self, timed_out: bool) -> None:
        self.timed_out = timed_out


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: multiprocessing.context.SpawnContext, memory_bytes: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, memory_bytes),
                                       name="kb-query-worker",
                                       daemon=True)
        self.process.start()
        child.close()
        self.snapshot: str | None = None

    def ask(self, request: tuple, timeout: float) -> Reply:
        self.snapshot = request[0][1]
        try:
            self.conn.send(request)
            if not self.conn.poll(max(0.0, timeout)):
                raise _WorkerLost(timed_out=True)
            reply = self.conn.recv()
            if reply[0] == "ok":  # the answer's bytes follow, unpickled
                reply = (*reply[:3], self.conn.recv_bytes())
            return reply
        except (EOFError, OSError):
            raise _WorkerLost(timed_out=False) from None

    async def ask_async(self, request: tuple, timeout: float) -> Reply:
        self.snapshot = request[0][1]
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(True))
        timer = loop.call_later(max(0.0, timeout),
                                lambda: readable.done() or readable.set_result(False))
        try:
            self.conn.send(request)
            if not await readable:
                raise _WorkerLost(timed_out=True)
            reply = self.conn.recv()  # a small header, already in the pipe
            if reply[0] == "ok":
                _, _, _, size = reply
                data = (self.conn.recv_bytes() if size < INLINE_BYTES
                        else await asyncio.to_thread(self.conn.recv_bytes))
                reply = (*reply[:3], data)
            return reply
        except (EOFError, OSError):
            raise _WorkerLost(timed_out=False) from None
        finally:
            timer.cancel()
            loop.remove_reader(fd)

    def kill(self) -> None:
        """Kill the process; safe to call twice (the pool's close and a replacement thread
        may both do it)."""
        self.process.kill()
        self.process.join(5)
        with contextlib.suppress(OSError):  # already closed by the other caller
            self.conn.close()

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)

    def stop(self, wait: float = 2.0) -> None:
        self.ask_to_stop()
        self.process.join(wait)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)
        with contextlib.suppress(OSError):  # a worker still starting may be stopped twice
            self.conn.close()


def _format(kind: str, media_type: str) -> ox.RdfFormat | ox.QueryResultsFormat:
    cls = ox.RdfFormat if kind == "graph" else ox.QueryResultsFormat
    fmt = cls.from_media_type(media_type)
    assert fmt is not None, media_type
    return fmt


def _snapshot_folder(kb: KnowledgeSource) -> Path:
    """``<store>.snapshots`` next to an on-disk store (hard links need the same file system;
    only the process holding the store's lock uses it, so leftovers of a killed server are
    cleared), or a new temporary folder for an in-memory store, named with the process id
    (the folders of processes that no longer run are cleared)."""
    path = getattr(kb.backend, "path", None)
    if path is None:
        for old in Path(tempfile.gettempdir()).glob("kb-snapshots-*-*"):
            pid = old.name.split("-")[2]
            if pid.isdigit() and not _running(int(pid)):  # left by a killed process
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"kb-snapshots-{os.getpid()}-"))
    folder = Path(path).with_name(Path(path).name + ".snapshots")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- the worker process -----------------------------------------------------------------------


class _CappedBuffer(io.BytesIO):
    """A buffer that refuses to grow past ``limit`` bytes (the engine stops serializing)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.overflowed = False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            self.overflowed = True
            raise OSError("answer too large")
        return super().write(data)


def serve(conn: Connection, memory_bytes: int = 0) -> None:
    """The worker process: answer requests from ``conn`` until it closes or sends None, in
    at most ``memory_bytes`` of address space (0: no cap)."""
    from kb.engine import ENGINE_STACK_BYTES

    if memory_bytes:  # an allocation past it fails: the engine aborts, Python raises
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # Below the server's priority: however hard the queries work, the event loop (cached
    # answers, pages, /health, other clients' requests) gets the processor first.
    os.nice(WORKER_NICENESS)
    # Ctrl-C in a terminal reaches the whole process group: the server stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:  # a killed server takes its workers with it, mid-query or not
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    threading.stack_size(ENGINE_STACK_BYTES)  # deep queries need a deep stack
    import kb.backends  # noqa: F401  (the imports of the first query, before "ready")

    conn.send(("ready",))
    thread = threading.Thread(target=_serve_requests, args=(conn,), name="kb-query")
    thread.start()
    thread.join()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _serve_requests(conn: Connection) -> None:
    stores: dict[str, ox.Store] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        (kind, path), text, media, default_graph, named_graphs, limit, prefixes = request
        if path not in stores:
            stores.clear()  # the previous snapshot is no longer needed
            stores[path] = _open_snapshot(kind, path)
        reply = _answer(stores[path], text, media, default_graph, named_graphs, limit,
                        prefixes)
        if reply[0] == "ok":  # a small header, then the bytes as they are
            conn.send((*reply[:3], len(reply[3])))
            conn.send_bytes(reply[3])
        else:
            conn.send(reply)


def _open_snapshot(kind: str, path: str) -> ox.Store:
    if kind == "rocksdb":
        return ox.Store.read_only(path)
    store = ox.Store()
    store.bulk_load(path=path, format=ox.RdfFormat.N_QUADS)
    return store


def _answer(store: ox.Store, text: str, media: Mapping[str, str],
            default_graph: list[str] | None, named_graphs: list[str] | None,
            limit: int, prefixes: Mapping[str, str] | None = None) -> Reply:
    from kb.backends import query_store
    from kb.engine import result_kind

    try:
        raw = query_store(store, text, default_graph=default_graph, named_graphs=named_graphs,
                          prefixes=prefixes)
        kind = result_kind(raw)
        if kind not in media:
            return ("format", kind)
        out = _CappedBuffer(limit)
        try:
            raw.serialize(out, format=_format(kind, media[kind]))  # type: ignore[attr-defined]
        except OSError:
            if out.overflowed:
                return ("too-large",)
            raise
        return ("ok", kind, media[kind], out.getvalue())
    except MemoryError:
        return ("memory",)
    except Exception as e:  # sent back and raised in the server, like an in-process error
        return ("error", _sendable(e))


def _sendable(e: Exception) -> Exception:
    """``e`` without its traceback (whose frames hold engine objects), as a type the server
    process maps the same way it maps its own engine errors."""
    if isinstance(e, SyntaxError):
        copy = SyntaxError(e.msg)
        copy.lineno, copy.offset = e.lineno, e.offset
        return copy
    if isinstance(e, KbError | OSError | ValueError | TypeError | RuntimeError):
        try:
            return type(e)(*e.args)
        except TypeError:
            pass
    return RuntimeError(str(e))
