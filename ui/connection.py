"""The model server's widgets: the preset picker, the URL field and the status badge (the
presets and the fallback policy are in ``llm.connection``)."""

from __future__ import annotations

import streamlit as st

from llm import connection as llm_connection
from llm.connection import PRESETS, Connection
from ui import resources
from ui.resources import AppSettings

__all__ = ["SERVER_URL", "Connection", "connect", "server_fields", "status_badge"]
#: Session state: the server URL chosen in the chat's sidebar, for the other pages.
SERVER_URL = "server_url"


def _apply_preset(app: AppSettings) -> None:
    url = PRESETS[st.session_state.preset]
    st.session_state.base_url = url or resources.builtin_server(app.llm.builtin_port)
    resources.server_info.clear()


def server_fields(app: AppSettings) -> str:
    """The preset picker and the URL field; returns the URL the user chose."""
    st.selectbox("Server preset", list(PRESETS), index=None, key="preset", placeholder="Pick a server…",
                 on_change=_apply_preset, args=(app,))  # fmt: skip
    if not str(st.session_state.get("base_url") or "").strip():
        # empty (cleared by the user, or a widget state Streamlit dropped in a run that did not
        # draw it): the URL used last in this session, else the configured one; never ""
        st.session_state.base_url = st.session_state.get(SERVER_URL) or app.llm.base_url
    url = st.text_input(
        "Server URL", key="base_url", help="Any OpenAI-compatible server: LM Studio, Ollama, llama.cpp, vLLM…"
    ).strip()
    st.session_state[SERVER_URL] = url  # (a widget's key goes with the page: the other pages read this one)
    return url


def connect(base_url: str, app: AppSettings, model: str | None = None) -> Connection:
    """``llm.connection.connect`` with this process's cached probe and built-in server."""
    return llm_connection.connect(
        base_url, app.llm, model, resources.server_info, lambda: resources.builtin_server(app.llm.builtin_port)
    )


def status_badge(connection: Connection, model: str | None) -> None:
    loaded = connection.server.loaded(model) if connection.server else None
    waiting = " · not loaded yet" if loaded is False else ""
    if connection.error or not model:
        st.badge("Model server offline", icon=":material/cloud_off:", color="red")
    elif connection.note:
        st.badge(f"Built-in · {model}", icon=":material/memory:", color="orange")
    else:
        st.badge(f"Connected · {model}{waiting}", icon=":material/check_circle:", color="green")
