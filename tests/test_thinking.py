"""Telling thinking from answer in streamed content (pure logic): every inline form, tags split
across chunks, and nothing of a tag on screen while it arrives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llm.thinking import Split, split_thinking, strip_thinking

REPLY = "<think>\nthe user greets me, i should answer kindly.\n</think>\n\nAhoy, navigator!"


def test_inline_thinking_before_the_answer() -> None:
    assert split_thinking(REPLY, final=True) == Split("the user greets me, i should answer kindly.", "Ahoy, navigator!")


def test_a_reply_that_starts_inside_the_thinking() -> None:  # Qwen3-style: <think> was in the prompt
    split = split_thinking("the user greets me.\n</think>\n\nAhoy!", final=True)
    assert split == Split("the user greets me.", "Ahoy!")


def test_other_tags_of_other_models() -> None:
    assert split_thinking("[THINK]hm[/THINK]Yes.", final=True) == Split("hm", "Yes.")
    assert split_thinking("<thinking>hm</thinking>Yes.", final=True) == Split("hm", "Yes.")


def test_no_thinking_is_all_answer() -> None:
    assert split_thinking("Ahoy! <b>bold</b> and a < sign", final=True) == Split("", "Ahoy! <b>bold</b> and a < sign")


def test_while_thinking_the_thinking_is_open_and_there_is_no_answer() -> None:
    split = split_thinking("<think>the user greets")
    assert split.open and split.thinking == "the user greets" and split.answer == ""
    assert split_thinking("<think>the user greets", final=True).open is False  # hit max_tokens while thinking


def test_a_tag_arriving_in_pieces_never_shows() -> None:
    for end in range(len(REPLY) + 1):
        split = split_thinking(REPLY[:end])
        assert "<" not in split.answer and "think" not in split.answer, REPLY[:end]
        assert "<" not in split.thinking


@given(st.text(alphabet="ab <>/thinkTHINK[]\n", max_size=60), st.integers(0, 60))
def test_the_parts_come_from_the_content_in_order(text: str, cut: int) -> None:
    for content in (text, text[:cut]):
        split = split_thinking(content, final=True)
        assert split.thinking in content and split.answer in content
        if split.thinking and split.answer:
            assert content.index(split.thinking) <= content.rindex(split.answer)


def test_strip_thinking_keeps_the_answer() -> None:
    assert strip_thinking(REPLY) == "Ahoy, navigator!"
    assert strip_thinking("Just an answer.") == "Just an answer."
