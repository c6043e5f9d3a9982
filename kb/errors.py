"""Exceptions raised by kb on purpose.

KbError
  ├── LoadError          an input file could not be read or parsed (names file, line, column)
  ├── QueryError         a SPARQL query or update did not parse or failed to run
  │     └── QueryRefused a query or update asks for something not allowed (remote access,
  │                      too large, too deeply nested)
  ├── QueryTimeout       a query ran past its time limit and was stopped
  ├── ResultTooLarge     a query's answer is larger than the server returns
  ├── TooManyQueries     a client already holds its share of the query workers
  ├── StoreError         the store could not be opened or reached
  ├── NotFound           no such resource or graph in the store
  ├── InvalidParameter   an argument has a value that cannot be used (names the parameter)
  └── ValidationFailed   data does not conform to the SHACL shapes where conformance is required

Adapters map these to exit codes (kb.cli) and HTTP statuses (api.errors). Anything else
escaping kb is a bug.
"""

from __future__ import annotations


class KbError(Exception):
    """Base class for every error kb raises on purpose."""


class LoadError(KbError):
    """An input file could not be read or parsed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = path or ""
        if line is not None:
            where += f", line {line}" + (f", column {column}" if column is not None else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.column = column


class QueryError(KbError):
    """A SPARQL query or update did not parse or failed to run."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class QueryRefused(QueryError):
    """A query or update asks for something this knowledge base does not allow."""


class QueryTimeout(KbError):
    """A query ran past its time limit and was stopped."""


class ResultTooLarge(KbError):
    """A query's answer is larger than the server returns."""


class TooManyQueries(KbError):
    """A client already holds its share of the query workers; ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreError(KbError):
    """The store could not be opened or reached."""


class NotFound(KbError):
    """No such resource or graph in the store."""

    def __init__(self, message: str, *, iri: str | None = None) -> None:
        super().__init__(message)
        self.iri = iri


class InvalidParameter(KbError):
    """An argument has a value that cannot be used."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class ValidationFailed(KbError):
    """Data does not conform to the SHACL shapes where conformance is required.

    ``report`` lists the violations as dicts (``focus``, ``path``, ``message``)."""

    def __init__(self, message: str, *, report_text: str = "",
                 report: list[dict[str, str | None]] | None = None) -> None:
        super().__init__(message)
        self.report_text = report_text
        self.report = report
