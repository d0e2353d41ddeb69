"""Which lorebook entries the recent chat brings into play."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.prompts import persona_prompt, substitute
from personas import Persona
from personas.lorebook import (
    MAX_ACTIVE_ENTRIES,
    MAX_LABEL_CHARS,
    LoreEntry,
    active_entries,
    approx_tokens,
    prompt_line,
)


def entry(content: str, keys: list[str] | None = None, order: int = 0, **fields: Any) -> dict[str, Any]:
    return {"keys": keys or [], "content": content, "extensions": {}, "enabled": True, "insertion_order": order,
            **fields}  # fmt: skip


def book(*entries: Any, **fields: Any) -> dict[str, Any]:
    return {"entries": list(entries), "extensions": {}, **fields}


def contents(found: list[LoreEntry]) -> list[str]:
    return [e.content for e in found]


def test_key_found_in_recent_text_activates_the_entry() -> None:
    lore = book(entry("Kestrel lore", ["Kestrel"]), entry("Oru lore", ["Oru"]))
    assert contents(active_entries(lore, ["Tell me about the kestrel."])) == ["Kestrel lore"]
    assert active_entries(lore, ["Nothing relevant."]) == []
    assert active_entries(lore, []) == []


def test_keys_match_as_substrings() -> None:
    assert contents(active_entries(book(entry("cat", ["cat"])), ["a category"])) == ["cat"]


def test_case_sensitivity() -> None:
    lore = book(entry("sensitive", ["Guild"], case_sensitive=True), entry("insensitive", ["GUILD"]))
    assert contents(active_entries(lore, ["the guild"])) == ["insensitive"]
    assert contents(active_entries(lore, ["the Guild"])) == ["sensitive", "insensitive"]


def test_selective_needs_a_secondary_key_too() -> None:
    lore = book(entry("selective", ["Mara"], selective=True, secondary_keys=["hand", "arm"]))
    assert active_entries(lore, ["Mara waves."]) == []
    assert contents(active_entries(lore, ["Mara waves.", "Her brass HAND gleams."])) == ["selective"]
    assert active_entries(lore, ["Her brass hand gleams."]) == []  # the primary key is still required


def test_selective_without_secondary_keys_needs_only_a_key() -> None:
    lore = book(entry("plain", ["Mara"], selective=True, secondary_keys=[]))
    assert contents(active_entries(lore, ["Mara"])) == ["plain"]


def test_secondary_keys_are_ignored_unless_selective() -> None:
    lore = book(entry("not selective", ["Mara"], secondary_keys=["hand"]))
    assert contents(active_entries(lore, ["Mara"])) == ["not selective"]


def test_constant_entries_are_always_active() -> None:
    lore = book(entry("always", [], constant=True), entry("keyed", ["x-key"]))
    assert contents(active_entries(lore, ["hello"])) == ["always"]
    assert contents(active_entries(lore, [])) == ["always"]


def test_disabled_entries_never_are() -> None:
    lore = book(entry("off", ["Mara"], enabled=False), entry("off too", [], constant=True, enabled=False))
    assert active_entries(lore, ["Mara"]) == []


def test_scan_depth_limits_how_far_back_keys_are_looked_for() -> None:
    texts = ["Kestrel", "b", "c", "d", "e"]
    assert active_entries(book(entry("lore", ["Kestrel"])), texts) == []  # default depth 4
    assert contents(active_entries(book(entry("lore", ["Kestrel"]), scan_depth=5), texts)) == ["lore"]
    assert active_entries(book(entry("lore", ["e"]), scan_depth=0), texts) == []
    assert contents(active_entries(book(entry("lore", ["Kestrel"]), scan_depth="x"), texts[1:])) == []


def test_sorted_by_insertion_order() -> None:
    lore = book(entry("third", ["k"], order=30), entry("first", ["k"], order=-1), entry("second", ["k"], order=2))
    assert contents(active_entries(lore, ["k"])) == ["first", "second", "third"]


def test_token_budget_cuts_in_insertion_order() -> None:
    forty = "x" * 160  # 40 approximate tokens
    lore = book(*(entry(f"{i}{forty}", ["k"], order=i) for i in range(5)), token_budget=100)
    assert [e.insertion_order for e in active_entries(lore, ["k"])] == [0, 1]
    assert len(active_entries(lore, ["k"], token_budget=130)) == 3
    assert len(active_entries(book(*lore["entries"]), ["k"])) == 5  # default budget 500
    assert active_entries(lore, ["k"], token_budget=0) == []


def test_custom_token_counter() -> None:
    lore = book(entry("one two three", ["k"], order=0), entry("four five", ["k"], order=1))
    found = active_entries(lore, ["k"], token_budget=4, count_tokens=lambda text: len(text.split()))
    assert contents(found) == ["one two three"]


def test_approx_tokens() -> None:
    assert [approx_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "entry",
        ["k"],
        {"keys": ["k"]},  # no content
        {"keys": ["k"], "content": 5},
        {"keys": "k", "content": "string keys"},
        {"keys": ["k"], "content": "bad order", "insertion_order": "1"},
        {"keys": ["k"], "content": "bool order", "insertion_order": True},
        {"keys": ["k"], "content": "nan order", "insertion_order": float("nan")},
        {"keys": ["k"], "content": "bad secondary", "secondary_keys": "x", "selective": True},
    ],
)
def test_malformed_entries_are_ignored(bad: Any) -> None:
    lore = book(bad, entry("good", ["k"]))
    assert contents(active_entries(lore, ["k"])) == ["good"]


def test_odd_but_usable_entries() -> None:
    lore = book(
        {"keys": ["k", 7, None, "", "  "], "content": "non-text and blank keys dropped", "insertion_order": 10**400},
        {"keys": [""], "content": "blank key matches nothing"},
        {"keys": ["k"], "content": "missing fields default", "enabled": None, "case_sensitive": "yes"},
    )
    assert contents(active_entries(lore, ["K"])) == ["missing fields default", "non-text and blank keys dropped"]


@pytest.mark.parametrize("bad_book", [None, "book", [], {}, {"entries": "x"}, {"entries": None}])
def test_malformed_books_give_nothing(bad_book: Any) -> None:
    assert active_entries(bad_book, ["k"]) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
entry_keys = st.sampled_from(
    ["keys", "content", "enabled", "insertion_order", "case_sensitive", "selective", "secondary_keys", "constant"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["entries", "scan_depth", "token_budget"]), json_values)
    | st.fixed_dictionaries({"entries": st.lists(st.dictionaries(entry_keys, json_values) | json_values)}),
    st.lists(st.text(max_size=10), max_size=6),
)
def test_fuzz_never_crashes(lore: Any, texts: list[str]) -> None:
    for found in active_entries(lore, texts):
        assert isinstance(found, LoreEntry) and isinstance(found.content, str)


# --- the budget counts what an entry costs in the prompt -------------------------------------


def test_entries_without_content_are_left_out() -> None:
    lore = book(*(entry("", [], constant=True) for _ in range(20_000)), entry("  \n", [], constant=True))
    assert active_entries(lore, ["hello"]) == []


def test_each_entry_costs_its_line_and_at_most_so_many_are_taken() -> None:
    lore = book(*(entry("x", [], constant=True, order=i) for i in range(20_000)))
    assert len(active_entries(lore, [])) == MAX_ACTIVE_ENTRIES
    assert len(active_entries(lore, [], token_budget=10)) == 10  # "- x\n" is one token: the bullet counts
    assert len(active_entries(lore, [], count_tokens=lambda line: len(line.split()), token_budget=10)) == 5
    assert len(active_entries(lore, [], max_entries=3)) == 3


def test_room_left_in_the_prompt_caps_the_budget() -> None:
    lore = book(*(entry("y" * 38, ["k"], order=i) for i in range(5)))  # "- " + 38 + "\n": 11 tokens
    assert len(active_entries(lore, ["k"], room=22)) == 2
    assert len(active_entries(lore, ["k"], token_budget=11, room=1_000)) == 1
    assert active_entries(lore, ["k"], room=0) == []


def test_labels_are_one_short_line() -> None:
    assert LoreEntry(content="c", name="Town\nhall  ").label == "Town hall"
    long = LoreEntry(content="c", comment="w" * 500).label
    assert len(long) == MAX_LABEL_CHARS and long.endswith("…")
    assert LoreEntry(content="c", keys=["a", "b", "c", "d"]).label == "a, b, c"


budget_entries = st.lists(
    st.fixed_dictionaries(
        {"content": st.text(max_size=60), "keys": st.lists(st.sampled_from(["k", "z", ""]), max_size=2),
         "constant": st.booleans(), "enabled": st.booleans(), "insertion_order": st.integers(-5, 5)}
    ),
    max_size=60,
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    budget_entries,
    st.lists(st.sampled_from(["k", "z", "kz", "nothing"]), max_size=4),  # within the default scan depth
    st.integers(0, 200),
    st.none() | st.integers(0, 200),
    st.integers(0, 40),
)
def test_fuzz_the_budget(raw: list[dict], texts: list[str], budget: int, room: int | None, cap: int) -> None:
    lore = book(*raw)
    found = active_entries(lore, texts, token_budget=budget, room=room, max_entries=cap)
    limit = budget if room is None else min(budget, room)
    assert len(found) <= cap
    assert sum(approx_tokens(prompt_line(e.content)) for e in found) <= limit
    eligible = sorted(
        (e for e in map(LoreEntry.from_dict, raw) if e and e.enabled and e.content.strip() and e.matches(texts)),
        key=lambda e: e.insertion_order,
    )
    assert found == eligible[: len(found)]  # the first ones, in order
    if len(found) < len(eligible) and len(found) < cap:  # and stopped only where the next did not fit
        assert sum(approx_tokens(prompt_line(e.content)) for e in eligible[: len(found) + 1]) > limit


@settings(max_examples=200, deadline=None)
@given(budget_entries, st.text(max_size=300), st.text(max_size=100), st.integers(0, 600))
def test_fuzz_entries_never_make_the_prompt_too_long(raw: list[dict], card: str, message: str, slack: int) -> None:
    """With the room chat.prompting gives them, the entries in play never push a prompt over its budget:
    when the persona and the message fit (with ``slack`` tokens to spare), the prompt is assembled,
    entries and all (assemble never cuts entries)."""
    from chat.prompting import lore_room
    from llm.assembly import TEMPLATE_OVERHEAD, assemble
    from llm.assembly import approx_tokens as prompt_tokens

    persona = Persona(id="p", name="P {{user}}", description=card, character_book=book(*raw))
    system = persona_prompt(persona, "Sam")
    budget = prompt_tokens(system) + prompt_tokens(message) + TEMPLATE_OVERHEAD + slack
    found = active_entries(
        persona.character_book,
        ["k z", message],
        count_tokens=lambda line: prompt_tokens(substitute(line, persona.name, "Sam")),
        room=lore_room(system, message, budget),
    )
    lore = [substitute(e.content, persona.name, "Sam") for e in found]
    assert assemble(system, [], [], message, budget=budget, lore=lore).lore == lore


# --- a card that cannot fit is told on import ---------------------------------------------------


def test_fit_warnings() -> None:
    from chat.prompting import fit_warnings

    assert fit_warnings(Persona(id="m", name="Mara", description="A captain."), "Sam", 4096, 512) == []
    (huge,) = fit_warnings(Persona(id="m", name="Mara", description="word " * 20_000), "Sam", 4096, 512)
    assert "no message would fit" in huge and "of every prompt" in huge
    crowded = book(*(entry(f"fact {i}", [], constant=True) for i in range(20_000)))
    (left_out,) = fit_warnings(Persona(id="m", name="Mara", character_book=crowded), "Sam", 4096, 512)
    assert left_out.startswith(f"{20_000 - MAX_ACTIVE_ENTRIES:,} of the lorebook's 20,000 always-on entries")
