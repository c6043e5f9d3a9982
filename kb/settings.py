"""Settings: everything kb needs to know, declared once and passed in explicitly.

A pydantic-settings model: every field has its type and range, and ``Settings.from_env``
reads it from the ``KB_*`` variable of its name (``query_timeout`` from
``KB_QUERY_TIMEOUT``). A value out of range or of the wrong type is an ``InvalidParameter``
naming the variable, raised when the settings are made (at start-up), not when first used.
``Settings(...)`` alone takes its keyword arguments and the defaults, never the environment.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from kb.errors import InvalidParameter

DEFAULT_STORE = "var/store"
_ENV_PREFIX = "KB_"

Seconds = Annotated[float, Field(gt=0, le=86_400)]
Bytes = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """Configuration of a knowledge base and its server (immutable)."""

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, frozen=True, extra="forbid",
                                      env_ignore_empty=True, validate_default=True)

    store: str = Field(DEFAULT_STORE, min_length=1, description=(
        "where the data lives: a folder (Oxigraph on disk), 'memory', or an http(s):// "
        "SPARQL 1.1 query endpoint"))
    update_url: str | None = Field(None, description=(
        "SPARQL 1.1 update endpoint of a remote store, where it differs from the query one"))
    remote_union: Literal["server", "kept"] = Field("server", description=(
        "the default graph of a remote store: 'server' uses the server's own (e.g. oxigraph "
        "--union-default-graph, a bag there); 'kept' makes every write of the knowledge base "
        "keep the set union of the named graphs in the server's default graph (Oxigraph "
        "server without --union-default-graph; not Virtuoso)"))
    allow_hosts: Annotated[tuple[str, ...], NoDecode] = Field((), description=(
        "comma-separated hosts that SERVICE, LOAD and remote FROM may reach (none by default)"))
    query_timeout: Seconds = Field(30.0, description=(
        "seconds a SPARQL query may run in the server before its worker is killed (503)"))
    update_timeout: float = Field(30.0, ge=0, description=(
        "seconds a SPARQL Update, or the parse of a JSON-LD document, may run: an update is "
        "first rehearsed on a copy of the store in a process killed at this limit (503, "
        "nothing changed), then applied (0: no limit, no rehearsal)"))
    query_workers: int = Field(4, ge=0, le=256, description=(
        "worker processes the server runs SPARQL queries in (0: in the server process, "
        "which cannot stop a runaway query)"))
    query_memory_bytes: int = Field(2 * 1024 * 1024 * 1024, ge=0, description=(
        "address space each query worker may use, in bytes (a query needing more is stopped "
        "with 413 and its worker replaced; 0: no cap). Holds the engine, its 256 MB stack and, "
        "for an in-memory store, a copy of the data"))
    replica_memory_bytes: int = Field(-1, ge=-1, description=(
        "memory the query workers' in-memory copies of an on-disk store may take together, "
        "in bytes: within it they answer from memory (the disk stays the durable store), "
        "above it from the store on disk (/health says which). 0: never; -1: a quarter of "
        "the machine's memory"))
    query_workers_per_client: int = Field(0, ge=0, description=(
        "queries one client (remote address) may have running or waiting at once; beyond, "
        "429 with Retry-After (0: a quarter of the workers, at least one; behind a reverse "
        "proxy, list it in KB_TRUSTED_PROXIES, or every client has the proxy's address)"))
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field((), description=(
        "comma-separated addresses or networks (10.0.0.0/8) of reverse proxies whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed: the client's address, for the "
        "fair share of query workers, is then the one the proxy saw (none by default: the "
        "header is ignored, whoever sends it)"))
    io_timeout: Seconds = Field(30.0, description=(
        "seconds a request body may stall, or an answer wait for a client that does not "
        "read it, before the server hangs up"))
    max_result_bytes: Bytes = Field(64 * 1024 * 1024, description=(
        "largest answer /sparql returns, in bytes (413 beyond; /export serves dumps)"))
    max_query_bytes: Bytes = Field(32 * 1024, description="longest accepted query text, in bytes")
    max_update_bytes: Bytes = Field(1024 * 1024, description=(
        "longest accepted update text, in bytes (bulk data goes through kb load)"))
    max_body_bytes: Bytes = Field(10 * 1024 * 1024, description=(
        "largest accepted HTTP request body, in bytes"))
    result_cache_bytes: int = Field(64 * 1024 * 1024, ge=0, description=(
        "memory for /sparql answers kept until the next write (0: no cache)"))
    max_rows: int = Field(10_000, ge=1, description=(
        "most rows a SELECT answer holds in pages and JSON views of the server"))
    validate_writes: bool = Field(False, description=(
        "refuse a SPARQL Update, Graph Store write or load that would add SHACL violations "
        "(422); only the nodes a write touches are validated, but a SPARQL Update first runs "
        "on an in-memory copy of the store: about 45 ms on the bundled data, 0.4 s at 100k "
        "triples (a Graph Store write: about 10 ms, at any size)"))
    header_timeout: Seconds = Field(10.0, description=(
        "seconds a client has to send a complete request head before the server hangs up"))
    search_index: str | None = Field(None, min_length=1, description=(
        "the SQLite file of the search index: by default kb-search.sqlite in an on-disk "
        "store's folder, memory for an in-memory store, and for a remote store a file per "
        "endpoint in the user's cache folder; 'off' keeps no index"))
    import_stage_seconds: Seconds = Field(3600.0, description=(
        "seconds a table uploaded on /import waits on the server for its confirmation: "
        "older uploads are removed at each new preview and at start, and confirming one "
        "asks for the file again"))
    update_token: str | None = Field(None, min_length=1, description=(
        "bearer token that turns on writes over HTTP (off when unset)"))

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise _invalid(e) from None

    @field_validator("allow_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):  # KB_ALLOW_HOSTS=a,b
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   **_sources: Any) -> tuple[Any, ...]:
        return (init_settings,)  # the environment is read by from_env only

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``KB_*`` environment variables; keyword overrides win when not None.

        Raises:
            InvalidParameter: a variable's value has the wrong type or is out of range
                (the message names the variable and what would be right).
        """
        values = EnvSettingsSource(cls, env_prefix=_ENV_PREFIX, env_ignore_empty=True)()
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**{**values, **given})
        except InvalidParameter as e:
            if e.name in set(values) - set(given):
                raise InvalidParameter(_ENV_PREFIX + e.name.upper(),
                                       e.args[0].partition(": ")[2]) from None
            raise

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied, validated like the original."""
        return type(self)(**{**self.model_dump(), **changes})


def _invalid(error: ValidationError) -> InvalidParameter:
    """The first problem of ``error`` as an ``InvalidParameter`` naming the field."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    return InvalidParameter(name, f"{first.get('input')!r} is not a valid value "
                                  f"({first['msg'][0].lower()}{first['msg'][1:]})")
