"""Long-term memory of the personas: background knowledge and conversation turns in Chroma.

Plain Python; never imports Streamlit. See the README section "Using the memory store from
Python". ``MemoryStore`` is loaded on first use (PEP 562): Chroma takes about a second to import,
and the chat page shows its input before it needs it; the other names are light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory.config import StoreConfig
from memory.models import Conversation, Memory

if TYPE_CHECKING:
    from memory.store import MemoryStore

__all__ = ["Conversation", "Memory", "MemoryStore", "StoreConfig"]


def __getattr__(name: str) -> object:
    if name == "MemoryStore":
        from memory.store import MemoryStore

        return MemoryStore
    raise AttributeError(f"module 'memory' has no attribute {name!r}")
