"""Settings: everything kb needs to know, declared once and passed in explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from kb.errors import InvalidParameter

DEFAULT_STORE = "var/store"


@dataclass(frozen=True)
class Settings:
    """Configuration of a knowledge base and its server.

    Every field can be set from the environment by ``Settings.from_env`` with the
    variable named in its metadata.
    """

    store: str = field(default=DEFAULT_STORE, metadata={"env": "KB_STORE", "help":
        "where the data lives: a folder (Oxigraph on disk), 'memory', or an http(s):// "
        "SPARQL 1.1 query endpoint"})
    update_url: str | None = field(default=None, metadata={"env": "KB_UPDATE_URL", "help":
        "SPARQL 1.1 update endpoint of a remote store, where it differs from the query one"})
    remote_union: str = field(default="server", metadata={"env": "KB_REMOTE_UNION", "help":
        "the default graph of a remote store: 'server' uses the server's own (e.g. oxigraph "
        "--union-default-graph, a bag there); 'kept' makes every write of the knowledge base "
        "keep the set union of the named graphs in the server's default graph (Oxigraph "
        "server without --union-default-graph; not Virtuoso)"})
    allow_hosts: tuple[str, ...] = field(default=(), metadata={"env": "KB_ALLOW_HOSTS", "help":
        "comma-separated hosts that SERVICE, LOAD and remote FROM may reach (none by default)"})
    query_timeout: float = field(default=30.0, metadata={"env": "KB_QUERY_TIMEOUT", "help":
        "seconds a SPARQL query may run in the server before its worker is killed (503)"})
    update_timeout: float = field(default=30.0, metadata={"env": "KB_UPDATE_TIMEOUT", "help":
        "seconds a SPARQL Update, or the parse of a JSON-LD document, may run: an update is "
        "first rehearsed on a copy of the store in a process killed at this limit (503, "
        "nothing changed), then applied (0: no limit, no rehearsal)"})
    query_workers: int = field(default=4, metadata={"env": "KB_QUERY_WORKERS", "help":
        "worker processes the server runs SPARQL queries in (0: in the server process, "
        "which cannot stop a runaway query)"})
    query_memory_bytes: int = field(default=2 * 1024 * 1024 * 1024, metadata={
        "env": "KB_QUERY_MEMORY_BYTES", "help":
        "address space each query worker may use, in bytes (a query needing more is stopped "
        "with 413 and its worker replaced; 0: no cap). Holds the engine, its 256 MB stack and, "
        "for an in-memory store, a copy of the data"})
    replica_memory_bytes: int = field(default=-1, metadata={
        "env": "KB_REPLICA_MEMORY_BYTES", "help":
        "memory the query workers' in-memory copies of an on-disk store may take together, "
        "in bytes: within it they answer from memory (the disk stays the durable store), "
        "above it from the store on disk (/health says which). 0: never; -1: a quarter of "
        "the machine's memory"})
    query_workers_per_client: int = field(default=0, metadata={
        "env": "KB_QUERY_WORKERS_PER_CLIENT", "help":
        "queries one client (remote address) may have running or waiting at once; beyond, "
        "429 with Retry-After (0: a quarter of the workers, at least one; behind a reverse "
        "proxy, list it in KB_TRUSTED_PROXIES, or every client has the proxy's address)"})
    trusted_proxies: tuple[str, ...] = field(default=(), metadata={
        "env": "KB_TRUSTED_PROXIES", "help":
        "comma-separated addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed: the client's address, for the "
        "fair share of query workers, is then the one the proxy saw (none by default: the "
        "header is ignored, whoever sends it)"})
    io_timeout: float = field(default=30.0, metadata={"env": "KB_IO_TIMEOUT", "help":
        "seconds a request body may stall, or an answer wait for a client that does not "
        "read it, before the server hangs up"})
    max_result_bytes: int = field(default=64 * 1024 * 1024, metadata={
        "env": "KB_MAX_RESULT_BYTES", "help":
        "largest answer /sparql returns, in bytes (413 beyond; /export serves dumps)"})
    max_query_bytes: int = field(default=32 * 1024, metadata={"env": "KB_MAX_QUERY_BYTES",
        "help": "longest accepted query text, in bytes"})
    max_update_bytes: int = field(default=1024 * 1024, metadata={"env": "KB_MAX_UPDATE_BYTES",
        "help": "longest accepted update text, in bytes (bulk data goes through kb load)"})
    max_body_bytes: int = field(default=10 * 1024 * 1024, metadata={"env": "KB_MAX_BODY_BYTES",
        "help": "largest accepted HTTP request body, in bytes"})
    result_cache_bytes: int = field(default=64 * 1024 * 1024, metadata={
        "env": "KB_RESULT_CACHE_BYTES", "help":
        "memory for /sparql answers kept until the next write (0: no cache)"})
    max_rows: int = field(default=10_000, metadata={"env": "KB_MAX_ROWS", "help":
        "most rows a SELECT answer holds in pages and JSON views of the server"})
    validate_writes: bool = field(default=False, metadata={"env": "KB_VALIDATE_WRITES", "help":
        "refuse a SPARQL Update, Graph Store write or load that would add SHACL violations "
        "(422); only the nodes a write touches are validated, but a SPARQL Update first runs "
        "on an in-memory copy of the store: about 45 ms on the bundled data, 0.4 s at 100k "
        "triples (a Graph Store write: about 10 ms, at any size)"})
    header_timeout: float = field(default=10.0, metadata={"env": "KB_HEADER_TIMEOUT", "help":
        "seconds a client has to send a complete request head before the server hangs up"})
    update_token: str | None = field(default=None, metadata={"env": "KB_UPDATE_TOKEN", "help":
        "bearer token that turns on writes over HTTP (off when unset)"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``KB_*`` environment variables; keyword overrides win when not None."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.metadata["env"], raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _convert(name: str, env: str, raw: str, type_: object) -> object:
    try:
        if type_ in ("int", int):
            return int(raw)
        if type_ in ("float", float):
            return float(raw)
        if type_ in ("bool", bool):
            value = {"1": True, "true": True, "yes": True, "on": True,
                     "0": False, "false": False, "no": False, "off": False}.get(raw.lower())
            if value is None:
                raise ValueError(raw)
            return value
        if "tuple" in str(type_):
            return tuple(h.strip() for h in raw.split(",") if h.strip())
    except ValueError:
        raise InvalidParameter(env, f"{raw!r} is not a valid value for {name}") from None
    return raw
