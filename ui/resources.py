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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from dotenv import load_dotenv
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

import llm
import memory
from llm.errors import LLMError
from llm.settings import LLMSettings
from memory.config import EmbeddingChoice, StoreConfig
from personas import PersonaLibrary
from personas.lorebook_library import LorebookLibrary
from personas.users import UserPersonaLibrary

if TYPE_CHECKING:
    from chat import ChatService, ReplySettings
    from llm.servers import ServerInfo
    from memory.backup import DataFolders
    from ui.sidebar import ChatConfig


@dataclass(frozen=True)
class AppSettings:
    llm: LLMSettings
    store: StoreConfig
    personas_path: str
    user_name: str
    user_personas_path: str = "data/user-personas"
    lorebooks_path: str = "data/lorebooks"


@st.cache_resource
def settings() -> AppSettings:
    """Read ``.env`` and the environment, once per process."""
    load_dotenv()
    personas_path = os.environ.get("PERSONAS_PATH") or "data/personas"
    return AppSettings(
        llm=LLMSettings.from_env(),
        store=StoreConfig.from_env(),
        personas_path=personas_path,
        user_name=os.environ.get("USER_NAME") or "User",
        user_personas_path=os.environ.get("USER_PERSONAS_PATH") or "data/user-personas",
        # beside the personas unless set: a test or a second instance that moves one moves both
        lorebooks_path=os.environ.get("LOREBOOKS_PATH") or str(Path(personas_path).parent / "lorebooks"),
    )


@st.cache_resource(show_spinner="Opening the memory store…")
def memory_store(config: StoreConfig) -> memory.MemoryStore:
    """The store, with the embedding model chosen on the Memories page (saved beside it). It
    opens Chroma when first needed: a page drawn from its snapshot of the last run needs none."""
    return open_store(config, EmbeddingChoice.load(config.path))


#: Seconds from the first page drawn to the warm-up: the browser lays that page out meanwhile. On
#: two cores, Chroma's import and the embedding model beside it drew the conversation 0.3 s later
#: after a start, and a tab opened during the warm-up 1.3 s later (bench.browser, 10,000
#: memories); a message sent sooner loads what it needs itself.
WARM_UP_DELAY = 2.0
WARM_UP_THREAD = "memory-warm-up"


@st.cache_resource(show_spinner=False)
def warm_up(config: StoreConfig) -> None:
    """Once per process (the frame calls it after each page is drawn, so the first page is drawn
    without it beside it): open Chroma and check the mirrors, load the embedding model and index
    the words, in the background, so that the first message does not wait for them."""
    timer = threading.Timer(WARM_UP_DELAY, memory_store(config).warm_up)
    timer.name, timer.daemon = WARM_UP_THREAD, True
    timer.start()


def open_store(config: StoreConfig, choice: EmbeddingChoice) -> memory.MemoryStore:
    """The store whose vectors come from ``choice``'s model (each model has collections of its own)."""
    embedder = None
    if choice.model and choice.base_url:
        from memory.collections import import_chroma

        import_chroma()  # (one thread at a time)
        from memory.embeddings import ServerEmbeddings

        embedder = ServerEmbeddings(choice.base_url, choice.model, settings().llm.api_key)
    return memory.MemoryStore.open(path=config.path, host=config.host, port=config.port, embedding_function=embedder)


def switch_embeddings(app: AppSettings, choice: EmbeddingChoice, progress: Callable[[int, int], None]) -> int:
    """Embed every memory again with ``choice``'s model and use it from now on (saved beside the
    store); returns how many memories were embedded. The chat and the pages pick the new store
    up at their next run."""
    from memory.reembed import reembed

    done = reembed(memory_store(app.store), open_store(app.store, choice), progress)
    choice.save(app.store.path)
    memory_store.clear()
    warm_up.clear()
    chat_service.clear()
    return done


@st.cache_resource(show_spinner=False)
def chat_service(app: AppSettings) -> ChatService:
    """The chat service of this process: every conversation, its line of messages and the
    reply being written, shared by every browser session."""
    from chat import ChatService

    return ChatService(
        memory_store(app.store), persona_library(app.personas_path), app.user_name,
        users=user_personas(app), lorebooks=lorebook_library(app.lorebooks_path),
    )  # fmt: skip


@st.cache_resource
def user_personas(app: AppSettings) -> UserPersonaLibrary:
    """Who the user can be (their personas); the first one is named ``USER_NAME``."""
    return UserPersonaLibrary(app.user_personas_path, app.user_name)


def reply_settings(config: ChatConfig, app: AppSettings) -> ReplySettings:
    """What the sidebar chose, as the chat service takes it; the client for that server is
    built in the background now (about 0.2 s), not when the first message is sent."""
    from chat import ReplySettings

    chat_service(app).prepare_client(config.base_url, config.api_key)
    return ReplySettings(
        base_url=config.base_url,
        api_key=config.api_key,
        model=config.model,
        sampling=config.sampling,
        recall_k=config.recall_k,
        context_window=config.context_window,
        timeout=app.llm.timeout,
        load_timeout=app.llm.load_timeout,
        model_loaded=config.model_loaded,
        error=config.error,
    )


@st.cache_resource
def persona_library(path: str) -> PersonaLibrary:
    library = PersonaLibrary(path)
    library.seed_samples()
    return library


@st.cache_resource
def lorebook_library(path: str) -> LorebookLibrary:
    return LorebookLibrary(path)


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


def data_folders(app: AppSettings) -> DataFolders:
    """The folders a backup holds besides the memory store: the persona library, and the
    lorebooks' and user personas' folders (``LOREBOOKS_PATH``, ``USER_PERSONAS_PATH``)."""
    from memory.backup import DataFolders

    return DataFolders(
        personas=Path(app.personas_path),
        lorebooks=Path(os.environ.get("LOREBOOKS_PATH") or "data/lorebooks"),
        user_personas=Path(app.user_personas_path),
    )
