"""Benchmarks: each module ``bench/<name>.py`` has ``main(argv)``; run ``python -m bench <name>``.

They print figures and ratios against a baseline measured in the same run; tests never
assert times. Data comes from ``bench.generate`` and lives under ``bench/out/``.
"""
