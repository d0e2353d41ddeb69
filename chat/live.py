"""A reply while it is being written: what the page shows of it, and waiting for it to change.

The chat service writes to a :class:`LiveReply` from its worker thread; any number of readers
(the chat page in every tab showing the conversation, tests, benchmarks) take
:meth:`LiveReply.snapshot` s or wait for the next change with :meth:`LiveReply.wait`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Literal

from llm.errors import LLMError

State = Literal["preparing", "waiting", "thinking", "answering", "done", "stopped", "failed"]
FINISHED: frozenset[State] = frozenset({"done", "stopped", "failed"})


@dataclass(frozen=True)
class ReplyView:
    """One moment of a reply being written."""

    user_turn_id: str  # the message it answers
    state: State = "preparing"
    thinking: str = ""
    answer: str = ""  # without the thinking; for Continue, the text it continues included
    #: For Continue: the stored reply this one extends (shown in its place).
    continues: str | None = None
    started: float = 0.0  # time.monotonic() when the job began
    prepared_after: float | None = None  # seconds from ``started`` to the prompt being ready (recall done)
    first_piece_after: float | None = None  # seconds from ``started`` to the first piece
    thinking_seconds: float | None = None
    model_loading: bool = False  # the server said the model is not loaded: the first piece waits for it
    error: LLMError | None = None
    #: The reply hit ``max_tokens`` while still thinking: there is no answer.
    only_thinking: bool = False
    version: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def waited(self) -> float:
        """Seconds since the job began (for "Loading the model… 12 s")."""
        return time.monotonic() - self.started


class LiveReply:
    """The latest :class:`ReplyView` of one reply, changed by one writer, read by many."""

    def __init__(self, user_turn_id: str, continues: str | None = None, answer: str = "") -> None:
        self._view = ReplyView(user_turn_id, continues=continues, answer=answer, started=time.monotonic())
        self._changed = threading.Condition()
        #: Set once the reply's request is on its way (or the reply ended before it could be).
        self.sent = threading.Event()

    @property
    def user_turn_id(self) -> str:
        return self._view.user_turn_id

    def since_start(self) -> float:
        """Seconds since the job began."""
        return time.monotonic() - self._view.started

    def snapshot(self) -> ReplyView:
        return self._view

    def update(self, **changes: object) -> ReplyView:
        with self._changed:
            self._view = replace(self._view, **changes, version=self._view.version + 1)  # type: ignore[arg-type]
            self._changed.notify_all()
            return self._view

    def wait(self, after_version: int, timeout: float) -> ReplyView:
        """The view once it is newer than ``after_version``, or after ``timeout`` seconds as it is."""
        with self._changed:
            self._changed.wait_for(lambda: self._view.version > after_version, timeout)
            return self._view
