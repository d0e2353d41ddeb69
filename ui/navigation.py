"""Making sure every page runs inside the app's frame (app.py)."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

FRAMED = "_app_frame_ran"


def require_app_frame() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    Because the owner's layout has a ``pages/`` folder, a fresh Streamlit process starts in its
    legacy multipage mode; a first visit straight to ``/personas`` would then run the page without
    app.py (no page config, the folder's file names as the menu). ``st.navigation`` in app.py turns
    that mode off; if it has not run yet in this session, turn it off and rerun.
    """
    if PagesManager.uses_pages_directory and not st.session_state.get(FRAMED):
        PagesManager.uses_pages_directory = False
        st.rerun()


def mark_framed() -> None:
    """Called by app.py: this session has run inside the frame."""
    st.session_state[FRAMED] = True
