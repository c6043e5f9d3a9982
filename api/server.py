"""How ``kb serve`` runs uvicorn: an HTTP protocol that closes slow or silent clients.

uvicorn never times out a connection that sends nothing, or that trickles its request head
one header line at a time: ``timeout_keep_alive`` only starts after a response (uvicorn issue
#157, PR #1192). Thousands of such sockets cost file descriptors and memory, and with
``--limit-concurrency`` they lock everyone else out. Nor does it time out a request body that
stops arriving, or an answer the client does not read (the transport buffers the whole
answer: 52 MB a client). This protocol closes the connection when

* a request head (the request line and headers) takes longer than ``header_timeout`` seconds
  to arrive completely, counted from the connection's opening or the end of the previous
  response;
* a request head grows past ``MAX_HEAD_BYTES`` before it is complete (431);
* a request body stalls: no byte of it for ``io_timeout`` seconds (while the application
  reads; a slow application is not the client's fault);
* an answer cannot be written for ``io_timeout`` seconds because the client does not read:
  the connection is aborted and the buffered answer freed.

It is uvicorn's httptools protocol (llhttp, in C), not its h11 one: on a query answered in a
millisecond, h11's parsing in Python was a sixth of the server's time (`bench sparql`).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.errors import BadRequest, error_body
from api.negotiation import HeaderTooLarge
from kb.errors import KbError

#: Bytes of an incomplete request head after which the connection is refused (431) and
#: closed. llhttp sets no limit of its own; ``api.security.HeaderLimit`` refuses complete
#: heads over 16 KB.
MAX_HEAD_BYTES = 256 * 1024


def protocol_with_header_timeout(seconds: float, io_timeout: float = 30.0,
                                 ) -> type[HttpToolsProtocol]:
    """An HTTP protocol class that closes connections whose request head takes longer than
    ``seconds`` to arrive, or whose body or answer stalls for ``io_timeout`` seconds."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        header_timeout = seconds
        stall_timeout = io_timeout

        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
            super().connection_made(transport)  # type: ignore[arg-type]
            self._head_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None
            self._write_timer: asyncio.TimerHandle | None = None
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_for = self.cycle  # a new request head replaces this cycle
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timeout)

        def _disarm(self) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.cycle is self._waiting_for and not self.transport.is_closing():
                self.transport.close()  # no complete request head in time

        def _arm_body(self) -> None:
            """(Re)start the body timer while the request's body is still coming."""
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            cycle = self.cycle
            if cycle is not None and cycle.more_body and not cycle.response_complete:
                self._body_timer = self.loop.call_later(self.stall_timeout, self._body_timeout)

        def _body_timeout(self) -> None:
            self._body_timer = None
            cycle = self.cycle
            if cycle is None or not cycle.more_body or self.transport.is_closing():
                return
            if self.flow.read_paused:  # the application has not read what came: not stalled
                self._arm_body()
                return
            self.transport.close()  # the application sees the client leave

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None:
                if self.cycle is not self._waiting_for:
                    self._disarm()  # the head arrived
                else:
                    self._head_bytes += len(data)
                    if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                        self._refuse_head()
                        return
            self._arm_body()

        def _refuse_head(self) -> None:
            """431 for a request head that never ends, then close."""
            self._refuse(431, "Request Header Fields Too Large", HeaderTooLarge(
                f"The request head is larger than {MAX_HEAD_BYTES:,} bytes"))

        def send_400_response(self, msg: str) -> None:
            """The parser's refusal (malformed HTTP, or a request smuggling's signs) in the
            API's one error shape, then close."""
            self._refuse(400, "Bad Request", BadRequest(
                "Invalid HTTP/1.1 request: malformed, or with both Content-Length and "
                "Transfer-Encoding (send one of them)"))

        def _refuse(self, status: int, reason: str, error: KbError) -> None:
            """``error`` in the API's one error shape (below the application: no ASGI), then
            close the connection."""
            body = json.dumps(error_body(error, status)).encode()
            self.transport.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
            self.transport.close()

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._write_timer is None:
                self._write_timer = self.loop.call_later(self.stall_timeout, self._write_timeout)

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None

        def _write_timeout(self) -> None:
            self._write_timer = None
            if self.flow.write_paused:
                self.transport.abort()  # drop the unread answer: the client does not read

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A pipelined request whose head came meanwhile has just started (uvicorn starts
            # it in there): no head is awaited until its own answer is complete.
            if not self.transport.is_closing() and self.cycle.response_complete:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            for timer in (self._body_timer, self._write_timer):
                if timer is not None:
                    timer.cancel()
            self._body_timer = self._write_timer = None
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
