"""Which model server to talk to: presets, the built-in fallback, and the status badge."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import streamlit as st

from llm import LLMError, ServerUnavailable
from llm.errors import OnlyEmbeddingModels
from ui import resources
from ui.resources import AppSettings

if TYPE_CHECKING:
    from llm.servers import ServerInfo

BUILTIN = "Built-in model (SmolLM2-135M)"
#: Where each server listens by default; the URL stays editable after picking one.
PRESETS: dict[str, str | None] = {
    "LM Studio": "http://localhost:1234/v1",
    "Ollama": "http://localhost:11434/v1",
    "llama.cpp server": "http://localhost:8080/v1",
    "text-generation-webui": "http://localhost:5000/v1",
    "vLLM": "http://localhost:8000/v1",
    "OpenAI": "https://api.openai.com/v1",
    BUILTIN: None,  # started on demand
}


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_key: str
    models: list[str]  # the chat models, for the picker (loaded ones first; no embedding models)
    error: LLMError | None = None
    note: str | None = None
    server: ServerInfo | None = None  # what the server said (None when it did not answer)


def api_key_for(base_url: str, app: AppSettings) -> str:
    """OpenAI's own key (``OPENAI_API_KEY``) for api.openai.com, else ``LLM_API_KEY``."""
    if "api.openai.com" in base_url and app.llm.openai_api_key:
        return app.llm.openai_api_key
    return app.llm.api_key


def _apply_preset(app: AppSettings) -> None:
    url = PRESETS[st.session_state.preset]
    st.session_state.base_url = url or resources.builtin_server(app.llm.builtin_port)
    resources.server_info.clear()


def server_fields(app: AppSettings) -> str:
    """The preset picker and the URL field; returns the URL the user chose."""
    st.selectbox("Server preset", list(PRESETS), index=None, key="preset", placeholder="Pick a server…",
                 on_change=_apply_preset, args=(app,))  # fmt: skip
    st.session_state.setdefault("base_url", app.llm.base_url)
    return st.text_input(
        "Server URL", key="base_url", help="Any OpenAI-compatible server: LM Studio, Ollama, llama.cpp, vLLM…"
    ).strip()


def connect(base_url: str, app: AppSettings, model: str | None = None) -> Connection:
    """Reach the server and list its chat models (with what it says about ``model``: the
    session's choice or ``LLM_MODEL``). When the URL from the settings does not answer, fall back
    to the built-in model (a URL typed by the user gets an error instead)."""
    api_key = api_key_for(base_url, app)
    try:
        return _connection(base_url, api_key, resources.server_info(base_url, api_key, model))
    except ServerUnavailable as exc:
        if not (app.llm.builtin_fallback and base_url == app.llm.base_url):
            return Connection(base_url, api_key, [], exc)
    except LLMError as exc:
        return Connection(base_url, api_key, [], exc)
    try:
        builtin_url = resources.builtin_server(app.llm.builtin_port)
        server = resources.server_info(builtin_url, app.llm.api_key, model)
    except Exception as exc:  # noqa: BLE001 - the original error is what the user must fix
        return Connection(base_url, api_key, [], ServerUnavailable(base_url), note=f"The built-in model failed: {exc}")
    note = (
        f"No server answered at {base_url}, so the app is using its built-in model "
        f"(SmolLM2-135M: small and fast, not very clever) at {builtin_url}. Start LM Studio's "
        "local server and press **Refresh models** to switch to it."
    )
    return replace(_connection(builtin_url, app.llm.api_key, server), note=note)


def _connection(base_url: str, api_key: str, server: ServerInfo) -> Connection:
    models = [m.id for m in server.chat_models]
    error = OnlyEmbeddingModels(base_url, server.hidden) if server.hidden and not models else None
    return Connection(base_url, api_key, models, error, server=server)


def status_badge(connection: Connection, model: str | None) -> None:
    loaded = connection.server.loaded(model) if connection.server else None
    waiting = " · not loaded yet" if loaded is False else ""
    if connection.error or not model:
        st.badge("Model server offline", icon=":material/cloud_off:", color="red")
    elif connection.note:
        st.badge(f"Built-in · {model}", icon=":material/memory:", color="orange")
    else:
        st.badge(f"Connected · {model}{waiting}", icon=":material/check_circle:", color="green")
