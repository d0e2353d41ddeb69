"""One schema for a memory's record, in its three forms: the metadata stored with it in Chroma,
the row of the in-process mirror (:class:`memory.rows.Entry`) and the :class:`Memory` the store
returns. Its version is :data:`SCHEMA` (``v`` in each record; version 2 stores a background one
sentence per record). Writing builds the metadata here, reading turns it back here: a field is
added in one place.

Each record's metadata: ``persona_id, kind, role, conversation_id, created_at`` (epoch seconds),
``pinned``, ``source``, ``recalled`` and ``lore`` (JSON), ``interrupted``, ``stopped``,
``thinking`` and ``thinking_seconds``, ``v``, for turns ``speaker`` (a name, when known),
``context`` (the turn it answered, shortened) and ``duplicate_of``, and for background sentences
``paragraph`` and ``sentence``. The document is always the memory's own text (what the UI shows and
edits); what is embedded is :func:`embedded_text`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from memory.chunking import chunk_text, paragraphs, sentences
from memory.models import SCHEMA, Memory, NewTurn
from memory.rows import Entry

#: Characters of the previous turn kept with a turn as its ``context``.
CONTEXT_CHARS = 160
_ROLE_LABEL = {"user": "the user", "assistant": "you"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def turn_id(persona_id: str, conversation_id: str, role: str, text: str, created_at: datetime) -> str:
    """A turn's id: the same turn at the same time (UTC) is stored once."""
    return f"turn-{_digest(persona_id, conversation_id, role, created_at.isoformat(), text)}"


def background_units(persona_id: str, text: str) -> tuple[dict[str, tuple[str, dict[str, Any]]], list[str]]:
    """A background text as records, one per sentence (:mod:`memory.chunking`): by id, the
    sentence and its place (``paragraph``, a hash of it, and ``sentence``, its number); and the
    ids in the text's order (a sentence said twice in one paragraph at the same place is one).
    An id is a hash of the paragraph, the place and the sentence, so storing a text twice stores
    nothing twice."""
    units: dict[str, tuple[str, dict[str, Any]]] = {}
    ids: list[str] = []
    for paragraph in paragraphs(text):
        group = _digest(persona_id, paragraph)
        for n, sentence in enumerate(sentences(paragraph)):
            unit_id = f"bg-{_digest(persona_id, group, str(n), sentence)}"
            units.setdefault(unit_id, (sentence, {"paragraph": group, "sentence": n}))
            ids.append(unit_id)
    return units, ids


def v1_chunks(persona_id: str, text: str) -> dict[str, str]:
    """Schema version 1's records of a background text, by id: chunks of up to 600 characters
    (:func:`memory.chunking.chunk_text`), ids from their text (for migration 1 -> 2)."""
    return {f"bg-{_digest(persona_id, chunk)}": chunk for chunk in chunk_text(text)}


def turn_metadata(
    persona_id: str, conversation_id: str, turn: NewTurn, created_at: datetime,
    previous: tuple[str | None, str] | None,
) -> dict[str, Any]:  # fmt: skip
    """A turn's metadata; ``previous`` is (who, text) of the turn before it in the conversation."""
    meta: dict[str, Any] = {
        "persona_id": persona_id,
        "kind": "turn",
        "role": turn.role,
        "conversation_id": conversation_id,
        "created_at": created_at.timestamp(),
        "pinned": False,
        "v": SCHEMA,
    }
    if turn.speaker:
        meta["speaker"] = turn.speaker
    if previous is not None:
        who, said = previous
        meta["context"] = f"{_ROLE_LABEL.get(who or '', who)}: {shorten(said, CONTEXT_CHARS)}"
    if turn.recalled:
        meta["recalled"] = json.dumps([[i, round(s, 4)] for i, s in turn.recalled])
    if turn.lore:
        meta["lore"] = json.dumps(list(turn.lore), ensure_ascii=False)
    if turn.interrupted or turn.stopped:
        meta["interrupted"] = True
    if turn.stopped:
        meta["stopped"] = True
    if turn.thinking:
        meta["thinking"] = turn.thinking
    if turn.thinking_seconds is not None:
        meta["thinking_seconds"] = round(turn.thinking_seconds, 1)
    return meta


def background_metadata(persona_id: str, created_at: datetime, source: str | None) -> dict[str, Any]:
    """What every sentence of a background shares (each adds its ``paragraph`` and ``sentence``)."""
    meta: dict[str, Any] = {
        "persona_id": persona_id,
        "kind": "background",
        "created_at": created_at.timestamp(),
        "pinned": False,
        "v": SCHEMA,
    }
    if source:
        meta["source"] = source
    return meta


def memory_from(memory_id: str, text: str, meta: dict[str, Any], score: float | None = None) -> Memory:
    return Memory(
        id=memory_id,
        persona_id=meta["persona_id"],
        kind=meta["kind"],
        text=text,
        created_at=datetime.fromtimestamp(meta["created_at"], UTC),
        role=meta.get("role"),
        conversation_id=meta.get("conversation_id"),
        pinned=bool(meta.get("pinned", False)),
        score=score,
        source=meta.get("source"),
        recalled=[tuple(pair) for pair in json.loads(meta.get("recalled", "[]"))],
        lore=json.loads(meta.get("lore", "[]")),
        interrupted=bool(meta.get("interrupted", False)),
        stopped=bool(meta.get("stopped", False)),
        thinking=meta.get("thinking", ""),
        thinking_seconds=meta.get("thinking_seconds"),
        speaker=meta.get("speaker"),
        context=meta.get("context"),
        duplicate_of=meta.get("duplicate_of"),
    )


def embedded_text(text: str, meta: Mapping[str, Any]) -> str:
    """What is embedded: a turn with who said it ("Melanie: ..."), background as it is."""
    if meta["kind"] != "turn":
        return text
    return f"{meta.get('speaker') or meta.get('role') or 'someone'}: {text}"


def mirror_entry(memory_id: str, text: str, meta: Mapping[str, Any]) -> Entry:
    return Entry(
        id=memory_id,
        kind=meta["kind"],
        text=text,
        created_at=meta["created_at"],
        conversation_id=meta.get("conversation_id"),
        speaker=meta.get("speaker") or meta.get("role"),
        meta=json.dumps(meta, ensure_ascii=False),
        pinned=bool(meta.get("pinned", False)),
        duplicate_of=meta.get("duplicate_of"),
        group=meta.get("paragraph"),
        position=meta.get("sentence"),
    )


def storable(text: str) -> str:
    """``text`` as it can be stored: lone UTF-16 surrogates (which no UTF-8 store accepts, and
    which only broken clients send) become U+FFFD; everything else, NUL included, is kept."""
    return _SURROGATE.sub("\ufffd", text)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
