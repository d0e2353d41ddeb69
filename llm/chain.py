"""The reply chain: ``CHAT_PROMPT | chat model | StrOutputParser``, streamed."""

from __future__ import annotations

from collections.abc import Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from llm.assembly import PromptParts
from llm.errors import explain
from llm.prompts import CHAT_PROMPT


def build_chain(model: BaseChatModel) -> Runnable:
    return CHAT_PROMPT | model | StrOutputParser()


def stream_reply(
    chain: Runnable, parts: PromptParts, base_url: str = "", model: str | None = None, timeout: float = 0
) -> Iterator[str]:
    """Yield the reply token by token; failures surface as :class:`~llm.errors.LLMError`."""
    try:
        yield from chain.stream(parts.inputs())
    except Exception as exc:
        raise explain(exc, base_url, model, timeout) from exc
