"""The language-model side of the app: settings, client, prompts, chain, built-in server.

Plain Python; never imports Streamlit.
"""

from llm.assembly import PromptParts, assemble
from llm.chain import build_chain, stream_reply
from llm.client import list_models, make_chat_model, pick_model
from llm.errors import ContextTooLong, LLMError, NoModelLoaded, ServerUnavailable, Timeout
from llm.settings import LLMSettings, Sampling

__all__ = [
    "ContextTooLong",
    "LLMError",
    "LLMSettings",
    "NoModelLoaded",
    "PromptParts",
    "Sampling",
    "ServerUnavailable",
    "Timeout",
    "assemble",
    "build_chain",
    "list_models",
    "make_chat_model",
    "pick_model",
    "stream_reply",
]
