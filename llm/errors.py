"""Errors shown to the user, each with what to do about it.

:func:`explain` turns whatever the OpenAI client raised into one of these.
"""

from __future__ import annotations

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
    def __init__(self, base_url: str, model: str | None = None):
        which = f"The model {model!r} is not available" if model else "No model is loaded"
        super().__init__(
            f"{which} on {base_url}. Load a model in LM Studio (or `lms load <model>`), then "
            "press Refresh models in the sidebar."
        )


class ContextTooLong(LLMError):
    def __init__(self, detail: str = ""):
        super().__init__(
            "The prompt does not fit in the model's context window. Shorten your message, lower "
            "'Max tokens' or 'Memories to recall', or load the model with a larger context length."
            + (f" ({detail})" if detail else "")
        )


class Timeout(LLMError):
    def __init__(self, base_url: str, seconds: float):
        super().__init__(
            f"The model server at {base_url} did not answer within {seconds:.0f} s. It may still be "
            "loading the model or be overloaded; try again, or use a smaller model."
        )


class EmptyReply(LLMError):
    def __init__(self, base_url: str):
        super().__init__(
            f"The model server at {base_url} ended the reply without sending anything. The model may "
            "have failed to load or run out of memory: check the server's log, then try again."
        )


class ServerError(LLMError):
    def __init__(self, base_url: str, detail: str):
        super().__init__(f"The model server at {base_url} refused the request: {detail}")


_CONTEXT_HINTS = (
    "context length",
    "context window",
    "context_length",
    "exceeds the available context",
    "too many tokens",
    "maximum context",
    "exceed_context_size",
)
_NO_MODEL_HINTS = ("no models loaded", "model not found", "no model", "not loaded", "does not exist")


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
    detail = _detail(exc)
    lowered = detail.lower()
    if any(hint in lowered for hint in _CONTEXT_HINTS):
        return ContextTooLong(detail)
    if isinstance(exc, openai.NotFoundError) or any(hint in lowered for hint in _NO_MODEL_HINTS):
        return NoModelLoaded(base_url, model)
    return ServerError(base_url, detail or type(exc).__name__)


def _detail(exc: BaseException) -> str:
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return str(exc)
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return error if isinstance(error, str) and error else exc.message
