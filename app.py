"""Persona Chat: the frame. Page config and navigation; the pages do the rest."""

import streamlit as st

from ui.navigation import mark_framed
from ui.resources import settings, store_guard, warm_up

# The favicon: an emoji drawn in an inline SVG. A ":material/…:" icon would make the browser fetch
# it from Google's font servers on every page (the README promises no outbound calls); the emoji
# itself ("💬") would be checked against Streamlit's emoji catalog, 0.1 s of a fresh process's first
# run that the conversation would wait for.
FAVICON = ('data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
           '<text y=".9em" font-size="90">%F0%9F%92%AC</text></svg>')  # fmt: skip
st.set_page_config(page_title="Persona Chat", page_icon=FAVICON, layout="wide")
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
