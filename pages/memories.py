"""Browse what a persona remembers: newest first, with a text filter."""

from __future__ import annotations

import streamlit as st

from ui import resources, sidebar

PAGE_SIZE = 200

app = resources.settings()
store = resources.memory_store(app.store)
persona = sidebar.persona_picker(resources.persona_library(app.personas_path))
if persona is None:
    st.info("No personas yet: create one on the Personas page.")
    st.stop()

st.title(f"What {persona.name} remembers")
left, right = st.columns([3, 1])
text = left.text_input("Filter by text", placeholder="a word or phrase, any case", key="memory_filter")
kind = right.selectbox("Kind", ["all", "turn", "background"], key="memory_kind")

memories = store.list(persona.id, kind=None if kind == "all" else kind, text=text or None, limit=PAGE_SIZE)
st.caption(f"{store.count(persona.id):,} memories stored · showing {len(memories)} (newest first)")
if memories:
    st.dataframe(
        [
            {
                "when": m.created_at.strftime("%Y-%m-%d %H:%M"),
                "kind": m.kind,
                "who": m.role or "",
                "text": m.text,
                "pinned": m.pinned,
                "conversation": (m.conversation_id or "")[:8],
            }
            for m in memories
        ],
        hide_index=True,
        width="stretch",
        column_config={"text": st.column_config.TextColumn(width="large")},
    )
else:
    st.info("Nothing matches." if text else "Nothing stored yet: chat with the persona first.")
