"""Step 2 of an export (``kb.export``): labels for blank nodes computed from their content,
so that the same data exports to the same bytes whatever labels the engine gave them.

A blank node's label is a hash of the statements it is part of (the other blank nodes
masked), refined by the hashes of its blank neighbours until that tells no more apart
(colour refinement). Blank nodes it cannot tell apart (a triangle and a hexagon of blank
nodes look alike to it) are labelled, with the blank nodes they are linked to, by RDFC-1.0
(pyoxigraph's ``Dataset.canonicalize``, labels ``_:c14nN``), for components of at most
``RDFC_MAX_COMPONENT`` blank nodes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pyoxigraph as ox

#: Blank-node colour refinement stops after this many rounds (or when stable).
MAX_REFINEMENT_ROUNDS = 64
#: The largest component of look-alike blank nodes labelled by RDFC-1.0; larger ones are
#: numbered in the engine's order (not canonical). RDFC's worst case is exponential: a cycle
#: of 100 blank nodes takes 0.2 s, of 1,000 more than 2 minutes; 3,000 hexagons 1.9 s.
RDFC_MAX_COMPONENT = 128

_MASK = (1 << 128) - 1


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b"\x00".join(parts), digest_size=16).digest(), "big")


def _split(line: bytes) -> tuple[bytes, bytes, bytes]:
    """Subject, predicate and object of an N-Triples line as written by the engine."""
    s, p, rest = line.split(b" ", 2)
    return s, p, rest[:-3] if rest.endswith(b" .\n") else rest.rstrip(b"\n .")


def blank_labels(files: list[Path], graphs: Iterable[str | None]
                  ) -> tuple[dict[bytes, bytes], set[bytes]]:
    """Engine label (``_:xyz``) -> content label (``_:b`` + 16 hex digits), and the blank
    nodes left to RDFC-1.0 (``_canonical_lines``)."""
    names = [(g or "").encode() for g in graphs]
    sig: dict[bytes, int] = {}
    edges: list[tuple[bytes, bytes, bytes, bytes]] = []  # blank-to-blank links
    for path, g in zip(files, names, strict=True):
        with path.open("rb") as f:
            for line in f:
                if b"_:" not in line:
                    continue
                s, p, o = _split(line)
                sb, ob = s.startswith(b"_:"), o.startswith(b"_:")
                if sb:
                    sig[s] = (sig.get(s, 0) + _h(b">", p, b"_:" if ob else o, g)) & _MASK
                if ob:
                    sig[o] = (sig.get(o, 0) + _h(b"<", b"_:" if sb else s, p, g)) & _MASK
                if sb and ob:
                    edges.append((s, p, o, g))
    if not sig:
        return {}, set()
    # Colour refinement: a blank node is also told apart by its blank neighbours, their
    # neighbours, and so on, until the partition stops getting finer (chains such as RDF
    # lists need as many rounds as they are long).
    base, distinct = sig, len(set(sig.values()))
    for _ in range(MAX_REFINEMENT_ROUNDS if edges else 0):
        refined = dict(base)
        for s, p, o, g in edges:
            refined[s] = (refined[s] + _h(b">>", p, b"%x" % sig[o], g)) & _MASK
            refined[o] = (refined[o] + _h(b"<<", p, b"%x" % sig[s], g)) & _MASK
        now = len(set(refined.values()))
        sig = refined
        if now == distinct:
            break
        distinct = now
    # Blank nodes that share a signature (a triangle and a hexagon look alike to colour
    # refinement): their components go to RDFC-1.0, which labels them canonically
    counts: dict[int, int] = defaultdict(int)
    for v in sig.values():
        counts[v] += 1
    canonical: set[bytes] = set()
    if any(n > 1 for n in counts.values()):
        for component in _components(sig, edges):
            if (len(component) <= RDFC_MAX_COMPONENT
                    and any(counts[sig[b]] > 1 for b in component)):
                canonical.update(component)
    labels: dict[bytes, bytes] = {}
    taken: dict[bytes, int] = {}
    for old in sorted(sig, key=lambda b: (sig[b], b)):
        if old in canonical:
            continue
        label = b"_:b%016x" % (sig[old] >> 64)
        if label in taken:
            taken[label] += 1
            label = b"%s_%d" % (label, taken[label])
        else:
            taken[label] = 0
        labels[old] = label
    return labels, canonical


def _components(sig: dict[bytes, int],
                edges: list[tuple[bytes, bytes, bytes, bytes]]) -> list[list[bytes]]:
    """The blank nodes joined by blank-to-blank statements (in any graph)."""
    parent = {b: b for b in sig}

    def root(b: bytes) -> bytes:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for s, _, o, _ in edges:
        a, b = root(s), root(o)
        if a != b:
            parent[a] = b
    out: dict[bytes, list[bytes]] = defaultdict(list)
    for b in sig:
        out[root(b)].append(b)
    return list(out.values())


def canonical_lines(files: list[Path], graphs: Iterable[str | None],
                     nodes: set[bytes]) -> list[list[bytes]]:
    """Per graph, the statements of ``nodes`` with their blank nodes labelled by RDFC-1.0
    (pyoxigraph's ``Dataset.canonicalize``), as N-Triples lines."""
    out: list[list[bytes]] = []
    if not nodes:
        return [[] for _ in files]
    quads: list[ox.Quad] = []
    names: list[ox.NamedNode | ox.DefaultGraph] = []
    for path, g in zip(files, graphs, strict=True):
        name = ox.DefaultGraph() if g is None else ox.NamedNode(g)
        names.append(name)
        with path.open("rb") as f:
            lines = b"".join(line for line in f if b"_:" in line and mentions(line, nodes))
        quads += [ox.Quad(t.subject, t.predicate, t.object, name)
                  for t in ox.parse(lines, format=ox.RdfFormat.N_TRIPLES)]
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    for name in names:
        triples = [q.triple for q in dataset.quads_for_graph_name(name)]
        text = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) if triples else b""
        out.append(text.splitlines(keepends=True))  # type: ignore[union-attr]
    return out


def mentions(line: bytes, nodes: set[bytes]) -> bool:
    s, _, o = _split(line)
    return s in nodes or o in nodes


def relabel(line: bytes, labels: dict[bytes, bytes]) -> bytes:
    if not labels or b"_:" not in line:
        return line
    s, p, o = _split(line)
    if s.startswith(b"_:"):
        s = labels.get(s, s)
    if o.startswith(b"_:"):
        o = labels.get(o, o)
    return b"%s %s %s .\n" % (s, p, o)
