"""Persona Chat: the frame. Page config and navigation; the pages do the rest."""

import streamlit as st

from ui.navigation import mark_framed
from ui.resources import settings, store_guard, warm_up

# An emoji icon: Streamlit draws it as an inline SVG. A ":material/…:" icon would make the browser
# fetch the favicon from Google's font servers on every page (the README promises no outbound calls).
st.set_page_config(page_title="Persona Chat", page_icon="💬", layout="wide")
mark_framed()

navigation = st.navigation(
    [
        st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
        st.Page("pages/personas.py", title="Personas", icon=":material/theater_comedy:", url_path="personas"),
        st.Page("pages/memories.py", title="Memories", icon=":material/psychology:", url_path="memories"),
        st.Page("pages/lorebooks.py", title="Lorebooks", icon=":material/menu_book:", url_path="lorebooks"),
        st.Page("pages/you.py", title="You", icon=":material/person:", url_path="you"),
    ]
)
with store_guard(settings().store):  # every page: a store that does not answer is a clear message
    try:
        navigation.run()
    finally:  # (also when the page stops or reruns early)
        warm_up(settings().store)
