"""Which lorebook entries the recent chat brings into play."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personas.lorebook import LoreEntry, active_entries, approx_tokens


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
