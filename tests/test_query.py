"""Reading a question without a model: whose memories it asks about, and the time it names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from memory.query import read, side, when

NOW = datetime(2025, 3, 11, 20, 0, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where do I work?", ("user", False)),
        ("What did you offer to make for my trip?", ("persona", True)),  # the subject wins
        ("What should I read, according to you?", ("persona", True)),
        ("What bird crashed into your tower?", ("persona", False)),  # no subject: the possessive
        ("What's the name of my sister's place?", ("user", False)),
        ("What do my sister's café and your cottage have in common?", (None, False)),
        ("What did I tell you about my job?", ("user", True)),
        ("When did Caroline go to the support group?", (None, False)),
    ],
)
def test_whose_memories_a_question_asks_about(question: str, expected: tuple[str | None, bool]) -> None:
    assert side(question) == expected


@pytest.mark.parametrize(
    ("question", "first", "last"),
    [
        ("What did I get up to the weekend before last?", date(2025, 2, 28), date(2025, 3, 2)),
        ("What did I do last weekend?", date(2025, 3, 7), date(2025, 3, 9)),
        ("Where was I the Sunday before last?", date(2025, 3, 2), date(2025, 3, 2)),
        ("What was I worried about three weeks ago?", date(2025, 2, 14), date(2025, 2, 22)),
        ("What was I dreading in the last week of January?", date(2025, 1, 25), date(2025, 1, 31)),
        ("What happened in early February?", date(2025, 2, 1), date(2025, 2, 11)),
        ("What did I do last Christmas?", date(2024, 12, 24), date(2024, 12, 27)),
        ("What did we talk about around Easter?", date(2024, 3, 29), date(2024, 4, 1)),  # 2025's is ahead
        ("What did Caroline do on 8 May 2023?", date(2023, 5, 8), date(2023, 5, 8)),
        ("What was I cooking on Valentine's night?", date(2025, 2, 14), date(2025, 2, 14)),
    ],
)
def test_times_resolve_to_dates(question: str, first: date, last: date) -> None:
    found, _ = when(question, NOW)
    assert found == (first, last)


def test_words_that_only_say_when_are_not_searched() -> None:
    relative = read("What did I get up to the weekend before last?", NOW)
    assert relative.search == "What did I get up to ?" and relative.about == "user"
    assert relative.since == datetime(2025, 2, 28, tzinfo=UTC) and relative.until.date() == date(2025, 3, 2)
    named = read("What did I do last Christmas?", NOW)  # "Christmas" may be in the memory itself
    assert named.search == named.text and named.since is not None
    plain = read("Where do I live?", NOW)
    assert (plain.search, plain.since, plain.until) == ("Where do I live?", None, None)


def test_newer_first_orders_only_the_same_speaker_on_the_same_thing() -> None:
    import numpy as np

    from memory.ranking import newer_first

    job, pet = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    vectors = {"nurse": job, "paramedic": job, "cat": pet, "her job": job, "shift": job}
    when = {"nurse": 1.0, "cat": 2.0, "paramedic": 3.0, "her job": 4.0, "lore": 0.0, "shift": 5.0}
    speaker = {"nurse": "user", "cat": "user", "paramedic": "user", "her job": "assistant", "lore": None,
               "shift": "user"}  # fmt: skip
    texts = {"nurse": "I work as a nurse.", "cat": "We got a new cat!", "paramedic": "I quit: I'm a paramedic.",
             "her job": "I started at the docks.", "lore": "She sails.", "shift": "Long shift today."}  # fmt: skip
    order, older = newer_first(["nurse", "lore", "cat", "paramedic", "her job", "shift"], when, speaker, vectors, texts)
    # the later shift is about work too, but tells of no change; the persona's job is another speaker's
    assert order == ["paramedic", "nurse", "lore", "cat", "her job", "shift"] and older == {"nurse": "paramedic"}
