"""Evidence recall on our own persona chats: ``python -m bench.persona_chats``.

bench/fixtures/persona_chats.json: three personas with a background, multi-session chats in which
facts change (moves, jobs, codes, supervisors) and questions worded unlike the memory that
answers them. Loaded as the app stores them (background through ``add_background``, each session
a conversation of user/assistant turns, no speaker names) and scored with the LoCoMo metric: a
hit at k when an evidence text is contained in one of the k recalled memories. For "update"
questions, also whether the newer fact is ranked above the one it replaced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from bench import Figure, Report, judged, table, write_section
from memory import MemoryStore
from memory.models import NewTurn

FIXTURE = Path(__file__).with_name("fixtures") / "persona_chats.json"
TYPES = ("fact", "update", "multi", "background")


def _rank(texts: list[str], needle: str) -> int | None:
    return next((i for i, text in enumerate(texts) if needle in text), None)


def run(quick: bool = False, fixture: Path = FIXTURE) -> Report:
    data = json.loads(fixture.read_text())
    hits: dict[tuple[str, int], list[bool]] = {}
    newer_first: list[bool] = []
    chars: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(path=str(Path(tmp) / "chroma"))
        for persona in data["personas"]:
            pid = persona["id"]
            store.add_background(pid, persona["background"], source="fixture")
            stored = [persona["background"]]
            for n, session in enumerate(persona["sessions"]):
                start = datetime.fromisoformat(session["date"])
                turns = [
                    NewTurn(role, text, start + timedelta(minutes=i)) for i, (role, text) in enumerate(session["turns"])
                ]
                store.add_turns(pid, f"session-{n}", turns)
                stored += [text for _, text in session["turns"]]
            now = datetime.fromisoformat(persona["now"])
            for question in persona["questions"]:
                for evidence in [*question["evidence"], question.get("older", "")]:
                    assert any(evidence in text for text in stored), f"not in the fixture: {evidence!r}"
                texts = [m.shown for m in store.recall(pid, question["q"], k=10, now=now)]
                chars.append(sum(len(t) for t in texts[:5]))
                ranks = [r for r in (_rank(texts, e) for e in question["evidence"]) if r is not None]
                for k in (5, 10):
                    hit = bool(ranks) and min(ranks) < k
                    hits.setdefault(("all", k), []).append(hit)
                    hits.setdefault((question["type"], k), []).append(hit)
                if question["type"] == "update":
                    older = _rank(texts, question["older"])
                    newer_first.append(bool(ranks) and (older is None or min(ranks) < older))

    def rate(key: tuple[str, int]) -> str:
        values = hits.get(key, [])
        return f"{sum(values) / len(values):.2f}" if values else "-"

    rows = [[kind, len(hits.get((kind, 5), [])), rate((kind, 5)), rate((kind, 10))] for kind in ("all", *TYPES)]
    markdown = (
        "## Persona chats (bench/fixtures/persona_chats.json, `python -m bench.persona_chats`)\n\n"
        + table(["questions", "n", "R@5", "R@10"], rows)
        + f"\n\nupdates with the newer fact ranked above the older: {sum(newer_first)}/{len(newer_first)}; "
        + f"mean characters per query at k=5: {statistics.mean(chars):.0f}\n"
    )
    figures = [
        Figure("persona chats recall R@5 / R@10", f"{rate(('all', 5))} / {rate(('all', 10))}"),
        Figure("persona chats: newer fact above the older", f"{sum(newer_first)}/{len(newer_first)}",
               target="all", met=judged(sum(newer_first), len(newer_first), at_least=True)),
    ]  # fmt: skip
    return Report(markdown, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="same as without (the fixture is small)")
    args = parser.parse_args()
    markdown = run(args.quick).markdown
    print(markdown)
    write_section("persona-chats", markdown)


if __name__ == "__main__":
    main()
