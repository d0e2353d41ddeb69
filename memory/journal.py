"""Turns accepted but not stored yet, kept in a JSON-lines file until the store has them.

Storing a turn means embedding it and writing it to Chroma (about 20 ms on 2 cores), which the
chat should not do between the user's Enter and the reply's first token. So a new message is
written here first (one line appended and flushed: well under a millisecond, and it survives the
app stopping), and :meth:`memory.MemoryStore.store_pending` moves it into the store once the
reply is under way. A turn left here by an app that stopped is stored the next time a store opens
on the same folder. Storing is idempotent (a turn's id comes from its content and time), so a
turn stored twice is still one memory.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

FILE_NAME = "pending-turns.jsonl"


@dataclass(frozen=True)
class PendingTurn:
    id: str
    persona_id: str
    conversation_id: str
    role: str
    text: str
    created_at: datetime

    def line(self) -> str:
        return json.dumps({**self.__dict__, "created_at": self.created_at.isoformat()}, ensure_ascii=False)

    @classmethod
    def parse(cls, line: str) -> PendingTurn:
        data = json.loads(line)
        return cls(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


class Journal:
    """The pending turns of one store, in ``folder/pending-turns.jsonl`` (in memory only when
    ``folder`` is None: a store built on a bare client). Thread-safe."""

    def __init__(self, folder: str | Path | None) -> None:
        self.path = None if folder is None else Path(folder) / FILE_NAME
        self._lock = threading.Lock()
        self._pending: dict[str, PendingTurn] = {}
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    turn = PendingTurn.parse(line)
                except (ValueError, TypeError, KeyError):
                    continue  # a line cut short by a crash while it was written: nothing was promised
                self._pending[turn.id] = turn
        #: The turns an earlier process left here (stored at start-up, see MemoryStore.warm_up).
        self.leftover = frozenset(self._pending)

    def append(self, turn: PendingTurn) -> None:
        with self._lock:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(turn.line() + "\n")
            self._pending[turn.id] = turn

    def pending(self) -> list[PendingTurn]:
        """The turns not stored yet, oldest first."""
        with self._lock:
            return sorted(self._pending.values(), key=lambda t: t.created_at)

    def empty(self) -> bool:
        return not self._pending

    def discard(self, ids: set[str]) -> None:
        """Forget turns the store now has; the file is rewritten with the rest (or removed)."""
        with self._lock:
            for turn_id in ids:
                self._pending.pop(turn_id, None)
            if self.path is None:
                return
            if not self._pending:
                self.path.unlink(missing_ok=True)
                return
            scratch = self.path.with_suffix(".tmp")
            scratch.write_text("".join(t.line() + "\n" for t in self._pending.values()), encoding="utf-8")
            os.replace(scratch, self.path)
