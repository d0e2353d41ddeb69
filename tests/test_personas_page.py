"""The Personas page through AppTest (real store, real model server), and its helpers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from chat.service import BACKGROUND_SOURCE
from memory import MemoryStore
from personas import Persona, PersonaLibrary
from personas.cards import export_json, export_png, parse_card
from personas.images import export_name
from personas.limits import MAX_NAME_CHARS, MAX_TEXT_CHARS
from personas.lorebook import MAX_ACTIVE_ENTRIES
from tests.harness import new_app, shown
from ui import persona_form
from ui.persona_form import lore_from_rows, lore_rows
from ui.safe_text import plain

BOOK = {
    "name": "Vell lore",
    "scan_depth": 3,
    "extensions": {"other_app": {"x": 1}},
    "entries": [
        {"id": 7, "keys": ["Vell", "river, town"], "content": "Vell is a river town.", "extensions": {"a": 1},
         "enabled": True, "insertion_order": 10, "comment": "Town", "position": "before_char", "use_regex": False},
        {"id": 8, "keys": ["owl"], "secondary_keys": ["night"], "content": "Owls took her first lute.",
         "extensions": {}, "enabled": True, "insertion_order": 20, "selective": True},
        "not an entry",
    ],
}  # fmt: skip


def png(size: tuple[int, int] = (40, 60), colour: tuple[int, int, int] = (30, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def zoe(**changes: object) -> Persona:
    fields: dict = {
        "id": "zoe-1",
        "name": "Zoë the Bard",
        "description": "A wandering bard.",
        "personality": "Cheerful.",
        "scenario": "An inn.",
        "first_mes": "Another traveller!",
        "mes_example": "<START>\n{{char}}: La la.",
        "alternate_greetings": ["Oh! Hello.", "Seen any owls?"],
        "tags": ["music"],
        "creator_notes": "For tests.",
        "background": "Zoë learned the lute from her grandmother in Vell.\n\nShe fears owls.",
        "character_book": BOOK,
    }
    return Persona(**(fields | changes))


@pytest.fixture
def data_dir(app_env: Path) -> Path:
    """The app's data directory (personas/, chroma/), with the app set up by ``app_env``."""
    return app_env


def personas_page() -> AppTest:
    at = new_app()
    at.switch_page("pages/personas.py").run()
    assert not at.exception
    return at


def library(data_dir: Path) -> PersonaLibrary:
    return PersonaLibrary(data_dir / "personas")


def store(data_dir: Path) -> MemoryStore:
    return MemoryStore.open(path=str(data_dir / "chroma"))


def by_name(data_dir: Path, name: str) -> Persona:
    (persona,) = [p for p in library(data_dir).list() if p.name == name]
    return persona


def import_file(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.file_uploader(key="import_file").set_value((name, data, mime))
    return at.button(key="import_submit").click().run()


def background_texts(data_dir: Path, persona_id: str) -> list[str]:
    return sorted(
        m.text for m in store(data_dir).list(persona_id, kind="background", limit=1000) if m.source == BACKGROUND_SOURCE
    )


# --- the list ---------------------------------------------------------------------------------


def test_lists_personas_with_thumbnails_summaries_and_actions(data_dir) -> None:
    at = personas_page()
    assert [shown(e.label) for e in at.expander] == ["Captain Mara Voss", "Dr. Elias Thorne", "Juniper Hale"]
    assert len(at.image) == 3  # a thumbnail each (initials when there is no avatar)
    mara = at.expander[0]
    assert "Captain of the cargo airship Kestrel" in mara.text[0].value
    assert [b.label for b in mara.button] == ["Chat with this persona", "Edit", "Delete", "Import chat"]
    assert [b.label for b in mara.download_button] == ["JSON card", "PNG card"]
    assert not at.error


def test_names_and_texts_from_cards_are_never_markdown_or_html(data_dir) -> None:
    name = "**Bold** <b>x</b> ![pixel](http://example.com/p.png)"
    library(data_dir).save(Persona(id="odd-1", name=name, description="<script>alert(1)</script> *not italic*"))
    at = personas_page()
    odd = next(e for e in at.expander if "Bold" in e.label)
    assert odd.label == plain(name) and "\\!\\[pixel\\]" in odd.label and "\\<b\\>" in odd.label
    assert odd.text[0].value == "<script>alert(1)</script> *not italic*"  # st.text: shown as written


def test_chat_with_this_persona_opens_the_chat(data_dir) -> None:
    at = personas_page()
    at.session_state["conversation_id"] = "old"
    at.button(key="chat_juniper-hale").click().run()
    assert at.session_state["persona_id"] == "juniper-hale"
    assert "conversation_id" not in at.session_state or at.session_state["conversation_id"] != "old"
    assert at.title[0].value == "Juniper Hale"


# --- create and edit --------------------------------------------------------------------------


def test_create_with_all_fields(data_dir) -> None:
    at = personas_page()
    at.text_input(key="new_persona_name").input("  Zoë the Bard ")
    at.file_uploader(key="new_persona_avatar").set_value(("zoe.jpg", png(), "image/jpeg"))
    values = {
        "description": "A wandering bard.",
        "first_mes": "Another traveller! Sit, {{user}}.",
        "background": "Zoë learned the lute from her grandmother in Vell.\n\nShe fears owls.",
        "personality": "Cheerful, curious.",
        "scenario": "A roadside inn.",
        "mes_example": "<START>\n{{user}}: Hi\n{{char}}: La la la.",
        "system_prompt": "Sing often.",
        "post_history_instructions": "Stay in rhyme.",
        "creator_notes": "Made in a test.",
    }
    for field, value in values.items():
        at.text_area(key=f"new_persona_{field}").input(value)
    at.text_area(key="new_persona_greeting_0").input("Oh! You startled me.\n\nSit down.")
    at.text_input(key="new_persona_tags").input("music, fantasy, , music")
    at.text_input(key="new_persona_creator").input("tester")
    at.text_input(key="new_persona_character_version").input("1.0")
    at.button(key="create_persona").click().run()

    assert not at.exception and not at.error
    assert shown(at.success[0].value) == "Created Zoë the Bard."
    persona = by_name(data_dir, "Zoë the Bard")
    assert persona.id.startswith("zoe-the-bard-")
    assert {field: getattr(persona, field) for field in values} == values
    assert persona.alternate_greetings == ["Oh! You startled me.\n\nSit down."]
    assert persona.tags == ["music", "fantasy"]
    assert (persona.creator, persona.character_version) == ("tester", "1.0")
    assert Image.open(library(data_dir).avatar_path(persona.id)).format == "PNG"
    owls = background_texts(data_dir, persona.id)
    assert owls and any("owls" in text for text in owls)
    assert "Zoë the Bard" in [e.label for e in at.expander]
    assert at.text_input(key="new_persona_name").value == ""  # an empty form for the next one
    assert at.text_area(key="new_persona_background").value == ""


def test_create_needs_a_name_and_keeps_what_was_typed(data_dir) -> None:
    at = personas_page()
    at.text_area(key="new_persona_description").input("Nameless.")
    at.button(key="create_persona").click().run()
    assert "needs a name" in at.error[0].value
    assert at.text_area(key="new_persona_description").value == "Nameless."
    assert len(library(data_dir).list()) == 3


def test_create_with_an_unusable_avatar_stores_nothing(data_dir) -> None:
    at = personas_page()
    at.text_input(key="new_persona_name").input("Broken")
    at.file_uploader(key="new_persona_avatar").set_value(("x.png", b"\x89PNG not really", "image/png"))
    at.button(key="create_persona").click().run()
    assert "not a PNG, JPEG or WebP image" in shown(at.error[0].value)
    assert len(library(data_dir).list()) == 3
    assert not list((data_dir / "personas").glob("*.png"))


def open_editor(at: AppTest, persona_id: str) -> AppTest:
    at.button(key=f"open_editor_{persona_id}").click().run()
    assert not at.exception
    return at


def test_edit_saves_every_field_and_keeps_the_rest(data_dir) -> None:
    library(data_dir).save(zoe())
    at = open_editor(personas_page(), "zoe-1")
    key = "edit_zoe-1"
    assert at.text_input(key=f"{key}_name").value == "Zoë the Bard"
    assert at.text_area(key=f"{key}_greeting_1").value == "Seen any owls?"
    at.text_input(key=f"{key}_name").input("Zoë the Lutenist")
    at.text_area(key=f"{key}_description").input("A famous lutenist.")
    at.text_area(key=f"{key}_greeting_0").input("")  # emptied: removed
    at.text_area(key=f"{key}_greeting_2").input("A new greeting.")  # the empty box: added
    at.text_input(key=f"{key}_tags").input("music, famous")
    at.button(key="save_persona").click().run()

    assert not at.exception and not at.error
    assert shown(at.toast[0].value) == "Saved Zoë the Lutenist."
    saved = library(data_dir).get("zoe-1")
    assert saved == zoe(
        name="Zoë the Lutenist",
        description="A famous lutenist.",
        alternate_greetings=["Seen any owls?", "A new greeting."],
        tags=["music", "famous"],
    )
    assert "personas_editing" not in at.session_state
    assert "Zoë the Lutenist" in [e.label for e in at.expander]


def test_edit_cancel_changes_nothing(data_dir) -> None:
    library(data_dir).save(zoe())
    at = open_editor(personas_page(), "zoe-1")
    at.text_area(key="edit_zoe-1_description").input("Changed.")
    at.button(key="cancel_edit").click().run()
    assert library(data_dir).get("zoe-1") == zoe()
    assert at.text_input(key="new_persona_name")  # back to the list


def test_edit_replaces_and_removes_the_avatar(data_dir) -> None:
    library(data_dir).save(zoe())
    at = open_editor(personas_page(), "zoe-1")
    at.file_uploader(key="edit_zoe-1_avatar").set_value(("a.webp", _webp(), "image/webp"))
    at.button(key="save_persona").click().run()
    avatar = library(data_dir).avatar("zoe-1")
    assert avatar and Image.open(io.BytesIO(avatar)).size == (16, 24)

    at = open_editor(at, "zoe-1")
    at.checkbox(key="edit_zoe-1_remove_avatar").check()
    at.button(key="save_persona").click().run()
    assert library(data_dir).avatar("zoe-1") is None


def _webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 24), (1, 2, 3)).save(buffer, "WEBP")
    return buffer.getvalue()


def test_background_is_ingested_and_replaced_when_edited(data_dir) -> None:
    lib, mem = library(data_dir), store(data_dir)
    lib.save(zoe())
    at = personas_page()
    mem.add_background("zoe-1", zoe().background, source=BACKGROUND_SOURCE)
    mem.add_background("zoe-1", "A note from another file about harps.", source="notes.md")
    mem.add_turn("zoe-1", "c1", "user", "I like owls.")
    assert any("fears owls" in t for t in background_texts(data_dir, "zoe-1"))

    at = open_editor(at, "zoe-1")
    new_background = "Zoë grew up in Harrowgate.\n\nShe loves the sea and sings of storms."
    at.text_area(key="edit_zoe-1_background").input(new_background)
    at.button(key="save_persona").click().run()
    assert not at.exception and not at.error

    texts = background_texts(data_dir, "zoe-1")
    assert texts and all("owls" not in t and "Vell" not in t for t in texts)  # the old chunks are gone
    assert any("Harrowgate" in t for t in texts)
    others = {m.text for m in mem.list("zoe-1", limit=1000) if m.source != BACKGROUND_SOURCE}
    assert others == {"A note from another file about harps.", "I like owls."}  # untouched
    assert lib.get("zoe-1").background == new_background

    at = open_editor(at, "zoe-1")
    at.text_area(key="edit_zoe-1_background").input("")
    at.button(key="save_persona").click().run()
    assert background_texts(data_dir, "zoe-1") == []


def test_lorebook_edit_is_saved_with_unknown_fields_kept(data_dir) -> None:
    library(data_dir).save(zoe())
    at = open_editor(personas_page(), "zoe-1")
    table = at.data_editor[0].value
    assert list(table["keys"]) == ["Vell, river, town", "owl"]
    assert list(table["content"]) == ["Vell is a river town.", "Owls took her first lute."]
    at.session_state["edit_zoe-1_lorebook"] = {
        "edited_rows": {0: {"content": "Vell is a river town of lutemakers.", "constant": True}},
        "added_rows": [{"keys": "harp, lyre", "content": "Harps are for show-offs."}, {}],
        "deleted_rows": [1],
    }
    at.button(key="save_persona").click().run()
    assert not at.exception and not at.error

    book = library(data_dir).get("zoe-1").character_book
    assert {k: book[k] for k in ("name", "scan_depth", "extensions")} == {
        k: BOOK[k] for k in ("name", "scan_depth", "extensions")
    }
    first, added, kept = book["entries"]
    assert first == {**BOOK["entries"][0], "content": "Vell is a river town of lutemakers.", "constant": True}
    assert first["keys"] == ["Vell", "river, town"]  # an untouched cell keeps the key with a comma
    assert added == {
        "id": 9, "comment": "", "keys": ["harp", "lyre"], "secondary_keys": [], "content": "Harps are for show-offs.",
        "enabled": True, "constant": False, "selective": False, "case_sensitive": False, "insertion_order": 100,
        "extensions": {},
    }  # fmt: skip
    assert kept == "not an entry"


# --- delete -----------------------------------------------------------------------------------


def test_delete_asks_first_then_removes_card_avatar_and_memories(data_dir) -> None:
    lib, mem = library(data_dir), store(data_dir)
    lib.save(zoe())
    lib.save_avatar("zoe-1", png())
    mem.add_background("zoe-1", zoe().background, source=BACKGROUND_SOURCE)
    mem.add_turn("zoe-1", "c1", "user", "Play me a song.")
    at = personas_page()
    at.session_state["persona_id"] = "zoe-1"
    at.session_state["conversation_id"] = "c1"

    count = mem.count("zoe-1")
    at.button(key="delete_zoe-1").click().run()
    (warning,) = [m.value for m in at.markdown if "will be deleted" in m.value]
    assert warning.startswith("**Zoë the Bard** will be deleted with everything they remember: ")
    assert f"**{count} memories** (the background and every conversation), and the avatar" in warning
    at.button(key="cancel_delete").click().run()
    assert lib.get("zoe-1") and mem.list("zoe-1")

    at.button(key="delete_zoe-1").click().run()
    at.button(key="confirm_delete").click().run()
    assert not at.exception
    assert "Deleted Zoë the Bard and" in shown(at.toast[0].value)
    assert "zoe-1" not in {p.id for p in lib.list()}
    assert lib.avatar("zoe-1") is None
    assert "zoe-1" not in mem.persona_ids()
    assert "persona_id" not in at.session_state and "conversation_id" not in at.session_state
    assert "Zoë the Bard" not in [e.label for e in at.expander]


# --- import and export ------------------------------------------------------------------------


def test_import_a_json_card(data_dir) -> None:
    at = import_file(personas_page(), "zoe.json", export_json(zoe()), "application/json")
    assert not at.exception and not at.error
    assert shown(at.success[0].value) == "Imported Zoë the Bard."
    imported = by_name(data_dir, "Zoë the Bard")
    assert imported.id != "zoe-1" and imported.id.startswith("zoe-the-bard-")
    assert imported == zoe(id=imported.id)
    assert library(data_dir).avatar(imported.id) is None
    assert any("fears owls" in t for t in background_texts(data_dir, imported.id))


def test_import_a_v1_card(data_dir) -> None:
    at = import_file(personas_page(), "old.json", b'{"name": "Old Timer", "description": "From 2023."}', "text/json")
    assert not at.error
    assert by_name(data_dir, "Old Timer").description == "From 2023."


def test_import_a_png_card_keeps_its_avatar(data_dir) -> None:
    card = export_png(zoe(), png((40, 60), (200, 10, 10)))
    at = import_file(personas_page(), "zoe.png", card, "image/png")
    assert not at.exception and not at.error
    imported = by_name(data_dir, "Zoë the Bard")
    assert imported.character_book == BOOK
    avatar = Image.open(io.BytesIO(library(data_dir).avatar(imported.id)))
    assert avatar.size == (40, 60) and avatar.convert("RGB").getpixel((5, 5)) == (200, 10, 10)
    assert "chara" not in avatar.info and "ccv3" not in avatar.info  # the stored avatar is only the image
    assert any(e.label == "Zoë the Bard" for e in at.expander)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.json", b'{"spec": "chara_card_v2", "data": ', "is not valid JSON"),
        ("nameless.json", b'{"spec": "chara_card_v2", "data": {"description": "x"}}', "it has no 'name'"),
        ("plain.png", png(), "a plain image with no card in it"),
        ("weird_*name*.json", b"[1, 2]", "not an object"),
    ],
)
def test_a_malformed_card_is_refused_and_nothing_stored(data_dir, name: str, data: bytes, message: str) -> None:
    at = import_file(personas_page(), name, data, "application/octet-stream")
    assert not at.exception
    assert message in shown(at.error[0].value)
    assert "is not a character card" in shown(at.error[0].value)
    assert len(library(data_dir).list()) == 3
    assert not list((data_dir / "personas").glob("*.png"))
    if "*" in name:
        assert at.error[0].value.startswith("weird\\_\\*name\\*\\.json ")  # the file name is not Markdown


def test_import_without_a_file_says_so(data_dir) -> None:
    at = personas_page()
    at.button(key="import_submit").click().run()
    assert "Choose a PNG, JSON or CHARX card first" in at.warning[0].value


def test_export_buttons_and_their_files(data_dir) -> None:
    lib = library(data_dir)
    lib.save(zoe())
    lib.save_avatar("zoe-1", png((40, 60)))
    at = personas_page()
    assert [b.label for b in at.download_button] == ["JSON card", "PNG card"]  # (no samples: not empty)
    assert at.download_button(key="export_png_zoe-1").proto.deferred_file_id  # made when clicked

    from_json = parse_card(persona_form.card_json(zoe()), "zoe.json")
    assert from_json.persona == zoe(id=from_json.persona.id)
    from_png = parse_card(persona_form.card_png(lib, zoe()), "zoe.png")
    assert from_png.persona == zoe(id=from_png.persona.id)
    assert Image.open(io.BytesIO(from_png.avatar_png)).size == (40, 60)
    without_avatar = parse_card(persona_form.card_png(lib, zoe(id="nobody-1")), "x.png")
    assert without_avatar.avatar_png  # a placeholder image
    assert export_name(zoe(name="Zoë / the: Bard?"), "png") == "Zoë  the Bard.png"
    assert export_name(zoe(name="???"), "json") == "zoe-1.json"


# --- helpers ----------------------------------------------------------------------------------


def test_lorebook_table_round_trip_keeps_everything() -> None:
    rows = lore_rows(BOOK).to_dict("records")
    assert lore_from_rows(BOOK, rows) == BOOK
    assert lore_from_rows(None, lore_rows(None).to_dict("records")) is None
    assert lore_from_rows(None, [{"_row": None, "keys": "", "content": "  "}]) is None  # a blank new row
    made = lore_from_rows(None, [{"_row": None, "keys": "a,b", "content": "C", "insertion_order": 2.0}])
    assert made == {"extensions": {}, "entries": [{**made["entries"][0], "keys": ["a", "b"], "insertion_order": 2}]}
    assert made["entries"][0]["id"] == 0


def test_lorebook_rows_survive_odd_entries() -> None:
    odd = {"entries": [{"content": 5, "keys": "notalist", "insertion_order": "x", "enabled": "yes"}]}
    rows = lore_rows(odd).to_dict("records")
    assert rows[0]["content"] == "" and rows[0]["keys"] == "" and rows[0]["enabled"] is True
    assert lore_from_rows(odd, rows) == odd  # untouched cells keep their odd values


# --- limits and cards that cannot fit ---------------------------------------------------------


def crowded_card(**data: object) -> bytes:
    """A card whose 20,000 always-on lorebook entries cannot all go into a prompt."""
    entries = [{"keys": [], "content": f"Fact {i}.", "constant": True, "enabled": True, "insertion_order": i,
                "extensions": {}} for i in range(20_000)]  # fmt: skip
    book = {"extensions": {}, "entries": entries}
    return export_json(Persona(id="crowd-1", name="Crowded", first_mes="Hello.", character_book=book, **data))


def test_the_form_takes_at_most_the_limits() -> None:
    at = personas_page()
    assert at.text_input(key="new_persona_name").proto.max_chars == MAX_NAME_CHARS
    assert at.text_area(key="new_persona_background").proto.max_chars == MAX_TEXT_CHARS


def test_a_card_too_large_to_export_is_not_created(data_dir) -> None:
    at = personas_page()
    at.text_input(key="new_persona_name").input("Huge")
    for field in ("description", "first_mes", "background", "personality", "scenario"):
        at.text_area(key=f"new_persona_{field}").input("😀" * MAX_TEXT_CHARS)  # 2 MB each in UTF-8
    at.button(key="create_persona").click().run()
    assert not at.exception
    assert "bytes as JSON; the limit is 8,388,608 (8 MB)" in shown(at.error[0].value)
    assert len(library(data_dir).list()) == 3  # nothing stored


def test_a_card_that_cannot_fit_is_imported_with_warnings(data_dir) -> None:
    at = import_file(personas_page(), "crowded.json", crowded_card(description="word " * 20_000), "application/json")
    assert not at.exception and not at.error
    assert shown(at.success[0].value) == "Imported Crowded."
    warnings = [shown(w.value) for w in at.warning]
    assert any("no message would fit" in w for w in warnings)
    assert any("of the lorebook's 20,000 always-on entries do not fit" in w for w in warnings)


def test_a_card_with_20000_always_on_entries_still_chats(data_dir) -> None:
    at = import_file(personas_page(), "crowded.json", crowded_card(), "application/json")
    assert any("always-on entries do not fit" in shown(w.value) for w in at.warning)
    chat = new_app()
    chat.sidebar.selectbox(key="_persona").set_value(by_name(data_dir, "Crowded").id).run()
    chat.chat_input[0].set_value("Hello there").run()
    assert not chat.exception and not chat.error
    reply = chat.chat_message[2]
    assert reply.name == "assistant" and reply.markdown[0].value.strip()
    (lore,) = [c.value for c in reply.expander[0].caption if c.value.startswith("Lorebook: ")]
    assert lore.count(",") == MAX_ACTIVE_ENTRIES - 1  # the first entries in order, up to the cap
