"""The sidebar's model picker and context window through AppTest: against the real built-in
server, and against a loopback server that answers LM Studio's and Ollama's documented JSON
(the chat itself is not used there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import new_app
from tests.stub_server import Stub, serve_json
from tests.test_servers import (
    LMSTUDIO_V1_MODELS,
    OLLAMA_PS,
    OLLAMA_SHOW_GEMMA3,
    OLLAMA_V1_MODELS,
    lmstudio_with_loaded,
    openai_list,
)


def captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def meter(at) -> str:
    return at.get("progress")[0].proto.text


def test_context_window_comes_from_the_server_and_can_be_overridden(app_env) -> None:
    at = new_app()
    assert not at.exception
    assert at.sidebar.selectbox(key="model").options == ["smollm2-135m-instruct · loaded"]
    assert "4,096 tokens, from the server (llama.cpp /props)" in captions(at)
    assert meter(at).endswith("of 4,096 tokens")
    at.sidebar.number_input(key="context_window").set_value(2048).run()
    assert "2,048 tokens, set here (the server says 4,096)" in captions(at)
    assert meter(at).endswith("of 2,048 tokens")  # the window the prompt is assembled for
    at.sidebar.number_input(key="context_window").set_value(None).run()
    assert "4,096 tokens, from the server (llama.cpp /props)" in captions(at)


def test_llm_context_window_does_not_override_what_the_server_says(app_env, monkeypatch) -> None:
    monkeypatch.setenv("LLM_CONTEXT_WINDOW", "16384")
    at = new_app()
    assert "4,096 tokens, from the server (llama.cpp /props); LLM_CONTEXT_WINDOW (16,384) is not used" in captions(at)


@pytest.fixture
def lm_studio(app_env, monkeypatch) -> Iterator[Stub]:
    routes = {("GET", "/v1/models"): LMSTUDIO_V1_MODELS, ("GET", "/api/v0/models"): lmstudio_with_loaded(8192)}
    with serve_json(routes) as stub:
        monkeypatch.setenv("LLM_BASE_URL", stub.base_url)
        yield stub


def test_model_picker_hides_embedding_models_and_shows_what_is_loaded(lm_studio) -> None:
    at = new_app()
    assert not at.exception
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == ["meta-llama-3.1-8b-instruct · loaded", "qwen2-vl-7b-instruct · not loaded · vision"]
    assert picker.value == "meta-llama-3.1-8b-instruct"  # the loaded chat model, not the loaded embedding one
    assert "Not listed, they cannot chat: text-embedding-nomic-embed-text-v1.5" in captions(at)
    assert "8,192 tokens, from the server (LM Studio /api/v0/models)" in captions(at)
    assert any("Connected · meta-llama-3.1-8b-instruct" in m.value for m in at.sidebar.markdown)

    picker.set_value("qwen2-vl-7b-instruct").run()  # not loaded: LM Studio will load it
    assert "4,096 tokens, default, the server did not say" in captions(at)
    assert any("qwen2-vl-7b-instruct is not loaded yet" in c for c in captions(at))
    assert any("not loaded yet" in m.value for m in at.sidebar.markdown)  # the badge


def test_a_server_with_only_embedding_models_says_so(app_env, monkeypatch) -> None:
    with serve_json({("GET", "/v1/models"): openai_list("text-embedding-nomic-embed-text-v1.5")}) as stub:
        monkeypatch.setenv("LLM_BASE_URL", stub.base_url)
        at = new_app()
    assert not at.exception
    assert "model" not in [box.key for box in at.sidebar.selectbox]  # nothing to pick
    assert "has only embedding models (text-embedding-nomic-embed-text-v1.5)" in at.error[0].value


def test_ollama_warns_that_it_cuts_long_prompts(app_env, monkeypatch) -> None:
    routes = {
        ("GET", "/v1/models"): OLLAMA_V1_MODELS,
        ("GET", "/api/ps"): OLLAMA_PS,
        ("POST", "/api/show"): OLLAMA_SHOW_GEMMA3,
    }
    with serve_json(routes) as stub:
        monkeypatch.setenv("LLM_BASE_URL", stub.base_url)
        at = new_app()
    assert at.sidebar.selectbox(key="model").value == "gemma3:latest"
    assert "4,096 tokens, from the server (Ollama /api/ps)" in captions(at)
    assert any("Ollama silently cuts prompts" in c and "OLLAMA_CONTEXT_LENGTH" in c for c in captions(at))


def test_an_emptied_server_url_goes_back_to_the_one_in_use(lm_studio) -> None:
    """An empty Server URL is never used: a field the user cleared, or a widget state Streamlit
    dropped (seen under load: "No model server answers at ."), goes back to the URL in use."""
    at = new_app()
    assert at.sidebar.text_input(key="base_url").value == lm_studio.base_url
    at.sidebar.text_input(key="base_url").set_value("").run()
    assert not at.exception
    assert at.sidebar.text_input(key="base_url").value == lm_studio.base_url
    assert not any("No model server answers" in e.value for e in at.error)
    assert at.sidebar.selectbox(key="model").value == "meta-llama-3.1-8b-instruct"
