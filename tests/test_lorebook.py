"""Which lorebook entries the recent chat brings into play: a card's book as found in the card
(``active_entries``), and lorebooks of either format together (``activate``), with SillyTavern's
rules: selective logic, whole words, scan depth, recursion, probability, budgets, positions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personas import Persona
from personas.lorebook import (
    MAX_ACTIVE_ENTRIES,
    MAX_LABEL_CHARS,
    MAX_RECURSION_STEPS,
    LoreEntry,
    activate,
    active_entries,
    approx_tokens,
    prompt_line,
)
from personas.worldinfo import AND_ALL, AND_ANY, AT_DEPTH, BEFORE_CHAR, NOT_ALL, NOT_ANY, Lorebook
from tests.fuzzing import fuzz


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


def test_the_budget_keeps_the_highest_order_first() -> None:
    """As SillyTavern (and the V3 spec: "remove the lowest insertion_order first") do; the entries
    kept still go into the prompt lowest order first."""
    forty = "x" * 160  # 40 approximate tokens
    lore = book(*(entry(f"{i}{forty}", ["k"], order=i) for i in range(5)), token_budget=100)
    assert [e.insertion_order for e in active_entries(lore, ["k"])] == [3, 4]
    assert [e.insertion_order for e in active_entries(lore, ["k"], token_budget=130)] == [2, 3, 4]
    assert len(active_entries(book(*lore["entries"]), ["k"])) == 5  # default budget 500
    assert active_entries(lore, ["k"], token_budget=0) == []


def test_priority_decides_the_budget_when_set() -> None:
    lore = book(entry("low priority", ["k"], order=9, priority=1), entry("high priority", ["k"], order=1, priority=5),
                token_budget=6)  # fmt: skip
    assert contents(active_entries(lore, ["k"])) == ["high priority"]


def test_custom_token_counter() -> None:
    lore = book(entry("one two three", ["k"], order=0), entry("four five", ["k"], order=1))
    found = active_entries(lore, ["k"], token_budget=4, count_tokens=lambda text: len(text.split()))
    assert contents(found) == ["four five"]  # order 1 first: 3 tokens; then 4 more would exceed 4


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


@fuzz(300, deadline=None)
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
    assert LoreEntry(content="c", keys=["a", "b", "c", "d"]).label == "a / b / c"


budget_entries = st.lists(
    st.fixed_dictionaries(
        {"content": st.text(max_size=60), "keys": st.lists(st.sampled_from(["k", "z", ""]), max_size=2),
         "constant": st.booleans(), "enabled": st.booleans(), "insertion_order": st.integers(-5, 5)}
    ),
    max_size=60,
)  # fmt: skip


def oracle_matches(raw: dict[str, Any], texts: list[str]) -> bool:
    """The fuzzed entries' rule, written out independently: constant, or a key (case-insensitive
    substring) in the last four texts."""
    return raw["constant"] or any(k and k in t.casefold() for k in raw["keys"] for t in texts[-4:])


@fuzz(400, deadline=None)
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
    assert [e.insertion_order for e in found] == sorted(e.insertion_order for e in found)  # prompt order
    ranked = [  # eligible, highest order first (stable)
        n
        for n, item in sorted(enumerate(raw), key=lambda pair: (-pair[1]["insertion_order"], pair[0]))
        if item["enabled"] and item["content"].strip() and oracle_matches(item, texts)
    ]
    kept = ranked[: len(found)]
    assert sorted(contents(found)) == sorted(raw[n]["content"] for n in kept)  # the first ones in rank
    if len(found) < len(ranked) and len(found) < cap:  # and stopped only where the next did not fit
        assert sum(approx_tokens(prompt_line(raw[n]["content"])) for n in ranked[: len(found) + 1]) > limit


positions = st.sampled_from([BEFORE_CHAR, 1, 2, 3, AT_DEPTH, 5, 6, 7])


@fuzz(200, deadline=None)
@given(
    st.lists(st.tuples(budget_entries, positions, st.integers(0, 6)), max_size=3),
    st.text(max_size=300),
    st.text(max_size=100),
    st.lists(st.text(max_size=40), max_size=6),
    st.integers(0, 600),
)
def test_fuzz_entries_never_make_the_prompt_too_long(
    books: list, card: str, message: str, history: list[str], slack: int
) -> None:
    """With the room chat.prompting gives them, the entries in play never push a prompt over its
    budget, wherever they go (the system prompt, with the message, at a depth in the chat): when
    the persona and the message fit (with ``slack`` tokens to spare), the prompt is assembled,
    entries and all (assemble never cuts entries)."""
    from chat.prompting import world_info
    from llm.assembly import TEMPLATE_OVERHEAD, assemble
    from llm.assembly import approx_tokens as prompt_tokens
    from llm.prompts import persona_prompt

    lorebooks = [
        Lorebook.from_character_book(
            book(*({**e, "extensions": {"position": position, "depth": depth}} for e in raw)), strict=False
        )
        for raw, position, depth in books
    ]
    persona = Persona(id="p", name="P {{user}}", description=card)
    budget = prompt_tokens(persona_prompt(persona, "Sam")) + prompt_tokens(message) + TEMPLATE_OVERHEAD + slack
    turns = [("user" if n % 2 else "assistant", text) for n, text in enumerate(history)]
    lore = world_info(persona, "Sam", lorebooks, ["k z", *history, message], budget)
    parts = assemble(lore.system, [], turns, message, budget=budget, lore=lore.after, depth_lore=lore.depth)
    assert parts.lore == lore.after and parts.depth_lore == lore.depth
    assert len(lore.after) + len(lore.depth) <= len(lore.entries)


# --- a card that cannot fit is told on import ---------------------------------------------------


def test_fit_warnings() -> None:
    from chat.prompting import fit_warnings

    assert fit_warnings(Persona(id="m", name="Mara", description="A captain."), "Sam", 4096, 512) == []
    (huge,) = fit_warnings(Persona(id="m", name="Mara", description="word " * 20_000), "Sam", 4096, 512)
    assert "no message would fit" in huge and "of every prompt" in huge
    crowded = book(*(entry(f"fact {i}", [], constant=True) for i in range(20_000)))
    (left_out,) = fit_warnings(Persona(id="m", name="Mara", character_book=crowded), "Sam", 4096, 512)
    assert left_out.startswith(f"{20_000 - MAX_ACTIVE_ENTRIES:,} of the lorebook's 20,000 always-on entries")


# --- World Info: lorebooks of either format, SillyTavern's rules --------------------------------


def wi(content: str, key: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """A World Info entry as SillyTavern writes it (only the fields given and the usual ones)."""
    return {"key": key or [], "keysecondary": [], "content": content, "order": 100, "position": 1,
            "disable": False, **fields}  # fmt: skip


def world(*entries: dict[str, Any], **fields: Any) -> Lorebook:
    return Lorebook.from_world_info({"entries": {str(n): {"uid": n, **e} for n, e in enumerate(entries)}, **fields})


def found(books: Lorebook | list[Lorebook], texts: list[str], **kwargs: Any) -> list[str]:
    return contents(activate(books if isinstance(books, list) else [books], texts, **kwargs))


@pytest.mark.parametrize(
    ("logic", "text", "expected"),
    [
        (AND_ANY, "the ferry boat", True),
        (AND_ANY, "the ferry", True),
        (AND_ANY, "Tobin alone", False),
        (AND_ALL, "the ferry boat", True),
        (AND_ALL, "the ferry", False),
        (NOT_ANY, "Tobin alone", True),
        (NOT_ANY, "the ferry", False),
        (NOT_ALL, "the ferry", True),
        (NOT_ALL, "Tobin alone", True),
        (NOT_ALL, "the ferry boat", False),
    ],
)
def test_selective_logic_with_sillytaverns_numbering(logic: int, text: str, expected: bool) -> None:
    assert (AND_ANY, NOT_ALL, NOT_ANY, AND_ALL) == (0, 1, 2, 3)  # world_info_logic in world-info.js
    entry = wi("Tobin skippers the ferry.", ["Tobin"], keysecondary=["ferry", "boat"], selective=True,
               selectiveLogic=logic)  # fmt: skip
    assert found(world(entry), [f"Tobin: {text}"]) == (["Tobin skippers the ferry."] if expected else [])
    assert found(world(entry), [text.replace("Tobin", "")]) == []  # the primary key is always needed


def test_secondary_keys_count_only_when_selective() -> None:
    entry = wi("x", ["Tobin"], keysecondary=["ferry"], selective=False, selectiveLogic=AND_ALL)
    assert found(world(entry), ["Tobin"]) == ["x"]


def test_whole_words() -> None:
    book_ = world(wi("cats", ["cat"], matchWholeWords=True), wi("sea lion", ["sea lion"], matchWholeWords=True),
                  wi("any cat", ["cat"]))  # fmt: skip
    assert found(book_, ["a category"]) == ["any cat"]
    assert found(book_, ["the cat, asleep"]) == ["cats", "any cat"]
    assert found(book_, ["Cat."]) == ["cats", "any cat"]  # case still does not matter
    assert found(book_, ["sea lions"]) == ["sea lion"]  # a key of several words matches as it is (SillyTavern)
    assert found(world(wi("café", ["café"], matchWholeWords=True)), ["un café!"]) == ["café"]  # Unicode words


def test_case_sensitive_entries_in_world_info() -> None:
    book_ = world(wi("exact", ["Gull"], caseSensitive=True), wi("any", ["Gull"], caseSensitive=None))
    assert found(book_, ["the gull"]) == ["any"]
    assert found(book_, ["the Gull"]) == ["exact", "any"]


def test_regex_keys_are_not_evaluated() -> None:
    assert found(world(wi("regex", ["/dra(g|k)on/i"])), ["a dragon"]) == []


def test_scan_depth_of_the_entry_over_the_book() -> None:
    texts = ["the red book", "b", "c", "d", "e"]
    assert found(world(wi("deep", ["red book"], scanDepth=5)), texts) == ["deep"]
    assert found(world(wi("book depth", ["red book"]), scan_depth=5), texts) == ["book depth"]
    assert found(world(wi("shallow", ["red book"], scanDepth=1), scan_depth=5), texts) == []
    assert found(world(wi("only constant", ["e"], scanDepth=0), wi("always", constant=True)), texts) == ["always"]


def test_recursion_is_off_unless_the_book_says_so() -> None:
    entries = (wi("The ferry is the Gull's Luck.", ["ferry"]), wi("The Gull's Luck was built in 1921.", ["Gull"]))
    assert found(world(*entries), ["the ferry"]) == ["The ferry is the Gull's Luck."]
    assert len(found(world(*entries, recursive_scanning=True), ["the ferry"])) == 2


def test_recursion_has_a_limit() -> None:
    chain = [wi(f"step {n} mentions link{n + 1}", [f"link{n}"], order=n) for n in range(10)]
    book_ = world(*chain, recursive_scanning=True)
    assert len(found(book_, ["link0"])) == MAX_RECURSION_STEPS + 1
    assert len(found(book_, ["link0"], max_recursion=0)) == 1
    assert len(found(book_, ["link0"], max_recursion=20)) == 10


def test_exclude_and_prevent_recursion() -> None:
    first = wi("The ferry is the Gull's Luck.", ["ferry"])
    excluded = wi("Excluded: Gull", ["Gull"], excludeRecursion=True)
    assert found(world(first, excluded, recursive_scanning=True), ["the ferry"]) == [first["content"]]
    assert found(world(first, excluded, recursive_scanning=True), ["a Gull"]) == [excluded["content"]]
    silent = wi("The ferry is the Gull's Luck.", ["ferry"], preventRecursion=True)
    after = wi("1921", ["Gull"])
    assert found(world(silent, after, recursive_scanning=True), ["the ferry"]) == [silent["content"]]


def test_recursion_within_the_budget() -> None:
    chain = [wi(f"link{n + 1} " + "x" * 35, [f"link{n}"]) for n in range(4)]  # 11 tokens each with the bullet
    assert len(found(world(*chain, recursive_scanning=True), ["link0"], token_budget=22)) == 2
    assert len(found(world(*chain, recursive_scanning=True), ["link0"], room=33)) == 3


def test_probability_is_repeatable_for_a_message() -> None:
    never = world(wi("never", ["k"], probability=0, useProbability=True))
    assert found(never, ["k"], seed="m") == []
    always = world(wi("always", ["k"], probability=100, useProbability=True), wi("unrolled", ["k"], probability=0))
    assert found(always, ["k"], seed="m") == ["always", "unrolled"]  # useProbability off: no roll
    half = world(wi("half", ["k"], probability=50, useProbability=True))
    rolls = [bool(found(half, ["k"], seed=f"message {n}")) for n in range(200)]
    assert rolls == [bool(found(half, ["k"], seed=f"message {n}")) for n in range(200)]  # the same again
    assert 60 < sum(rolls) < 140  # the roll is derived from the message: about half of them


def test_several_books_first_book_first_and_each_within_its_budget() -> None:
    forty = "x" * 160
    conversation = world(wi("conversation " + forty, ["k"]), token_budget=50)
    persona = world(wi("persona " + forty, ["k"], order=1), wi("persona more " + forty, ["k"], order=0),
                    token_budget=50)  # fmt: skip
    assert found([conversation, persona], ["k"]) == ["persona " + forty, "conversation " + forty]  # prompt order
    assert found([conversation, persona], ["k"], room=50) == ["conversation " + forty]  # the first book first
    assert found([persona, conversation], ["k"], room=50) == ["persona " + forty]


def test_the_same_content_from_two_books_goes_in_once() -> None:
    card = Lorebook.from_character_book(book(entry("The lamp never goes out.", ["lamp"])))
    library = world(wi(" The lamp never goes out. ", ["lamp"]))
    assert len(found([library, card], ["the lamp"])) == 1
    assert len(found(world(wi("twice", ["lamp"]), wi("twice", ["lamp"])), ["the lamp"])) == 2  # one book: as it is


@pytest.mark.parametrize(
    ("position", "placement"),
    [(0, "before"), (1, "after"), (2, "after"), (3, "after"), (4, "depth"), (5, "after"), (6, "after"), (9, "after")],
)
def test_placement_of_sillytaverns_positions(position: int, placement: str) -> None:
    (entry_,) = world(wi("x", ["k"], position=position)).entries
    assert entry_.placement == placement


def test_entries_at_a_depth_cost_their_note() -> None:
    at_depth = world(wi("y" * 38, ["k"], position=AT_DEPTH, order=1), wi("z" * 38, ["k"], position=1))
    assert len(found(at_depth, ["k"], room=22)) == 2
    assert found(at_depth, ["k"], room=22, depth_cost=5) == ["z" * 38]
