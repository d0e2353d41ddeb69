"""The Lorebooks page and the chat's lorebook choice through AppTest (real store, real model server),
and the entries table's helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from personas import Persona, PersonaLibrary
from personas.cards import export_json
from personas.lorebook_library import LorebookLibrary
from personas.worldinfo import AT_DEPTH, NOT_ANY, Lorebook, parse_lorebook
from tests.harness import new_app
from tests.test_personas_page import shown
from ui.lorebooks import from_rows, rows
from ui.safe_text import plain

FIXTURES = Path(__file__).parent / "fixtures" / "worldinfo"
SALTMARSH = (FIXTURES / "saltmarsh.json").read_bytes()


def lorebooks(data_dir: Path) -> LorebookLibrary:
    return LorebookLibrary(data_dir / "lorebooks")  # beside PERSONAS_PATH (see ui.resources.settings)


def personas(data_dir: Path) -> PersonaLibrary:
    return PersonaLibrary(data_dir / "personas")


def page() -> AppTest:
    at = new_app()
    at.switch_page("pages/lorebooks.py").run()
    assert not at.exception
    return at


def summary(at: AppTest) -> str:
    """The line about the lorebook shown in the editor (its entries, format, users)."""
    (line,) = [shown(c.value) for c in at.caption if " entries · " in shown(c.value) or " entry · " in shown(c.value)]
    return line


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="lorebook_file").set_value((name, data, "application/json"))
    return at.button(key="lorebook_import").click().run()


def test_import_a_world_info_file(app_env: Path) -> None:
    at = upload(page(), "Saltmarsh.json", SALTMARSH)
    assert not at.exception and not at.error
    assert shown(at.success[0].value) == "Imported Saltmarsh: 4 entries."
    (book,) = lorebooks(app_env).list()
    assert book.title == "Saltmarsh" and book.format == "world_info"  # named by its file, as in SillyTavern
    table = at.data_editor[0].value
    assert list(table["keys"])[1] == "ferry, tobin, boat"
    assert set(table["position"]) == {"before the character"}
    assert summary(at) == "4 entries · SillyTavern World Info · not attached to a persona"


def test_a_bad_file_is_refused_and_nothing_is_stored(app_env: Path) -> None:
    at = upload(page(), "notes.json", b'{"entries": {"0": {"key": "not a list", "content": "x"}}}')
    assert not at.exception
    assert shown(at.error[0].value) == (
        "notes.json is not a World Info file: entry '0': 'key' must be a list of texts, not text."
    )
    assert lorebooks(app_env).list() == []
    at = upload(at, "card.json", export_json(Persona(id="a-1", name="Ann")))
    assert "a character card without a lorebook" in shown(at.error[0].value)


def test_create_edit_and_save_entries_and_settings(app_env: Path) -> None:
    library = lorebooks(app_env)
    stored = library.add(parse_lorebook((FIXTURES / "saltmarsh-full.json").read_bytes()))
    at = page()
    key = f"lorebook_{stored.id}"
    at.session_state[f"{key}_entries"] = {
        "edited_rows": {1: {"content": "Tobin skippers the ferry.", "logic": "NOT ANY"},
                        4: {"position": "at a depth in the chat", "depth": 1}},
        "added_rows": [{"keys": "harbour, quay", "content": "The quay has one crane.", "comment": "Quay"}, {}],
        "deleted_rows": [6],
    }  # fmt: skip
    at.text_input(key=f"{key}_name").input("Saltmarsh")
    at.checkbox(key=f"{key}_recursive").check()
    at.button(key="save_lorebook").click().run()
    assert not at.exception and not at.error
    assert shown(at.success[0].value) == "Saved Saltmarsh."

    book = library.get(stored.id)
    assert (book.name, book.recursive_scanning, book.scan_depth) == ("Saltmarsh", True, None)
    labels = [e.label for e in book.entries]
    assert "Smugglers" not in labels and labels[-1] == "Quay"
    tobin = book.entries[1]
    assert (tobin.content, tobin.logic, tobin.secondary_keys) == (
        "Tobin skippers the ferry.", NOT_ANY, ["ferry", "boat"]
    )
    red = next(e for e in book.entries if e.label == "Red book")
    assert (red.position, red.depth) == (AT_DEPTH, 1)
    written = json.loads((app_env / "lorebooks" / f"{stored.id}.json").read_text())["book"]
    original = json.loads((FIXTURES / "saltmarsh-full.json").read_text())
    assert written["entries"]["7"] == original["entries"]["7"]  # untouched, unknown fields and all
    assert written["entries"]["1"] == {**original["entries"]["1"], "content": "Tobin skippers the ferry.",
                                       "selectiveLogic": NOT_ANY}  # fmt: skip
    assert written["originalData"] == original["originalData"]


def test_new_lorebook_attach_and_delete(app_env: Path) -> None:
    at = page()
    assert "No lorebooks yet" in at.info[0].value
    at.text_input(key="new_lorebook_name").input("Kestrel lore")
    at.button(key="create_lorebook").click().run()
    (book,) = lorebooks(app_env).list()
    assert book.title == "Kestrel lore" and book.entries == []
    at.multiselect(key=f"users_{book.id}").set_value(["mara-voss", "juniper-hale"]).run()
    assert sorted(lorebooks(app_env).personas_using(book.id)) == ["juniper-hale", "mara-voss"]
    assert summary(at) == "0 entries · SillyTavern World Info · used by Juniper Hale, Captain Mara Voss"
    assert at.button(key="delete_lorebook").disabled
    at.checkbox(key=f"delete_sure_{book.id}").check().run()
    at.button(key="delete_lorebook").click().run()
    assert lorebooks(app_env).list() == [] and lorebooks(app_env).persona_books("mara-voss") == []
    assert shown(at.success[0].value) == "Deleted Kestrel lore."


def test_a_cards_book_into_the_library_and_a_lorebook_into_a_card(app_env: Path) -> None:
    cards = personas(app_env)
    cards.seed_samples()
    card = Persona.from_card(json.loads((FIXTURES / "saltmarsh-card.json").read_text()))
    card.id = "wren-1"
    cards.save(card)
    at = page()
    at.selectbox(key="card_book_persona").set_value("wren-1")
    at.checkbox(key="card_book_move").check()
    at.button(key="card_book_copy").click().run()
    assert not at.exception and not at.error
    (book,) = lorebooks(app_env).list()
    assert book.title == "Saltmarsh" and book.to_character_book() == card.character_book
    assert cards.get("wren-1").character_book is None and lorebooks(app_env).persona_books("wren-1") == [book.id]

    at.selectbox(key=f"into_card_{book.id}").set_value("mara-voss")
    at.button(key="into_card").click().run()
    assert cards.get("mara-voss").character_book == card.character_book  # as the card had it


def test_the_chat_uses_an_attached_lorebook_and_shows_its_entries(app_env: Path) -> None:
    library = lorebooks(app_env)
    book = library.add(parse_lorebook(SALTMARSH, "Saltmarsh.json"))
    library.set_personas_using(book.id, ["mara-voss"])
    at = new_app()
    assert "also uses: " in shown(at.sidebar.caption[0].value)
    at.chat_input[0].set_value("Does Tobin still run the ferry?").run()
    assert not at.exception
    expander = at.chat_message[2].expander[0]
    assert "Lorebook: ferry / tobin / boat" in [shown(c.value) for c in expander.caption]


def test_a_lorebook_for_one_conversation(app_env: Path) -> None:
    library = lorebooks(app_env)
    book = library.add(parse_lorebook((FIXTURES / "saltmarsh-v3.json").read_bytes()))
    at = new_app()
    conversation = at.session_state["conversation_id"]
    picker = at.sidebar.selectbox(key=f"lorebook_for_{conversation}")
    assert picker.options == ["None", "Saltmarsh tides"]
    picker.set_value(book.id).run()
    assert library.conversation_book("mara-voss", conversation) == book.id
    at.chat_input[0].set_value("When is the spring tide?").run()
    assert "Lorebook: Tides, bell" in [shown(c.value) for c in at.chat_message[2].expander[0].caption]  # recursive
    at.sidebar.button[0].click().run()  # New conversation: no lorebook of its own
    assert at.sidebar.selectbox(key=f"lorebook_for_{at.session_state['conversation_id']}").value == ""


def test_deleting_a_persona_detaches_its_lorebooks_and_keeps_them(app_env: Path) -> None:
    library = lorebooks(app_env)
    book = library.add(parse_lorebook(SALTMARSH, "Saltmarsh.json"))
    library.set_personas_using(book.id, ["juniper-hale", "mara-voss"])
    library.set_conversation_book("juniper-hale", "c1", book.id)
    at = new_app()
    at.switch_page("pages/personas.py").run()
    at.button(key="delete_juniper-hale").click().run()
    at.button(key="confirm_delete").click().run()
    assert not at.exception
    assert library.personas_using(book.id) == ["mara-voss"] and library.conversation_book("juniper-hale", "c1") is None
    assert [b.id for b in library.list()] == [book.id]


def test_names_from_files_are_shown_as_text(app_env: Path) -> None:
    hostile = Lorebook.from_world_info({"name": "![x](http://tracker.invalid/a.png) **bold**", "entries": {}})
    lorebooks(app_env).add(hostile)
    at = page()
    title = "![x](http://tracker.invalid/a.png) **bold**"
    assert at.selectbox(key="lorebook_id").options == [title]  # select box options are plain text
    (warning,) = [m.value for m in at.markdown if "will be deleted" in m.value]
    assert warning.startswith(f"**{plain(title)}** will be deleted")  # Markdown: escaped (no image, no bold)


# --- the entries table -----------------------------------------------------------------------------


def test_the_table_round_trip_keeps_everything() -> None:
    for name in ("saltmarsh.json", "saltmarsh-full.json", "saltmarsh-card.json", "saltmarsh-v3.json"):
        book = parse_lorebook((FIXTURES / name).read_bytes())
        assert from_rows(book, rows(book).to_dict("records")) == book


def test_table_edits() -> None:
    book = parse_lorebook((FIXTURES / "saltmarsh-full.json").read_bytes())
    table = rows(book).to_dict("records")
    table[3] |= {"keys": "sheep, lamb", "case_sensitive": False, "scan_depth": 2, "probability": 30.0}
    table[1] |= {"secondary_keys": "", "comment": "Tobin the skipper"}
    table.append({"_row": pd.NA, "keys": "", "content": "  "})  # a blank new row: dropped
    table.append({"_row": pd.NA, "keys": "quay", "content": "The quay.", "secondary_keys": "crane"})
    edited = from_rows(book, table)
    sheep = edited.entries[3]
    assert (sheep.keys, sheep.case_sensitive, sheep.scan_depth, sheep.probability, sheep.use_probability) == (
        ["sheep", "lamb"], False, 2, 30, True
    )
    assert edited.entries[1].secondary_keys == [] and edited.entries[1].comment == "Tobin the skipper"
    new = edited.entries[-1]
    assert (new.keys, new.secondary_keys, new.selective, new.insertion_order, new.placement) == (
        ["quay"], ["crane"], True, 100, "after"
    )
    assert book.entries[3].keys == ["sheep"]  # the book itself is not changed


@pytest.mark.parametrize("column", ["depth", "insertion_order", "probability"])
def test_an_emptied_number_keeps_the_entrys_value(column: str) -> None:
    book = parse_lorebook((FIXTURES / "saltmarsh-full.json").read_bytes())
    table = rows(book).to_dict("records")
    table[4][column] = None
    assert from_rows(book, table) == book
