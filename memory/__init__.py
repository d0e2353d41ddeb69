"""Long-term memory of the personas: background knowledge and conversation turns in Chroma.

Plain Python; never imports Streamlit. See the README section "Using the memory store from
Python".
"""

from memory.config import StoreConfig
from memory.models import Conversation, Memory
from memory.store import MemoryStore

__all__ = ["Conversation", "Memory", "MemoryStore", "StoreConfig"]
