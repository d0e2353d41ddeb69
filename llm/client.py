"""Talking to an OpenAI-compatible server: model listing (the reply is streamed by llm.stream)."""

from __future__ import annotations

import openai

from llm.errors import NoModelLoaded, explain


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
