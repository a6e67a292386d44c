"""Threadline benchmarks: ``make bench`` (``python -m bench.run``).

Each scenario is a small module exposing ``NAME``, ``TITLE`` and
``async def run(opts: Options) -> list[Case]``; ``bench.run`` runs them in order,
prints a table and writes ``bench/results/latest.json``. See docs/benchmarks.md.
"""
