"""Exports label blank nodes canonically: the same data gives the same bytes whatever the
order it was loaded in and whatever labels its file gave its blank nodes, including
structures that hashing the blank nodes' neighbourhoods cannot tell apart."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.export import export_bytes
from kb.namespaces import LOADS_GRAPH

P = "<http://example.org/next>"
TRIANGLE_AND_HEXAGON = [(a, (a + 1) % 3) for a in range(3)] + [
    (3 + a, 3 + (a + 1) % 6) for a in range(6)]


def _load_shuffled(tmp_path: Path, seed: int, edges: list[tuple[int, int]]) -> bytes:
    rng = random.Random(seed)
    names = [f"n{seed}x{i}" for i in rng.sample(range(100), 9 + len(edges))]
    lines = [f"_:{names[s]} {P} _:{names[o]} ." for s, o in edges]
    lines.append("<http://example.org/shape> <http://example.org/label> \"shapes\" .")
    rng.shuffle(lines)
    path = tmp_path / f"shapes-{seed}" / "shapes.nt"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        data = export_bytes(kb, "nq")
    return b"".join(line + b"\n" for line in data.splitlines()
                    if str(LOADS_GRAPH).encode() not in line)  # the load times differ


def test_a_triangle_and_a_hexagon_loaded_8_times_export_to_one_output(tmp_path: Path) -> None:
    exports = {_load_shuffled(tmp_path, seed, TRIANGLE_AND_HEXAGON) for seed in range(8)}
    assert len(exports) == 1
    (out,) = exports
    assert out.count(b" <http://example.org/next> ") == 9


@pytest.mark.parametrize("edges", [
    [(a, (a + 1) % 4) for a in range(4)] + [(4 + a, 4 + (a + 1) % 4) for a in range(4)],
    [(a, (a + 1) % 3) for a in range(3)] + [(a, 3 + a) for a in range(3)],  # a sun
])
def test_other_symmetric_shapes_too(tmp_path: Path, edges: list[tuple[int, int]]) -> None:
    assert len({_load_shuffled(tmp_path, seed, edges) for seed in range(8)}) == 1


def test_a_long_cycle_is_not_left_to_rdfc(tmp_path: Path) -> None:
    # RDFC-1.0's worst case is exponential (a cycle of 1,000 look-alike blank nodes takes
    # minutes): components over kb.blank_labels.RDFC_MAX_COMPONENT keep the engine's order
    cycle = [(a, (a + 1) % 1000) for a in range(1000)]
    rng = random.Random(0)
    lines = [f"_:n{s} {P} _:n{o} ." for s, o in cycle]
    rng.shuffle(lines)
    path = tmp_path / "cycle.nt"
    path.write_text("\n".join(lines) + "\n")
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        data = export_bytes(kb, "nt", graph="file/cycle.nt")
    assert data.count(b"\n") == 1000 and b"_:c14n" not in data
