"""Latency and ingest speed at 1k / 10k (/ 100k) memories: ``python -m bench.scale [--quick] [--full]``.

One persona on the embedded store, filled through the public API (``add_turns`` in chat-sized
conversations spread over a year, real embeddings) with unique turns made by pairing sentences of
LoCoMo turns. At each level: ingest speed of that stage, then ``recall`` (k=5, query embedding
included) for 200 LoCoMo questions: p50 / p95. Also one ``add_turn`` at a time (the chat's path)
and a 50,000-word background through ``add_background`` with a progress callback.

The 100k level embeds 90,000 more turns, about 15 minutes on 2 idle cores: only with ``--full``.
Without it, the lexical index alone (:class:`memory.lexical.LexicalIndex`, the part of recall
that grows with the store; Chroma's HNSW query grows little) is measured at 10k and 100k turns:
search plus neighbour lookup, wall and CPU time, no embedding.
``--quick``: 1k only, and a 5,000-word background.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Figure, Report, judged, machine, percentile, table, write_section
from bench.locomo import DATA
from memory import MemoryStore
from memory.lexical import LexicalIndex
from memory.models import NewTurn
from memory.rows import Entry

PERSONA = "scale"
START = datetime(2025, 1, 1, tzinfo=UTC)
QUERIES = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _corpus() -> tuple[list[str], list[str]]:
    """Sentences of LoCoMo turns, and its questions."""
    sentences: list[str] = []
    questions: list[str] = []
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        for key, value in data.items():
            if key.startswith("session_") and isinstance(value, list):
                sentences += [s for turn in value for s in _SENTENCE.split(turn["text"]) if len(s) > 20]
        questions += [qa["question"] for qa in data["qa"] if qa["category"] in (1, 2, 3, 4)]
    return sentences, questions


def _turns(sentences: list[str], count: int, seed: int) -> Iterator[tuple[str, list[NewTurn]]]:
    """``count`` unique turns, in conversations of 20, spread over a year."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        start = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        size = min(20, count - made)
        turns = [
            NewTurn(
                "user" if i % 2 == 0 else "assistant",
                f"{rng.choice(sentences)} {rng.choice(sentences)}",
                start + timedelta(seconds=30 * i),
            )
            for i in range(size)
        ]
        yield f"conv-{seed}-{made}", turns
        made += size


def _recall_latency(store: MemoryStore, questions: list[str]) -> tuple[float, float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        store.recall(PERSONA, question, k=5)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 95)


def _background(store: MemoryStore, sentences: list[str], words: int) -> list[object]:
    rng = random.Random(7)
    paragraphs, count = [], 0
    while count < words:
        paragraph = " ".join(rng.choice(sentences) for _ in range(6))
        paragraphs.append(paragraph)
        count += len(paragraph.split())
    text = "\n\n".join(paragraphs)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        print(f"\r  background: {done}/{total} chunks", end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    ids = store.add_background("scale-background", text, source="bench", progress=progress)
    seconds = time.perf_counter() - started
    print(file=sys.stderr)
    return [f"{count:,} words", len(set(ids)), f"{seconds:.1f} s", f"{count / seconds:,.0f} words/s", len(calls)]


def _lexical_only(sentences: list[str], probes: list[str], sizes: list[int]) -> list[list[object]]:
    rows = []
    for size in sizes:
        rng = random.Random(size)
        index = LexicalIndex()
        started = time.perf_counter()
        index.replace_all(
            [
                Entry(
                    f"t{i}", "turn", f"{rng.choice(sentences)} {rng.choice(sentences)}", 1.7e9 + 30 * i, f"c{i // 20}"
                )
                for i in range(size)
            ],
            rev=None,
        )
        build = time.perf_counter() - started
        wall, cpu = [], []
        for probe in probes:
            began, began_cpu = time.perf_counter(), time.process_time()
            index.adjacent(list(index.search(probe, 50)))
            wall.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        rows.append(
            [
                f"{size:,}",
                f"{build:.1f} s",
                f"{statistics.median(wall):.1f} / {percentile(wall, 95):.1f}",
                f"{statistics.median(cpu):.1f} / {percentile(cpu, 95):.1f}",
            ]
        )
    return rows


def run(quick: bool = False, full: bool = False) -> Report:
    sentences, questions = _corpus()
    rng = random.Random(1)
    probes = rng.sample(questions, QUERIES)
    levels = [1_000] if quick else [1_000, 10_000] + ([100_000] if full else [])
    rows = []
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(path=str(Path(tmp) / "chroma"))
        store.recall(PERSONA, "warm up", k=5)
        stored = 0
        for level in levels:
            started = time.perf_counter()
            for conversation_id, turns in _turns(sentences, level - stored, seed=level):
                store.add_turns(PERSONA, conversation_id, turns)
                print(f"\r  {level:,}: {store.count(PERSONA):,} stored", end="", file=sys.stderr, flush=True)
            seconds = time.perf_counter() - started
            print(file=sys.stderr)
            rate = (level - stored) / seconds
            stored = level
            p50, p95 = _recall_latency(store, probes)
            one = []
            for i in range(20):
                began = time.perf_counter()
                store.add_turn(PERSONA, "one-by-one", "user", f"{rng.choice(sentences)} ({i})")
                one.append((time.perf_counter() - began) * 1000)
            stored += 20
            rows.append([f"{level:,}", f"{p50:.1f}", f"{p95:.1f}", f"{rate:.0f}", f"{statistics.median(one):.0f}"])
            limit = {10_000: ("p50 <= 30", p50, 30.0), 100_000: ("p95 <= 60", p95, 60.0)}.get(level)
            figures.append(
                Figure(f"recall latency at {level:,} memories, ms", f"{p50:.1f}", f"{p95:.1f}",
                       target=limit[0] if limit else "–", met=judged(limit[1], limit[2]) if limit else "–")
            )  # fmt: skip
            figures.append(
                Figure(f"ingest up to {level:,}, turns/s", f"{rate:.0f}", target=">= 100", met=judged(rate, 100, True))
            )
        background = _background(store, sentences, 5_000 if quick else 50_000)
    lexical = (
        ""
        if quick or full
        else (
            "\nThe lexical index alone (search + neighbours, 50 results, no embedding), ms p50 / p95:\n\n"
            + table(
                ["turns", "build from scratch", "wall ms", "CPU ms"],
                _lexical_only(sentences, probes, [10_000, 100_000]),
            )
            + "\n"
        )
    )
    flags = " --quick" if quick else (" --full" if full else "")
    header = ["memories", "recall p50 ms", "recall p95 ms", "ingest turns/s (add_turns)", "add_turn ms (p50)"]
    note = "" if full or quick else "\n100k level: `python -m bench.scale --full` (about 15 minutes more).\n"
    markdown = (
        f"## Scale (one persona, embedded store, `python -m bench.scale{flags}`)\n\n"
        + table(header, rows)
        + "\n"
        + note
        + lexical
        + "\nBackground through `add_background` with a progress callback:\n\n"
        + table(["size", "chunks", "time", "speed", "progress calls"], [background])
        + f"\n\n{machine()}.\n"
    )
    return Report(markdown, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k level and a 5,000-word background only")
    parser.add_argument("--full", action="store_true", help="also the 100k level (about 15 minutes more)")
    args = parser.parse_args()
    markdown = run(args.quick, args.full).markdown
    print(markdown)
    write_section("scale-quick" if args.quick else "scale-full" if args.full else "scale", markdown)


if __name__ == "__main__":
    main()
