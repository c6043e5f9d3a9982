"""The records of loads: what each ``kb load`` writes into the ``loads`` graph, and reads back.

A loaded file is a PROV entity (``…/id/file/<file name>``) with its title, media type,
SHA-256, the time it was loaded and the triples it added; each graph it filled has the file
as its ``dcterms:source``, a modification time and its size (VoID). ``previous_loads`` reads
them back, so that a file loaded again replaces what it loaded before, and a file whose
content has not changed is skipped (``kb.load``; ``kb import`` records its sources alike).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox

from kb.errors import LoadError
from kb.namespaces import GRAPH, ID, LOADS_GRAPH, PREFIXES

XSD = PREFIXES["xsd"]
DCTERMS = PREFIXES["dcterms"]
PROV = PREFIXES["prov"]
VOID = PREFIXES["void"]
RDF_TYPE = ox.NamedNode(PREFIXES["rdf"] + "type")


def file_unit(path: Path) -> str:
    """The IRI that stands for a loaded file (identified by its name)."""
    return f"{ID}file/{quote(path.name)}"


def file_graph(path: Path) -> str:
    """The named graph of a non-quad file loaded without ``graph=``."""
    return f"{GRAPH}file/{quote(path.name)}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                h.update(chunk)
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror}", path=str(path)) from None
    return h.hexdigest()


def _now() -> ox.Literal:
    return ox.Literal(datetime.now(UTC).isoformat(timespec="seconds"),
                      datatype=ox.NamedNode(XSD + "dateTime"))


def record(
    path: Path, format: ox.RdfFormat, sha256: str, graph: str, counts: Counter[str],
    graph_sizes: Counter[str], now: ox.Literal | None = None,
) -> Iterator[ox.Quad]:
    """PROV / Dublin Core / VoID description of the file ``path`` (``format``, content
    ``sha256``) loaded with ``graph`` as its own: the triples it added per graph
    (``counts``), and of the graphs it filled, the triples they hold (``graph_sizes``)."""
    unit = ox.NamedNode(file_unit(path))
    loads = ox.NamedNode(LOADS_GRAPH)
    now = now or _now()
    media = ox.Literal(format.media_type)
    yield ox.Quad(unit, RDF_TYPE, ox.NamedNode(PROV + "Entity"), loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "title"), ox.Literal(path.name), loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "format"), media, loads)
    yield ox.Quad(unit, ox.NamedNode(DCTERMS + "identifier"),
                  ox.Literal(f"sha256:{sha256}"), loads)
    yield ox.Quad(unit, ox.NamedNode(PROV + "generatedAtTime"), now, loads)
    yield ox.Quad(unit, ox.NamedNode(VOID + "triples"), _integer(sum(counts.values())), loads)
    for graph_iri in counts:
        g = ox.NamedNode(graph_iri)
        yield ox.Quad(g, ox.NamedNode(DCTERMS + "source"), unit, loads)
        yield ox.Quad(g, ox.NamedNode(DCTERMS + "modified"), now, loads)
        yield ox.Quad(g, ox.NamedNode(VOID + "triples"), _integer(graph_sizes[graph_iri]), loads)
    if not counts:  # an empty file still records that it was loaded, into its own graph
        yield ox.Quad(ox.NamedNode(graph), ox.NamedNode(DCTERMS + "source"), unit, loads)


def _integer(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=ox.NamedNode(XSD + "integer"))


PREVIOUS_LOADS = f"""
PREFIX dcterms: <{DCTERMS}>
PREFIX void: <{VOID}>
SELECT ?unit ?hash ?g ?n WHERE {{
  GRAPH <{LOADS_GRAPH}> {{
    ?unit dcterms:identifier ?hash .
    OPTIONAL {{ ?g dcterms:source ?unit . OPTIONAL {{ ?g void:triples ?n }} }}
  }}
}}
"""


def previous_loads(kb, units: list[str]) -> dict[str, tuple[str, list[str], dict[str, int]]]:
    """unit IRI -> (sha256, graphs it filled, triples per graph) for files loaded before."""
    if not units:
        return {}
    wanted = set(units)
    out: dict[str, tuple[str, list[str], dict[str, int]]] = {}
    for row in kb.select(PREVIOUS_LOADS):
        unit = str(row["unit"])
        if unit not in wanted:
            continue
        digest = str(row["hash"]).removeprefix("sha256:")
        entry = out.setdefault(unit, (digest, [], {}))
        if "g" in row:
            entry[1].append(str(row["g"]))
            entry[2][str(row["g"])] = int(row["n"]) if "n" in row else 0  # type: ignore[call-overload]
    return out


def drop_update(unit: str, drop: Iterable[str]) -> str:
    """The update that removes the graphs ``drop`` (what the file ``unit`` loaded before)
    and the records of them and of the file."""
    ops = []
    for g in drop:
        ops.append(f"DROP SILENT GRAPH <{g}>")
        ops.append(f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{g}> ?p ?o }} }}")
    ops.append(f"DELETE WHERE {{ GRAPH <{LOADS_GRAPH}> {{ <{unit}> ?p ?o }} }}")
    return " ;\n".join(ops)


__all__ = ["drop_update", "file_graph", "file_sha256", "file_unit", "previous_loads", "record"]
