"""llm.chain.ahead: a reply's stream started before the page reads it (pure logic, plain generators)."""

from __future__ import annotations

import itertools
import threading

import pytest

from llm.chain import ahead, build_chain, stream_reply


def test_the_stream_starts_at_once_and_yields_everything_in_order() -> None:
    began = threading.Event()

    def tokens():
        began.set()
        yield from ["Ahoy", ", ", "navigator", "."]

    stream = ahead(tokens())
    assert began.wait(10)  # the request goes out before anyone reads
    assert list(stream) == ["Ahoy", ", ", "navigator", "."]


def test_an_error_reaches_the_reader_after_the_tokens_before_it() -> None:
    def tokens():
        yield "Ahoy"
        raise ValueError("server went away")

    stream = ahead(tokens())
    assert next(stream) == "Ahoy"
    with pytest.raises(ValueError, match="server went away"):
        next(stream)


def test_closing_the_reader_stops_the_stream() -> None:
    stopped = threading.Event()

    def tokens():
        try:
            for n in itertools.count():
                yield str(n)
        finally:
            stopped.set()

    stream = ahead(tokens())
    assert next(stream) == "0"
    stream.close()
    assert stopped.wait(10)


def test_ahead_returns_once_the_model_is_called() -> None:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from llm import assemble

    called, go = threading.Event(), threading.Event()

    def tokens():
        go.wait(10)  # the prompt is still being formatted
        yield from stream_reply(
            build_chain(GenericFakeChatModel(messages=iter([AIMessage("Ahoy there")]))),
            assemble("You are Mara.", [], [], "hi", budget=4000),
            sent=called,
        )

    threading.Timer(0.05, go.set).start()
    stream = ahead(tokens(), sent=called, wait=10)
    assert called.is_set() and go.is_set()
    assert "".join(stream) == "Ahoy there"


def test_ahead_does_not_wait_for_a_stream_that_failed_first() -> None:
    def tokens():
        raise ValueError("server went away")
        yield ""

    stream = ahead(tokens(), sent=threading.Event(), wait=60)  # returns at once, not after a minute
    with pytest.raises(ValueError, match="server went away"):
        next(stream)
