"""The personas: see them, add one with its background."""

from __future__ import annotations

import streamlit as st

from personas import Persona
from personas.model import make_id
from ui import resources

app = resources.settings()
store = resources.memory_store(app.store)
library = resources.persona_library(app.personas_path)

st.title("Personas")
if flash := st.session_state.pop("personas_flash", None):
    st.success(flash, icon=":material/check_circle:")

for persona in library.list():
    with st.expander(persona.name, icon=":material/theater_comedy:"):
        st.markdown(f"**Description** — {persona.description}")
        if persona.personality:
            st.markdown(f"**Personality** — {persona.personality}")
        if persona.first_mes:
            st.markdown("**Greeting**")
            st.text(persona.first_mes)
        if persona.background:
            st.markdown(
                f"**Background** — {len(persona.background.split()):,} words, in memory as "
                f"{store.count(persona.id):,} memories (with conversation turns)"
            )
        if st.button("Chat with this persona", key=f"chat_{persona.id}", icon=":material/chat:"):
            st.session_state.persona_id = persona.id
            st.session_state.pop("conversation_id", None)
            st.switch_page("pages/chat.py")

st.subheader("New persona")
with st.form("new_persona", clear_on_submit=True):
    name = st.text_input("Name", max_chars=100)
    description = st.text_area("Description", help="Who they are, what they look like; always in the prompt.")
    personality = st.text_input("Personality")
    scenario = st.text_input("Scenario", help="Where the conversation takes place. {{user}} is you.")
    first_mes = st.text_area("Greeting", help="The first message of every new conversation.")
    background = st.text_area(
        "Background",
        height=200,
        help="Long lore: history, people, places. Stored as memories and recalled when relevant.",
    )
    if st.form_submit_button("Create persona", icon=":material/person_add:"):
        if not name.strip():
            st.error("A persona needs a name.")
        else:
            persona = Persona(
                id=make_id(name),
                name=name.strip(),
                description=description,
                personality=personality,
                scenario=scenario,
                first_mes=first_mes,
                background=background,
            )
            library.save(persona)
            if background.strip():
                with st.spinner("Reading the background into memory…"):
                    store.add_background(persona.id, background, source="persona background")
            st.session_state.personas_flash = f"Created {persona.name}."
            st.rerun()
