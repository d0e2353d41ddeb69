"""The reply's messages: :data:`llm.prompts.CHAT_PROMPT` formatted by LangChain, in the OpenAI
chat format that :class:`llm.stream.ReplyStream` sends."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import convert_to_openai_messages

from llm.assembly import PromptParts
from llm.prompts import CHAT_PROMPT


def reply_messages(parts: PromptParts, continuation: str = "") -> list[dict[str, Any]]:
    """The messages of a reply's request. With ``continuation`` (Continue), the reply so far is
    sent as the start of the assistant's message, which llama.cpp-based servers (LM Studio, the
    built-in one) and most others go on from."""
    messages: list[dict[str, Any]] = convert_to_openai_messages(CHAT_PROMPT.invoke(parts.inputs()).to_messages())
    if continuation:
        messages.append({"role": "assistant", "content": continuation})
    return messages
