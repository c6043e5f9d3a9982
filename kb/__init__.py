"""medsupply-kb: a graph knowledge base of the trade in medical supplies during COVID-19.

The library comes first; the ``kb`` command and the HTTP API are thin adapters over it.

>>> from kb import KnowledgeBase
>>> with KnowledgeBase.open("memory") as kb:
...     kb.ask("ASK { ?s ?p ?o }")
False
"""

from kb.errors import (
    InvalidParameter,
    KbError,
    LoadError,
    NotFound,
    QueryError,
    QueryRefused,
    QueryTimeout,
    ResultTooLarge,
    StoreError,
    ValidationFailed,
)
from kb.load import LoadReport, load_paths
from kb.settings import Settings
from kb.store import KnowledgeBase, Result

__all__ = [
    "InvalidParameter",
    "KbError",
    "KnowledgeBase",
    "LoadError",
    "LoadReport",
    "NotFound",
    "QueryError",
    "QueryRefused",
    "QueryTimeout",
    "Result",
    "ResultTooLarge",
    "Settings",
    "StoreError",
    "ValidationFailed",
    "load_paths",
]
