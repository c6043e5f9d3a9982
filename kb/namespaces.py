"""The project's namespaces and the one prefix map everything else uses."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache

from rdflib import Graph, Namespace
from rdflib.namespace import NamespaceManager

BASE = "https://w3id.org/medsupply-kb/"
MS = Namespace(BASE + "ontology#")
ID = Namespace(BASE + "id/")
GRAPH = Namespace(BASE + "graph/")

#: Named graphs with a fixed role.
ONTOLOGY_GRAPH = GRAPH["ontology"]
INFERRED_GRAPH = GRAPH["inferred"]
ANALYTICS_GRAPH = GRAPH["analytics"]
LOADS_GRAPH = GRAPH["loads"]

PREFIXES: dict[str, str] = {
    "ms": str(MS),
    "msid": str(ID),
    "msg": str(GRAPH),
    "gsrc": str(GRAPH) + "source/",
    "country": str(ID) + "country/",
    "agent": str(ID) + "org/",
    "person": str(ID) + "person/",
    "post": str(ID) + "post/",
    "product": str(ID) + "product/",
    "standard": str(ID) + "standard/",
    "source": str(ID) + "source/",
    "claim": str(ID) + "claim/",
    "incident": str(ID) + "incident/",
    "shipment": str(ID) + "shipment/",
    "statement": str(ID) + "statement/",
    "event": str(ID) + "event/",
    "regulation": str(ID) + "regulation/",
    "correction": str(ID) + "correction/",
    "conflict": str(ID) + "conflict/",
    "rate": str(ID) + "rate/",
    "currency": str(ID) + "currency/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "schema": "https://schema.org/",
    "org": "http://www.w3.org/ns/org#",
    "qudt": "http://qudt.org/schema/qudt/",
    "unit": "http://qudt.org/vocab/unit/",
    "time": "http://www.w3.org/2006/time#",
    "void": "http://rdfs.org/ns/void#",
    "sh": "http://www.w3.org/ns/shacl#",
    "wd": "http://www.wikidata.org/entity/",
}


def sparql_prefixes() -> str:
    """The prefix map as SPARQL ``PREFIX`` lines."""
    return "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())


_PNAME = re.compile(r"(?<![\w?$:.\-])([A-Za-z][\w.\-]*)?:")
_PREFIX_DECL = re.compile(r"\bPREFIX\s+([A-Za-z][\w.\-]*)?:\s*<", re.IGNORECASE)


def prefixed_names(sparql: str) -> Iterator[tuple[str, int]]:
    """The prefixes of the prefixed names in ``sparql`` (outside strings, IRIs and comments),
    with the offset of each name, declarations included.

    >>> list(prefixed_names('PREFIX ex: <urn:x> SELECT * { ?s ex:p "a:b", <urn:y> }'))
    [('ex', 7), ('ex', 33)]
    """
    from kb.safety import mask_literals

    for m in _PNAME.finditer(mask_literals(sparql)):
        yield m.group(1) or "", m.start()


def declared_prefixes(sparql: str) -> set[str]:
    """The prefixes ``sparql`` declares with ``PREFIX`` lines."""
    from kb.safety import mask_literals

    return {m.group(1) or "" for m in _PREFIX_DECL.finditer(mask_literals(sparql))}


def declare_prefixes(sparql: str, prefixes: Mapping[str, str] | None) -> str:
    """``sparql`` with ``PREFIX`` declarations of the ``prefixes`` it uses but does not declare,
    put before it on its first line (the line numbers of the query stay as they were).

    >>> declare_prefixes("SELECT * { ?s rdfs:label ?l }", PREFIXES)
    'PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> SELECT * { ?s rdfs:label ?l }'
    """
    if not prefixes:
        return sparql
    declared = declared_prefixes(sparql)
    used = dict.fromkeys(p for p, _ in prefixed_names(sparql))
    missing = [p for p in used if p in prefixes and p not in declared]
    return "".join(f"PREFIX {p}: <{prefixes[p]}> " for p in missing) + sparql


def expand(text: str) -> str:
    """An IRI from a full IRI, ``<iri>``, or a short name with one of the KB's prefixes
    (``country:NL``), as the CLI takes them; any other text is returned as it is (an IRI
    with a scheme, such as ``urn:x`` or ``https://…``, is left alone).

    >>> expand("country:NL")
    'https://w3id.org/medsupply-kb/id/country/NL'
    >>> expand("<https://example.org/a>"), expand("https://example.org/a")
    ('https://example.org/a', 'https://example.org/a')
    """
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1]
    prefix, sep, local = text.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return text


@cache
def namespace_manager() -> NamespaceManager:
    """An rdflib ``NamespaceManager`` that knows the prefixes of ``PREFIXES`` and no other."""
    manager = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, namespace in PREFIXES.items():
        manager.bind(prefix, namespace, override=True, replace=True)
    return manager


def shorten(iri: str) -> str:
    """``prefix:local`` where one of the KB's prefixes is the IRI's namespace (rdflib's
    ``NamespaceManager.curie``: the namespace ends at the last ``/`` or ``#``, the local name
    is a valid one), else ``<iri>``: what tables, expected answers and messages show, and
    what ``expand`` reads back.

    >>> shorten("https://w3id.org/medsupply-kb/id/country/NL")
    'country:NL'
    >>> shorten("https://w3id.org/medsupply-kb/id/unknown/x"), shorten("urn:x")
    ('<https://w3id.org/medsupply-kb/id/unknown/x>', '<urn:x>')
    """
    try:
        return namespace_manager().curie(iri, generate=False)
    except (KeyError, ValueError):
        return f"<{iri}>"


def local_name(iri: str) -> str:
    """The last segment of an IRI's path or its fragment: a label of last resort.

    >>> local_name("https://w3id.org/medsupply-kb/ontology#respondsTo"), local_name("urn:a/b/")
    ('respondsTo', 'b')
    """
    return iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]
