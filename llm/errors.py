"""Errors shown to the user, each with what to do about it.

:func:`explain` turns whatever the OpenAI client raised into one of these.
"""

from __future__ import annotations

from typing import Any

START_LM_STUDIO = (
    "Start LM Studio, open the Developer tab (Local Server), load a model and press Start "
    "Server (or run `lms server start`); or point the app at another OpenAI-compatible server "
    "in the sidebar."
)


class LLMError(Exception):
    """An error whose message is meant to be displayed to the user."""


class ServerUnavailable(LLMError):
    def __init__(self, base_url: str):
        super().__init__(f"No model server answers at {base_url}. {START_LM_STUDIO}")


class NoModelLoaded(LLMError):
    """The server has no model to answer with (LM Studio: "No models loaded…", HTTP 400)."""

    def __init__(self, base_url: str, model: str | None = None, message: str | None = None):
        which = f"The model {model!r} is not available" if model else "No model is loaded"
        super().__init__(
            message
            or f"{which} on {base_url}. Load a model in LM Studio (or `lms load <model>`), then "
            "press Refresh models in the sidebar."
        )


class ModelUnavailable(NoModelLoaded):
    """The chosen model is gone: unloaded between two requests, or never there (HTTP 404,
    "model not found", "not loaded")."""

    def __init__(self, base_url: str, model: str):
        super().__init__(
            base_url,
            model,
            f"The model {model!r} is not loaded on {base_url}: the server may have unloaded it since the "
            "last message (LM Studio unloads a model after its idle TTL or to load another one; Ollama "
            "after its keep_alive), or it was removed. Load it again (`lms load`, or LM Studio's "
            "Developer tab), or press Refresh models and pick another one.",
        )


class OnlyEmbeddingModels(NoModelLoaded):
    """The server lists models, but none of them can chat."""

    def __init__(self, base_url: str, models: list[str]):
        super().__init__(
            base_url,
            message=f"The server at {base_url} has only embedding models ({', '.join(models)}), which cannot chat. "
            "Load a chat model (LM Studio: Developer tab or `lms load <model>`; Ollama: `ollama pull "
            "<model>`), then press Refresh models in the sidebar.",
        )


class ContextTooLong(LLMError):
    """The prompt is longer than the context the model is loaded with. ``n_ctx`` (the loaded
    context) and ``n_prompt`` (the prompt's tokens) when the server said them."""

    def __init__(self, detail: str = "", n_ctx: int | None = None, n_prompt: int | None = None):
        self.n_ctx, self.n_prompt = n_ctx, n_prompt
        if n_ctx:
            needs = f", and this prompt has {n_prompt:,}" if n_prompt else ""
            what = (
                f"The prompt does not fit in the model's context window: the model is loaded with a context "
                f"length of {n_ctx:,} tokens{needs}. Set 'Context window' in the sidebar to {n_ctx:,} (prompts "
                "are then trimmed to fit), shorten your message, or load the model with a larger context length."
            )
        else:
            what = (
                "The prompt does not fit in the model's context window. Shorten your message, lower "
                "'Max tokens' or 'Memories to recall', or load the model with a larger context length."
            )
        super().__init__(what + (f" ({detail})" if detail else ""))


class EmptyReply(LLMError):
    """The server answered 200 and ended the stream without a single token."""

    def __init__(self, base_url: str, model: str | None = None):
        which = f" ({model})" if model else ""
        super().__init__(
            f"The server ended the reply without sending anything{which}. The model may have failed to load, "
            f"or stopped at once; check the log of the server at {base_url}, then press Retry or pick "
            "another model."
        )


class Timeout(LLMError):
    def __init__(self, base_url: str, seconds: float):
        super().__init__(
            f"The model server at {base_url} did not answer within {seconds:g} s. It may still be "
            "loading the model or be overloaded; try again, or use a smaller model."
        )


class ServerError(LLMError):
    def __init__(self, base_url: str, detail: str):
        super().__init__(f"The model server at {base_url} refused the request: {detail}")


_CONTEXT_HINTS = (
    "context length",  # LM Studio: "...the model is loaded with context length of only 4096 tokens..."
    "context window",
    "context_length",
    "exceeds the available context",  # llama.cpp: "request (6031 tokens) exceeds the available context size..."
    "too many tokens",
    "maximum context",
    "exceed_context_size",  # llama.cpp's error type
    "n_keep",  # llama.cpp / LM Studio: "Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)"
)
_NOTHING_LOADED_HINTS = ("no models loaded", "no model loaded", "no model is loaded")
_NO_MODEL_HINTS = ("model not found", "no model", "not loaded", "does not exist", "model_not_found")
#: Numbers in overflow messages: (pattern, which one it is).
_CONTEXT_NUMBERS = (
    (r"context length of only (\d+)", "n_ctx"),  # LM Studio
    (r"keep the first (\d+) tokens", "n_prompt"),  # LM Studio
    (r"n_ctx\W{0,3}(\d+)", "n_ctx"),  # "n_ctx: 4096", "n_ctx (7424)"
    (r"n_keep\W{0,3}(\d+)", "n_prompt"),
    (r"available context size \((\d+) tokens\)", "n_ctx"),  # llama.cpp
    (r"request \((\d+) tokens\)", "n_prompt"),  # llama.cpp
)


def explain(exc: BaseException, base_url: str, model: str | None = None, timeout: float = 0) -> LLMError:
    """Map an exception from the OpenAI client (or httpx) to an :class:`LLMError`."""
    import httpx  # here, not at the top: the error classes above are imported by light modules
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException)):
        return Timeout(base_url, timeout)
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return ServerUnavailable(base_url)
    body = _error_body(exc)
    detail = _detail(exc, body)
    lowered = detail.lower()
    if any(hint in lowered for hint in _CONTEXT_HINTS) or body.get("type") == "exceed_context_size_error":
        numbers = _context_numbers(detail, body)
        return ContextTooLong(detail, numbers.get("n_ctx"), numbers.get("n_prompt"))
    if any(hint in lowered for hint in _NOTHING_LOADED_HINTS):
        return NoModelLoaded(base_url)
    if _status(exc) == 404 or any(hint in lowered for hint in _NO_MODEL_HINTS):
        return ModelUnavailable(base_url, model) if model else NoModelLoaded(base_url)
    return ServerError(base_url, detail or type(exc).__name__)


def _status(exc: BaseException) -> int | None:
    import httpx
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def _error_body(exc: BaseException) -> dict[str, Any]:
    """The ``error`` object of the server's JSON answer (OpenAI's shape), or ``{}``."""
    import httpx

    body: object = getattr(exc, "body", None)
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            body = exc.response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict):
        return {}
    error = body.get("error", body)
    return error if isinstance(error, dict) else {"message": error} if isinstance(error, str) else {}


def _detail(exc: BaseException, body: dict[str, Any]) -> str:
    import httpx
    import openai

    if body.get("message"):
        return str(body["message"])
    if isinstance(exc, openai.APIStatusError):
        return exc.message
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} {exc.response.reason_phrase}".strip()
    return str(exc)


def _context_numbers(detail: str, body: dict[str, Any]) -> dict[str, int]:
    """The loaded context (``n_ctx``) and the prompt's size (``n_prompt``) that an overflow error
    names: llama.cpp gives them as fields, LM Studio in its message."""
    import re

    found: dict[str, int] = {}
    for key, field in (("n_ctx", "n_ctx"), ("n_prompt", "n_prompt_tokens")):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found[key] = value
    for pattern, key in _CONTEXT_NUMBERS:
        match = re.search(pattern, detail, re.IGNORECASE)
        if match and key not in found:
            found[key] = int(match.group(1))
    return found
