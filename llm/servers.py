"""What a model server says about itself: its chat models, which are loaded, and the real context
window.

OpenAI's ``/v1/models`` only lists ids. The local servers say more, each in its own way:

- LM Studio: ``GET /api/v0/models`` gives each model's ``type`` (``llm``, ``vlm``,
  ``embeddings``), ``state`` (``loaded`` / ``not-loaded``), ``max_context_length`` and, once
  loaded, ``loaded_context_length``.
- llama.cpp's server (the built-in one too): ``GET /props`` gives
  ``default_generation_settings.n_ctx``, the context of one slot (what one request can use);
  its ``/v1/models`` entries carry ``meta.n_ctx`` as well.
- Ollama: ``GET /api/ps`` lists the loaded models (with ``context_length`` in recent versions),
  ``POST /api/show`` a model's ``model_info`` (``<arch>.context_length``: what the model
  supports), ``parameters`` (``num_ctx`` when a Modelfile sets it) and ``capabilities``.
- vLLM: ``/v1/models`` entries carry ``max_model_len``.

The parsing functions are pure (they take the documented JSON and return dataclasses);
:func:`probe` does the requests, cheaply: a short timeout for each extra endpoint, and an
endpoint the server lacks (404) is simply skipped. Plain Python; never imports Streamlit, and
``httpx`` is imported when :func:`probe` runs (this module is imported by the light UI modules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llm.errors import ServerError, explain

ServerKind = Literal["lmstudio", "ollama", "llamacpp", "openai-compatible"]
ModelKind = Literal["llm", "vlm", "embeddings", "unknown"]

#: Seconds for each optional endpoint (``/api/v0/models``, ``/props``, ``/api/ps``, ``/api/show``):
#: on a local server they answer in milliseconds, and the page must not wait for one that does not.
EXTRA_TIMEOUT = 2.0
#: What Ollama gives a model when neither ``num_ctx`` nor ``OLLAMA_CONTEXT_LENGTH`` says otherwise
#: (docs.ollama.com/context-length: 4k below 24 GiB of VRAM); longer prompts are cut silently.
OLLAMA_DEFAULT_CONTEXT = 4096
#: Where each source of a context length is shown ("from the server (…)").
SOURCES = {
    "lmstudio": "LM Studio /api/v0/models",
    "props": "llama.cpp /props",
    "meta": "llama.cpp /v1/models",
    "ps": "Ollama /api/ps",
    "num_ctx": "Ollama /api/show num_ctx",
    "max_model_len": "/v1/models max_model_len",
}


@dataclass(frozen=True)
class ModelInfo:
    """One model as the server lists it; ``None`` where the server does not say."""

    id: str
    kind: ModelKind = "unknown"
    loaded: bool | None = None
    #: Tokens one request can use as the model is loaded now.
    context_length: int | None = None
    #: The most the model supports (what it could be loaded with).
    max_context_length: int | None = None

    @property
    def chat(self) -> bool:
        """Whether it can chat: everything but embedding (and reranking) models."""
        return self.kind != "embeddings"


@dataclass(frozen=True)
class ServerInfo:
    """What :func:`probe` learnt. ``context_window`` (and its ``context_source``) and
    ``warnings`` are about ``model``: the chosen model, or the default one."""

    kind: ServerKind
    models: list[ModelInfo]  # everything listed, embedding models included, in the server's order
    context_window: int | None = None
    context_source: str = ""  # e.g. "llama.cpp /props"; "" when the server did not say
    warnings: list[str] = field(default_factory=list)
    model: str | None = None

    @property
    def chat_models(self) -> list[ModelInfo]:
        """What the model picker offers: chat models, the loaded ones first."""
        chat = [m for m in self.models if m.chat]
        return [m for m in chat if m.loaded] + [m for m in chat if not m.loaded]

    @property
    def hidden(self) -> list[str]:
        """Listed models that cannot chat (embedding models), left out of the picker."""
        return [m.id for m in self.models if not m.chat]

    def find(self, model: str | None) -> ModelInfo | None:
        return next((m for m in self.models if model and same_model(m.id, model)), None)

    def loaded(self, model: str | None) -> bool | None:
        """Whether the server has ``model`` in memory (``False``: the next request loads it
        first, which can take a while); ``None`` when the server does not say."""
        found = self.find(model)
        return found.loaded if found else None


# --- names -------------------------------------------------------------------------------------

#: Words that make a model id an embedding (or reranking) model when the server does not say:
#: text-embedding-*, nomic-embed-text, mxbai-embed-large, bge-m3, multilingual-e5-large,
#: gte-qwen2, all-minilm, all-mpnet-base-v2, bge-reranker…
_EMBEDDING_WORDS = frozenset({"bge", "e5", "gte", "minilm", "mpnet"})
_EMBEDDING_PARTS = ("embed", "rerank")


def looks_like_embedding(model_id: str) -> bool:
    """Whether a model id names an embedding model (used when the server gives no ``type``)."""
    name = model_id.lower().rsplit("/", 1)[-1]
    if any(part in name for part in _EMBEDDING_PARTS):
        return True
    return bool(_EMBEDDING_WORDS & set(re.split(r"[-_.:\s]+", name)))


def same_model(a: str, b: str) -> bool:
    """Ids of one model; Ollama adds ``:latest`` to a name without a tag."""
    return a == b or _tagged(a) == _tagged(b)


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _kind_from_name(model_id: str) -> ModelKind:
    return "embeddings" if looks_like_embedding(model_id) else "unknown"


def _kind_from_modalities(entry: Mapping[str, Any]) -> ModelKind:
    arch = entry.get("architecture")
    if not isinstance(arch, Mapping) or arch.get("output_modalities") != ["text"]:
        return "unknown"
    inputs = arch.get("input_modalities")
    return "vlm" if isinstance(inputs, list) and "image" in inputs else "llm"


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value) or None
    return None


def _entries(body: object, key: str) -> list[Mapping[str, Any]]:
    items = body.get(key) if isinstance(body, Mapping) else None
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


# --- parsing the documented shapes ---------------------------------------------------------------


def parse_openai_models(body: object) -> list[ModelInfo]:
    """``GET /v1/models``: ids, with what llama.cpp (``meta.n_ctx``, ``meta.n_ctx_train``,
    ``architecture``'s modalities) and vLLM (``max_model_len``) add to them. The kind comes from
    the name (an embedding model) or the modalities (text out: a chat model; image in: vision)."""
    models = []
    for entry in _entries(body, "data"):
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        meta = v if isinstance(v := entry.get("meta"), Mapping) else {}
        models.append(
            ModelInfo(
                model_id,
                "embeddings" if looks_like_embedding(model_id) else _kind_from_modalities(entry),
                context_length=_positive_int(meta.get("n_ctx")) or _positive_int(entry.get("max_model_len")),
                max_context_length=_positive_int(meta.get("n_ctx_train")),
            )
        )
    return models


def parse_lmstudio_models(body: object) -> list[ModelInfo]:
    """LM Studio's ``GET /api/v0/models``."""
    models = []
    for entry in _entries(body, "data"):
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        kind = entry.get("type")
        state = entry.get("state")
        loaded = True if state == "loaded" else False if state == "not-loaded" else None
        models.append(
            ModelInfo(
                model_id,
                kind if kind in ("llm", "vlm", "embeddings") else _kind_from_name(model_id),
                loaded,
                context_length=_positive_int(entry.get("loaded_context_length")) if loaded else None,
                max_context_length=_positive_int(entry.get("max_context_length")),
            )
        )
    return models


def parse_llamacpp_props(body: object) -> int | None:
    """llama.cpp's ``GET /props``: ``default_generation_settings.n_ctx``, one slot's context."""
    settings = body.get("default_generation_settings") if isinstance(body, Mapping) else None
    return _positive_int(settings.get("n_ctx")) if isinstance(settings, Mapping) else None


def parse_ollama_ps(body: object) -> dict[str, int | None]:
    """Ollama's ``GET /api/ps``: each loaded model and its ``context_length`` (``None`` in
    versions that do not report it)."""
    loaded: dict[str, int | None] = {}
    for entry in _entries(body, "models"):
        name = entry.get("model") or entry.get("name")
        if isinstance(name, str) and name:
            loaded[_tagged(name)] = _positive_int(entry.get("context_length"))
    return loaded


@dataclass(frozen=True)
class OllamaModel:
    """What Ollama's ``POST /api/show`` says about one model."""

    context_length: int | None  # model_info["<arch>.context_length"]: what the model supports
    num_ctx: int | None  # ``parameters`` (a Modelfile's PARAMETER num_ctx): what it is run with
    capabilities: list[str]


def parse_ollama_show(body: object) -> OllamaModel:
    if not isinstance(body, Mapping):
        return OllamaModel(None, None, [])
    info = v if isinstance(v := body.get("model_info"), Mapping) else {}
    arch = info.get("general.architecture")
    context = _positive_int(info.get(f"{arch}.context_length")) if isinstance(arch, str) else None
    if context is None:
        context = next((_positive_int(v) for k, v in info.items() if str(k).endswith(".context_length")), None)
    parameters = v if isinstance(v := body.get("parameters"), str) else ""
    num_ctx = None
    for line in parameters.splitlines():  # "num_ctx                        2048"
        words = line.split()
        if len(words) == 2 and words[0] == "num_ctx":
            num_ctx = _positive_int(words[1])
    capabilities = [c for c in body.get("capabilities") or [] if isinstance(c, str)]
    return OllamaModel(context, num_ctx, capabilities)


# --- putting it together (pure) ----------------------------------------------------------------


def default_model(models: Iterable[ModelInfo], wanted: str | None = None) -> str | None:
    """The model to use: ``wanted`` (``LLM_MODEL``, or the session's choice) when the server lists
    it as a chat model; else the first loaded chat model; else the first chat model (the server
    loads it on the first request). Never an embedding model; ``None`` when there is no chat model."""
    chat = [m for m in models if m.chat]
    if wanted:
        chosen = next((m for m in chat if same_model(m.id, wanted)), None)
        if chosen is not None:
            return chosen.id
    for loaded in (True, None, False):
        chosen = next((m for m in chat if m.loaded is loaded), None)
        if chosen is not None:
            return chosen.id
    return None


def _merge(listed: list[ModelInfo], native: list[ModelInfo]) -> list[ModelInfo]:
    """The models ``/v1/models`` lists (what a chat request accepts), with what the server's own
    endpoint says about each. (LM Studio's ``/v1/models`` lists every downloaded model when JIT
    loading is on, only the loaded ones when it is off; ``/api/v0/models`` always lists all.)"""
    by_id = {m.id: m for m in native}
    return [by_id.get(m.id, m) for m in listed]


def lmstudio_info(listed: list[ModelInfo], api_v0: object, wanted: str | None = None) -> ServerInfo:
    """LM Studio, from ``/v1/models`` and ``/api/v0/models``."""
    models = _merge(listed, parse_lmstudio_models(api_v0))
    target = default_model(models, wanted)
    info = ServerInfo("lmstudio", models, model=target)
    chosen = info.find(target)
    if chosen is None:
        return info
    if chosen.loaded and chosen.context_length:
        return replace(info, context_window=chosen.context_length, context_source=SOURCES["lmstudio"])
    if chosen.loaded is False:
        most = f" (at most {chosen.max_context_length:,} tokens)" if chosen.max_context_length else ""
        note = (
            f"{chosen.id} is not loaded yet: LM Studio loads it when the first message is sent, with the "
            f"context length set for it in LM Studio{most}. Press Refresh models after the first reply to "
            "read the context it was loaded with."
        )
        return replace(info, warnings=[note])
    return info


def llamacpp_info(listed: list[ModelInfo], props: object = None, wanted: str | None = None) -> ServerInfo:
    """A llama.cpp server, from ``/v1/models`` and ``/props``. A server started with one model
    (``-m``) has it loaded; in router mode (several listed) the server does not say here."""
    one = len(listed) == 1
    models = [replace(m, loaded=True) if one else m for m in listed]
    target = default_model(models, wanted)
    info = ServerInfo("llamacpp", models, model=target)
    n_ctx = parse_llamacpp_props(props)
    if n_ctx and one:
        return replace(info, context_window=n_ctx, context_source=SOURCES["props"])
    chosen = info.find(target)
    if chosen is not None and chosen.context_length:
        return replace(info, context_window=chosen.context_length, context_source=SOURCES["meta"])
    return info


def ollama_models(listed: list[ModelInfo], ps: object) -> list[ModelInfo]:
    """Ollama's models from ``/v1/models``, loaded or not as ``/api/ps`` says."""
    running = parse_ollama_ps(ps)
    return [replace(m, loaded=_tagged(m.id) in running, context_length=running.get(_tagged(m.id))) for m in listed]


def ollama_info(models: list[ModelInfo], target: str | None, show: object = None) -> ServerInfo:
    """Ollama, from :func:`ollama_models` and ``/api/show`` of the target model."""
    details = parse_ollama_show(show)
    if target is not None and show is not None:
        caps = set(details.capabilities)
        kind: ModelKind | None = (
            "vlm" if "vision" in caps else "llm" if "completion" in caps else "embeddings" if "embedding" in caps
            else None
        )  # fmt: skip
        models = [
            replace(m, kind=kind or m.kind, max_context_length=details.context_length or m.max_context_length)
            if m.id == target else m
            for m in models
        ]  # fmt: skip
    info = ServerInfo("ollama", models, model=target)
    chosen = info.find(target)
    if chosen is None:
        return info
    if chosen.loaded and chosen.context_length:
        window, source = chosen.context_length, SOURCES["ps"]
    elif details.num_ctx:
        window, source = details.num_ctx, SOURCES["num_ctx"]
    else:
        window, source = None, ""
    info = replace(info, context_window=window, context_source=source)
    supports = chosen.max_context_length
    limit = window or OLLAMA_DEFAULT_CONTEXT
    if limit <= OLLAMA_DEFAULT_CONTEXT and (supports is None or supports > limit):
        what = f"{window:,} tokens for {chosen.id}" if window else f"{OLLAMA_DEFAULT_CONTEXT:,} tokens by default"
        model = f"; the model supports {supports:,}" if supports else ""
        info = replace(info, warnings=[
            f"Ollama silently cuts prompts longer than its context ({what}{model}). To allow more, start "
            "Ollama with OLLAMA_CONTEXT_LENGTH=16384 (or set num_ctx in a Modelfile), then set the context "
            "window here to match: the app keeps each prompt within it."
        ])  # fmt: skip
    return info


def generic_info(listed: list[ModelInfo], wanted: str | None = None) -> ServerInfo:
    """Any other OpenAI-compatible server (vLLM, text-generation-webui, OpenAI…)."""
    target = default_model(listed, wanted)
    info = ServerInfo("openai-compatible", listed, model=target)
    chosen = info.find(target)
    if chosen is not None and chosen.context_length:
        return replace(info, context_window=chosen.context_length, context_source=SOURCES["max_model_len"])
    return info


@dataclass(frozen=True)
class ContextWindow:
    """The context window prompts are assembled for, and where the number came from."""

    tokens: int
    source: Literal["sidebar", "server", "setting", "default"]
    label: str  # e.g. "4,096 tokens, from the server (llama.cpp /props)"


def context_window(
    server: ServerInfo | None, override: int | None = None, configured: int | None = None, default: int = 4096
) -> ContextWindow:
    """The window to use: the sidebar's ``override``; else what the server says for the chosen
    model (it is what the model is loaded with: a larger number only gets refused or, with
    Ollama, silently cut); else ``configured`` (``LLM_CONTEXT_WINDOW``); else ``default``."""
    said = server.context_window if server is not None else None
    where = server.context_source if server is not None else ""
    if override:
        differs = f" (the server says {said:,})" if said and said != override else ""
        return ContextWindow(override, "sidebar", f"{override:,} tokens, set here{differs}")
    if said:
        unused = f"; LLM_CONTEXT_WINDOW ({configured:,}) is not used" if configured and configured != said else ""
        return ContextWindow(said, "server", f"{said:,} tokens, from the server ({where}){unused}")
    if configured:
        return ContextWindow(
            configured, "setting", f"{configured:,} tokens, from LLM_CONTEXT_WINDOW (the server did not say)"
        )
    return ContextWindow(default, "default", f"{default:,} tokens, default, the server did not say")


def server_root(base_url: str) -> str:
    """The server's address without the OpenAI API's ``/v1``: where its own endpoints are."""
    return base_url.rstrip("/").removesuffix("/v1")


# --- asking the server ---------------------------------------------------------------------------


def _owners(body: object) -> set[str]:
    return {str(entry.get("owned_by")) for entry in _entries(body, "data") if entry.get("owned_by")}


def probe(base_url: str, api_key: str, timeout: float = 5.0, model: str | None = None) -> ServerInfo:
    """Ask the server at ``base_url`` (an OpenAI-compatible ``…/v1``) what it serves.

    ``model`` is the one the context window is wanted for (the session's choice or
    ``LLM_MODEL``); without it, or when the server does not list it, :func:`default_model`'s
    choice. ``/v1/models`` must answer (:class:`~llm.errors.LLMError` otherwise: the server is
    down, too slow, or not an OpenAI-compatible server); the servers' own endpoints are tried
    after it, each within :data:`EXTRA_TIMEOUT`, and one that fails or is missing is skipped.
    """
    import httpx

    extra = min(timeout, EXTRA_TIMEOUT)
    root = server_root(base_url)
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout) as client:

        def ask(path: str, payload: object = None) -> object:
            return _json(client, root + path, extra, payload)

        body = _model_list(client, base_url, timeout)
        listed = parse_openai_models(body)
        owners = _owners(body)
        if "llamacpp" in owners:
            return llamacpp_info(listed, ask("/props"), model)
        if owners & {"openai", "system", "openai-internal", "vllm"}:  # nothing more to ask
            return generic_info(listed, model)
        tries = (_as_ollama, _as_lmstudio) if "library" in owners else (_as_lmstudio, _as_ollama)
        for attempt in tries:  # "library" owns the models of Ollama's library
            info = attempt(ask, listed, model)
            if info is not None:
                return info
        props = ask("/props")
        if parse_llamacpp_props(props):
            return llamacpp_info(listed, props, model)
        return generic_info(listed, model)


def _as_lmstudio(ask: Callable[..., object], listed: list[ModelInfo], model: str | None) -> ServerInfo | None:
    api_v0 = ask("/api/v0/models")
    if isinstance(api_v0, Mapping) and isinstance(api_v0.get("data"), list):
        return lmstudio_info(listed, api_v0, model)
    return None


def _as_ollama(ask: Callable[..., object], listed: list[ModelInfo], model: str | None) -> ServerInfo | None:
    ps = ask("/api/ps")
    if not (isinstance(ps, Mapping) and isinstance(ps.get("models"), list)):
        return None
    models = ollama_models(listed, ps)
    target = default_model(models, model)
    return ollama_info(models, target, ask("/api/show", {"model": target}) if target else None)


def _model_list(client: Any, base_url: str, timeout: float) -> object:
    """``GET /v1/models``; what went wrong as an :class:`~llm.errors.LLMError`."""
    import httpx

    try:
        response = client.get(base_url.rstrip("/") + "/models")
        response.raise_for_status()
        body = response.json()
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            raise ServerError(base_url, "it has no /models (HTTP 404). Check the URL: it usually ends in /v1.") from exc
        raise explain(exc, base_url, timeout=timeout) from exc
    except httpx.HTTPError as exc:
        raise explain(exc, base_url, timeout=timeout) from exc
    except ValueError as exc:  # not JSON
        raise ServerError(base_url, "its /models answer is not JSON: is it an OpenAI-compatible server?") from exc
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise ServerError(base_url, "its /models answer is not a model list: is it an OpenAI-compatible server?")
    return body


def _json(client: Any, url: str, timeout: float, payload: object = None) -> object:
    """The JSON at ``url`` (a POST when there is a ``payload``), or ``None`` when the endpoint is
    missing, fails or is slow."""
    import httpx

    try:
        if payload is None:
            response = client.get(url, timeout=timeout)
        else:
            response = client.post(url, json=payload, timeout=timeout)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
