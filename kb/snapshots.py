"""The snapshots the query workers read (``kb.workers``), and their in-memory images.

* The snapshot of an on-disk store is a RocksDB checkpoint (``Store.backup``: hard links to
  immutable files, about a millisecond at any size), opened read-only by the workers; nobody
  writes into it, so readers never see a half-done write. An in-memory store is dumped to an
  N-Quads file that each worker loads.
* A new snapshot is taken on the first query after a write (``KnowledgeBase.generation``), so
  a client reads its own writes. Old snapshots stay until no worker and no waiting request
  can still be reading them.
* **Memory copies.** RocksDB costs 3-13x Oxigraph's in-memory store on joins, aggregates and
  paths. When the data fits ``replica_bytes`` (counted for every worker's copy), a thread
  dumps each new checkpoint to N-Quads (``IMAGE``, inside the checkpoint's folder) and the
  workers load it into an in-memory store. A request names its snapshot and, once it is
  ready, the image: a worker answers from its copy when it holds that very image, and from
  the checkpoint on disk until then. So the disk stays the one durable truth, every
  acknowledged write is read back at once (from the new checkpoint), and the copies follow
  the writes in order, one generation at a time.
* Above the budget the workers stay on the checkpoints, and ``status()`` and the log say
  why. A worker widens its address space cap (``KB_QUERY_MEMORY_BYTES``, the queries' room)
  by the size of the copy it loads.
* **The default graph last.** Oxigraph's in-memory store chains each term's quads newest
  first, across all graphs, so a query on the default graph with a ``LIMIT`` walks past
  every named-graph quad loaded after the default graph's. The on-disk engine dumps the
  default graph first; the images are written with it last (``default_graph_last``): at 1M
  triples the join, text filter and CONSTRUCT of the bench's mix took 15-25 ms from an
  image in the engine's order and 0.4-3 ms from one in this order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pyoxigraph as ox

log = logging.getLogger("kb.snapshots")

#: The N-Quads image of a checkpoint, in the checkpoint's folder (RocksDB ignores it).
IMAGE = "kb-image.nq"
#: Resident memory of an in-memory store per byte of its N-Quads dump (measured: 362 MB for
#: the 265 MB dump of 1M triples, named graph and union), rounded up.
MEMORY_PER_DUMP_BYTE = 1.5
#: Seconds between a new checkpoint and its image: a burst of writes makes one image.
QUIET_SECONDS = 0.5


class Snapshot(NamedTuple):
    generation: int
    kind: str  # "rocksdb" (a checkpoint folder) or "nquads" (a dump file)
    path: str
    image: str | None = None  # the checkpoint's N-Quads image, once the workers may load it


def default_graph_last(dump: Path, target: Path) -> None:
    """Write the N-Quads ``dump`` of an on-disk store (in the order of the engine's indexes:
    the default graph's triples, then the named graphs' quads) to ``target`` with the
    default graph's triples last (see the module's docstring)."""
    with dump.open("rb") as source, target.open("wb") as out:
        boundary = _named_graphs_start(source)
        source.seek(boundary)
        shutil.copyfileobj(source, out, 1 << 20)
        source.seek(0)
        left = boundary
        while left:
            chunk = source.read(min(left, 1 << 20))
            out.write(chunk)
            left -= len(chunk)


def _named_graphs_start(source: BinaryIO) -> int:
    """The offset of the first named-graph quad of an N-Quads dump whose default graph comes
    first (its size when it has none): a binary search over the bytes, each byte standing
    for the line it falls in."""
    def named(offset: int) -> bool:
        start = offset
        while start > 0:  # back to the start of the line that ``offset`` falls in
            source.seek(max(0, start - 4096))
            before = source.read(start - source.tell())
            if not before:  # past the end (cannot happen below the file's size)
                break
            cut = before.rfind(b"\n")
            if cut >= 0:
                start -= len(before) - cut - 1
                break
            start -= len(before)
        source.seek(start)
        quad = next(iter(ox.parse(source.readline(), format=ox.RdfFormat.N_QUADS)))
        return not isinstance(quad.graph_name, ox.DefaultGraph)

    low, high = 0, source.seek(0, os.SEEK_END)
    while low < high:
        middle = (low + high) // 2
        if named(middle):
            high = middle
        else:
            low = middle + 1
    return low


def default_replica_bytes() -> int:
    """A quarter of the machine's memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError):
        return 1024 * 1024 * 1024


class Snapshots:
    """The snapshots of ``kb`` (a ``kb.workers.KnowledgeSource``) for ``copies`` workers.
    ``replica_bytes`` is the memory all workers' in-memory copies may take together (0: none,
    -1: a quarter of the machine's memory). ``opened()`` names the snapshots the workers have open;
    ``on_image(snapshot)`` is called (on a thread) when a snapshot's image is ready."""

    def __init__(self, kb: object, *, copies: int, replica_bytes: int,
                 opened: Callable[[], set[str]],
                 on_image: Callable[[Snapshot], None]) -> None:
        self.kb = kb
        self.copies = copies
        self.budget = default_replica_bytes() if replica_bytes < 0 else replica_bytes
        self._opened = opened
        self._on_image = on_image
        self._take_lock = threading.Lock()  # one snapshot taken at a time
        self._lock = threading.Lock()  # brief: the current snapshot and who holds which
        self._current: Snapshot | None = None
        self._holds: Counter[str] = Counter()  # snapshots given to requests not yet answered
        self.folder = _snapshot_folder(kb)
        self._numbers = iter(range(10**9))
        self._closed = False
        on_disk = getattr(kb.backend, "path", None) is not None  # type: ignore[attr-defined]
        self.copy_bytes = 0  # the estimated memory of one copy, once an image was made
        if not on_disk:
            self.mode, self.reason = "memory", "an in-memory store: each worker loads a copy"
        elif self.budget <= 0:
            self.mode, self.reason = "disk", "memory copies are off (KB_REPLICA_MEMORY_BYTES=0)"
        else:
            self.mode, self.reason = "loading", "the first memory image is being made"
        self._wanted = threading.Event()
        if self.mode == "loading":
            threading.Thread(target=self._make_images, name="kb-snapshot-image",
                             daemon=True).start()

    # --- holding ---------------------------------------------------------------------------

    def hold_current(self) -> Snapshot | None:
        """The current snapshot, held for one request, if the store has not changed since it
        was taken (never waits: safe on an event loop); else None."""
        with self._lock:
            snapshot = self._current
            if snapshot is None or snapshot.generation != self.kb.generation:  # type: ignore[attr-defined]
                return None
            self._holds[snapshot.path] += 1
            return snapshot

    def hold_new(self) -> Snapshot:
        """The snapshot of the store as it is now, held for one request; taken when a write
        happened since the last one (waits for a running write)."""
        from kb.engine import run_in_engine_thread

        with self._take_lock:
            if (held := self.hold_current()) is not None:
                return held
            target = self.folder / f"{os.getpid()}-{next(self._numbers):06d}"
            kb = self.kb
            with kb._write_lock:  # type: ignore[attr-defined]  # no write between the two
                generation = kb.generation  # type: ignore[attr-defined]
                backend = kb.backend  # type: ignore[attr-defined]
                if backend.path is not None:
                    run_in_engine_thread(backend.store.backup, str(target))
                    kind = "rocksdb"
                else:
                    target = target.with_suffix(".nq")
                    with target.open("wb") as out:
                        run_in_engine_thread(backend.store.dump, out, ox.RdfFormat.N_QUADS)
                    kind = "nquads"
            snapshot = Snapshot(generation, kind, str(target))
            with self._lock:
                self._current = snapshot
                self._holds[snapshot.path] += 1
                in_use = {target.name} | {Path(p).name for p, n in self._holds.items() if n}
            in_use |= {Path(p).name for p in self._opened()}
            for path in self.folder.iterdir():
                if path.name not in in_use:
                    _remove(path)
            if kind == "rocksdb" and self.mode != "disk":
                self._wanted.set()
            return snapshot

    @property
    def current(self) -> Snapshot | None:
        return self._current

    def take_first(self) -> None:
        """Take a snapshot now, so that the memory copies are made from the start."""
        with contextlib.suppress(Exception):  # closed meanwhile: the next query says it
            if not self._closed:
                self.release(self.hold_new())

    def release(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._holds[snapshot.path] -= 1
            if self._holds[snapshot.path] <= 0:
                del self._holds[snapshot.path]

    # --- images ----------------------------------------------------------------------------

    def _make_images(self) -> None:
        """Dump the newest checkpoint that has no image yet (an older one is skipped), until
        closed or over the budget."""
        while not self._closed and self.mode != "disk":
            self._wanted.wait()
            time.sleep(QUIET_SECONDS)  # writes in a burst: one image for the last of them
            self._wanted.clear()
            if self._closed:
                return
            snapshot = self.hold_current()
            if snapshot is None or snapshot.image is not None:
                if snapshot is not None:
                    self.release(snapshot)
                continue
            try:
                image = self._dump(snapshot)
            except Exception as e:  # a failed image: the workers stay on the checkpoint
                log.warning("Could not make the memory image of the store: %s", e)
                image = None
            finally:
                self.release(snapshot)
            if image is None:
                continue
            with self._lock:
                if self._current is not None and self._current.path == snapshot.path:
                    self._current = snapshot = snapshot._replace(image=image)
                else:
                    continue
            if self.mode != "memory":
                log.info("Query workers answer from in-memory copies of the store (%s MB "
                         "each, %s MB for %d workers, budget %s MB)", _mb(self.copy_bytes),
                         _mb(self.copy_bytes * self.copies), self.copies, _mb(self.budget))
                self.mode, self.reason = "memory", "the data fits the memory budget"
            self._on_image(snapshot)

    def _dump(self, snapshot: Snapshot) -> str | None:
        target = Path(snapshot.path) / IMAGE
        partial = target.with_suffix(".part")
        dumped = target.with_suffix(".dump")
        store = ox.Store.read_only(snapshot.path)
        try:
            store.dump(str(dumped), format=ox.RdfFormat.N_QUADS)
        finally:
            del store
        try:
            default_graph_last(dumped, partial)
        finally:
            dumped.unlink(missing_ok=True)
        self.copy_bytes = int(partial.stat().st_size * MEMORY_PER_DUMP_BYTE)
        total = self.copy_bytes * self.copies
        over = (f"the data needs about {_mb(self.copy_bytes)} MB per copy, "
                f"{_mb(total)} MB for {self.copies} workers, over the memory budget of "
                f"{_mb(self.budget)} MB (KB_REPLICA_MEMORY_BYTES)") if total > self.budget else None
        if over is not None:
            partial.unlink(missing_ok=True)
            self.mode, self.reason = "disk", over
            log.warning("Query workers answer from the store on disk: %s", over)
            return None
        partial.rename(target)
        return str(target)

    def status(self) -> dict[str, object]:
        """How the workers answer: "memory", "disk" or "loading" (a first image is being
        made), why, and the budget."""
        return {"mode": self.mode, "reason": self.reason, "budget_bytes": self.budget,
                "copy_bytes": self.copy_bytes}

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        shutil.rmtree(self.folder, ignore_errors=True)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def _snapshot_folder(kb: object) -> Path:
    """``<store>.snapshots`` next to an on-disk store (hard links need the same file system;
    only the process holding the store's lock uses it, so leftovers of a killed server are
    cleared), or a new temporary folder for an in-memory store, named with the process id
    (the folders of processes that no longer run are cleared)."""
    path = getattr(kb.backend, "path", None)  # type: ignore[attr-defined]
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
