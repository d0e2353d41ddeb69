"""The Personas page's parts: the Character Card V2 form, the lorebook table, avatars (fitted by
``personas.images``, cached here), the background's ingest into memory, and card exports. The
lorebook table's rows come from and go back to ``personas.lore_table``.

Everything a user or a card wrote is shown as text: as widget values, with ``st.text``, or through
``ui.safe_text.plain`` where Streamlit renders Markdown (titles, labels, alerts). Never as HTML.
The fields take at most what ``personas.limits`` allows, so that every persona exports as a card
that imports again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from personas import Persona, PersonaLibrary, images, lore_table
from personas.cards import export_json, export_png
from personas.limits import MAX_AVATAR_BYTES, MAX_CARD_BYTES, MAX_NAME_CHARS, MAX_TEXT_CHARS
from personas.lore_table import DEFAULT_INSERTION_ORDER, FLAGS, LORE_COLUMNS, ROW, entries_of, split_list
from ui.lorebooks import plain_cell

if TYPE_CHECKING:
    from chat import ChatService

AVATAR_TYPES = ("png", "jpg", "jpeg", "webp")
CARD_TYPES = ("png", "json", "charx")
MAX_CARD_MB = MAX_CARD_BYTES // 2**20
MAX_AVATAR_MB = MAX_AVATAR_BYTES // 2**20

# --- the form ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextField:
    name: str  # the Persona attribute
    label: str
    help: str = ""
    height: int | None = None  # None: one line (st.text_input)


CARD_FIELDS = (
    TextField("description", "Description", "Who they are and what they look like. Always in the prompt.", 200),
    TextField("first_mes", "First message", "The greeting that opens every new conversation.", 150),
)
BACKGROUND_FIELD = TextField(
    "background",
    "Background",
    "Long lore: history, people, places. Split into chunks and stored as memories; only what is relevant "
    "to the current message goes into the prompt.",
    320,
)
DEFINITION_FIELDS = (
    TextField("personality", "Personality", "A short summary of their temperament.", 100),
    TextField("scenario", "Scenario", "Where and when the conversation takes place. {{user}} is you.", 100),
    TextField("mes_example", "Example dialogue", "How they speak. Start each example with <START>.", 150),
    TextField("system_prompt", "System prompt", "Replaces the app's default instructions when set.", 100),
    TextField(
        "post_history_instructions",
        "Post-history instructions",
        "Instructions sent after the persona (SillyTavern's jailbreak / author's note slot).",
        100,
    ),
)
CREATOR_FIELDS = (
    TextField("creator", "Creator"),
    TextField("character_version", "Version"),
    TextField("creator_notes", "Creator notes", "Notes for the people who use the card; never sent to the model.", 120),
)


@dataclass(frozen=True)
class FormInput:
    """What the persona form holds when it is submitted."""

    values: dict[str, Any]  # Persona attribute -> value
    avatar: bytes | None = None  # a newly uploaded image
    remove_avatar: bool = False


def persona_form(key: str, persona: Persona, avatar: bytes | None = None, *, lorebook: bool = False) -> FormInput:
    """The card's fields in tabs, starting from ``persona``'s values; call inside ``st.form``.

    Widget keys are ``f"{key}_{attribute}"``. ``avatar``: a preview of the current avatar, shown with a
    way to remove it. ``lorebook``: with the lorebook table.
    """
    names = ["Card", "Background", "Advanced definitions", "Creator"]
    if lorebook:
        names.insert(3, f"Lorebook ({len(entries_of(persona.character_book))})")
    tabs = st.tabs(names)
    values: dict[str, Any] = {}
    with tabs[0]:
        values["name"] = st.text_input(
            "Name", persona.name, key=f"{key}_name", max_chars=max(MAX_NAME_CHARS, len(persona.name))
        ).strip()
        upload, remove = _avatar_input(key, avatar)
        values |= _text_fields(key, persona, CARD_FIELDS)
    with tabs[1]:
        values |= _text_fields(key, persona, (BACKGROUND_FIELD,))
        if persona.background:
            st.caption(
                f"{len(persona.background.split()):,} words now. Saving a changed background replaces its memories."
            )
    with tabs[2]:
        values["alternate_greetings"] = _greetings(key, persona.alternate_greetings)
        values |= _text_fields(key, persona, DEFINITION_FIELDS)
    if lorebook:
        with tabs[3]:
            values["character_book"] = lorebook_editor(key, persona.character_book)
    with tabs[-1]:
        tags = st.text_input("Tags", ", ".join(persona.tags), key=f"{key}_tags", help="Comma-separated.")
        values["tags"] = persona.tags if tags == ", ".join(persona.tags) else split_list(tags)
        values |= _text_fields(key, persona, CREATOR_FIELDS)
    return FormInput(values, upload.getvalue() if upload else None, remove)


def apply_form(persona: Persona, form: FormInput) -> Persona:
    return replace(persona, **form.values)


def _text_fields(key: str, persona: Persona, fields: tuple[TextField, ...]) -> dict[str, str]:
    values = {}
    for field in fields:
        start = getattr(persona, field.name)
        widget_key = f"{key}_{field.name}"
        common = {"key": widget_key, "help": field.help or None, "max_chars": _max_chars(start)}
        if field.height is None:
            values[field.name] = st.text_input(field.label, start, **common)
        else:
            values[field.name] = st.text_area(field.label, start, height=field.height, **common)
    return values


def _max_chars(start: str) -> int:
    """The limit of a text box: Streamlit cuts longer values silently, so a text that is already
    longer (saved before the limit) keeps its length, and saving it says what is too long."""
    return max(MAX_TEXT_CHARS, len(start))


def _avatar_input(key: str, avatar: bytes | None) -> tuple[Any, bool]:
    """The avatar uploader (and, when there is one, the avatar and a box to remove it)."""
    remove = False
    with st.container(horizontal=True, vertical_alignment="center"):
        if avatar:
            st.image(avatar, width=80)
        upload = st.file_uploader(
            "Replace the avatar" if avatar else "Avatar",
            type=list(AVATAR_TYPES),
            key=f"{key}_avatar",
            max_upload_size=MAX_AVATAR_MB,
            help=f"PNG, JPEG or WebP, up to {MAX_AVATAR_MB} MB and 8192×8192 pixels. Stored as PNG.",
        )
    if avatar:
        remove = st.checkbox("Remove the avatar", key=f"{key}_remove_avatar")
    return upload, remove


def _greetings(key: str, greetings: list[str]) -> list[str]:
    """One box per alternate greeting, plus an empty one to add another; emptied boxes are dropped."""
    found = [
        st.text_area(
            f"Alternate greeting {i + 1}", text, height=100, key=f"{key}_greeting_{i}", max_chars=_max_chars(text)
        )
        for i, text in enumerate(greetings)
    ]
    found.append(
        st.text_area(
            "New alternate greeting",
            height=80,
            key=f"{key}_greeting_{len(greetings)}",
            placeholder="Another way to open a conversation",
            max_chars=MAX_TEXT_CHARS,
            help="Empty a greeting to remove it. Fill this box to add one; after saving, another empty box appears.",
        )
    )
    return [text for text in found if text.strip()]


# --- the lorebook table (rows <-> book: personas.lore_table) ------------------------------------


def lore_rows(book: dict[str, Any] | None) -> pd.DataFrame:
    """The book's entries as the table widget's data."""
    table = pd.DataFrame(lore_table.table_rows(book), columns=[ROW, *LORE_COLUMNS])
    return table.astype(
        {ROW: "Int64", **dict.fromkeys(FLAGS, bool), "insertion_order": float}
        | {column: object for column in ("comment", "keys", "secondary_keys", "content")}
    )


def lore_from_rows(book: dict[str, Any] | None, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The book as edited in the table (see ``personas.lore_table.book_from_rows``)."""
    return lore_table.book_from_rows(book, [{k: plain_cell(v) for k, v in row.items()} for row in rows])


def lorebook_editor(key: str, book: dict[str, Any] | None) -> dict[str, Any] | None:
    """The book's entries in an editable table; returns the book as edited."""
    st.caption(
        "An entry goes into the prompt when one of its keys appears in the last messages (a constant one always "
        "does; a selective one also needs a secondary key). Keys are comma-separated; lower order comes first, "
        "higher order wins when the budget is short. Every SillyTavern field, World Info files and lorebooks "
        "shared by several personas: the Lorebooks page."
    )
    if isinstance(book, dict) and isinstance(book.get("name"), str) and book["name"].strip():
        st.text(f"Book: {book['name']}")
    edited = st.data_editor(
        lore_rows(book),
        key=f"{key}_lorebook",
        num_rows="dynamic",
        hide_index=True,
        column_order=list(LORE_COLUMNS),
        column_config={
            "comment": st.column_config.TextColumn("Memo", help="A title for the entry; never sent to the model."),
            "keys": st.column_config.TextColumn("Keys", help="Comma-separated words that bring the entry in."),
            "secondary_keys": st.column_config.TextColumn("Secondary keys", help="Comma-separated; for selective."),
            "content": st.column_config.TextColumn("Content", width="large"),
            "enabled": st.column_config.CheckboxColumn("Enabled", default=True),
            "constant": st.column_config.CheckboxColumn("Constant", default=False, help="Always in the prompt."),
            "selective": st.column_config.CheckboxColumn(
                "Selective", default=False, help="Needs a key and a secondary key."
            ),
            "case_sensitive": st.column_config.CheckboxColumn("Case-sensitive", default=False),
            "insertion_order": st.column_config.NumberColumn("Order", default=DEFAULT_INSERTION_ORDER, step=1),
        },
        width="stretch",
    )
    return lore_from_rows(book, edited.to_dict("records"))


# --- the background in memory -----------------------------------------------------------------


def ingest_background(service: ChatService, persona: Persona, *, replace_old: bool = False) -> int:
    """Store the persona's background as memories (:meth:`chat.ChatService.ingest_background`),
    with a progress bar; returns how many sentences it is."""
    if not persona.background.strip():
        service.ingest_background(persona, replace_old=replace_old)
        return 0
    bar = st.progress(0.0, text="Reading the background into memory…")

    def shown(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0,
                     text=f"Reading the background into memory… {done:,} of {total:,} sentences")  # fmt: skip

    ids = service.ingest_background(persona, shown, replace_old=replace_old)
    bar.progress(1.0, text=f"The background is in memory ({len(ids):,} sentences).")
    return len(ids)


# --- avatars and exports ----------------------------------------------------------------------


def thumbnail(library: PersonaLibrary, persona: Persona, size: int = 96) -> bytes:
    """A square PNG of the avatar (a tile with the initial when there is none)."""
    return avatar_preview(library, persona.id, size, square=True) or _initial_tile(persona.name, size)


@st.cache_data(max_entries=512, show_spinner=False)
def _initial_tile(name: str, size: int) -> bytes:
    return images.initial_tile(name, size)


def avatar_preview(library: PersonaLibrary, persona_id: str, box: int = 320, square: bool = False) -> bytes | None:
    """The avatar fitted in ``box``×``box`` pixels (cached), so that the browser is not sent an 8192-pixel
    image; None when there is no avatar."""
    path = library.avatar_path(persona_id)
    try:
        return _resized(str(path), path.stat().st_mtime_ns, box, square) if path else None
    except (OSError, ValueError):  # deleted meanwhile, or not an image after all
        return None


@st.cache_data(max_entries=512, show_spinner=False)
def _resized(path: str, mtime_ns: int, size: int, square: bool) -> bytes:
    """Cached per file version (``mtime_ns`` is part of the key)."""
    return images.fit(Path(path).read_bytes(), size, square)


def card_json(persona: Persona) -> bytes:
    """The persona as a Character Card V2 JSON file."""
    return export_json(persona)


def card_png(library: PersonaLibrary, persona: Persona) -> bytes:
    """The persona as a PNG card: the avatar (or a placeholder) with the card in its text chunks."""
    return export_png(persona, library.avatar(persona.id))
