"""The app's edge: settings are read here once, and shared clients are cached here.

Everything in this module is process-wide (``st.cache_resource``) and immutable or thread-safe;
anything that belongs to one browser session lives in ``st.session_state`` instead. Chroma, the
``openai`` client and LangChain are imported when first needed (see ``llm/__init__.py``): the
chat page's input is on screen before them.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st
from dotenv import load_dotenv
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

import llm
import memory
from llm.errors import LLMError
from llm.settings import LLMSettings, Sampling
from memory.config import StoreConfig
from personas import PersonaLibrary

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from llm.servers import ServerInfo


@dataclass(frozen=True)
class AppSettings:
    llm: LLMSettings
    store: StoreConfig
    personas_path: str
    user_name: str


@st.cache_resource
def settings() -> AppSettings:
    """Read ``.env`` and the environment, once per process."""
    load_dotenv()
    return AppSettings(
        llm=LLMSettings.from_env(),
        store=StoreConfig.from_env(),
        personas_path=os.environ.get("PERSONAS_PATH") or "data/personas",
        user_name=os.environ.get("USER_NAME") or "User",
    )


@st.cache_resource(show_spinner="Opening the memory store…")
def memory_store(config: StoreConfig) -> memory.MemoryStore:
    store = memory.MemoryStore.open(path=config.path, host=config.host, port=config.port)
    threading.Thread(target=store.warm_up, name="memory-warm-up", daemon=True).start()
    return store


@st.cache_resource
def chat_client_warmed(base_url: str, api_key: str, timeout: float) -> bool:
    """Build one chat model for this server in the background, once per process: the first one
    takes about 0.2 s (langchain_openai, httpx and truststore set up the HTTP client, which
    LangChain then keeps per server), and the first message would otherwise wait for it. No
    request is sent."""

    def build() -> None:  # `llm.make_chat_model` imports langchain_openai and openai: here, not in the page
        llm.make_chat_model(base_url, api_key, "warm-up", Sampling(), timeout)

    threading.Thread(target=build, name="chat-client-warm-up", daemon=True).start()
    return True


@st.cache_resource(max_entries=8, show_spinner=False)
def reply_chain(base_url: str, api_key: str, model: str, sampling: Sampling, timeout: float) -> Runnable:
    """The reply chain for one server, model and sampling, built once and shared (it holds no
    per-session state; callbacks are given per call): building it for every message took about
    a millisecond of the time to the first token."""
    return llm.build_chain(llm.make_chat_model(base_url, api_key, model, sampling, timeout))


def fragment_rerun() -> bool:
    """Whether this run is a rerun of fragments only (not of the whole page). Streamlit has no
    public call for it; the script run context (pinned Streamlit version) knows."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


@st.cache_resource
def persona_library(path: str) -> PersonaLibrary:
    library = PersonaLibrary(path)
    library.seed_samples()
    return library


@st.cache_resource(show_spinner="Starting the built-in model (SmolLM2-135M)…")
def builtin_server(port: int) -> str:
    """The base URL of the built-in model server, started once per app process.

    A built-in server left running by an earlier app process on the same port is reused.
    """
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        llm.list_models(base_url, "none", timeout=2)
        return base_url
    except LLMError:
        from llm.local_server import spawn

        server = spawn(port=port)
        atexit.register(server.stop)
        return server.base_url


@st.cache_data(ttl=30, show_spinner=False)
def server_info(base_url: str, api_key: str, model: str | None = None) -> ServerInfo:
    """What a server serves (chat models, which are loaded) and the context window of ``model``
    (``llm.probe``), cached briefly: a model loaded or unloaded on the server shows within 30 s,
    or at once with Refresh models. Failures are not cached, so a server that comes back is seen
    on the next rerun (a server that is down refuses the connection at once)."""
    return llm.probe(base_url, api_key, model=model)


@contextmanager
def store_guard(config: StoreConfig) -> Iterator[None]:
    """Turn a memory store that does not answer (a `chroma run` server that stopped) into a clear
    message; the next rerun tries again, so the app recovers when the server is back."""
    try:
        yield
    except (StopException, RerunException):
        raise
    except Exception as exc:  # noqa: BLE001 - Chroma's client raises many kinds; all mean the same here
        where = f"Chroma server at {config.host}:{config.port}" if config.host else f"store in {config.path}"
        st.error(
            f"The memory store does not answer ({where}: {type(exc).__name__}). What was stored is safe; "
            "a message that could not be stored is still on screen above, to send again. Start the server "
            f"again (`chroma run --host 127.0.0.1 --port {config.port} --path …`) and press Try again.",
            icon=":material/database:",
        )
        st.button("Try again", icon=":material/refresh:", key="store_retry")
        st.stop()
