"""The memory record the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from memory.ranking import Breakdown

#: The records' schema, stamped as ``v`` on every record written. 1 (no ``v``): background in
#: chunks of up to 600 characters. 2: background one sentence per record, with ``paragraph`` (a
#: hash of it) and ``sentence`` (its place), given back by recall as a passage of its paragraph.
#: Version 1 records stay readable; see ``MemoryStore._replace_v1_chunks``. Backups carry it too.
SCHEMA = 2

Kind = Literal["background", "turn"]


@dataclass(frozen=True)
class Memory:
    id: str
    persona_id: str
    kind: Kind
    text: str
    created_at: datetime
    role: str | None = None  # "user" / "assistant" for turns
    conversation_id: str | None = None
    pinned: bool = False
    score: float | None = None  # set by recall(): higher is better
    source: str | None = None  # where a background chunk came from
    recalled: list[tuple[str, float]] = field(default_factory=list)  # (memory id, score) a reply used
    lore: list[str] = field(default_factory=list)  # the lorebook entries (names) a reply was given
    interrupted: bool = False  # a reply cut short by an error (or by Stop: see ``stopped``)
    stopped: bool = False  # a reply the user stopped
    thinking: str = ""  # a reasoning model's thinking before this reply (never embedded or recalled)
    thinking_seconds: float | None = None  # how long it thought
    speaker: str | None = None  # who said a turn, when known by name (else the role says it)
    context: str | None = None  # the turn it answered ("Speaker: text", shortened), if any
    duplicate_of: str | None = None  # an earlier, near-identical memory (see memory.ranking)
    breakdown: Breakdown | None = None  # set by recall(): the parts of score
    older_than: datetime | None = None  # set by recall(): a newer memory about the same thing, recalled above it
    reply: str | None = None  # set by recall(): the next turn, when this one asked a question (shortened)

    def as_prompt_line(self) -> str:
        """How the memory reads in the prompt: turns say who said it, when, and what they were
        answering, so that a bare "Yes, last Friday!" still makes sense on its own."""
        if self.kind == "background":
            return self.text
        default = "You said" if self.role == "assistant" else "The user said"
        said = f"{self.speaker} said" if self.speaker else default
        when = f"{self.created_at:%Y-%m-%d}"
        if self.older_than is not None:  # a knowledge update: the newer memory is the one above
            when += f", older than the {self.older_than:%Y-%m-%d} one"
        line = f"({when}) {said}: {self.text}"
        if self.context:
            line += f" (replying to {self.context})"
        return f"{line} (answered: {self.reply})" if self.reply else line

    @property
    def shown(self) -> str:
        """What recall gives of this memory: its text, and the reply to it when it asked."""
        return f"{self.text}\n{self.reply}" if self.reply else self.text


@dataclass(frozen=True)
class NewTurn:
    """A turn to store with :meth:`MemoryStore.add_turns`."""

    role: str  # "user" / "assistant"
    text: str
    created_at: datetime | None = None  # default: now
    speaker: str | None = None  # who said it, when known by name
    recalled: tuple[tuple[str, float], ...] = ()
    lore: tuple[str, ...] = ()
    interrupted: bool = False
    stopped: bool = False
    thinking: str = ""
    thinking_seconds: float | None = None
    id: str | None = None  # default: derived from the turn (see MemoryStore.turn_id)


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    started_at: datetime
    updated_at: datetime
    turns: int
    parent: str | None = None  # the conversation it was branched from


@dataclass(frozen=True)
class StoredRecord:
    """A memory exactly as the store keeps it (what a backup holds): its id, its text and its whole
    Chroma metadata (see :mod:`memory.store`); the vector is not part of it, it is computed again."""

    id: str
    text: str
    metadata: dict[str, Any]
