"""The chat core against the real built-in server (SmolLM2-135M via xllamacpp on loopback)."""

from __future__ import annotations

import httpx
import openai
import pytest

from llm import (
    LLMError,
    NoModelLoaded,
    Sampling,
    ServerUnavailable,
    Timeout,
    assemble,
    build_chain,
    list_models,
    make_chat_model,
    pick_model,
    stream_reply,
)
from llm.errors import ContextTooLong, explain
from llm.local_server import MODEL_ALIAS
from tests.conftest import free_port

GREEDY = Sampling(temperature=0.0, top_p=1.0, max_tokens=24)


def chain_for(server, sampling: Sampling = GREEDY):
    return build_chain(make_chat_model(server.base_url, "none", MODEL_ALIAS, sampling, timeout=60))


def parts(message: str = "Say hello to the new navigator."):
    return assemble("You are Captain Mara Voss of the airship Kestrel.", [], [], message, budget=3000)


def test_lists_the_built_in_model(llm_server) -> None:
    models = list_models(llm_server.base_url, "none")
    assert MODEL_ALIAS in models
    assert pick_model(models, None, llm_server.base_url) == models[0]
    assert pick_model(models, MODEL_ALIAS, llm_server.base_url) == MODEL_ALIAS


def test_reply_streams_token_by_token(llm_server) -> None:
    chunks = list(stream_reply(chain_for(llm_server), parts(), llm_server.base_url))
    assert len([c for c in chunks if c]) > 3
    assert "".join(chunks).strip()


def test_temperature_zero_is_deterministic(llm_server) -> None:
    chain = chain_for(llm_server)
    first = "".join(chain.stream(parts().inputs()))
    second = "".join(chain.stream(parts().inputs()))
    assert first == second and first.strip()


def test_max_tokens_is_honoured(llm_server) -> None:
    model = make_chat_model(llm_server.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 5))
    message = model.invoke("Write a long story about a dragon.")
    assert message.response_metadata.get("finish_reason") == "length"
    assert 0 < len(message.content.split()) <= 5


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnavailable, match="LM Studio"):
        list_models(url, "none", timeout=2)
    chain = build_chain(make_chat_model(url, "none", "any", GREEDY, timeout=5))
    with pytest.raises(ServerUnavailable, match=url):
        list(stream_reply(chain, parts(), url))


def test_prompt_over_the_server_context_is_a_clear_error(llm_server) -> None:
    huge = "tell me about the sea " * 2000  # ~10,000 tokens > 4,096 per slot
    request = assemble("You are Mara.", [], [], huge, budget=100_000)
    with pytest.raises(ContextTooLong):
        list(stream_reply(chain_for(llm_server), request, llm_server.base_url))


def test_timeout_is_a_clear_error(llm_server) -> None:
    model = make_chat_model(llm_server.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 400), timeout=0.001)
    with pytest.raises(Timeout, match="did not answer"):
        list(stream_reply(build_chain(model), parts(), llm_server.base_url, timeout=0.001))


def test_unknown_status_errors_keep_the_servers_words() -> None:
    request = httpx.Request("POST", "http://x/v1/chat/completions")

    not_found = openai.NotFoundError("nope", response=httpx.Response(404, request=request), body=None)
    assert isinstance(explain(not_found, "http://x/v1", "m"), NoModelLoaded)
    lm_studio = openai.BadRequestError(
        "x", response=httpx.Response(400, request=request), body={"error": {"message": "No models loaded."}}
    )
    assert isinstance(explain(lm_studio, "http://x/v1"), NoModelLoaded)
    other = openai.BadRequestError(
        "x", response=httpx.Response(400, request=request), body={"error": "bad temperature"}
    )
    error = explain(other, "http://x/v1")
    assert isinstance(error, LLMError) and "bad temperature" in str(error)
