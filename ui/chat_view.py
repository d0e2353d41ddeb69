"""Rendering of chat messages and of the memories a reply used."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from memory import Memory

USER_AVATAR = ":material/person:"
PERSONA_AVATAR = ":material/theater_comedy:"


def avatar(role: str) -> str:
    return USER_AVATAR if role == "user" else PERSONA_AVATAR


def memories_used(memories: Sequence[Memory], missing: int = 0, lore: Sequence[str] = ()) -> None:
    """The expander under a reply: which memories (and lorebook entries) went into its prompt."""
    if not memories and not missing and not lore:
        return
    with st.expander(f"Memories used ({len(memories)})", icon=":material/psychology:"):
        if lore:
            st.caption("Lorebook: " + ", ".join(lore))
        for memory in memories:
            label = memory.kind if memory.kind == "background" else f"{memory.role} turn, {memory.created_at:%Y-%m-%d}"
            score = f"{memory.score:.2f}" if memory.score is not None else "–"
            st.markdown(f"**{score}** · *{label}*")
            st.text(memory.text)
        if missing:
            st.caption(f"{missing} more since deleted or edited away.")


def message(role: str, text: str, memories: Sequence[Memory] = (), missing: int = 0, interrupted: bool = False) -> None:
    with st.chat_message(role, avatar=avatar(role)):
        st.markdown(text)
        if interrupted:
            st.caption(":material/warning: This reply was interrupted.")
        memories_used(memories, missing)
