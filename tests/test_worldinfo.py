"""Lorebook files: SillyTavern World Info, V3 lorebooks, cards with a book: reading, writing back
(unknown fields survive), converting between the formats, refusing bad files (fuzzed).

Real files: SillyTavern's own ``default/content/Eldoria.json`` and ``default_Seraphina.png`` are read
from a local snapshot of its repository when one is there (AGPL-3.0: not copied into ours); the
files in tests/fixtures/worldinfo/ are equivalents of their shapes, with our own content, and are
always tested.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personas import Persona
from personas.cards import export_json, export_png
from personas.limits import MAX_CARD_BYTES, MAX_TEXT_CHARS
from personas.lorebook import activate
from personas.worldinfo import (
    AND_ALL,
    AT_DEPTH,
    BEFORE_CHAR,
    MAX_ENTRIES,
    NOT_ALL,
    Lorebook,
    LoreEntry,
    WorldInfoError,
    export_lorebook_v3,
    export_world_info,
    new_entry,
    parse_lorebook,
)
from tests.fuzzing import fuzz

FIXTURES = Path(__file__).parent / "fixtures" / "worldinfo"
SILLYTAVERN = Path(os.environ.get("SILLYTAVERN_GIT_DIR", "/work/.mirror/SillyTavern+SillyTavern/repo"))


def snapshot(path: str) -> bytes | None:
    """A file of SillyTavern's repository from the local snapshot, if there is one."""
    if not SILLYTAVERN.exists():
        return None
    command = ["git", "--git-dir", str(SILLYTAVERN), "show", f"HEAD:{path}"]
    done = subprocess.run(command, capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else None


def world_info_files() -> list[tuple[str, bytes]]:
    """The World Info files to test: ours, and SillyTavern's when the snapshot is there."""
    files = [(name, (FIXTURES / name).read_bytes()) for name in ("saltmarsh.json", "saltmarsh-full.json")]
    eldoria = snapshot("default/content/Eldoria.json")
    return files + ([("sillytavern:Eldoria.json", eldoria)] if eldoria else [])


def card_files() -> list[tuple[str, bytes]]:
    """Cards with a book inside: ours (JSON and PNG), and SillyTavern's Seraphina when there."""
    card = (FIXTURES / "saltmarsh-card.json").read_bytes()
    png = export_png(Persona.from_card(json.loads(card)))
    seraphina = snapshot("default/content/default_Seraphina.png")
    return [("saltmarsh-card.json", card), ("saltmarsh-card.png", png)] + (
        [("sillytavern:default_Seraphina.png", seraphina)] if seraphina else []
    )


def file_id(value: Any) -> str:
    return value if isinstance(value, str) else ""


def typed(entry: LoreEntry) -> dict[str, Any]:
    """What an entry means (not how a file wrote it)."""
    skip = {"raw", "format", "slot", "extensions", "id"}
    return {f.name: getattr(entry, f.name) for f in fields(entry) if f.name not in skip}


# --- real files and their equivalents ----------------------------------------------------------


@pytest.mark.parametrize(("name", "data"), world_info_files(), ids=file_id)
def test_world_info_files_read_and_write_back_unchanged(name: str, data: bytes) -> None:
    book = parse_lorebook(data, name)
    assert book.format == "world_info" and book.entries
    assert all(e.content and e.keys for e in book.entries)
    assert json.loads(export_world_info(book)) == json.loads(data)  # every field, known or not
    assert parse_lorebook(export_world_info(book)) == book


@pytest.mark.parametrize(("name", "data"), world_info_files(), ids=file_id)
def test_world_info_into_a_card_and_back(name: str, data: bytes) -> None:
    book = parse_lorebook(data, name)
    persona = Persona(id="w-1", name="Wren", character_book=book.to_character_book())
    again = Persona.from_card(json.loads(export_json(persona)))  # through a card file
    from_card = Lorebook.from_character_book(again.character_book)
    assert [typed(e) for e in from_card.entries] == [typed(e) for e in book.entries]
    back = from_card.to_world_info()
    original = json.loads(data)
    for slot, entry in original["entries"].items():  # every field comes back, if with its default filled in
        assert {k: v for k, v in entry.items() if v is not None}.items() <= back["entries"][slot].items()


@pytest.mark.parametrize(("name", "data"), card_files(), ids=file_id)
def test_a_cards_book_is_a_lorebook(name: str, data: bytes) -> None:
    from personas.cards import parse_card

    book = parse_lorebook(data, name)
    embedded = parse_card(data).persona.character_book
    assert book.format == "character_book" and book.name
    assert book.to_character_book() == embedded  # written back into a card: as it was
    as_world = parse_lorebook(export_world_info(book))
    assert [typed(e) for e in as_world.entries] == [typed(e) for e in book.entries]


@pytest.mark.parametrize(("name", "data"), [*world_info_files(), *card_files()], ids=file_id)
def test_an_entry_comes_into_play_when_its_key_is_mentioned(name: str, data: bytes) -> None:
    book = parse_lorebook(data, name)
    keyed = next(e for e in book.entries if e.enabled and e.keys and not e.constant and not e.secondary_keys)
    used = activate([book], [f"Tell me about the {keyed.keys[0]}."])
    assert keyed.content in [e.content for e in used]
    assert activate([book], ["Nothing relevant, qqq."]) == [e for e in used if e.constant]


def test_eldoria_shape() -> None:
    """SillyTavern's shipped World Info: four keyed entries before the character, order 100."""
    book = parse_lorebook((FIXTURES / "saltmarsh.json").read_bytes())
    shape = [(e.position, e.insertion_order, e.selective, e.enabled) for e in book.entries]
    assert shape == [(BEFORE_CHAR, 100, False, True)] * 4
    assert [e.label for e in book.entries][1] == "ferry / tobin / boat"  # no title: named by its keys


def test_the_full_fields_of_a_recent_sillytavern() -> None:
    book = parse_lorebook((FIXTURES / "saltmarsh-full.json").read_bytes())
    by_label = {e.label: e for e in book.entries}
    assert by_label["The lamp rule"].logic == AND_ALL and by_label["The lamp rule"].match_whole_words is True
    assert by_label["The sheep"].case_sensitive is True
    red = by_label["Red book"]
    assert (red.position, red.placement, red.depth, red.scan_depth) == (AT_DEPTH, "depth", 2, 6)
    assert not by_label["Smugglers"].enabled
    mainland = by_label["Mainland"]
    assert (mainland.logic, mainland.probability, mainland.use_probability) == (NOT_ALL, 40, True)
    assert mainland.raw["futureField"] == {"kept": True}  # unknown: kept
    card = book.to_character_book()
    assert "originalData" not in card  # SillyTavern's stale copy of a card's book stays out of a card
    (card_mainland,) = [e for e in card["entries"] if e["comment"] == "Mainland"]
    assert card_mainland["extensions"]["futureField"] == {"kept": True}
    assert card_mainland["extensions"]["selectiveLogic"] == NOT_ALL and card_mainland["extensions"]["depth"] == 4
    back = Lorebook.from_character_book(card).to_world_info()
    assert back["entries"]["7"]["futureField"] == {"kept": True}  # and back where it was


def test_a_v3_lorebook() -> None:
    data = (FIXTURES / "saltmarsh-v3.json").read_bytes()
    book = parse_lorebook(data)
    assert (book.name, book.scan_depth, book.token_budget, book.recursive_scanning) == ("Saltmarsh tides", 3, 300, True)
    assert book.entries[0].priority == 10 and book.entries[0].case_sensitive is False
    assert json.loads(export_lorebook_v3(book)) == json.loads(data)
    as_world = parse_lorebook(export_world_info(book))
    assert (as_world.name, as_world.scan_depth, as_world.recursive_scanning) == ("Saltmarsh tides", 3, True)
    assert [typed(e) for e in as_world.entries] == [typed(e) for e in book.entries]
    assert as_world.entries[0].raw["use_regex"] is False  # a card field World Info lacks: as it is


def test_an_edit_changes_only_what_was_edited() -> None:
    data = (FIXTURES / "saltmarsh-full.json").read_bytes()
    book = parse_lorebook(data)
    book.entries[1].insertion_order = 55
    book.entries[1].keys = ["Tobin", "skipper"]
    book.entries.append(new_entry(book, content="New lore.", keys=["new"]))
    written = json.loads(export_world_info(book))
    original = json.loads(data)
    assert written["entries"]["1"] == {**original["entries"]["1"], "order": 55, "key": ["Tobin", "skipper"]}
    kept = {k: written["entries"][k] for k in original["entries"] if k != "1"}
    assert kept == {k: v for k, v in original["entries"].items() if k != "1"}
    (added,) = [e for k, e in written["entries"].items() if k not in original["entries"]]
    assert added["uid"] == 8 and added["content"] == "New lore." and added["position"] == 1  # after the character
    assert written["originalData"] == original["originalData"]


def test_book_settings_travel_in_world_info() -> None:
    book = parse_lorebook((FIXTURES / "saltmarsh.json").read_bytes())
    book.name, book.scan_depth, book.token_budget, book.recursive_scanning = "Saltmarsh", 6, 250, True
    again = parse_lorebook(export_world_info(book))
    assert (again.name, again.scan_depth, again.token_budget, again.recursive_scanning) == ("Saltmarsh", 6, 250, True)


def test_new_uids_do_not_collide() -> None:
    book = Lorebook.from_world_info({"entries": {"5": {"uid": 5, "key": ["a"], "content": "a"}}})
    card = Lorebook.from_character_book({"entries": [{"id": 5, "keys": ["b"], "content": "b", "insertion_order": 0}]})
    book.entries += [*card.entries, new_entry(book, content="c"), new_entry(book, content="d")]
    written = book.to_world_info()["entries"]
    assert list(written) == ["5", "6", "7", "8"] and [e["uid"] for e in written.values()] == [5, 6, 7, 8]


# --- bad files -----------------------------------------------------------------------------------


def j(value: Any) -> bytes:
    return json.dumps(value).encode()


def wi(**entry: Any) -> bytes:
    return j({"entries": {"0": {"uid": 0, "key": ["k"], "content": "c", **entry}}})


def card(**entry: Any) -> bytes:
    return j({"entries": [{"keys": ["k"], "content": "c", "insertion_order": 1, "extensions": {}, **entry}]})


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfe\x00garbage", "neither JSON text (UTF-8) nor a PNG card"),
        (b"{not json", "not valid JSON (Expecting property name"),
        (b'{"entries": {"0": {"key": [], "content": NaN}}}', "contains NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "a huge number or absurd nesting"),
        (j([1, 2]), "the JSON is a list, not an object with 'entries'"),
        (j({"name": "x"}), "it has no 'entries' (found 'name')"),
        (j({"name": "Ann", "first_mes": "Hi"}), "looks like a character card (import it on the Personas page)"),
        (j({"spec": "chara_card_v2", "data": {"name": "Ann"}}), "a character card without a lorebook"),
        (j({"spec": "lorebook_v3", "data": "x"}), "the book is text, not an object"),
        (j({"entries": "x"}), "its 'entries' is text, not an object of entries"),
        (j({"entries": {"0": 5}}), "entry '0': it is a number, not an object"),
        (wi(key="k"), "entry '0': 'key' must be a list of texts, not text"),
        (wi(key=["k", 3]), "entry '0': 'key' must be a list of texts"),
        (wi(keysecondary={"a": 1}), "'keysecondary' must be a list of texts, not an object"),
        (wi(content=["c"]), "'content' must be text, not a list"),
        (wi(order="100"), "'order' must be a number, not text"),
        (wi(order=True), "'order' must be a number, not true/false"),
        (wi(disable="no"), "'disable' must be true or false, not text"),
        (wi(caseSensitive=1), "'caseSensitive' must be true, false or null, not a number"),
        (wi(depth=-1), "'depth' must be a whole number of at least 0"),
        (wi(position=1.5), "'position' must be a whole number of at least 0"),
        (wi(scanDepth="4"), "'scanDepth' must be a whole number of at least 0, not text"),
        (card(insertion_order="x"), "entry 1: 'insertion_order' must be a number"),
        (j({"entries": [{"keys": ["k"], "insertion_order": 1}]}), "entry 1: it has no 'content'"),
        (card(position="middle"), "'position' must be 'before_char' or 'after_char'"),
        (card(extensions={"depth": "4"}), "entry 1: 'depth' must be a whole number of at least 0, not text"),
        (j({"entries": [], "scan_depth": "deep"}), "'scan_depth' must be a whole number of at least 0, not text"),
        (j({"entries": {str(i): {"key": [], "content": ""} for i in range(MAX_ENTRIES + 1)}}), "the limit is 20,000"),
        (wi(content="x" * (MAX_TEXT_CHARS + 1)), "characters long; the limit is 500,000"),
        (b" " * (MAX_CARD_BYTES + 1), "lorebooks are limited to 20 MB"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "the PNG"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else "",
)
def test_bad_files_are_refused_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(WorldInfoError) as refused:
        parse_lorebook(data, "bad.json")
    message = str(refused.value)
    assert message.startswith("bad.json is not a World Info file: ") and message.endswith(".")
    assert why in message


def test_a_png_card_without_a_book() -> None:
    with pytest.raises(WorldInfoError, match="a character card without a lorebook"):
        parse_lorebook(export_png(Persona(id="a-1", name="Ann")), "ann.png")


def test_a_book_too_large_for_a_card_is_refused() -> None:
    entries = {str(i): {"key": ["k"], "content": "é" * 450_000} for i in range(10)}  # 9 MB of UTF-8 as JSON
    with pytest.raises(WorldInfoError, match=r"bytes as JSON; the limit is 8,388,608 \(8 MB\), so that it fits"):
        parse_lorebook(json.dumps({"entries": entries}, ensure_ascii=False).encode())


def test_texts_are_cleaned() -> None:
    book = parse_lorebook(b'{"entries": {"0": {"key": ["k\\u0000"], "content": "a\\ud800b"}}}')
    assert book.entries[0].keys == ["k"] and book.entries[0].content == "a\ufffdb"


# --- fuzzed --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
WI_FIELDS = ["uid", "key", "keysecondary", "comment", "content", "constant", "selective", "selectiveLogic", "order",
             "position", "disable", "excludeRecursion", "preventRecursion", "probability", "useProbability",
             "depth", "scanDepth", "caseSensitive", "matchWholeWords", "role", "group", "displayIndex", "name",
             "priority"]  # fmt: skip
CARD_FIELDS = ["keys", "secondary_keys", "content", "insertion_order", "enabled", "case_sensitive", "position",
               "extensions", "constant", "selective", "priority", "id", "name", "comment", "use_regex"]  # fmt: skip
flags, maybe_flags, texts = st.booleans(), st.none() | st.booleans(), st.text(max_size=8)
good_values = {
    "uid": st.integers(0, 50), "id": st.integers(0, 50) | st.text(max_size=3), "comment": texts, "name": texts,
    "key": st.lists(texts, max_size=3), "keysecondary": st.lists(texts, max_size=2),
    "keys": st.lists(texts, max_size=3), "secondary_keys": st.lists(texts, max_size=2), "content": st.text(max_size=20),
    "order": st.integers(-100, 1000), "insertion_order": st.integers(-100, 1000) | st.floats(-1e6, 1e6),
    "position": st.integers(0, 8), "depth": st.integers(0, 10), "scanDepth": st.none() | st.integers(0, 10),
    "selectiveLogic": st.integers(0, 4), "probability": st.none() | st.integers(0, 100), "role": st.integers(0, 2),
    "constant": flags, "selective": flags, "disable": flags, "enabled": flags, "excludeRecursion": flags,
    "preventRecursion": flags, "useProbability": flags, "use_regex": flags, "caseSensitive": maybe_flags,
    "matchWholeWords": maybe_flags, "case_sensitive": maybe_flags, "group": texts, "displayIndex": st.integers(0, 9),
    "priority": st.none() | st.integers(-5, 5),
    "extensions": st.dictionaries(
        st.sampled_from(["position", "depth", "selectiveLogic", "scan_depth", "role", "group", "display_index", "x"]),
        st.integers(0, 6), max_size=4,
    ),
}  # fmt: skip


def entry_strategy(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Entries with their fields of the right types, and now and then one field of any value."""
    good = st.fixed_dictionaries({}, optional={n: good_values[n] for n in names})
    wild = st.dictionaries(st.sampled_from(names), json_values, max_size=1)
    return st.tuples(good, st.sampled_from([False, False, False, True]), wild).map(
        lambda t: {**t[0], **t[2]} if t[1] else t[0]
    )


lorebook_files = st.one_of(
    st.fixed_dictionaries({"entries": st.dictionaries(st.text(max_size=3), entry_strategy(WI_FIELDS), max_size=4)}),
    st.fixed_dictionaries({"entries": st.lists(entry_strategy(CARD_FIELDS), max_size=4)}),
    st.fixed_dictionaries({"spec": st.just("lorebook_v3"), "data": st.fixed_dictionaries(
        {"entries": st.lists(entry_strategy(CARD_FIELDS), max_size=3)},
        optional={"scan_depth": json_values, "token_budget": json_values, "recursive_scanning": json_values})}),
    st.dictionaries(st.sampled_from(["entries", "spec", "data", "name"]), json_values, max_size=3),
    json_values,
)  # fmt: skip


@fuzz(500, deadline=None)
@given(lorebook_files)
def test_fuzz_parse_refuses_or_round_trips(value: Any) -> None:
    """Anything shaped like a lorebook is read or refused with a WorldInfoError; what is read
    writes back to the same meaning (in both formats), and reads again as it was."""
    try:
        book = parse_lorebook(json.dumps(value).encode())
    except WorldInfoError as exc:
        assert str(exc).startswith("This file is not a World Info file: ")
        return
    again = parse_lorebook(export_world_info(book))
    assert [typed(e) for e in again.entries] == [typed(e) for e in book.entries]
    assert again.to_world_info() == book.to_world_info()
    as_card = Lorebook.from_character_book(book.to_character_book())
    assert [typed(e) for e in as_card.entries] == [typed(e) for e in book.entries]
    activate([book, as_card], ["k", "a b c"])  # usable


@fuzz(300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_bytes(data: bytes) -> None:
    """Any bytes: a lorebook or a WorldInfoError, never another exception."""
    try:
        book = parse_lorebook(data)
    except WorldInfoError:
        return
    assert isinstance(book, Lorebook)
