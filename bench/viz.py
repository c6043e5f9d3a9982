"""View benchmark: server-side time to build each view on the bundled data and on the
generated 1M-triple data, and browser time to a stable drawing (headless chromium).

    python -m bench viz --size 1m
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.generate import generate, parse_size
from kb import KnowledgeBase, viz
from kb.bundled import load_bundled

ID = "https://w3id.org/medsupply-kb/id/"


def timed(fn, *args, **kwargs) -> tuple[float, str]:
    start = time.perf_counter()
    page = fn(*args, **kwargs)
    return time.perf_counter() - start, page


def browser_seconds(pages: dict[str, str]) -> dict[str, float]:
    chromium = shutil.which("chromium")
    if chromium is None:
        return {}
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS

    out = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        for name, html in pages.items():
            path = Path(tmp) / f"{name}.html"
            path.write_text(html)
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_function("window.kbStable === true", timeout=60_000)
            out[name] = time.perf_counter() - start
            page.close()
        browser.close()
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench viz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1m")
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, int]] = []
    pages: dict[str, str] = {}
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        for name, fn, fargs, kwargs in [
            ("bundled: entity NL depth 2", viz.entity_view, (kb, f"{ID}country/NL"), {"depth": 2}),
            ("bundled: path NL -> MOFCOM", viz.path_view,
             (kb, f"{ID}country/NL", f"{ID}org/mofcom"), {}),
            ("bundled: flows", viz.flows_view, (kb,), {}),
            ("bundled: ontology", viz.ontology_view, (kb,), {}),
        ]:
            seconds, page = timed(fn, *fargs, **kwargs)
            rows.append((name, seconds, len(page)))
    data = generate(parse_size(args.size))
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        store = Path(tmp) / "store"
        subprocess.run([sys.executable, "-m", "kb", "--store", str(store), "load", "--quiet",
                        str(data)], check=True)
        with KnowledgeBase.open(str(store)) as kb:
            for name, iri, depth in [("1M: entity CN depth 1", f"{ID}country/CN", 1),
                                     ("1M: entity CN depth 2", f"{ID}country/CN", 2),
                                     ("1M: entity shipment depth 3", f"{ID}shipment/s100", 3)]:
                seconds, page = timed(viz.entity_view, kb, iri, depth=depth)
                rows.append((name, seconds, len(page)))
                pages[name] = page
    drawing = browser_seconds(pages)
    print(f"\n{'view':32}{'server s':>10}{'HTML KB':>9}{'browser s':>11}")  # noqa: T201
    for name, seconds, size in rows:
        shown = f"{drawing[name]:>11.2f}" if name in drawing else f"{'':>11}"
        print(f"{name:32}{seconds:>10.3f}{size / 1024:>9.0f}{shown}")  # noqa: T201
    worst_server = max(s for n, s, _ in rows if n.startswith("1M"))
    worst_browser = max(drawing.values(), default=float("nan"))
    print(f"\nworst 1M entity view: {worst_server:.2f} s server side (target <= 1 s), "  # noqa: T201
          f"{worst_browser:.2f} s to a stable drawing (target <= 3 s)")
    return 0
