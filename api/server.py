"""How ``kb serve`` runs uvicorn: an HTTP protocol that closes slow or silent clients.

uvicorn never times out a connection that sends nothing, or that trickles its request head
one header line at a time: ``timeout_keep_alive`` only starts after a response (uvicorn issue
#157, PR #1192). Thousands of such sockets cost file descriptors and memory, and with
``--limit-concurrency`` they lock everyone else out. This protocol gives every request head
(the request line and headers) ``header_timeout`` seconds to arrive completely, counted from
the connection's opening or the end of the previous response; then the connection is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def protocol_with_header_timeout(seconds: float) -> type[H11Protocol]:
    """An h11 protocol class that closes connections whose request head takes longer than
    ``seconds`` to arrive."""

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout = seconds

        def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
            super().connection_made(transport)  # type: ignore[arg-type]
            self._head_timer: asyncio.TimerHandle | None = None
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._waiting_for = self.cycle  # a new request head replaces this cycle
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

        def handle_events(self) -> None:
            super().handle_events()
            if self._head_timer is not None and self.cycle is not self._waiting_for:
                self._disarm()  # the head arrived

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
