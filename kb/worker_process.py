"""One query worker: the process that answers (``serve``) and the server's handle on it
(``Worker``), the two ends of one pipe.

The server sends a request (its snapshot, the query, the dataset, the formats, the answer's
cap, the prefixes) and the worker replies ``("ok", kind, media type, answer, served from)``
(for an answer of ``INLINE_BYTES`` or more, its size, then its bytes unpickled), or
``("format", kind)``, ``("too-large",)``, ``("memory",)`` or ``("error", exception)``.
``("load", kind, path, image)`` asks an idle worker to load a snapshot's in-memory image
(no reply); ``None`` stops it.

A worker answers from an in-memory copy of the store when the request names an image
(``kb.snapshots``) and the worker has loaded that image; until then, from the checkpoint
on disk, while a thread of the worker loads the image.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection

import pyoxigraph as ox

from kb.errors import KbError

Reply = tuple
KINDS = ("select", "ask", "graph")
#: How much lower than the server the query workers run (``os.nice``).
WORKER_NICENESS = 10
#: Answers smaller than this come in the reply itself and are read on the event loop; a
#: larger one's bytes follow its reply, read on a thread.
INLINE_BYTES = 256 * 1024
#: An image up to this size is loaded before the query that names it (about 0.1 s);
#: a larger one by a thread, while the checkpoint on disk answers.
SMALL_IMAGE_BYTES = 8 * 1024 * 1024
LOADER_STACK_BYTES = 8 * 1024 * 1024
#: Address space a worker adds to its cap per byte of the image it loads (the copy takes
#: about 1.4 bytes per byte of N-Quads; loading it, more for a while).
COPY_ROOM_PER_IMAGE_BYTE = 3


class WorkerLost(Exception):
    def __init__(self, timed_out: bool) -> None:
        self.timed_out = timed_out


class Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: multiprocessing.context.SpawnContext, memory_bytes: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, memory_bytes),
                                       name="kb-query-worker",
                                       daemon=True)
        self.process.start()
        child.close()
        self.snapshot: str | None = None
        self.served_from = ""  # "memory" or "disk": where its last answer came from
        self._closing = threading.Lock()

    def warm(self, snapshot: tuple) -> None:
        """Have an idle worker load ``snapshot``'s image into memory (no answer comes)."""
        self.snapshot = snapshot[2]
        with contextlib.suppress(OSError):
            self.conn.send(("load", snapshot[1], snapshot[2], snapshot[3]))

    def ask(self, request: tuple, timeout: float) -> Reply:
        self.snapshot = request[0][1]
        try:
            self.conn.send(request)
            if not self.conn.poll(max(0.0, timeout)):
                raise WorkerLost(timed_out=True)
            reply = self.conn.recv()
            if reply[0] == "ok":
                _, _, _, data, self.served_from = reply
                if isinstance(data, int):  # a large answer: its bytes follow, unpickled
                    data = self.conn.recv_bytes()
                reply = (*reply[:3], data)
            return reply
        except (EOFError, OSError):
            raise WorkerLost(timed_out=False) from None

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
                raise WorkerLost(timed_out=True)
            reply = self.conn.recv()  # an error, a small answer, or a large one's header
            if reply[0] == "ok":
                _, _, _, data, self.served_from = reply
                if isinstance(data, int):  # the size of a large answer, whose bytes follow
                    data = await asyncio.to_thread(self.conn.recv_bytes)
                reply = (*reply[:3], data)
            return reply
        except (EOFError, OSError):
            raise WorkerLost(timed_out=False) from None
        finally:
            timer.cancel()
            loop.remove_reader(fd)

    def kill(self) -> None:
        """Kill the process; safe to call twice (the pool's close and a replacement thread
        may both do it)."""
        self.process.kill()
        self.process.join(5)
        self._close()

    def _close(self) -> None:
        """Close the pipe once. Two threads closing it at once could both close its file
        descriptor, the second time after the number went to another file (seen: the
        tests' temporary folders lost a descriptor while being removed)."""
        with self._closing, contextlib.suppress(OSError):
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
        self._close()  # a worker still starting may be stopped twice


def wanted_media(format: Callable[[str], object]) -> tuple[dict[str, str], dict[str, Exception]]:
    """The media type per result kind, and the refusal for kinds ``format`` cannot serve."""
    media: dict[str, str] = {}
    refusals: dict[str, Exception] = {}
    for kind in KINDS:
        try:
            media[kind] = format(kind).media_type  # type: ignore[attr-defined]
        except KbError as e:
            refusals[kind] = e
    return media, refusals


def process_rss(pid: int | None) -> int:
    """Resident bytes of process ``pid`` (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


def engine_format(kind: str, media_type: str) -> ox.RdfFormat | ox.QueryResultsFormat:
    cls = ox.RdfFormat if kind == "graph" else ox.QueryResultsFormat
    fmt = cls.from_media_type(media_type)
    assert fmt is not None, media_type
    return fmt



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
        # (The hard limit stays open: the worker itself widens the cap by the size of a
        # memory copy it loads. A query runs no code of the user's that could.)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, resource.RLIM_INFINITY))
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
    copies = _Copies()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if request[0] == "load":  # an idle worker asked to load an image
            copies.store(*request[1:])
            continue
        (kind, path, image), text, media, default_graph, named_graphs, limit, prefixes = request
        store = copies.store(kind, path, image)
        served_from = "memory" if kind == "nquads" or store is copies.memory else "disk"
        reply = _answer(store, text, media, default_graph, named_graphs, limit, prefixes)
        if reply[0] == "ok" and len(reply[3]) >= INLINE_BYTES:  # the size, then the bytes
            conn.send((*reply[:3], len(reply[3]), served_from))
            conn.send_bytes(reply[3])
        else:  # one message: one write, one wake-up of the server
            conn.send((*reply, served_from) if reply[0] == "ok" else reply)


class _Copies:
    """The worker's view of one snapshot: the checkpoint opened read-only, and the in-memory
    copy of its image once loaded (by a thread, while the checkpoint answers)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.disk: ox.Store | None = None
        self.memory: ox.Store | None = None
        self._loading: str | None = None  # the image a thread is loading
        self._lock = threading.Lock()
        self._base_cap: int | None = None  # the address space cap for the queries alone

    def store(self, kind: str, path: str, image: str | None) -> ox.Store:
        if path != self.path:  # the previous snapshot is no longer needed
            with self._lock:
                self.path, self.disk, self.memory = path, None, None
            if kind == "nquads":  # an in-memory store's dump: loaded here and now
                self.memory = ox.Store()
                self.memory.bulk_load(path=path, format=ox.RdfFormat.N_QUADS)
        if self.memory is not None:
            return self.memory
        if image is not None and self._loading is None:
            self._loading = image
            if os.path.getsize(image) <= SMALL_IMAGE_BYTES:  # quicker than opening RocksDB
                self._load(path, image)
                if self.memory is not None:
                    return self.memory
            else:  # a small stack: the address space cap must leave room for the queries
                stack = threading.stack_size(LOADER_STACK_BYTES)
                try:
                    threading.Thread(target=self._load, args=(path, image), name="kb-image",
                                     daemon=True).start()
                finally:
                    threading.stack_size(stack)
        if self.disk is None:
            self.disk = ox.Store.read_only(path)
        return self.disk

    def _load(self, path: str, image: str) -> None:
        cap, hard = resource.getrlimit(resource.RLIMIT_AS)
        if cap != resource.RLIM_INFINITY:  # room for the copy, on top of the queries' cap
            if self._base_cap is None:
                self._base_cap = cap
            wider = self._base_cap + COPY_ROOM_PER_IMAGE_BYTE * os.path.getsize(image)
            resource.setrlimit(resource.RLIMIT_AS, (wider, hard))
        try:
            copy = ox.Store()
            copy.bulk_load(path=image, format=ox.RdfFormat.N_QUADS)
        except (OSError, SyntaxError, MemoryError):  # removed meanwhile, or too large
            copy = None
        with self._lock:  # never a copy of another snapshot than the one asked for
            if copy is not None and self.path == path:
                self.memory, self.disk = copy, None  # the query thread takes it next time
            self._loading = None


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
            raw.serialize(out, format=engine_format(kind, media[kind]))  # type: ignore[attr-defined]
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
