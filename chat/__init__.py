"""The chat as a plain service (no Streamlit): see :mod:`chat.service`."""

from chat.live import LiveReply, ReplyView
from chat.service import (
    MAX_MESSAGE_CHARS,
    ChatService,
    ChatView,
    Conversation,
    MessageTooLong,
    PersonaGone,
    ReplySettings,
    Waiting,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
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
