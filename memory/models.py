"""The memory record the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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
    interrupted: bool = False  # a reply cut short by an error

    def as_prompt_line(self) -> str:
        """How the memory reads in the prompt: turns say who said it and when."""
        if self.kind == "background":
            return self.text
        speaker = "You said" if self.role == "assistant" else "The user said"
        return f"({self.created_at:%Y-%m-%d}) {speaker}: {self.text}"


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    started_at: datetime
    updated_at: datetime
    turns: int
