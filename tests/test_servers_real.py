"""``llm.probe`` against real servers: the built-in llama.cpp server (xllamacpp), a port where
nothing listens, one that never answers, and a loopback HTTP server answering LM Studio's and
Ollama's documented JSON (tests/test_servers.py holds the samples and where they are from)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from llm import (
    ContextTooLong,
    ReplyStream,
    Sampling,
    ServerUnavailable,
    Timeout,
    assemble,
    make_client,
    probe,
    reply_messages,
)
from llm.errors import ServerError
from llm.local_server import CONTEXT_PER_SLOT, MODEL_ALIAS
from llm.servers import parse_llamacpp_props, server_root
from tests.harness import free_port
from tests.stub_server import serve_json
from tests.test_servers import (
    LMSTUDIO_V1_MODELS,
    OLLAMA_PS,
    OLLAMA_SHOW_GEMMA3,
    OLLAMA_V1_MODELS,
    lmstudio_with_loaded,
)


def test_props_gives_the_built_in_servers_context_per_slot(llm_server) -> None:
    props = httpx.get(server_root(llm_server.base_url) + "/props", timeout=5).json()
    assert props["total_slots"] == 2
    assert parse_llamacpp_props(props) == CONTEXT_PER_SLOT  # n_ctx is per slot: 8,192 split in two


def test_probe_of_the_built_in_server(llm_server) -> None:
    info = probe(llm_server.base_url, "none")
    assert info.kind == "llamacpp" and info.model == MODEL_ALIAS
    [model] = info.models
    assert (model.id, model.kind, model.chat, model.loaded) == (MODEL_ALIAS, "llm", True, True)
    assert (model.context_length, model.max_context_length) == (CONTEXT_PER_SLOT, 8192)  # 8,192: trained
    assert (info.context_window, info.context_source) == (CONTEXT_PER_SLOT, "llama.cpp /props")
    assert info.warnings == [] and info.hidden == []


def test_overflow_on_the_built_in_server_says_the_loaded_context(llm_server) -> None:
    huge = assemble("You are Mara.", [], [], "tell me about the sea " * 1500, budget=100_000)  # ~7,500 tokens
    client = make_client(llm_server.base_url, "none")
    reply = ReplyStream(client, MODEL_ALIAS, reply_messages(huge), Sampling(0.0, 1.0, 8))
    with pytest.raises(ContextTooLong) as caught:
        list(reply)
    assert caught.value.n_ctx == CONTEXT_PER_SLOT and caught.value.n_prompt > CONTEXT_PER_SLOT
    assert f"context length of {CONTEXT_PER_SLOT:,} tokens" in str(caught.value)


def test_a_server_that_is_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnavailable, match=url):  # refused at once, not a timeout
        probe(url, "none", timeout=30)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_answers_times_out_with_a_clear_error(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/v1"
    with pytest.raises(Timeout, match=r"did not answer within 0\.5 s"):
        probe(url, "none", timeout=0.5)


def test_a_url_without_v1_says_so() -> None:
    with serve_json({}) as stub, pytest.raises(ServerError, match="ends in /v1"):
        probe(stub.base_url.removesuffix("/v1"), "none")


def test_probe_of_an_lm_studio_shaped_server() -> None:
    routes = {("GET", "/v1/models"): LMSTUDIO_V1_MODELS, ("GET", "/api/v0/models"): lmstudio_with_loaded(8192)}
    with serve_json(routes) as stub:
        info = probe(stub.base_url, "lm-token")
    assert info.kind == "lmstudio" and info.model == "meta-llama-3.1-8b-instruct"
    assert [m.id for m in info.chat_models] == ["meta-llama-3.1-8b-instruct", "qwen2-vl-7b-instruct"]
    assert info.hidden == ["text-embedding-nomic-embed-text-v1.5"]
    assert (info.context_window, info.context_source) == (8192, "LM Studio /api/v0/models")
    assert [(method, path) for method, path, _, _ in stub.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/api/v0/models"),
    ]
    assert {auth for *_, auth in stub.requests} == {"Bearer lm-token"}  # LM Studio's API tokens reach both


def test_probe_of_an_ollama_shaped_server() -> None:
    routes = {
        ("GET", "/v1/models"): OLLAMA_V1_MODELS,
        ("GET", "/api/ps"): OLLAMA_PS,
        ("POST", "/api/show"): OLLAMA_SHOW_GEMMA3,
    }
    with serve_json(routes) as stub:
        info = probe(stub.base_url, "ollama")
    assert info.kind == "ollama" and info.model == "gemma3:latest"
    assert (info.context_window, info.context_source) == (4096, "Ollama /api/ps")
    assert "nomic-embed-text:latest" in info.hidden and "silently cuts prompts" in info.warnings[0]
    asked = [(method, path, body) for method, path, body, _ in stub.requests]
    assert asked == [
        ("GET", "/v1/models", None),
        ("GET", "/api/v0/models", None),  # not LM Studio (404): skipped
        ("GET", "/api/ps", None),
        ("POST", "/api/show", {"model": "gemma3:latest"}),  # only the chosen model is shown
    ]
