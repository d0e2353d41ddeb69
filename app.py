"""Persona Chat: the frame. Page config and navigation; the pages do the rest."""

import streamlit as st

from ui.navigation import mark_framed

st.set_page_config(page_title="Persona Chat", page_icon=":material/forum:", layout="wide")
mark_framed()

navigation = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/personas.py", title="Personas", icon=":material/theater_comedy:", url_path="personas"),
        st.Page("pages/memories.py", title="Memories", icon=":material/psychology:", url_path="memories"),
    ]
)
navigation.run()
