"""The app's static files (``/static``), with cache headers that fit how they are linked.

Pages link each file as ``/static/<path>?v=<digest of its content>`` (the ``asset`` template
global): a request carrying ``v`` may be kept for a year without asking again, since a
changed file gets a new address. A request without ``v`` (an old link, Swagger UI's files)
is answered with ``no-cache``: the browser keeps it but revalidates (ETag, 304).
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, quote

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Assets(StaticFiles):
    """``StaticFiles`` that adds ``Cache-Control`` (see the module's docstring)."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "v" in parse_qs(scope.get("query_string", b"").decode("latin-1"))
        response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        return response


@cache
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def asset(path: str) -> str:
    """The address of ``api/static/<path>`` with the digest of its content, for templates.

    >>> asset("style.css").startswith("/static/style.css?v=")
    True
    """
    stat = (STATIC_DIR / path).stat()
    return f"/static/{quote(path)}?v={_digest(path, stat.st_mtime_ns, stat.st_size)}"
