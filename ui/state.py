"""This browser session's state, typed: every key the pages share, what it holds and when it is
set, in one place. ``st.session_state`` is underneath (widgets, callbacks and AppTest see the
same keys); a page reads ``session.conversation_id`` instead of a string key it must spell right.

Widget keys (``"composer"``, ``"base_url"``, …) stay where their widgets are: Streamlit owns
their values.
"""

from __future__ import annotations

from typing import Generic, TypeVar, overload

import streamlit as st

T = TypeVar("T")


class Key(Generic[T]):
    """One entry of ``st.session_state``: its default while unset; ``del`` unsets it."""

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, session: None, owner: type) -> Key[T]: ...
    @overload
    def __get__(self, session: object, owner: type | None = None) -> T: ...
    def __get__(self, session: object, owner: type | None = None) -> Key[T] | T:
        if session is None:  # on the class (``Session.unsent``): the key itself, for ``take``
            return self
        value: T = st.session_state.get(self.name, self.default)
        return value

    def __set__(self, session: object, value: T) -> None:
        st.session_state[self.name] = value

    def __delete__(self, session: object) -> None:
        st.session_state.pop(self.name, None)


class Session:
    """What this session keeps between reruns and pages."""

    #: The persona chatted with (the Persona select box; the Personas page sets it too).
    persona_id = Key[str | None](None)
    #: The conversation open on the chat page (None: the persona's latest, or the URL's).
    conversation_id = Key[str | None](None)
    #: The stored message being edited, or being asked about deleting, on the chat page.
    editing = Key[str | None](None)
    deleting = Key[str | None](None)
    #: A message that could not be sent, and why: shown once, to copy.
    unsent = Key[tuple[str, str] | None](None)
    #: The memories waiting for the Memories page's "Delete?" confirmation.
    pending_delete = Key[list[str] | None](None)
    #: A message for the Memories page to show once after its rerun ("Saved 2 changes.").
    memories_flash = Key[str | None](None)
    #: What the last restore or switch of embedding model did, for the Memories page's next run.
    backup_flash = Key[str | None](None)
    #: The persona whose edit dialog, or whose "Delete?" confirmation, is open (one at a time).
    personas_editing = Key[str | None](None)
    personas_deleting = Key[str | None](None)
    #: A message the Personas page's last action left: (where: "top", "create" or "toast",
    #: the message, its warnings).
    personas_flash = Key[tuple[str, str, list[str]] | None](None)
    #: A message the Lorebooks page's last action left for its next run.
    lorebooks_flash = Key[str | None](None)

    @property
    def choices(self) -> dict[str, int]:
        """The alternative shown of each reply that has several (reply group id -> index)."""
        chosen: dict[str, int] = st.session_state.setdefault("choices", {})
        return chosen

    @property
    def shown_messages(self) -> dict[str, int]:
        """How many of a conversation's latest messages the chat page draws (conversation id ->
        count), once "Show earlier messages" was pressed."""
        shown: dict[str, int] = st.session_state.setdefault("shown_messages", {})
        return shown

    def put(self, key: Key[T], value: T) -> None:
        """Set ``key`` (for a callback given the key: ``args=(Session.personas_editing, …)``)."""
        st.session_state[key.name] = value

    def take(self, key: Key[T]) -> T:
        """A one-time value (``session.take(Session.unsent)``): its value, now unset."""
        value: T = st.session_state.pop(key.name, key.default)
        return value


session = Session()  # holds nothing itself: every read goes to this session's st.session_state
