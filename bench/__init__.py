"""Benchmarks of the memory store: ``python -m bench`` (or ``make bench``) runs them all.

- :mod:`bench.locomo`: evidence recall on LoCoMo (shared/benchmarks/locomo10).
- :mod:`bench.persona_chats`: the same metric on our own small persona chats (bench/fixtures).
- :mod:`bench.heldout`: the store beside plain baselines (dense, BM25, their fusion) on the tuning
  sets and on the held-out ones (the LoCoMo held-out half, the blind persona chats).
- :mod:`bench.scale`: recall latency and ingest speed at 1k / 10k / 100k memories.
- :mod:`bench.path`: the reply path (time to first token, streaming) against the bare server.
- :mod:`bench.pages`: long conversations and big stores through Streamlit's AppTest.
- :mod:`bench.browser`: the same in headless Chromium, and start-up.

Each returns a :class:`Report`: its own Markdown section of bench/results.md, and its headline
:class:`Figure` rows, which ``python -m bench`` gathers into one summary table.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
_HEADER = "# Benchmark results\n\nWritten by `python -m bench` (see bench/__init__.py); each section by its module.\n"


@dataclass(frozen=True)
class Figure:
    """One row of the summary table: a measured figure, its bare-server reference (where the
    app is compared with the server alone) and its target."""

    name: str
    median: str
    p95: str = "–"
    bare: str = "–"  # the bare server's median / p95 for the same work
    target: str = "–"
    met: str = "–"

    @classmethod
    def of(cls, name: str, values: Sequence[float], digits: int = 0, **rest: str) -> Figure:
        """The figure of a series of measurements: their median and p95."""
        median, p95 = statistics.median(values), percentile(values, 95)
        return cls(name, f"{median:.{digits}f}", f"{p95:.{digits}f}", **rest)


@dataclass(frozen=True)
class Report:
    markdown: str
    figures: list[Figure] = field(default_factory=list)


def judged(value: float, limit: float, at_least: bool = False) -> str:
    """Yes or a bold no: is ``value`` within ``limit`` (at or above it for ``at_least``)?"""
    ok = value >= limit if at_least else value <= limit
    return "yes" if ok else "**no**"


def summary(figures: Sequence[Figure]) -> str:
    header = ["figure", "median", "p95", "bare server (median / p95)", "target", "met"]
    return table(header, [[f.name, f.median, f.p95, f.bare, f.target, f.met] for f in figures])


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


def write_section(name: str, markdown: str, first: bool = False) -> None:
    """Replace the section ``name`` of bench/results.md, or add it (at the end, or after the
    file's heading when ``first``)."""
    text = RESULTS.read_text() if RESULTS.exists() else _HEADER
    block = f"<!-- {name} -->\n{markdown.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif first:
        heading, _, rest = text.partition("\n\n")
        intro, _, rest = rest.partition("\n\n")
        text = f"{heading}\n\n{intro}\n\n{block}\n\n{rest}"
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
