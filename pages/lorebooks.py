"""Lorebooks (SillyTavern World Info): list, import, export, create, edit, delete, and attach them to
personas; copy a card's own lorebook into the library, or write a lorebook into a card. The table
and its helpers are in ``ui.lorebooks``; the files and attachments in ``personas.lorebook_library``."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from personas import Persona, limits
from personas.worldinfo import (
    Lorebook,
    WorldInfoError,
    card_books,
    export_lorebook_v3,
    export_world_info,
    parse_lorebook,
)
from personas.worldinfo_table import with_settings
from ui import lorebooks as editor
from ui import navigation, resources
from ui.safe_text import plain
from ui.state import Session, session

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile  # st.file_uploader's files

navigation.require_app_frame()

CHOSEN = "lorebook_id"  # session state: the lorebook shown in the editor
FILE_TYPES = ("json", "png")
MAX_FILE_MB = limits.MAX_CARD_BYTES // 2**20

app = resources.settings()
library = resources.lorebook_library(app.lorebooks_path)
personas = resources.persona_library(app.personas_path)


def main() -> None:
    st.title("Lorebooks")
    flash()
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(
            "World Info: entries whose keys come up in the chat go into the prompt. Import SillyTavern World Info "
            "files and Character Card lorebooks, attach them to personas or to one conversation (in the chat's "
            "sidebar)."
        )
        with st.popover("Import", icon=":material/upload_file:"):
            import_form()
        with st.popover("New lorebook", icon=":material/add:"):
            create_form()
        with st.popover("From a persona's card", icon=":material/theater_comedy:"):
            from_card_form()
    for problem in library.unreadable():
        st.warning(plain(f"Not a lorebook this app can read: {problem}"), icon=":material/warning:")
    books = {b.id: b for b in library.list()}
    if not books:
        st.info("No lorebooks yet: import a SillyTavern World Info file (JSON), a Character Card lorebook or a card "
                "with one, or create one.", icon=":material/info:")  # fmt: skip
        return
    if st.session_state.get(CHOSEN) not in books:
        st.session_state[CHOSEN] = next(iter(books))
    st.selectbox("Lorebook", list(books), key=CHOSEN, format_func=lambda i: books[i].title)
    book_editor(books[st.session_state[CHOSEN]])


def flash() -> None:
    if message := session.take(Session.lorebooks_flash):
        st.success(message, icon=":material/check_circle:")


def _flash(message: str, chosen: str | None = None) -> None:
    session.lorebooks_flash = plain(message)
    if chosen:
        st.session_state[CHOSEN] = chosen


def persona_names() -> dict[str, str]:
    return {p.id: p.name for p in personas.list()}


# --- import, create, copy from a card ----------------------------------------------------------


def import_form() -> None:
    with st.form("import_lorebook", clear_on_submit=True, enter_to_submit=False, border=False):
        upload = st.file_uploader(
            "Lorebook file", type=list(FILE_TYPES), key="lorebook_file", max_upload_size=MAX_FILE_MB,
            help="A SillyTavern World Info file (worlds/*.json), a Character Card V3 lorebook, a character_book "
            "JSON, or a character card (JSON or PNG) with a lorebook in it.",
        )  # fmt: skip
        submitted = st.form_submit_button("Import", icon=":material/upload_file:", type="primary",
                                          key="lorebook_import")  # fmt: skip
    if submitted and upload is None:
        st.warning("Choose a file first.", icon=":material/warning:")
    elif submitted and upload is not None:
        import_file(upload)


def import_file(upload: UploadedFile) -> None:
    """Import a lorebook file: nothing is stored when it is refused."""
    try:
        book = parse_lorebook(upload.getvalue(), upload.name)
    except WorldInfoError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
        return
    if not book.name.strip():  # World Info files are named by their file in SillyTavern
        book = replace(book, name=re.sub(r"\.(json|png)$", "", upload.name, flags=re.IGNORECASE))
    stored = library.add(book)
    _flash(f"Imported {stored.title}: {len(stored.entries):,} entries.", stored.id)
    st.rerun()


def create_form() -> None:
    with st.form("new_lorebook", clear_on_submit=True, enter_to_submit=False, border=False):
        name = st.text_input("Name", key="new_lorebook_name", max_chars=200)
        submitted = st.form_submit_button("Create", icon=":material/add:", type="primary", key="create_lorebook")
    if submitted:
        if not name.strip():
            st.error("A lorebook needs a name.", icon=":material/error:")
            return
        stored = library.add(Lorebook(name=name.strip()))
        _flash(f"Created {stored.title}. Add entries in the table below.", stored.id)
        st.rerun()


def from_card_form() -> None:
    """Copy a persona's own (card) lorebook into the library."""
    with_books = {p.id: p for p in personas.list() if isinstance(p.character_book, dict)}
    if not with_books:
        st.caption("No persona's card has a lorebook.")
        return
    chosen = st.selectbox("Persona", list(with_books), key="card_book_persona",
                          format_func=lambda i: with_books[i].name)  # fmt: skip
    move = st.checkbox(
        "Use the copy instead of the card's", key="card_book_move",
        help="Takes the lorebook out of the card and attaches the copy to the persona, so that it is not used "
        "twice and can be shared with other personas.",
    )  # fmt: skip
    if st.button("Copy into the library", key="card_book_copy", icon=":material/library_add:"):
        copy_from_card(with_books[chosen], move)


def copy_from_card(persona: Persona, move: bool) -> None:
    """Copy the card's book as the chat reads it: entries it skips (malformed) are left out, and said."""
    (book,) = card_books(persona.character_book) or [Lorebook()]
    raw_entries = (persona.character_book or {}).get("entries")
    skipped = len(raw_entries) - len(book.entries) if isinstance(raw_entries, list) else 0
    if not book.name.strip():
        book = replace(book, name=f"{persona.name}'s lorebook")
    try:
        stored = library.add(book)
    except WorldInfoError as exc:
        st.error(plain(f"{persona.name}'s lorebook cannot be copied: {exc}."), icon=":material/error:")
        return
    if move:
        personas.save(replace(persona, character_book=None))
        library.set_persona_books(persona.id, [*library.persona_books(persona.id), stored.id])
    where = " and attached it instead of the card's" if move else ""
    left_out = f" {skipped:,} malformed entries were left out." if skipped else ""
    _flash(f"Copied {persona.name}'s lorebook into the library{where}.{left_out}", stored.id)
    st.rerun()


# --- one lorebook ------------------------------------------------------------------------------


def book_editor(book: Lorebook) -> None:
    names = persona_names()
    users = [names[p] for p in library.personas_using(book.id) if p in names]
    st.caption(editor.summary(book, users))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.download_button(
            "World Info JSON", partial(export_world_info, book), file_name=export_name(book), key="export_world_info",
            mime="application/json", icon=":material/download:", on_click="ignore",
            help="SillyTavern's World Info format (put it in SillyTavern's worlds folder, or import it there).",
        )  # fmt: skip
        st.download_button(
            "Lorebook V3 JSON", partial(export_lorebook_v3, book), file_name=export_name(book, "-v3"),
            key="export_lorebook_v3", mime="application/json", icon=":material/download:", on_click="ignore",
            help="A Character Card V3 lorebook: the same entries as a card's character_book.",
        )  # fmt: skip
        with st.popover("Into a persona's card", icon=":material/theater_comedy:"):
            into_card_form(book, names)
        with st.popover("Delete", icon=":material/delete:"):
            delete_form(book)
    st.session_state[f"users_{book.id}"] = [p for p in library.personas_using(book.id) if p in names]
    st.multiselect(
        "Used by", list(names), format_func=names.get, key=f"users_{book.id}", on_change=_set_users, args=(book.id,),
        help="Every conversation with these personas draws on this lorebook (after a lorebook chosen for the "
        "conversation, before the card's own).",
    )  # fmt: skip
    key = f"lorebook_{book.id}"
    with st.form(key, enter_to_submit=False):
        chosen = editor.settings_fields(key, book)
        st.caption(
            "An entry comes into play when one of its keys is in the latest messages (an Always entry always "
            "does). Keys are comma-separated. Where it goes: see Position. Changes apply from the next message."
        )
        edited = editor.entries_table(f"{key}_entries", book)
        saved = st.form_submit_button("Save lorebook", icon=":material/save:", type="primary", key="save_lorebook")
    if saved:
        save(with_settings(edited, chosen))


def _set_users(book_id: str) -> None:
    library.set_personas_using(book_id, st.session_state.get(f"users_{book_id}", []))


def save(book: Lorebook) -> None:
    try:
        stored = library.save(book)
    except WorldInfoError as exc:
        st.error(plain(f"Not saved: {exc}."), icon=":material/error:")
        return
    _flash(f"Saved {stored.title}.")
    st.rerun()


def into_card_form(book: Lorebook, names: dict[str, str]) -> None:
    """Write the lorebook into a persona's card as its character_book (so that it travels with the card)."""
    if not names:
        st.caption("No personas yet.")
        return
    chosen = st.selectbox("Persona", list(names), key=f"into_card_{book.id}", format_func=names.get)
    st.caption("Replaces the card's own lorebook, if it has one. Exported cards then carry it.")
    if st.button("Write into the card", key="into_card", icon=":material/save:"):
        persona = replace(personas.get(chosen), character_book=book.to_character_book())
        try:
            limits.check(persona)
        except limits.LimitError as exc:
            st.error(plain(str(exc)), icon=":material/error:")
            return
        personas.save(persona)
        _flash(f"{book.title} is now {persona.name}'s own lorebook (in the card).")
        st.rerun()


def delete_form(book: Lorebook) -> None:
    st.markdown(f"**{plain(book.title)}** will be deleted and detached from every persona and conversation.")
    sure = st.checkbox("Yes, delete this lorebook", key=f"delete_sure_{book.id}")
    if st.button("Delete lorebook", key="delete_lorebook", icon=":material/delete_forever:", disabled=not sure):
        library.delete(book.id)
        st.session_state.pop(CHOSEN, None)
        _flash(f"Deleted {book.title}.")
        st.rerun()


def export_name(book: Lorebook, suffix: str = "") -> str:
    """A file name from the book's title (letters, digits, spaces, dashes), else its id."""
    stem = re.sub(r"[^\w\- ]+", "", book.title).strip()[:80] or book.id
    return f"{stem}{suffix}.json"


main()
