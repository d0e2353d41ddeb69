"""Conversations and memories as files: Markdown, SillyTavern JSONL, JSON and CSV.

The texts come from the user, cards and the model, and the files are opened in other programs,
so the formats that run things are defused: the Markdown carries no live HTML and no images (a
Markdown viewer would render ``<img src=…>`` or fetch ``![](…)``), and no CSV cell starts with a
character that makes a spreadsheet read it as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from memory.models import Memory

#: Cells a spreadsheet would evaluate (OWASP, "CSV injection"): they get a leading ``'``.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NAME_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:])")


def markdown_text(text: str) -> str:
    """A message for a Markdown file: ``<`` as ``&lt;`` (no HTML tags, no autolinks) and ``![`` as
    ``!\\[`` (no images). Inside code blocks too, where they then show as written here: where a
    renderer sees code depends on its extensions (math, admonitions…), and a guess wrong the
    other way would leave HTML live."""
    return text.replace("<", "&lt;").replace("![", "!\\[")


def markdown_name(name: str) -> str:
    """A name in a heading or in bold: shown as written, whatever Markdown or HTML it holds."""
    escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NAME_MARKDOWN.sub(r"\\\1", " ".join(escaped.split()))


def _speaker(turn: Memory, persona_name: str, user_name: str) -> str:
    return persona_name if turn.role == "assistant" else user_name


def conversation_markdown(persona_name: str, user_name: str, greeting: str, turns: Sequence[Memory]) -> str:
    """A readable transcript: one section per message, with its time (see :func:`markdown_text`)."""
    started = turns[0].created_at if turns else datetime.now(UTC)
    persona, user = markdown_name(persona_name), markdown_name(user_name)
    lines = [f"# {persona} and {user}", "", f"*Conversation started {started:%Y-%m-%d %H:%M} UTC*", ""]
    if greeting:
        lines += [f"**{persona}**", "", markdown_text(greeting), ""]
    for turn in turns:
        lines += [
            f"**{persona if turn.role == 'assistant' else user}** · {turn.created_at:%Y-%m-%d %H:%M}",
            "",
            markdown_text(turn.text),
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


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: ``'`` before a leading ``=``, ``+``, ``-``, ``@``, tab or CR."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def memories_csv(memories: Sequence[Memory]) -> str:
    """The memories as CSV, every cell defused (see :func:`_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows({name: _cell(value) for name, value in _row(m).items()} for m in memories)
    return buffer.getvalue()
