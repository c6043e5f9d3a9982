"""Browsing-page benchmark: the time to build the data of each browsing page (``kb.browse``,
``kb.incidents``, ``kb.figure_table``, ``kb.worldmap``) on the generated data with the
ontology and the bundled data beside it, against a baseline measured in the same run: one
count of the biggest class (``SELECT (COUNT(*) …) { ?s a ms:Shipment }``), the least any
class page over it has to do.

    python -m bench pages --size 1m                # loads a fresh store
    python -m bench pages --store var/bench-1m     # reuses a store loaded earlier

Targets at 1M triples: a class page (the biggest class, and the same narrowed by two facets)
and the incident table in 300 ms or less each, server side.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.generate import loaded_store
from kb import KnowledgeBase, browse, incidents, worldmap
from kb.figure_table import figure_rows

BASELINE = ("PREFIX ms: <https://w3id.org/medsupply-kb/ontology#>\n"
            "SELECT (COUNT(*) AS ?n) WHERE { ?s a ms:Shipment }")
TARGET_MS = 300


def timed(fn, *args, repeat: int = 3, **kwargs) -> tuple[float, float]:
    """The first run and the median of ``repeat``, in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append((time.perf_counter() - start) * 1000)
    return times[0], sorted(times)[len(times) // 2]


def cases(kb) -> list[tuple[str, object, tuple, dict, bool]]:
    """(name, function, args, kwargs, has a target)."""
    return [
        ("classes", browse.classes, (kb,), {}, False),
        ("class page: ms:Shipment, page 1", browse.class_page, (kb, "ms:Shipment"), {}, True),
        ("class page: ms:Shipment, page 100", browse.class_page, (kb, "ms:Shipment"),
         {"offset": 4950}, True),
        ("class page: ms:Shipment, 2 facets, sorted", browse.class_page, (kb, "ms:Shipment"),
         {"filters": {"country": "country:ES", "product": "product:ventilator"},
          "sort": "date"}, True),
        ("class page: ms:Rejection", browse.class_page, (kb, "ms:Rejection"), {}, True),
        ("incident table", incidents.incidents, (kb,), {}, True),
        ("incident table, one country", incidents.incidents, (kb,), {"country": "country:ES"},
         True),
        ("figures", figure_rows, (kb,), {}, False),
        ("map", worldmap.activities, (kb,), {}, False),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m")
    parser.add_argument("--store", type=Path,
                        help="an on-disk store already holding the generated data (reused)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        store = loaded_store(args.store, args.size, tmp)
        with KnowledgeBase.open(str(store)) as kb:
            triples = len(kb)
            _, base = timed(kb.select, BASELINE, repeat=args.repeat)
            rows = [(name, *timed(fn, *fargs, repeat=args.repeat, **kwargs), target)
                    for name, fn, fargs, kwargs, target in cases(kb)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{triples:,} triples; load average {load:.1f}; baseline (count of ms:Shipment) "  # noqa: T201
          f"{base:.1f} ms")
    print(f"{'page data':45}{'first ms':>10}{'median ms':>11}{'/ baseline':>12}  target")  # noqa: T201
    failed = False
    for name, first, median, target in rows:
        verdict = ""
        if target:
            verdict = "PASS" if median <= TARGET_MS else "FAIL"
            failed |= median > TARGET_MS
        print(f"{name:45}{first:>10.1f}{median:>11.1f}{median / base:>12.2f}  "  # noqa: T201
              f"{verdict}")
    return 1 if failed else 0
