"""Exports: the dataset or a graph in RDF formats, and the entity graph for Gephi, Neo4j and
networkx.

RDF dumps are written by the engine straight to the output (a 1M-triple dump does not sit in
memory), with the project's prefixes; the order is the store's index order, so two dumps of
one store are byte-identical. JSON-LD is compacted with ``ontology/context.jsonld``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO

import networkx as nx
import pyoxigraph as ox

from kb.bundled import CONTEXT_FILE
from kb.errors import InvalidParameter
from kb.formats import rdf_format
from kb.namespaces import ONTOLOGY_GRAPH, PREFIXES
from kb.store import run_in_engine_thread

GRAPH_FORMATS = ("graphml", "gexf", "json", "csv")


def export_rdf(kb, format: str = "trig", *, graph: str | None = None,
               output: IO[bytes] | None = None) -> bytes:
    """Write the dataset (TriG, N-Quads) or one graph (any RDF format) to ``output`` (or
    return the bytes).

    Raises:
        InvalidParameter: a one-graph format was asked for the whole dataset, or the graph
            does not exist.
    """
    fmt = rdf_format(format)
    if graph is None and not fmt.supports_datasets:
        raise InvalidParameter("format", f"{fmt.name} holds one graph, but the dataset has "
                               "named graphs: use TriG or N-Quads, or pick a graph")
    if graph is not None and graph not in kb.graphs():
        raise InvalidParameter("graph", f"no graph <{graph}> in the store")
    if fmt == ox.RdfFormat.JSON_LD:
        data = _compacted_jsonld(kb, graph)
        if output is None:
            return data
        output.write(data)
        return b""
    if not kb.is_local:
        return kb.dump(fmt, graph=graph, output=output)
    kwargs: dict[str, object] = {"format": fmt}
    if graph is not None:
        kwargs["from_graph"] = ox.NamedNode(graph)
    if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG, ox.RdfFormat.RDF_XML):
        kwargs["prefixes"] = PREFIXES
    store = kb.backend.store
    return run_in_engine_thread(lambda: store.dump(output, **kwargs)) or b""


def export_ontology(kb, format: str = "ttl") -> bytes:
    """The ontology graph alone (Turtle or RDF/XML for Protégé)."""
    return export_rdf(kb, format, graph=str(ONTOLOGY_GRAPH))


def _compacted_jsonld(kb, graph: str | None) -> bytes:
    from rdflib import Dataset, Graph

    context = json.loads(CONTEXT_FILE.read_text())["@context"]
    if graph is not None:
        g = kb.graph(graph)
        return g.serialize(format="json-ld", context=context, indent=1).encode()
    ds: Graph = Dataset()
    ds.parse(data=kb.dump("nq"), format="nquads")
    return ds.serialize(format="json-ld", context=context, indent=1).encode()


# --- graph exports -----------------------------------------------------------------------------


def _flat(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy whose attributes are strings or numbers (GraphML and GEXF take no lists)."""
    flat = nx.MultiDiGraph()
    for node, data in g.nodes(data=True):
        flat.add_node(node, label=str(data.get("label", node)),
                      types="|".join(data.get("types", [])),
                      graphs="|".join(data.get("graphs", [])),
                      **{k: v for k, v in data.items() if isinstance(v, int | float | str)
                         and k not in ("label",)})
    for s, o, key, data in g.edges(keys=True, data=True):
        flat.add_edge(s, o, key=key, **{k: (v if isinstance(v, int | float) else str(v))
                                        for k, v in data.items()})
    return flat


def export_graph(g: nx.MultiDiGraph, format: str, *, part: str = "nodes") -> bytes:
    """The graph as GraphML or GEXF (Gephi: labels, classes and weights as attributes),
    node-link JSON, or CSV in Neo4j's bulk-import format (``part``: nodes or relationships).
    """
    if format not in GRAPH_FORMATS:
        raise InvalidParameter("format", f"{format!r} is not one of {', '.join(GRAPH_FORMATS)}")
    flat = _flat(g)
    if format == "graphml":
        out = io.BytesIO()
        nx.write_graphml(flat, out)
        return out.getvalue()
    if format == "gexf":
        out = io.BytesIO()
        nx.write_gexf(flat, out)
        return out.getvalue()
    if format == "json":
        return json.dumps(nx.node_link_data(flat, edges="links"), indent=1).encode()
    if part not in ("nodes", "relationships"):
        raise InvalidParameter("part", "nodes or relationships")
    return _neo4j_csv(flat, part)


def _neo4j_label(iri: str) -> str:
    local = iri.rstrip("/#").rsplit("#", 1)[-1].rsplit("/", 1)[-1]
    return "".join(ch for ch in local if ch.isalnum() or ch == "_") or "Resource"


def _neo4j_csv(g: nx.MultiDiGraph, part: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if part == "nodes":
        writer.writerow(["iri:ID", "label", "graphs", ":LABEL"])
        for node, data in g.nodes(data=True):
            labels = ";".join(sorted({_neo4j_label(t) for t in data["types"].split("|") if t}))
            writer.writerow([node, data["label"], data["graphs"], labels or "Resource"])
    else:
        writer.writerow([":START_ID", ":END_ID", ":TYPE", "predicate", "graph"])
        for s, o, data in g.edges(data=True):
            rel = _neo4j_label(data.get("predicate", "related")).upper()
            writer.writerow([s, o, rel, data.get("predicate", ""), data.get("graph", "")])
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
