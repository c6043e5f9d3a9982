"""``kb serve``: the HTTP server (the one place where ``kb`` reaches into ``api``)."""

from __future__ import annotations

import click

from kb.commands.common import (
    Context,
    fail_on_kb_error,
    pass_context,
)
from kb.store import KnowledgeBase


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log every request (costs about 0.2 ms a request).")
@pass_context
@fail_on_kb_error
def serve(obj: Context, host: str, port: int, access_log: bool) -> None:
    """Serve the SPARQL endpoint, the pages and the API over HTTP."""
    import signal

    import uvicorn

    from api.app import create_app  # the one place kb reaches into api (an optional edge)
    from api.server import protocol_with_header_timeout

    # SIGTERM and SIGINT stop the server cleanly, with exit code 0. uvicorn catches them, shuts
    # down gracefully, then raises the signal again once its own handler is gone; the default
    # action of SIGTERM would then kill the process before the store is closed (flushed and
    # unlocked, the query workers stopped, their snapshots removed). This handler ends
    # ``uvicorn.run`` with SystemExit(0) instead, and ignores signals while the store closes.
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise SystemExit(0)

    kb = KnowledgeBase(obj.settings)
    handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        kb.start_query_workers()
        click.echo(f"Serving {obj.settings.store} on http://{host}:{port}/", err=True)
        uvicorn.run(create_app(kb), host=host, port=port, log_level="info", access_log=access_log,
                    timeout_graceful_shutdown=5,
                    # X-Forwarded-For from the trusted proxies only (uvicorn's own middleware;
                    # uvicorn alone would trust 127.0.0.1, or FORWARDED_ALLOW_IPS)
                    proxy_headers=bool(obj.settings.trusted_proxies),
                    forwarded_allow_ips=list(obj.settings.trusted_proxies) or None,
                    http=protocol_with_header_timeout(obj.settings.header_timeout,
                                                      obj.settings.io_timeout))
    finally:
        stopping = True
        kb.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


#: The commands this module adds to ``kb`` (``kb.cli`` registers them).
COMMANDS = [serve]
