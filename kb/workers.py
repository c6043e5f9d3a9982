"""Queries in worker processes that can be killed: the server's query timeout.

Neither pyoxigraph nor rdflib can stop a running query from Python, and a query the engine
cannot handle may take its process down. So the server runs queries in a pool of worker
processes (``kb.worker_process``), each reading a snapshot of the store (``kb.snapshots``:
a RocksDB checkpoint, or its in-memory copy when the data fits the memory budget):

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
* answers are kept in a cache (``kb.result_cache``) keyed by the store's generation: a
  repeated query is answered without a worker until the next write.

Every query text a user writes goes through the pool: ``KnowledgeBase.query`` (serialized
answers, the SPARQL protocol's path) and ``KnowledgeBase.run(..., isolated=True)`` (the
answer parsed back for views and saved queries). The library's own fixed queries (pages,
projections, analytics) run in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from kb.errors import KbError, QueryError, QueryTimeout, ResultTooLarge, TooManyQueries
from kb.result_cache import ResultCache
from kb.snapshots import Snapshot, Snapshots
from kb.worker_process import Reply, Worker, WorkerLost, engine_format, process_rss, wanted_media

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

class QueryPool:
    """``size`` worker processes answering ``kb``'s queries, each stopped after ``timeout``
    seconds and capped at ``memory_bytes`` of address space; one client (``client=``, the
    remote address) holds at most ``per_client`` of them at once, and at most four queries
    a worker run or wait (503 beyond); the workers answer from in-memory copies when all
    of them fit ``replica_bytes`` (see ``kb.snapshots``). Use ``query`` or ``query_async``;
    ``close`` stops the workers and removes the snapshots."""

    def __init__(self, kb: KnowledgeSource, *, size: int, timeout: float,
                 max_result_bytes: int, cache_bytes: int = 0, memory_bytes: int = 0,
                 per_client: int = 0, replica_bytes: int = 0) -> None:
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
        self._idle: queue.LifoQueue[Worker] = queue.LifoQueue()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._holds_lock = threading.Lock()  # brief: who waits or runs, per client
        self._closed = False
        self._workers: set[Worker] = set()  # alive, idle or busy
        self._clients: Counter[str] = Counter()  # queries running or waiting, per client
        self._pending = 0  # queries running or waiting, in all
        self.max_pending = 4 * size
        self._cache = ResultCache(cache_bytes)
        self.snapshots = Snapshots(
            kb, copies=size, replica_bytes=replica_bytes,
            opened=lambda: {w.snapshot for w in list(self._workers) if w.snapshot},
            on_image=self._warm)
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
        if self.snapshots.mode == "loading":  # the memory copies are made from the start
            threading.Thread(target=self.snapshots.take_first, name="kb-snapshot-first",
                             daemon=True).start()

    def _ready_more(self, workers: list[Worker]) -> None:
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
                continue
            if (current := self.snapshots.current) is not None and current.image:
                worker.warm(current)
            self._give_back(worker)

    # --- memory copies --------------------------------------------------------------------

    def _warm(self, snapshot: Snapshot) -> None:
        """Have the idle workers load ``snapshot``'s image now (busy ones load it with their
        next query)."""
        taken = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self._idle.get_nowait())
        for worker in taken:
            worker.warm(snapshot)
            self._give_back(worker)

    def status(self) -> dict[str, object]:
        """How the workers answer (``Snapshots.status``), how many answered their last
        query from memory, and the resident memory of the workers together."""
        workers = list(self._workers)
        return self.snapshots.status() | {
            "workers": len(workers),
            "answering_from_memory": sum(w.served_from == "memory" for w in workers),
            "workers_rss_bytes": sum(process_rss(w.process.pid) for w in workers)}

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
        media, refusals = wanted_media(format)
        snapshot = self.snapshots.hold_current() or self.snapshots.hold_new()
        try:
            request, key = self._request(snapshot, sparql, media, default_graph, named_graphs)
            if (hit := self._cache.get(key)) is not None:
                return hit
            with self._share(client):
                worker = self._take(deadline)
                try:
                    reply = worker.ask(request, deadline - time.monotonic())
                except WorkerLost as lost:
                    raise self._lost(worker, lost) from None
                return self._cache.put(key, self._result(worker, reply, refusals))
        finally:
            self.snapshots.release(snapshot)

    async def query_async(self, sparql: str, format: Callable[[str], object], *,
                          default_graph: list[str] | None = None,
                          named_graphs: list[str] | None = None,
                          client: str | None = None) -> Result:
        """``query`` for an event loop: nothing here blocks the loop (a new snapshot, a
        replaced worker are handled on threads) and no thread waits for the answer. A
        client that goes away stops its query."""
        deadline = time.monotonic() + self.timeout
        media, refusals = wanted_media(format)
        snapshot = self.snapshots.hold_current() or await asyncio.to_thread(self.snapshots.hold_new)
        try:
            request, key = self._request(snapshot, sparql, media, default_graph, named_graphs)
            if (hit := self._cache.get(key)) is not None:
                return hit
            with self._share(client):
                worker = await self._take_async(deadline)
                try:
                    reply = await worker.ask_async(request, deadline - time.monotonic())
                except WorkerLost as lost:
                    raise await asyncio.to_thread(self._lost, worker, lost) from None
                except asyncio.CancelledError:  # the client went away: its answer is not wanted
                    self._replace(worker)
                    raise
                return self._cache.put(key, self._result(worker, reply, refusals))
        finally:
            self.snapshots.release(snapshot)

    def _request(self, snapshot: Snapshot, sparql: str, media: dict[str, str],
                 default_graph: list[str] | None, named_graphs: list[str] | None,
                 ) -> tuple[tuple, tuple]:
        generation, kind, path, image = snapshot
        request = ((kind, path, image), sparql, media, default_graph, named_graphs,
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

    def _lost(self, worker: Worker, lost: WorkerLost) -> KbError:
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

    def _result(self, worker: Worker, reply: Reply, refusals: dict[str, Exception]) -> Result:
        from kb.engine import Result

        status = reply[0]
        if status == "memory":  # a MemoryError in Python: the worker may be in a bad state
            self._replace(worker)
            raise self._out_of_memory()
        self._give_back(worker)
        if status == "ok":
            _, kind, media_type, data = reply
            return Result(kind, engine_format(kind, media_type), data)
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

    def _take(self, deadline: float) -> Worker:
        try:
            return self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise self._busy() from None

    async def _take_async(self, deadline: float) -> Worker:
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

    def _give_back(self, worker: Worker) -> None:
        self._idle.put(worker)
        for loop, wake in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # a loop that has closed
                loop.call_soon_threadsafe(wake.set)

    def _ready(self, worker: Worker) -> None:
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

    def _start(self) -> Worker:
        # Ctrl-C reaches the whole process group: a worker that is still importing when it
        # comes would print a traceback. Started with SIGINT ignored (inherited across the
        # spawn's exec), it never sees one; its serve() ignores it for good. Only the main
        # thread may change a signal's handler: replacements, started on a thread, are
        # started after the server is up, when their import is short.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            worker = Worker(self._context, self.memory_bytes)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        self._workers.add(worker)
        return worker

    def _replace(self, worker: Worker) -> None:
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
        self.snapshots.close()
