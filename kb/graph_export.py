"""Graph exports of the analytics projections: GraphML and GEXF (Gephi), node-link JSON
(networkx, d3), and CSV in Neo4j's bulk-import format.

Attribute values are strings or numbers only (lists and dicts break the GraphML and GEXF
writers and Gephi): a node has ``label``, ``class`` (the local name of its most specific
class in the KB's own ontology, for Gephi's partitioning), ``types`` and ``graphs``
(``|``-separated IRIs); an edge has
``predicate``, ``label``, ``graph`` and a numeric ``weight``.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path

import networkx as nx

from kb.errors import InvalidParameter
from kb.namespaces import local_name

GRAPH_FORMATS = ("graphml", "gexf", "json", "csv")
MEDIA_TYPES = {"graphml": "application/graphml+xml", "gexf": "application/gexf+xml",
               "json": "application/json", "csv": "text/csv"}


def _scalar(value: object) -> str | int | float:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, list | tuple | set):
        return "|".join(sorted(str(v) for v in value))
    return json.dumps(value, sort_keys=True, default=str)


@cache
def _superclasses() -> dict[str, frozenset[str]]:
    """Each class of the bundled ontology -> all its superclasses (transitively, itself
    excluded), from ``rdfs:subClassOf``."""
    from rdflib import Graph, URIRef
    from rdflib.namespace import RDFS

    from kb.bundled import ONTOLOGY_FILE

    ontology = Graph().parse(ONTOLOGY_FILE)
    direct: dict[str, set[str]] = {}
    for sub, sup in ontology.subject_objects(RDFS.subClassOf):
        if isinstance(sub, URIRef) and isinstance(sup, URIRef) and sub != sup:
            direct.setdefault(str(sub), set()).add(str(sup))
    closure: dict[str, frozenset[str]] = {}
    for cls in direct:
        seen: set[str] = set()
        todo = list(direct[cls])
        while todo:
            sup = todo.pop()
            if sup not in seen and sup != cls:
                seen.add(sup)
                todo.extend(direct.get(sup, ()))
        closure[cls] = frozenset(seen)
    return closure


def most_specific_class(types: list[str]) -> str:
    """The local name of the most specific class among ``types`` in the KB's own ontology
    (``ms:``): one that no other of them is a subclass of; the deepest if several, then by
    name. Without an ``ms:`` class, the most specific of the others; "Resource" if none.

    >>> from kb.namespaces import MS
    >>> most_specific_class([MS + "Organization", MS + "GovernmentAgency",
    ...                      "http://www.w3.org/ns/prov#Agent"])
    'GovernmentAgency'
    >>> most_specific_class(["http://www.w3.org/ns/prov#Entity"])
    'Entity'
    """
    from kb.namespaces import MS

    supers = _superclasses()
    ours = [t for t in types if t.startswith(str(MS))]
    pool = ours or list(types)
    if not pool:
        return "Resource"
    implied = set().union(*(supers.get(t, frozenset()) for t in pool))
    specific = [t for t in pool if t not in implied] or pool
    return local_name(min(specific, key=lambda t: (-len(supers.get(t, ())), t)))


def flat_graph(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy with string and number attributes only, sorted (stable files), with
    ``class`` on nodes and ``weight`` on edges."""
    flat = nx.MultiDiGraph()
    for node in sorted(g.nodes):
        data = g.nodes[node]
        types = sorted(data.get("types") or [])
        attrs = {k: _scalar(v) for k, v in sorted(data.items()) if v is not None}
        attrs["label"] = str(data.get("label") or local_name(node))
        attrs["class"] = most_specific_class(types)
        attrs["types"] = "|".join(types)
        attrs["graphs"] = "|".join(sorted(data.get("graphs") or []))
        flat.add_node(node, **attrs)
    edges = sorted(g.edges(keys=True, data=True), key=lambda e: (e[0], e[1], str(e[2])))
    for s, o, key, data in edges:
        attrs = {k: _scalar(v) for k, v in sorted(data.items()) if v is not None}
        weight = data.get("weight", data.get("quantity", 1.0))
        attrs["weight"] = float(weight) if isinstance(weight, int | float) else 1.0
        flat.add_edge(s, o, key=str(key), **attrs)
    return flat


def export_graph(g: nx.MultiDiGraph, format: str, *, part: str = "nodes") -> bytes:
    """The graph as GraphML or GEXF, node-link JSON, or Neo4j CSV (``part``: nodes or
    relationships)."""
    if format not in GRAPH_FORMATS:
        raise InvalidParameter("format", f"{format!r} is not one of {', '.join(GRAPH_FORMATS)}")
    flat = flat_graph(g)
    out = io.BytesIO()
    if format == "graphml":
        nx.write_graphml(flat, out)
        return out.getvalue()
    if format == "gexf":
        nx.write_gexf(flat, out)
        return out.getvalue()
    if format == "json":
        return json.dumps(nx.node_link_data(flat, edges="links"), indent=1,
                          ensure_ascii=False).encode()
    if part not in ("nodes", "relationships"):
        raise InvalidParameter("part", "nodes or relationships")
    return _neo4j_csv(flat, part)


def _neo4j_name(iri: str) -> str:
    return "".join(ch for ch in local_name(iri) if ch.isalnum() or ch == "_") or "Resource"


def _rel_type(iri: str) -> str:
    """``productCategory`` -> ``PRODUCT_CATEGORY`` (Neo4j's convention)."""
    name = _neo4j_name(iri)
    out = "".join(f"_{c}" if c.isupper() and i and not name[i - 1].isupper() else c
                  for i, c in enumerate(name))
    return out.upper() or "RELATED"


NODE_HEADER = ["iri:ID", "label", "class", "types:string[]", "graphs:string[]", ":LABEL"]
RELATIONSHIP_HEADER = [":START_ID", ":END_ID", ":TYPE", "predicate", "label", "graph",
                       "weight:float"]


def _neo4j_csv(g: nx.MultiDiGraph, part: str) -> bytes:
    """Neo4j ``neo4j-admin database import full`` CSV: ``:ID``/``:LABEL`` for nodes,
    ``:START_ID``/``:END_ID``/``:TYPE`` for relationships, typed properties; arrays use
    Neo4j's default ``;`` delimiter."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if part == "nodes":
        writer.writerow(NODE_HEADER)
        for node, data in g.nodes(data=True):
            types = [t for t in data["types"].split("|") if t]
            labels = ";".join(sorted({_neo4j_name(t) for t in types})) or "Resource"
            writer.writerow([node, data["label"], data["class"], ";".join(types),
                             data["graphs"].replace("|", ";"), labels])
    else:
        writer.writerow(RELATIONSHIP_HEADER)
        for s, o, data in g.edges(data=True):
            predicate = str(data.get("predicate", ""))
            writer.writerow([s, o, _rel_type(predicate) if predicate else "RELATED", predicate,
                             data.get("label", ""), data.get("graph", ""), data["weight"]])
    return out.getvalue().encode()


def write_graph_files(g: nx.MultiDiGraph, format: str, output: Path) -> list[Path]:
    """Write a graph export to ``output``; Neo4j CSV becomes ``<stem>-nodes.csv`` and
    ``<stem>-relationships.csv`` beside it. Returns the files written."""
    if format != "csv":
        output.write_bytes(export_graph(g, format))
        return [output]
    written = []
    for part in ("nodes", "relationships"):
        path = output.with_name(f"{output.stem}-{part}.csv")
        path.write_bytes(export_graph(g, "csv", part=part))
        written.append(path)
    return written
