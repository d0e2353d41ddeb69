"""How fast a SillyTavern chat imports: ``python -m bench.st_import [--messages N] [--write]``.

A 5,000-message chat in the shape SillyTavern writes (a header, the greeting with an alternate
greeting as a swipe, user messages and replies in turn, one reply in five with two more swipes,
"June 19, 2023 2:20pm" dates), its texts made by pairing sentences of LoCoMo turns, is read
(:func:`memory.sillytavern.parse_chat`) and stored (:func:`memory.sillytavern.import_chat`: real
embeddings, the embedded store in a temp dir), then imported again (nothing to store); then 1,000
of the same turns go through ``add_turns`` in conversations of 20 (how ``bench.scale`` measures the
ingest rate), so that the import's rate can be read against the store's on a machine others share.
The issue's target: a 5,000-message chat in under a minute at today's ingest rate. ``--write``
puts the table in bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bench import judged, machine, table, write_section
from bench.locomo import DATA
from memory import MemoryStore
from memory.sillytavern import import_chat, parse_chat

PERSONA = "st-import"
START = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
TARGET_SECONDS = 60
REFERENCE_TURNS = 1_000
#: Turns per second bench.scale measured up to 10,000 (README, latest make bench on an idle machine).
README_RATE = 119


def _sentences() -> list[str]:
    sentences: list[str] = []
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text())
        for key, value in data.items():
            if key.startswith("session_") and isinstance(value, list):
                sentences += [s for turn in value for s in _SENTENCE.split(turn["text"]) if len(s) > 20]
    return sentences


def _st_date(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{moment:%B} {moment.day}, {moment.year} {hour}:{moment:%M}{'pm' if moment.hour >= 12 else 'am'}"


def synthetic_chat(messages: int, seed: int = 7) -> bytes:
    """A SillyTavern chat of ``messages`` messages (after the header)."""
    rng = random.Random(seed)
    sentences = _sentences()

    def text() -> str:
        return " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 3)))

    header = {"user_name": "Alex", "character_name": "Mara", "create_date": "2024-03-01@18h00m00s",
              "chat_metadata": {"integrity": "bench"}}  # fmt: skip
    greeting = text()
    records: list[dict[str, object]] = [
        {"name": "Mara", "is_user": False, "is_system": False, "send_date": _st_date(START), "mes": greeting,
         "extra": {}, "swipe_id": 0, "swipes": [greeting, text()], "swipe_info": []},
    ]  # fmt: skip
    moment = START
    for n in range(1, messages):
        moment += timedelta(seconds=rng.randint(20, 400))
        if n % 2:
            records.append({"name": "Alex", "is_user": True, "is_system": False, "send_date": _st_date(moment),
                            "mes": text(), "extra": {"isSmallSys": False}})  # fmt: skip
            continue
        swipes = [text() for _ in range(3 if n % 10 == 0 else 1)]
        info = [{"send_date": _st_date(moment), "extra": {}}] * len(swipes)
        records.append({"name": "Mara", "is_user": False, "is_system": False, "send_date": _st_date(moment),
                        "mes": swipes[-1], "extra": {"api": "openai", "model": "bench"}, "swipe_id": len(swipes) - 1,
                        "swipes": swipes, "swipe_info": info})  # fmt: skip
    return "\n".join(json.dumps(r) for r in [header, *records]).encode()


def run(messages: int = 5_000) -> str:
    data = synthetic_chat(messages)
    with tempfile.TemporaryDirectory() as folder:
        store = MemoryStore.open(path=folder)
        store.warm_up()  # the model loaded, as in the app (it loads at start-up)
        started = time.perf_counter()
        chat = parse_chat(data, "bench.jsonl")
        parsed = time.perf_counter() - started
        steps = 0

        def progress(done: int, total: int) -> None:
            nonlocal steps
            steps += 1

        started = time.perf_counter()
        result = import_chat(store, PERSONA, chat, progress=progress)
        stored = time.perf_counter() - started
        started = time.perf_counter()
        again = import_chat(store, PERSONA, chat)
        second = time.perf_counter() - started
        assert again.already_imported and store.count(PERSONA) == len(result.plan.turns)
        # the store's own ingest rate at the same moment (the machine may be shared): 1,000 of the
        # same turns through add_turns in conversations of 20, as bench.scale feeds it
        sample = list(result.plan.turns[:REFERENCE_TURNS])
        started = time.perf_counter()
        for start in range(0, len(sample), 20):
            store.add_turns("reference", f"c{start}", sample[start : start + 20])
        reference = len(sample) / (time.perf_counter() - started)
    total = parsed + stored
    turns = len(result.plan.turns)
    rows = [
        ["chat file", f"{len(data) / 2**20:.1f} MB, {len(chat.messages):,} messages, {turns:,} turns (swipes)"],
        ["read (parse_chat)", f"{parsed:.2f} s"],
        ["stored (import_chat, real embeddings)", f"{stored:.1f} s, {steps} progress steps"],
        ["rate", f"{len(chat.messages) / total:,.0f} messages/s, {turns / stored:,.0f} turns/s"],
        ["the store's ingest rate just after (add_turns, conversations of 20)", f"{reference:,.0f} turns/s"],
        [
            f"{messages:,} messages at the README's ingest rate ({README_RATE} turns/s)",
            f"{parsed + turns / README_RATE * reference / (turns / stored):.0f} s",
        ],
        [f"{messages:,} messages under {TARGET_SECONDS} s", judged(total, TARGET_SECONDS)],
        ["imported again (nothing stored)", f"{second:.2f} s"],
    ]
    return (
        f"## SillyTavern chat import (`python -m bench.st_import --messages {messages}`)\n\n"
        + table(["", "measured"], rows)
        + f"\n\n{machine()}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--write", action="store_true", help="write the table to bench/results.md")
    args = parser.parse_args()
    markdown = run(args.messages)
    print(markdown)
    if args.write:
        write_section("st-import", markdown)


if __name__ == "__main__":
    main()
