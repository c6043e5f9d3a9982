"""Uploads staged between a preview and its confirmation (the ``/import`` page), for a bound
time: never confirmed, they are removed.

An upload is kept as ``<folder>/<sha256>/<file name>`` (its key is ``<sha256>/<file name>``)
in a temporary folder of the server (``kb-upload-*``). A stage older than the bound
(``KB_IMPORT_STAGE_SECONDS``, by its files' modification time) is removed at each new
preview, and a confirmation of it is refused with :class:`StageExpired`; at start, the
``kb-upload-*`` folders of earlier servers untouched for longer than the bound are removed
(a folder's time is that of its newest stage, so nothing younger than the bound goes).

>>> duration_text(3600), duration_text(90), duration_text(5400), duration_text(0.5)
('1 hour', '2 minutes', '90 minutes', '0.5 seconds')
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from pathlib import Path

from kb.errors import KbError

PREFIX = "kb-upload-"
_KEY = re.compile(r"[0-9a-f]{64}/[^/\\]+")


class StageExpired(KbError):
    """A staged upload that is gone: expired, never staged, or staged by an earlier server."""


def duration_text(seconds: float) -> str:
    """A bound for a person: hours, minutes or seconds."""
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60:
        minutes = round(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def _age(path: Path, now: float) -> float:
    """Seconds since ``path`` or anything in it was last written."""
    try:
        newest = max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.rglob("*"))])
    except OSError:  # changing meanwhile (or not ours to read): young, left alone
        return 0.0
    return now - newest


class Staging:
    """The uploads staged by one server, each kept for ``seconds`` at most."""

    def __init__(self, seconds: float, parent: Path | None = None) -> None:
        self.seconds = seconds
        self.parent = Path(parent or tempfile.gettempdir())
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        """This server's folder (made when first needed, again if something removed it)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.parent))
        self._folder.mkdir(parents=True, exist_ok=True)
        return self._folder

    def stage(self, data: bytes, filename: str) -> tuple[str, Path]:
        """Keep ``data`` as ``filename`` (its last part) until confirmed or expired; removes
        the expired stages first. Returns the key and the file."""
        self.remove_expired()
        name = Path(filename).name or "upload.csv"
        key = f"{hashlib.sha256(data).hexdigest()}/{name}"
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key, path

    def path(self, key: str) -> Path:
        """The staged file of ``key``.

        Raises:
            StageExpired: no such stage, or one older than the bound (then removed).
        """
        again = "upload the file again to preview it."
        if not _KEY.fullmatch(key):
            raise StageExpired(f"{key!r} is not a staged upload: {again}")
        path = self.folder / key
        if not path.is_file():
            raise StageExpired(
                f"The upload {path.name!r} is no longer staged: an upload waits "
                f"{duration_text(self.seconds)} for its confirmation, and a restarted server "
                f"forgets it: {again}")
        if _age(path.parent, time.time()) > self.seconds:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise StageExpired(
                f"The upload {path.name!r} was previewed more than "
                f"{duration_text(self.seconds)} ago and has expired: {again}")
        return path

    def remove(self, key: str) -> None:
        """Forget a stage (imported)."""
        if _KEY.fullmatch(key):
            shutil.rmtree(self.folder / key.split("/")[0], ignore_errors=True)

    def remove_expired(self) -> int:
        """Remove this server's stages older than the bound; returns how many."""
        return self._sweep(self.folder.iterdir() if self._folder is not None else [])

    def remove_stale_folders(self) -> int:
        """At start: remove the folders of earlier servers (``kb-upload-*``) untouched for
        longer than the bound; returns how many."""
        return self._sweep(p for p in self.parent.glob(PREFIX + "*") if p != self._folder)

    def close(self) -> None:
        """At shutdown: remove this server's folder and what it holds."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _sweep(self, paths) -> int:
        now, n = time.time(), 0
        for path in list(paths):
            if path.is_dir() and not path.is_symlink() and _age(path, now) > self.seconds:
                shutil.rmtree(path, ignore_errors=True)
                n += 1
        return n
