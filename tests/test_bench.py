"""The synthetic data generator the benchmarks rely on."""

from __future__ import annotations

import re
from pathlib import Path

from bench.generate import generate
from kb import KnowledgeBase

MS = "https://w3id.org/medsupply-kb/ontology#"


def test_generator_is_deterministic_and_in_the_domain_shape(tmp_path: Path) -> None:
    a = generate(5_000, tmp_path / "a.nt")
    b = generate(5_000, tmp_path / "b.nt")
    assert a.read_bytes() == b.read_bytes()
    assert generate(5_000, tmp_path / "c.nt", seed=7).read_bytes() != a.read_bytes()
    with KnowledgeBase.open("memory") as kb:
        report = kb.load([a])
        assert 5_000 <= report.triples < 5_100
        rows = kb.select(f"""
            PREFIX ms: <{MS}>
            SELECT (COUNT(DISTINCT ?s) AS ?shipments) (SUM(?q) AS ?total) WHERE {{
              ?s a ms:Shipment ; ms:origin ?o ; ms:destination ?d ; ms:manufacturer ?m ;
                 ms:productCategory ?p ; ms:date ?date ;
                 ms:quantity/<http://qudt.org/schema/qudt/numericValue> ?q . }}""")
        assert int(rows[0]["shipments"]) > 250 and float(rows[0]["total"]) > 0
        assert kb.ask(f"ASK {{ ?i a <{MS}Recall> ; <{MS}standardNotMet> ?std }}")


def test_quads_spread_over_source_graphs(tmp_path: Path) -> None:
    path = generate(3_000, tmp_path / "q.nq", quads=True, graphs=5)
    with KnowledgeBase.open("memory") as kb:
        kb.load([path])
        synthetic = [g for g in kb.graphs() if "/graph/synthetic/" in g]
        assert len(synthetic) == 5


def test_the_sparql_benchmark_runs_every_server_on_the_mix() -> None:
    """A tiny run of ``python -m bench sparql``: every server answers every query of the mix
    with something (the benchmark stops on an empty answer) and the table is printed."""
    import subprocess
    import sys

    from bench.mix import MIX

    done = subprocess.run(
        [sys.executable, "-m", "bench", "sparql", "--size", "3000", "--repeat", "2",
         "--seconds", "0.5", "--skip-rdflib", "--memory-wait", "20"],
        capture_output=True, text=True, timeout=300)
    assert "answered nothing" not in done.stdout + done.stderr, done.stderr[-2000:]
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target missed at this size
    lines = done.stdout.splitlines()
    for name in MIX:
        assert any(line.startswith(name) for line in lines), done.stdout
    assert "geometric mean / oxigraph in memory" in done.stdout
    assert "kb, no cache, disk" in done.stdout  # the on-disk fallback, measured too
    assert "PASS" in done.stdout or "FAIL" in done.stdout


def test_the_query_mix_draws_other_parameters_for_each_request() -> None:
    """No result cache can answer the benchmark's requests: each draw is another text."""
    import random

    from bench.mix import MIX, varied

    rng = random.Random(7)
    for name in MIX:
        texts = {varied(name, rng) for _ in range(20)}
        assert len(texts) > 1, name


def test_the_union_benchmark_compares_set_and_bag_answers_on_the_mix() -> None:
    """A tiny run of ``python -m bench union``: both stores load, every query of the mix is
    timed on each, and the ratios are printed."""
    import subprocess
    import sys

    from bench.mix import MIX

    done = subprocess.run([sys.executable, "-m", "bench", "union", "--size", "3000",
                           "--repeat", "1", "--loads", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in (*MIX, "load", "disk"):
        assert any(line.split()[:1] == [name] for line in done.stdout.splitlines()), done.stdout
    assert "query mix geomean ratio" in done.stdout


def test_the_pages_benchmark_times_every_browsing_page() -> None:
    """A tiny run of ``python -m bench pages``: every page's data is built on generated data
    (with incidents that have a country, a product and a day) and the table is printed."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench", "pages", "--size", "3000",
                           "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a target missed
    for name in ("classes", "class page: ms:Shipment, page 1", "incident table", "figures", "map"):
        assert any(line.startswith(name) for line in done.stdout.splitlines()), done.stdout
    assert "baseline (count of ms:Shipment)" in done.stdout


def test_generated_incidents_fill_the_incident_table(tmp_path: Path) -> None:
    from kb import incidents

    with KnowledgeBase.open("memory") as kb:
        kb.load([generate(20_000, tmp_path / "i.nt")])
        rows = incidents.incidents(kb)
        assert rows and all(r["country"] and r["product"] and r["dates"] for r in rows)
        assert any(r["replies"] for r in rows)


def test_the_import_benchmark_imports_every_generated_row() -> None:
    """A tiny run of ``python -m bench import``: the generated Comtrade rows all resolve and
    import (the import would fail on one bad row), and every step is measured against the
    engine + store baseline, with the targets said."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench", "import", "--rows", "0.3k"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "300 rows" in done.stdout
    for row in ("engine alone", "kb load of its output", "engine + store (baseline)",
                "kb import (resolve, prov, store)"):
        assert row in done.stdout
    assert re.search(r"ratio kb import / engine \+ store: [\d.]+x time \(target 1.5x: "
                     r"(PASS|FAIL)\)", done.stdout)
    assert re.search(r"kb import peak memory: \d+ MB \(target < 1024 MB: (PASS|FAIL)\)",
                     done.stdout)


def test_the_search_benchmark_times_loads_the_index_and_every_kind_of_query() -> None:
    """A tiny run of ``python -m bench search``: loads with and without the index, the
    index built anew, every kind of query timed, and the p95 against its target."""
    import subprocess
    import sys

    from bench.search import QUERIES

    done = subprocess.run([sys.executable, "-m", "bench", "search", "--size", "3000",
                           "--rounds", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: the target missed (a busy machine)
    lines = done.stdout.splitlines()
    for name in (*QUERIES, "all"):
        assert any(line.split()[:1] == [name] for line in lines), done.stdout
    assert "load with index / without" in done.stdout
    assert "search p95 over all queries" in done.stdout
    missing = next((line for line in lines if line.startswith("found nothing")), "")
    assert not any(q in missing for q in ("Spain", "Bioeasy", "Hua Shunying", "春莹")), missing


def test_the_load_benchmark_compares_like_for_like() -> None:
    """A tiny run of ``python -m bench load``: kb's loader without its search index against
    Oxigraph loading the same dataset (the target), the index's share, the union's cost."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "bench", "load", "--size", "3000"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for line in ("kb load, no search index", "like for like:", "the index's share of the load",
                 "the set union's cost in the engine itself"):
        assert line in done.stdout, done.stdout
