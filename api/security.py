"""Write authorisation and the request-size cap."""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized, error_body
from api.negotiation import HeaderTooLarge
from kb.settings import Settings


def require_update_token(request: Request, settings: Settings) -> None:
    """Let a write through only with ``Authorization: Bearer <update token>``.

    Raises:
        Forbidden: writes are off (no token configured), or the token is wrong.
        Unauthorized: no bearer token was sent.
    """
    if not settings.update_token:
        raise Forbidden("Writes are off: start the server with an update token "
                        "(KB_UPDATE_TOKEN) to accept SPARQL Update and Graph Store writes")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("This write needs an 'Authorization: Bearer <token>' header")
    if not hmac.compare_digest(token.strip().encode(), settings.update_token.encode()):
        raise Forbidden("The bearer token is not the update token")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or while
    reading (the body is read at most up to the limit, then replayed to the app)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await refuse(send, PayloadTooLarge(
            f"The request body is larger than {self.limit:,} bytes (KB_MAX_BODY_BYTES); load "
            "large files with `kb load`"), 413)


#: Most bytes of request headers (names and values) a request may carry; nginx's default
#: buffers allow 8 KB a line.
MAX_HEADER_BYTES = 16 * 1024


class HeaderLimit:
    """Refuse, and close the connection after, requests whose headers total more than
    ``limit`` bytes (431), and requests that carry both Content-Length and
    Transfer-Encoding (400: RFC 9112 §6.3 lets a server refuse them, and asks it to close
    the connection, since the body's end is ambiguous and a proxy may disagree)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        size = sum(len(k) + len(v) + 4 for k, v in headers)
        if size > self.limit:
            await refuse(send, HeaderTooLarge(
                f"The request headers total {size:,} bytes; this server reads at most "
                f"{self.limit:,}"), 431)
            return
        names = {k.lower() for k, _ in headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            await refuse(send, BadRequest(
                "The request has both Content-Length and Transfer-Encoding; send one of them"),
                400)
            return
        await self.app(scope, receive, send)


async def refuse(send: Send, error: Exception, status: int) -> None:
    """Answer ``error`` in the one error shape and close the connection."""
    import json

    payload = json.dumps(error_body(error, status)).encode()  # type: ignore[arg-type]
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})
