"""Rendering of chat messages and of the memories a reply used."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from memory import Memory
from ui.safe_text import markdown, markdown_stream, plain

USER_AVATAR = ":material/person:"
PERSONA_AVATAR = ":material/theater_comedy:"

#: The names the chat page uses (see ui.safe_text).
safe_markdown = markdown
safe_stream = markdown_stream


def avatar(role: str, persona_avatar: str | None = None) -> str:
    """The user's icon, or the persona's image (a file path) when it has one."""
    return USER_AVATAR if role == "user" else persona_avatar or PERSONA_AVATAR


def memories_used(memories: Sequence[Memory], missing: int = 0, lore: Sequence[str] = ()) -> None:
    """The expander under a reply: which memories (and lorebook entries) went into its prompt."""
    if not memories and not missing and not lore:
        return
    with st.expander(f"Memories used ({len(memories)})", icon=":material/psychology:"):
        if lore:
            st.caption("Lorebook: " + ", ".join(plain(label) for label in lore))
        for memory in memories:
            label = memory.kind if memory.kind == "background" else f"{memory.role} turn, {memory.created_at:%Y-%m-%d}"
            score = f"{memory.score:.2f}" if memory.score is not None else "–"
            st.markdown(f"**{score}** · *{label}*")
            st.text(memory.text)
        if missing:
            st.caption(f"{missing} more since deleted or edited away.")


def message(
    role: str,
    text: str,
    memories: Sequence[Memory] = (),
    missing: int = 0,
    interrupted: bool = False,
    persona_avatar: str | None = None,
) -> None:
    with st.chat_message(role, avatar=avatar(role, persona_avatar)):
        body(text, interrupted)
        memories_used(memories, missing)


def body(text: str, interrupted: bool = False) -> None:
    st.markdown(markdown(text))
    if interrupted:
        st.caption(":material/warning: This reply was interrupted.")
