"""Full-text search over names, alternative names, source spellings, quotations and evidence.

>>> from kb import KnowledgeBase
>>> kb = KnowledgeBase.open("memory")
>>> kb.update('INSERT DATA { GRAPH <urn:g> { <urn:p> '
...           '<http://www.w3.org/2000/01/rdf-schema#label> "Hua Chúnying", "华春莹"@zh } }')
>>> [(h.iri, h.match, h.kind) for h in search(kb, "chunying")]
[('urn:p', 'Hua Chúnying', 'name')]
>>> [h.match for h in search(kb, "春莹")]
['华春莹']
>>> kb.close()

The index (``kb.search_index``, SQLite FTS5 with its trigram tokenizer) is kept in step
with the store at every write; a search never scans the store. Case and accents are ignored;
Chinese text is found by any three of its characters, and a shorter query (a given name such
as 春莹) by a scan of the names in the index's own table. Ranking: an exact name, then names
starting with the query, then other names and then texts, each by BM25; one hit per entity,
with its asserted classes and the graphs whose text matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kb.errors import InvalidParameter, KbError
from kb.search_index import FILE_NAME, NAMES, TEXTS, fold
from kb.search_sync import open_index, reindex

MAX_QUERY = 200  # characters


@dataclass(frozen=True)
class Hit:
    """One entity found: its IRI, label, classes (asserted), the graphs whose text matched,
    the best-matching text and its property, and ``kind``: ``exact name``, ``name
    prefix``, ``name`` or ``text``."""

    iri: str
    label: str
    classes: list[str]
    graphs: list[str]
    match: str
    property: str
    kind: str


def search(kb: Any, text: str, *, limit: int = 20) -> list[Hit]:
    """The entities whose names or texts match ``text`` (case and accents ignored), best
    first: an exact name, then a name starting with ``text``, then by BM25.

    Raises:
        InvalidParameter: ``text`` is longer than 200 characters, or ``limit`` is not 1-500.
        KbError: the knowledge base keeps no search index (``search_index="off"``).
    """
    if len(text) > MAX_QUERY:
        raise InvalidParameter("q", f"the search text has {len(text)} characters; "
                               f"at most {MAX_QUERY}")
    if not all(c.isprintable() or c.isspace() for c in text):  # surrogates are not
        raise InvalidParameter("q", "the search text holds control characters or unpaired "
                               "surrogates; give printable text")
    if not 1 <= limit <= 500:
        raise InvalidParameter("limit", f"{limit} is not between 1 and 500")
    query = fold(text)
    if not query:
        return []
    index = open_index(kb, create=True)
    if index is None:
        raise KbError("This knowledge base keeps no search index (KB_SEARCH_INDEX=off)")
    best: dict[str, tuple[Any, ...]] = {}
    graphs: dict[str, set[str]] = {}
    for entry in sorted(index.find(query, max(200, limit * 10))):
        tier, _, _, graph, subject, _, _, folded, _ = entry
        if tier == 2 and query in folded:
            entry = (1.5, *entry[1:])  # a name holding the whole query: before other names
        best.setdefault(subject, entry)
        graphs.setdefault(subject, set()).add(graph)
    chosen = sorted(best.values())[:limit]
    subjects = [e[4] for e in chosen]
    if not subjects:
        return []
    names, types = index.describe(subjects)
    order = {p: i for i, p in enumerate(NAMES)}  # the label shown: the first name, English
    labels = {s: t for s, _, t in sorted(((s, (order[p], lang not in ("en", "")), t)
                                          for s, p, t, lang in names), reverse=True)}
    classes: dict[str, list[str]] = {}
    for s, c in types:
        classes.setdefault(s, []).append(c)
    kinds = {0: "exact name", 1: "name prefix"}
    return [Hit(s, labels.get(s, s), classes.get(s, []), sorted(graphs[s]), text_, p,
                kinds.get(tier, "name" if is_name else "text"))
            for tier, _, _, _, s, p, text_, _, is_name in chosen]


__all__ = ["FILE_NAME", "MAX_QUERY", "NAMES", "TEXTS", "Hit", "fold", "reindex", "search"]
