"""Conversations and memories as files: Markdown, SillyTavern JSONL, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from memory.models import Memory


def _speaker(turn: Memory, persona_name: str, user_name: str) -> str:
    return persona_name if turn.role == "assistant" else user_name


def conversation_markdown(persona_name: str, user_name: str, greeting: str, turns: Sequence[Memory]) -> str:
    """A readable transcript: one section per message, with its time."""
    started = turns[0].created_at if turns else datetime.now(UTC)
    lines = [f"# {persona_name} and {user_name}", "", f"*Conversation started {started:%Y-%m-%d %H:%M} UTC*", ""]
    if greeting:
        lines += [f"**{persona_name}**", "", greeting, ""]
    for turn in turns:
        lines += [
            f"**{_speaker(turn, persona_name, user_name)}** · {turn.created_at:%Y-%m-%d %H:%M}",
            "",
            turn.text,
            "",
        ]
    return "\n".join(lines)


def _st_date(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}@{moment:%H}h{moment:%M}m{moment:%S}s"


def conversation_sillytavern(persona_name: str, user_name: str, greeting: str, turns: Sequence[Memory]) -> str:
    """SillyTavern's chat file: a header line, then one JSON object per message."""
    started = turns[0].created_at if turns else datetime.now(UTC)
    header = {"user_name": user_name, "character_name": persona_name, "create_date": _st_date(started),
              "chat_metadata": {}}  # fmt: skip
    messages = [(persona_name, False, greeting, started)] if greeting else []
    messages += [(_speaker(t, persona_name, user_name), t.role == "user", t.text, t.created_at) for t in turns]
    lines = [json.dumps(header, ensure_ascii=False)]
    for name, is_user, text, moment in messages:
        message = {"name": name, "is_user": is_user, "is_system": False, "send_date": _st_date(moment), "mes": text,
                   "extra": {}}  # fmt: skip
        if not is_user:
            message |= {"swipes": [text], "swipe_id": 0}
        lines.append(json.dumps(message, ensure_ascii=False))
    return "\n".join(lines) + "\n"


FIELDS = ["id", "persona_id", "kind", "role", "conversation_id", "created_at", "pinned", "source", "text"]


def _row(memory: Memory) -> dict[str, object]:
    return {name: getattr(memory, name) for name in FIELDS} | {"created_at": memory.created_at.isoformat()}


def memories_json(memories: Sequence[Memory]) -> str:
    return json.dumps([_row(m) for m in memories], ensure_ascii=False, indent=2)


def memories_csv(memories: Sequence[Memory]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(_row(m) for m in memories)
    return buffer.getvalue()
