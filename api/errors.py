"""One JSON error shape for every error the API reports, and the KbError -> status table."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.negotiation import HeaderTooLarge, NotAcceptable
from kb import errors


class Unauthorized(errors.KbError):
    """A write came without credentials."""


class Forbidden(errors.KbError):
    """Writes are off, or the credentials are wrong."""


class PayloadTooLarge(errors.KbError):
    """The request body is larger than the configured cap."""


class UnsupportedMediaType(errors.KbError):
    """The request body is in a format this route does not take."""


class BadRequest(errors.KbError):
    """The request breaks the protocol (SPARQL 1.1 Protocol: 400 Bad Request)."""


#: Most specific class first.
STATUS_FOR: list[tuple[type[errors.KbError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (PayloadTooLarge, 413),
    (errors.ResultTooLarge, 413),
    (UnsupportedMediaType, 415),
    (NotAcceptable, 406),
    (HeaderTooLarge, 431),
    (BadRequest, 400),
    (errors.QueryRefused, 400),
    (errors.QueryError, 400),
    (errors.LoadError, 400),
    (errors.NotFound, 404),
    (errors.InvalidParameter, 422),
    (errors.ValidationFailed, 422),
    (errors.TooManyQueries, 429),
    (errors.QueryTimeout, 503),
    (errors.StoreError, 503),
]


#: Seconds a 429 (a client over its share of the query workers) is held before it is sent.
TOO_MANY_DELAY = 1.0


def status_for(exc: errors.KbError) -> int:
    for cls, status in STATUS_FOR:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: errors.KbError, status: int) -> dict[str, object]:
    """``{"ok": false, "status": …, "error": message, "type": class name}`` plus ``line``
    and ``column`` when the error has a position, ``iri`` when it names a resource, and
    ``report`` (the SHACL violations) when a write was refused for breaking the shapes."""
    body: dict[str, object] = {"ok": False, "status": status, "error": str(exc),
                               "type": type(exc).__name__}
    for attr in ("line", "column", "iri", "report"):
        value = getattr(exc, attr, None)
        if value is not None:
            body[attr] = value
    return body


async def kb_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.KbError)
    status = status_for(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, errors.TooManyQueries):
        headers = {"Retry-After": str(exc.retry_after)}
        # Held a moment before it is sent (nothing waits but a timer): a client over its
        # share that asks again at once would otherwise spin, and spend the event loop's
        # time, which the other clients' answers need, on refusals.
        await asyncio.sleep(TOO_MANY_DELAY)
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="medsupply-kb"'}
    return JSONResponse(error_body(exc, status), status_code=status, headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's parameter errors, in the one error shape, naming the parameter."""
    from fastapi.exceptions import RequestValidationError

    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        name = ".".join(str(x) for x in error.get("loc", ())[1:]) or "request"
        parts.append(f"{name}: {error.get('msg', 'invalid')}")
    body = {"ok": False, "status": 422, "error": "; ".join(parts), "type": "InvalidParameter"}
    return JSONResponse(body, status_code=422)


#: Starlette's own errors (routing, methods), named as the one error shape names them.
HTTP_TYPES = {404: "NotFound", 405: "MethodNotAllowed", 400: "BadRequest",
              413: "PayloadTooLarge", 431: "HeaderTooLarge"}


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Routing's 404 and 405 (and any other HTTPException) in the one error shape."""
    assert isinstance(exc, HTTPException)
    from urllib.parse import quote

    status = exc.status_code
    path = quote(request.url.path)  # the path as sent: no markup echoed
    if status == 404:
        message = f"No page or endpoint at {path}; the API is listed at /docs"
    elif status == 405:
        message = (f"{request.method} is not allowed on {path}; allowed: "
                   f"{(exc.headers or {}).get('Allow', 'see /docs')}")
    else:
        message = str(exc.detail)
    body = {"ok": False, "status": status, "error": message,
            "type": HTTP_TYPES.get(status, "HTTPError")}
    return JSONResponse(body, status_code=status,
                        headers={**(exc.headers or {}), "X-Content-Type-Options": "nosniff"})


async def server_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug (an exception nobody expected): 500 in the one error shape, without details;
    the traceback goes to the server's log."""
    body = {"ok": False, "status": 500, "type": "InternalError",
            "error": "The server failed to answer this request (a bug: the details are in "
                     "the server's log)"}
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError

    app.add_exception_handler(errors.KbError, kb_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, server_error_handler)
