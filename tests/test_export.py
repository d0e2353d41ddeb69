from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from memory import Memory
from memory.export import conversation_markdown, conversation_sillytavern, memories_csv, memories_json

T0 = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
TURNS = [
    Memory("t1", "mara", "turn", "Hello, captain! <b>bold</b>", T0, role="user", conversation_id="c1"),
    Memory("t2", "mara", "turn", "Ahoy.\nWelcome aboard, \"navigator\".", T0 + timedelta(seconds=5), role="assistant",
           conversation_id="c1"),
]  # fmt: skip


def test_markdown_has_every_message_in_order() -> None:
    text = conversation_markdown("Mara", "Sam", "So you're the new navigator.", TURNS)
    assert text.startswith("# Mara and Sam")
    order = [text.index(s) for s in ("So you're the new navigator.", "Hello, captain!", "Welcome aboard")]
    assert order == sorted(order)
    assert "**Sam** · 2026-05-01 09:30" in text


def test_sillytavern_jsonl_reads_back() -> None:
    lines = conversation_sillytavern("Mara", "Sam", "Greetings.", TURNS).splitlines()
    header, *messages = (json.loads(line) for line in lines)
    assert header["character_name"] == "Mara" and header["user_name"] == "Sam"
    assert [(m["name"], m["is_user"], m["mes"]) for m in messages] == [
        ("Mara", False, "Greetings."),
        ("Sam", True, "Hello, captain! <b>bold</b>"),
        ("Mara", False, 'Ahoy.\nWelcome aboard, "navigator".'),
    ]
    assert messages[2]["swipes"] == [messages[2]["mes"]] and messages[1]["send_date"] == "2026-05-01@09h30m00s"


def test_memories_json_and_csv_round_trip() -> None:
    assert [m["text"] for m in json.loads(memories_json(TURNS))] == [t.text for t in TURNS]
    rows = list(csv.DictReader(io.StringIO(memories_csv(TURNS))))
    assert [r["text"] for r in rows] == [t.text for t in TURNS]
    assert rows[0]["created_at"] == T0.isoformat() and rows[1]["role"] == "assistant"
