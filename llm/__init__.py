"""The language-model side of the app: settings, client, what servers report, prompts, chain,
built-in server.

Plain Python; never imports Streamlit. The names below are loaded on first use (PEP 562):
LangChain and the ``openai`` client take about a second to import, and the chat page shows its
input before it needs them. ``llm.settings`` and ``llm.errors`` are light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm.assembly import PromptParts, assemble
    from llm.chain import reply_messages
    from llm.client import list_models, pick_model
    from llm.errors import (
        ContextTooLong,
        EmptyReply,
        LLMError,
        ModelUnavailable,
        NoModelLoaded,
        ServerUnavailable,
        Timeout,
    )
    from llm.servers import ModelInfo, ServerInfo, probe
    from llm.settings import LLMSettings, Sampling
    from llm.stream import Piece, ReplyStream, make_client

_WHERE = {
    "PromptParts": "assembly",
    "assemble": "assembly",
    "reply_messages": "chain",
    "list_models": "client",
    "pick_model": "client",
    "Piece": "stream",
    "ReplyStream": "stream",
    "make_client": "stream",
    "ContextTooLong": "errors",
    "EmptyReply": "errors",
    "LLMError": "errors",
    "ModelUnavailable": "errors",
    "NoModelLoaded": "errors",
    "ServerUnavailable": "errors",
    "Timeout": "errors",
    "ModelInfo": "servers",
    "ServerInfo": "servers",
    "probe": "servers",
    "LLMSettings": "settings",
    "Sampling": "settings",
}
__all__ = [
    "ContextTooLong",
    "EmptyReply",
    "LLMError",
    "LLMSettings",
    "ModelInfo",
    "ModelUnavailable",
    "NoModelLoaded",
    "Piece",
    "PromptParts",
    "ReplyStream",
    "Sampling",
    "ServerInfo",
    "ServerUnavailable",
    "Timeout",
    "assemble",
    "list_models",
    "make_client",
    "pick_model",
    "probe",
    "reply_messages",
]


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"llm.{_WHERE[name]}"), name)
