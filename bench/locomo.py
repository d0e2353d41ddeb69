"""Evidence recall on LoCoMo: ``python -m bench.locomo [--quick] [--data DIR]``.

The metric of shared/benchmarks/locomo10/README.md: each conversation goes into a fresh store as
turn memories (persona = the conversation, one conversation id per session, each turn with its
speaker and its session's date); for every question of categories 1-4, ``recall`` with the
question as the query and "now" = the last session's date. A question is a hit at k when the
text of at least one of its evidence turns is contained in the text of the k recalled memories.
Recall is called once with k=10; its first 5 are exactly what k=5 returns (same candidates, same
order), so R@5 and the characters returned at k=5 come from them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Figure, Report, judged, machine, percentile, table, write_section
from memory import MemoryStore
from memory.models import NewTurn

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "locomo10"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
QUICK = 3  # conversations in --quick


@dataclass
class Question:
    text: str
    category: int
    evidence: list[str]  # texts of the evidence turns


@dataclass
class Dialogue:
    """One conversation: sessions of (speaker, role, text, time) and its questions."""

    name: str
    sessions: list[list[NewTurn]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return max(t.created_at for s in self.sessions for t in s if t.created_at)


@dataclass
class Score:
    hits: dict[int, list[bool]] = field(default_factory=lambda: {5: [], 10: []})
    categories: dict[tuple[int, int], list[bool]] = field(default_factory=dict)
    chars: list[int] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    turns: int = 0
    ingest_s: float = 0.0

    def add(self, category: int, k: int, hit: bool) -> None:
        self.hits[k].append(hit)
        self.categories.setdefault((category, k), []).append(hit)


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def _evidence_ids(raw: list[str]) -> list[str]:
    """Dialogue ids as written ("D8:6; D9:17", "D:11:26", "D30:05" all occur)."""
    ids = []
    for item in raw:
        for part in re.split(r"[;,\s]+", item):
            match = re.fullmatch(r"D:?(\d+):0*(\d+)", part.strip())
            if match:
                ids.append(f"D{match.group(1)}:{match.group(2)}")
    return ids


def load(path: Path) -> Dialogue:
    data = json.loads(path.read_text())
    roles = {data["speaker_a"]: "user", data["speaker_b"]: "assistant"}
    dialogue = Dialogue(path.stem)
    texts: dict[str, str] = {}
    n = 1
    while f"session_{n}" in data:
        start = _date(data[f"session_{n}_date_time"])
        session = []
        for i, turn in enumerate(data[f"session_{n}"]):
            texts[turn["dia_id"]] = turn["text"]
            moment = start + timedelta(seconds=i)
            session.append(NewTurn(roles.get(turn["speaker"], "user"), turn["text"], moment, speaker=turn["speaker"]))
        dialogue.sessions.append(session)
        n += 1
    for qa in data["qa"]:
        if qa["category"] in CATEGORIES:
            evidence = [texts[i] for i in _evidence_ids(qa["evidence"]) if i in texts]
            dialogue.questions.append(Question(qa["question"], qa["category"], evidence))
    return dialogue


def dialogues(data: Path, quick: bool) -> Iterator[Dialogue]:
    files = sorted(data.glob("*.json"))
    for path in files[:QUICK] if quick else files:
        yield load(path)


def evaluate(store: MemoryStore, dialogue: Dialogue, score: Score) -> None:
    persona = f"locomo-{dialogue.name}"
    started = time.perf_counter()
    for n, session in enumerate(dialogue.sessions, start=1):
        store.add_turns(persona, f"session-{n}", session)
        score.turns += len(session)
    score.ingest_s += time.perf_counter() - started
    now = dialogue.now
    for question in dialogue.questions:
        started = time.perf_counter()
        recalled = store.recall(persona, question.text, k=10, now=now)
        score.latency_ms.append((time.perf_counter() - started) * 1000)
        texts = [m.shown for m in recalled]  # with the reply to a question, as the prompt gets it
        score.chars.append(sum(len(t) for t in texts[:5]))
        for k in (5, 10):
            hit = any(evidence in text for evidence in question.evidence for text in texts[:k])
            score.add(question.category, k, hit)


def report(score: Score, title: str) -> Report:
    def rate(hits: list[bool]) -> str:
        return f"{sum(hits) / len(hits):.3f}" if hits else "-"

    rows = [["all (1-4)", len(score.hits[5]), rate(score.hits[5]), rate(score.hits[10])]]
    for category, name in CATEGORIES.items():
        cells = score.categories.get((category, 5), [])
        rows.append([f"{category} {name}", len(cells), rate(cells), rate(score.categories.get((category, 10), []))])
    summary = (
        f"mean characters returned per query at k=5: {statistics.mean(score.chars):.0f} "
        f"(max {max(score.chars)}); median recall latency: {statistics.median(score.latency_ms):.1f} ms; "
        f"ingest: {score.turns} turns in {score.ingest_s:.0f} s ({score.turns / score.ingest_s:.0f} turns/s); "
        f"{machine()}"
    )
    markdown = f"## {title}\n\n" + table(["category", "questions", "R@5", "R@10"], rows) + "\n\n" + summary + "\n"
    r5, r10 = (sum(score.hits[k]) / max(1, len(score.hits[k])) for k in (5, 10))
    latency = score.latency_ms
    figures = [
        Figure(f"LoCoMo recall R@5 ({len(score.hits[5]):,} questions)", f"{r5:.3f}", target=">= 0.75",
               met=judged(r5, 0.75, at_least=True)),
        Figure("LoCoMo recall R@10", f"{r10:.3f}", target=">= 0.85", met=judged(r10, 0.85, at_least=True)),
        Figure("LoCoMo characters returned per query at k=5", f"{statistics.median(score.chars):.0f}",
               f"{percentile(score.chars, 95):.0f}", target="<= 2,000 (mean)",
               met=judged(statistics.mean(score.chars), 2000)),
        Figure("LoCoMo recall latency, ms (10 results)", f"{statistics.median(latency):.1f}",
               f"{percentile(latency, 95):.1f}"),
    ]  # fmt: skip
    return Report(markdown, figures)


def run(quick: bool = False, data: Path = DATA) -> Report:
    score = Score()
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(path=str(Path(tmp) / "chroma"))
        for dialogue in dialogues(data, quick):
            evaluate(store, dialogue, score)
    subset = f"first {QUICK} conversations" if quick else "10 conversations"
    return report(score, f"LoCoMo evidence recall ({subset}, `python -m bench.locomo{' --quick' if quick else ''}`)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only the first {QUICK} conversations")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the LoCoMo JSON files")
    args = parser.parse_args()
    markdown = run(args.quick, args.data).markdown
    print(markdown)
    write_section("locomo-quick" if args.quick else "locomo", markdown)


if __name__ == "__main__":
    main()
