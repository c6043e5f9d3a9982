"""A load killed at a random moment leaves a store that opens and holds all of the file
or none of it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.generate import generate
from kb import KnowledgeBase

pytestmark = pytest.mark.reliability


def count(store: Path, graph: str) -> int:
    with KnowledgeBase.open(str(store)) as kb:
        rows = kb.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        return int(rows[0]["n"])


def test_sigkill_during_load_is_all_or_nothing(tmp_path: Path) -> None:
    data = generate(200_000, tmp_path / "big.nt")
    total = len(data.read_bytes().splitlines())
    graph = "https://w3id.org/medsupply-kb/graph/file/big.nt"
    store = tmp_path / "store"
    rng = random.Random(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    outcomes = []
    for _ in range(4):
        process = subprocess.Popen(
            [sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet", "--force",
             str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        n = count(store, graph)  # the store opens after every kill
        assert n in (0, total), f"a killed load left {n} triples: neither none nor all"
        outcomes.append(n)
    with KnowledgeBase.open(str(store)) as kb:
        report = kb.load([data])
    assert count(store, graph) == total
    assert report.triples in (0, total)  # skipped when a killed run had completed
