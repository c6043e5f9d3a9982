"""JSON-LD for exports: the project's context, and a streaming compactor that writes one node
object per subject with the context's terms and prefixes (its own compaction rule, that of
JSON-LD: a term first, else the longest prefix, else the IRI). Used by ``kb.export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyoxigraph as ox

from kb.errors import LoadError
from kb.namespaces import PREFIXES

_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
#: What ``kb.export`` hands a writer: (graph IRI, file of its sorted N-Triples lines) pairs.
Parts = list[tuple[str | None, Path]]


def triples_of(path: Path) -> Iterator[ox.Triple]:
    """The triples of an N-Triples file, streamed."""
    yield from ox.parse(path=str(path), format=ox.RdfFormat.N_TRIPLES)


def load_context() -> dict:
    """The project's JSON-LD context (``ontology/context.jsonld``'s ``@context``), with the
    prefixes of ``kb.namespaces`` it does not define added (its own terms win)."""
    from kb.bundled import CONTEXT_FILE

    try:
        context = dict(json.loads(CONTEXT_FILE.read_text(encoding="utf-8"))["@context"])
    except (OSError, ValueError, KeyError, TypeError) as e:  # a broken installation
        raise LoadError(f"the JSON-LD context cannot be read ({type(e).__name__}: {e}); "
                        "reinstall medsupply-kb", path=CONTEXT_FILE.name) from e
    for prefix, namespace in PREFIXES.items():
        context.setdefault(prefix, namespace)
    return context


class JsonLdCompactor:
    """Compacts one subject's triples at a time into a JSON-LD node object, with the terms
    and prefixes of a context (type coercions ``@id`` and datatypes, ``@language``
    containers); anything a term does not fit is written with a compact IRI key and an
    expanded value, which is always correct JSON-LD."""

    def __init__(self, context: dict) -> None:
        self.context = context
        self.prefixes: list[tuple[str, str]] = []
        self.terms: dict[str, list[tuple[str, dict]]] = {}
        for term, value in context.items():
            if term.startswith("@"):
                continue
            if isinstance(value, str):
                if value[-1:] in ":/?#[]@" and ":" not in term:
                    self.prefixes.append((term, value))
                continue
            if isinstance(value, dict) and isinstance(value.get("@id"), str):
                definition = dict(value)
                definition["@id"] = self._expand(value["@id"], context)
                if "@type" in definition and definition["@type"] != "@id":
                    definition["@type"] = self._expand(definition["@type"], context)
                self.terms.setdefault(definition["@id"], []).append((term, definition))
        self.prefixes.sort(key=lambda p: (-len(p[1]), p[0]))  # longest namespace first

    @staticmethod
    def _expand(value: str, context: dict) -> str:
        prefix, sep, local = value.partition(":")
        target = context.get(prefix)
        if sep and isinstance(target, str) and not local.startswith("//"):
            return target + local
        return value

    def iri(self, iri: str) -> str:
        """``prefix:local`` where a prefix of the context fits, else the IRI."""
        for prefix, namespace in self.prefixes:
            if iri.startswith(namespace):
                local = iri[len(namespace):]
                if not local.startswith("//"):
                    return f"{prefix}:{local}"
        return iri

    def _ref(self, term: object) -> str:
        if isinstance(term, ox.BlankNode):
            return f"_:{term.value}"
        return self.iri(term.value)  # type: ignore[attr-defined]

    def _value(self, term: object) -> object:
        if isinstance(term, ox.Literal):
            dt = term.datatype.value
            if term.language:
                return {"@value": term.value, "@language": term.language}
            if dt == _XSD_STRING:
                return term.value
            return {"@value": term.value, "@type": self.iri(dt)}
        return {"@id": self._ref(term)}

    def node(self, subject: object, pairs: list[tuple[object, object]]) -> dict:
        node: dict[str, object] = {"@id": self._ref(subject)}
        by_predicate: dict[str, list[object]] = {}
        for p, o in pairs:
            by_predicate.setdefault(p.value, []).append(o)  # type: ignore[attr-defined]
        types = by_predicate.pop(_RDF_TYPE, [])
        iri_types = [t for t in types if isinstance(t, ox.NamedNode)]
        if iri_types:
            node["@type"] = _one([self.iri(t.value) for t in iri_types])
        other_types = [t for t in types if not isinstance(t, ox.NamedNode)]
        if other_types:
            by_predicate[_RDF_TYPE] = other_types
        for predicate, objects in by_predicate.items():
            rest = objects
            for term, definition in self.terms.get(predicate, []):
                fitted, rest = self._fit(definition, rest)
                if fitted is not None:
                    node[term] = fitted
                if not rest:
                    break
            if rest:
                node[self.iri(predicate)] = _one([self._value(o) for o in rest])
        return node

    def _fit(self, definition: dict, objects: list[object]) -> tuple[object | None, list[object]]:
        """The values a term can hold in compact form, and the ones it cannot."""
        kind = definition.get("@type")
        container = definition.get("@container")
        fit: list[object] = []
        rest: list[object] = []
        if container == "@language":
            langs: dict[str, list[str]] = {}
            for o in objects:
                if isinstance(o, ox.Literal) and o.language:
                    langs.setdefault(o.language, []).append(o.value)
                else:
                    rest.append(o)
            return ({k: _one(v) for k, v in langs.items()} if langs else None), rest
        if container is not None or "@language" in definition or "@reverse" in definition:
            return None, list(objects)
        for o in objects:
            if kind == "@id" and isinstance(o, ox.NamedNode | ox.BlankNode):
                fit.append(self._ref(o))
            elif kind not in (None, "@id") and isinstance(o, ox.Literal) and not o.language \
                    and o.datatype.value == kind:
                fit.append(o.value)
            elif kind is None:
                fit.append(self._value(o))
            else:
                rest.append(o)
        return (_one(fit) if fit else None), rest

    def nodes(self, triples: Iterable[ox.Triple]) -> Iterator[dict]:
        """Node objects for triples grouped by subject (as the sorted export has them)."""
        subject: object = None
        pairs: list[tuple[object, object]] = []
        for t in triples:
            if subject is not None and t.subject != subject:
                yield self.node(subject, pairs)
                pairs = []
            subject = t.subject
            pairs.append((t.predicate, t.object))
        if subject is not None:
            yield self.node(subject, pairs)


def _one(values: list) -> object:
    return values[0] if len(values) == 1 else values




def write_jsonld(parts: Parts, output: IO[bytes], dataset: bool) -> None:
    """Step 4 of an export as JSON-LD: one node object per subject of the sorted lines, in
    a ``@graph`` per named graph for a dataset."""
    compactor = JsonLdCompactor(load_context())
    output.write(b'{\n  "@context": ')
    output.write(json.dumps(compactor.context, ensure_ascii=False).encode())
    output.write(b',\n  "@graph": [')
    first = True

    def emit(obj: dict, indent: str) -> None:
        nonlocal first
        output.write(b"" if first else b",")
        output.write(f"\n{indent}".encode())
        output.write(json.dumps(obj, ensure_ascii=False).encode())
        first = False

    for graph, path in parts:
        if dataset and graph is not None:
            output.write(b"" if first else b",")
            output.write(b'\n    {"@id": %s, "@graph": [' % json.dumps(
                compactor.iri(graph)).encode())
            first = True
            for node in compactor.nodes(triples_of(path)):
                emit(node, "      ")
            output.write(b"\n    ]}")
            first = False
        else:
            for node in compactor.nodes(triples_of(path)):
                emit(node, "    ")
    output.write(b"\n  ]\n}\n")
