"""Which model server to talk to: the presets people pick from, the key each one takes, and the
fallback to the built-in model when the configured server does not answer.

Plain Python: the caller passes how to ask a server what it serves (``probe``, e.g. a cached
:func:`llm.servers.probe`) and how to start the built-in server (``start_builtin``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from llm.errors import LLMError, OnlyEmbeddingModels, ServerUnavailable
from llm.servers import ServerInfo
from llm.settings import LLMSettings

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

Probe = Callable[[str, str, str | None], ServerInfo]


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_key: str
    models: list[str]  # the chat models, for the picker (loaded ones first; no embedding models)
    error: LLMError | None = None
    note: str | None = None
    server: ServerInfo | None = None  # what the server said (None when it did not answer)


def api_key_for(base_url: str, settings: LLMSettings) -> str:
    """OpenAI's own key (``OPENAI_API_KEY``) for api.openai.com, else ``LLM_API_KEY``."""
    if "api.openai.com" in base_url and settings.openai_api_key:
        return settings.openai_api_key
    return settings.api_key


def connect(
    base_url: str, settings: LLMSettings, model: str | None, probe: Probe, start_builtin: Callable[[], str]
) -> Connection:
    """Reach the server and list its chat models (with what it says about ``model``). When the
    URL of the settings does not answer, fall back to the built-in model; a URL the user typed
    gets the error instead (they asked for that server)."""
    api_key = api_key_for(base_url, settings)
    try:
        return _connection(base_url, api_key, probe(base_url, api_key, model))
    except ServerUnavailable as exc:
        if not (settings.builtin_fallback and base_url == settings.base_url):
            return Connection(base_url, api_key, [], exc)
    except LLMError as exc:
        return Connection(base_url, api_key, [], exc)
    try:
        builtin_url = start_builtin()
        server = probe(builtin_url, settings.api_key, model)
    except Exception as exc:  # noqa: BLE001 - the original error is what the user must fix
        return Connection(base_url, api_key, [], ServerUnavailable(base_url), note=f"The built-in model failed: {exc}")
    note = (
        f"No server answered at {base_url}, so the app is using its built-in model "
        f"(SmolLM2-135M: small and fast, not very clever) at {builtin_url}. Start LM Studio's "
        "local server and press **Refresh models** to switch to it."
    )
    return replace(_connection(builtin_url, settings.api_key, server), note=note)


def _connection(base_url: str, api_key: str, server: ServerInfo) -> Connection:
    models = [m.id for m in server.chat_models]
    error = OnlyEmbeddingModels(base_url, server.hidden) if server.hidden and not models else None
    return Connection(base_url, api_key, models, error, server=server)
