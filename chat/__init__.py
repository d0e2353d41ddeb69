"""The chat as a plain service (no Streamlit): see :mod:`chat.service`.

The names below are loaded on first use (PEP 562), like ``llm``'s and ``memory``'s: the chat
service brings LangChain and Chroma in, and the chat page draws its first elements before it
needs them (``chat.branches`` is light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.live import LiveReply, ReplyView
    from chat.service import (
        MAX_MESSAGE_CHARS,
        AuthorsNote,
        ChatService,
        ChatView,
        Conversation,
        MessageTooLong,
        PersonaGone,
        ReplySettings,
        Waiting,
    )

_WHERE = {
    "LiveReply": "live",
    "ReplyView": "live",
    **dict.fromkeys(
        ("MAX_MESSAGE_CHARS", "AuthorsNote", "ChatService", "ChatView", "Conversation", "MessageTooLong",
         "PersonaGone", "ReplySettings", "Waiting"),
        "service",
    ),
}  # fmt: skip
__all__ = [
    "MAX_MESSAGE_CHARS",
    "AuthorsNote",
    "ChatService",
    "ChatView",
    "Conversation",
    "LiveReply",
    "MessageTooLong",
    "PersonaGone",
    "ReplySettings",
    "ReplyView",
    "Waiting",
]


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'chat' has no attribute {name!r}")
    return getattr(importlib.import_module(f"chat.{_WHERE[name]}"), name)
