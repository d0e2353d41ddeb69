from __future__ import annotations

import re

from llm import LLMSettings, Sampling
from memory import StoreConfig
from tests.harness import ROOT


def test_defaults_point_at_lm_studio_and_the_embedded_store() -> None:
    llm = LLMSettings.from_env({})
    assert llm.base_url == "http://localhost:1234/v1" and llm.api_key == "lm-studio" and llm.model is None
    assert llm.builtin_fallback and llm.sampling == Sampling()
    assert (llm.context_window, llm.context_window_configured) == (4096, False)  # the server's figure is used
    store = StoreConfig.from_env({})
    assert store.path == "data/chroma" and store.host is None


def test_every_variable_is_read() -> None:
    env = {
        "LLM_BASE_URL": "http://127.0.0.1:11434/v1",
        "LLM_API_KEY": "secret",
        "LLM_MODEL": "llama3.2",
        "LLM_CONTEXT_WINDOW": "8192",
        "LLM_TIMEOUT": "30",
        "LLM_BUILTIN_FALLBACK": "false",
        "LLM_BUILTIN_PORT": "9999",
        "LLM_TEMPERATURE": "0",
        "LLM_TOP_P": "0.5",
        "LLM_MAX_TOKENS": "64",
        "LLM_FREQUENCY_PENALTY": "0",
        "LLM_PRESENCE_PENALTY": "0.2",
        "CHROMA_HOST": "127.0.0.1",
        "CHROMA_PORT": "8123",
        "CHROMA_PATH": "/tmp/x",
    }
    llm = LLMSettings.from_env(env)
    assert (llm.base_url, llm.api_key, llm.model) == ("http://127.0.0.1:11434/v1", "secret", "llama3.2")
    assert (llm.context_window, llm.timeout, llm.builtin_fallback, llm.builtin_port) == (8192, 30.0, False, 9999)
    assert llm.context_window_configured  # so the sidebar can say "from LLM_CONTEXT_WINDOW"
    assert llm.sampling == Sampling(0.0, 0.5, 64, 0.0, 0.2)
    assert StoreConfig.from_env(env) == StoreConfig(path="/tmp/x", host="127.0.0.1", port=8123)


def test_env_example_documents_every_variable_the_code_reads() -> None:
    sources = [p.read_text() for folder in ("llm", "memory", "ui") for p in (ROOT / folder).glob("*.py")]
    used = {name for text in sources for name in re.findall(r"(?:env|environ)\.get\(\"([A-Z_]+)\"", text)}
    assert len(used) >= 15
    documented = (ROOT / ".env.example").read_text()
    assert [name for name in sorted(used) if f"\n{name}=" not in documented] == []


def test_openai_key_is_used_only_for_openai() -> None:
    from llm.connection import api_key_for
    from ui.resources import AppSettings

    llm = LLMSettings.from_env({"OPENAI_API_KEY": "sk-test", "LLM_API_KEY": "local"})
    app = AppSettings(llm=llm, store=StoreConfig(), personas_path="p", user_name="u")
    assert api_key_for("https://api.openai.com/v1", llm) == "sk-test"
    assert api_key_for("http://localhost:1234/v1", llm) == "local"
    assert "sk-test" not in repr(app)
