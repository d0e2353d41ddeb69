"""Talking to an OpenAI-compatible server: the chat model factory, model listing, health."""

from __future__ import annotations

import openai
from langchain_openai import ChatOpenAI

from llm.errors import NoModelLoaded, explain
from llm.settings import Sampling


def make_chat_model(
    base_url: str,
    api_key: str,
    model: str,
    sampling: Sampling,
    timeout: float = 120.0,
) -> ChatOpenAI:
    """A streaming LangChain chat model for one server and model.

    Retries are off: a local server that fails once usually fails again, and the user should see
    the reason at once rather than after a minute of back-off.
    """
    return ChatOpenAI(
        base_url=base_url,
        api_key=api_key,
        model=model,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        frequency_penalty=sampling.frequency_penalty,
        presence_penalty=sampling.presence_penalty,
        timeout=timeout,
        max_retries=0,
        streaming=True,
    )


def list_models(base_url: str, api_key: str, timeout: float = 5.0) -> list[str]:
    """The ids ``/v1/models`` lists, in the server's order; :class:`LLMError` if it cannot."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
    try:
        return [model.id for model in client.models.list()]
    except Exception as exc:
        raise explain(exc, base_url, timeout=timeout) from exc
    finally:
        client.close()


def pick_model(available: list[str], wanted: str | None, base_url: str) -> str:
    """The wanted model if the server has it, else the first listed one."""
    if wanted and wanted in available:
        return wanted
    if not available:
        raise NoModelLoaded(base_url)
    return available[0]
