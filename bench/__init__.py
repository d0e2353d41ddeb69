"""Benchmarks of the memory store: ``python -m bench`` (or ``make bench``) runs them all.

- :mod:`bench.locomo`: evidence recall on LoCoMo (shared/benchmarks/locomo10).
- :mod:`bench.persona_chats`: the same metric on our own small persona chats (bench/fixtures).
- :mod:`bench.scale`: recall latency and ingest speed at 1k / 10k / 100k memories.

Each prints a Markdown table and updates its own section of bench/results.md.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
_HEADER = "# Benchmark results\n\nWritten by `python -m bench` (see bench/__init__.py); each section by its module.\n"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values``, interpolated."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """Cores and load, to read the timings by: another process's load slows every figure."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min) when the run ended"


def write_section(name: str, markdown: str) -> None:
    """Replace (or add) the section ``name`` of bench/results.md."""
    text = RESULTS.read_text() if RESULTS.exists() else _HEADER
    block = f"<!-- {name} -->\n{markdown.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
