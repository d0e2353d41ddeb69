"""llm.chain.ahead: a reply's stream started before the page reads it (pure logic, plain generators)."""

from __future__ import annotations

import itertools
import threading

import pytest

from llm.chain import ahead


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
