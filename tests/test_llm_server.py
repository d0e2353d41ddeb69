"""The language-model side against the real built-in server (SmolLM2-135M via xllamacpp on
loopback): streaming, sampling, Stop, errors, and the thinking of a reasoning model in each
form a server sends it (the built-in server made to think, see llm.local_server)."""

from __future__ import annotations

import httpx
import openai
import pytest

from llm import (
    LLMError,
    NoModelLoaded,
    ReplyStream,
    Sampling,
    ServerUnavailable,
    Timeout,
    assemble,
    list_models,
    make_client,
    pick_model,
    reply_messages,
)
from llm.errors import ContextTooLong, explain
from llm.local_server import MODEL_ALIAS
from llm.thinking import split_thinking
from tests.harness import free_port, server_busy, server_stops_generating

GREEDY = Sampling(temperature=0.0, top_p=1.0, max_tokens=24)


def messages(message: str = "Say hello to the new navigator.", continuation: str = ""):
    parts = assemble("You are Captain Mara Voss of the airship Kestrel.", [], [], message, budget=3000)
    return reply_messages(parts, continuation)


def stream(server, sampling: Sampling = GREEDY, **kwargs) -> ReplyStream:
    request = kwargs.pop("request", None) or messages()
    return ReplyStream(make_client(server.base_url, "none"), MODEL_ALIAS, request, sampling, **kwargs)


def test_lists_the_built_in_model(llm_server) -> None:
    models = list_models(llm_server.base_url, "none")
    assert MODEL_ALIAS in models
    assert pick_model(models, None, llm_server.base_url) == models[0]
    assert pick_model(models, MODEL_ALIAS, llm_server.base_url) == MODEL_ALIAS


def test_reply_streams_piece_by_piece(llm_server) -> None:
    reply = stream(llm_server)
    pieces = list(reply)
    assert len(pieces) > 3 and all(p.content and not p.reasoning for p in pieces)
    assert "".join(p.content for p in pieces).strip()
    assert reply.sent.is_set()


def test_temperature_zero_is_deterministic(llm_server) -> None:
    first = "".join(p.content for p in stream(llm_server))
    second = "".join(p.content for p in stream(llm_server))
    assert first == second and first.strip()


def test_max_tokens_is_honoured(llm_server) -> None:
    reply = stream(llm_server, Sampling(0.0, 1.0, 5), request=messages("Write a long story about a dragon."))
    text = "".join(p.content for p in reply)
    assert reply.finish_reason == "length"
    assert 0 < len(text.split()) <= 5


def test_stop_ends_the_reply_and_the_server_stops_generating(llm_server) -> None:
    reply = stream(llm_server, Sampling(0.0, 1.0, 2000), request=messages("Tell me a very long story about the sea."))
    received = []
    for piece in reply:
        received.append(piece)
        if len(received) == 5:
            assert server_busy(llm_server.base_url)
            reply.stop()
    assert len(received) == 5 and reply.stopped  # the iteration ended at once
    assert server_stops_generating(llm_server.base_url)  # the request was closed: long before 2,000 tokens


def test_continuation_is_sent_as_the_start_of_the_reply(llm_server) -> None:
    request = messages("Tell me about your ship.", continuation="The Kestrel is a brass airship with")
    assert request[-1] == {"role": "assistant", "content": "The Kestrel is a brass airship with"}
    text = "".join(p.content for p in stream(llm_server, request=request))
    assert text.strip() and not text.startswith("The Kestrel is a brass airship with")


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnavailable, match="LM Studio"):
        list_models(url, "none", timeout=2)
    reply = ReplyStream(make_client(url, "none"), "any", messages(), GREEDY)
    with pytest.raises(ServerUnavailable, match=url):
        list(reply)


def test_prompt_over_the_server_context_is_a_clear_error(llm_server) -> None:
    huge = "tell me about the sea " * 2000  # ~10,000 tokens > 4,096 per slot
    request = reply_messages(assemble("You are Mara.", [], [], huge, budget=100_000))
    with pytest.raises(ContextTooLong):
        list(stream(llm_server, request=request))


def test_a_first_piece_that_does_not_come_in_time_is_a_clear_error(llm_server) -> None:
    with pytest.raises(Timeout, match="did not answer"):
        list(stream(llm_server, Sampling(0.0, 1.0, 400), first_timeout=0.001))


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


# -- a reasoning model, for real ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["split", "inline", "open"])
def test_thinking_comes_apart_from_the_answer_in_every_form(thinking_servers, mode: str) -> None:
    server = thinking_servers[mode]
    pieces = list(stream(server, Sampling(0.0, 1.0, 300)))
    reasoning = "".join(p.reasoning for p in pieces)
    content = "".join(p.content for p in pieces)
    split = split_thinking(content, final=True)
    if mode == "split":  # the server parsed it out: delta.reasoning_content
        assert reasoning.strip() and "<think>" not in content and "</think>" not in content
        assert split.thinking == ""
    else:  # inline in the content
        assert not reasoning and "</think>" in content
        assert split.thinking
    assert split.answer.strip() and "think>" not in split.answer
