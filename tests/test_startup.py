"""What the chat page draws first must not wait for the heavy libraries (issue 6: usable within
3 s of `streamlit run`): its light modules import neither Chroma nor openai nor LangChain."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("chromadb", "openai", "langchain_core", "onnxruntime")


def test_the_first_paint_imports_no_heavy_library() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import llm, memory, personas
        from llm import LLMError, LLMSettings, Sampling
        from memory import Memory, StoreConfig
        from memory.export import conversation_markdown
        from ui import chat_view, navigation, resources, sidebar
        from memory import MemoryStore  # Chroma and the embedding model: when first used
        from chat import ChatService  # LangChain: when a prompt is first built
        print(sorted(name for name in {HEAVY!r} if name in sys.modules))
        from llm import make_client, reply_messages
        import memory.embeddings
        print(sorted(name for name in {HEAVY!r} if name in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    light, loaded = out.stdout.splitlines()
    assert light == "[]"
    assert loaded == repr(["chromadb", "langchain_core", "openai"])  # the test can tell
