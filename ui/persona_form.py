"""The Personas page's parts: the Character Card V2 form, the lorebook table, avatars, the background's
ingest into memory, and card exports.

Everything a user or a card wrote is shown as text: as widget values, with ``st.text``, or through
``ui.safe_text.plain`` where Streamlit renders Markdown (titles, labels, alerts). Never as HTML.
The fields take at most what ``personas.limits`` allows, so that every persona exports as a card
that imports again.
"""

from __future__ import annotations

import colorsys
import hashlib
import inspect
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import streamlit as st

from memory import MemoryStore
from personas import Persona, PersonaLibrary
from personas.cards import export_json, export_png
from personas.limits import MAX_AVATAR_BYTES, MAX_CARD_BYTES, MAX_NAME_CHARS, MAX_TEXT_CHARS

#: The ``source`` of the background's memories, so that an edited background replaces exactly them.
BACKGROUND_SOURCE = "persona background"
AVATAR_TYPES = ("png", "jpg", "jpeg", "webp")
CARD_TYPES = ("png", "json", "charx")
MAX_CARD_MB = MAX_CARD_BYTES // 2**20
MAX_AVATAR_MB = MAX_AVATAR_BYTES // 2**20
DEFAULT_INSERTION_ORDER = 100  # SillyTavern's default for a new entry

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
        names.insert(3, f"Lorebook ({len(_entries(persona.character_book))})")
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


def split_list(text: str) -> list[str]:
    """Comma-separated items, stripped, blanks and repeats dropped."""
    return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


# --- the lorebook table -----------------------------------------------------------------------

LORE_COLUMNS = (
    "comment",
    "keys",
    "content",
    "secondary_keys",
    "enabled",
    "constant",
    "selective",
    "case_sensitive",
    "insertion_order",
)
_ROW = "_row"  # hidden column: the entry's position in the book, so unknown fields survive an edit
_FLAGS = MappingProxyType({"enabled": True, "constant": False, "selective": False, "case_sensitive": False})


def _entries(book: Any) -> list[Any]:
    return book["entries"] if isinstance(book, dict) and isinstance(book.get("entries"), list) else []


def _display(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a table row (every cell a plain value of its column's type)."""
    order = entry.get("insertion_order")
    return {
        "comment": _text(entry.get("comment")),
        "keys": _join(entry.get("keys")),
        "secondary_keys": _join(entry.get("secondary_keys")),
        "content": _text(entry.get("content")),
        "enabled": entry.get("enabled", True) is not False,  # as personas.lorebook reads it
        **{flag: entry.get(flag) is True for flag in ("constant", "selective", "case_sensitive")},
        "insertion_order": order if _is_number(order) else 0,
    }


def lore_rows(book: dict[str, Any] | None) -> pd.DataFrame:
    """The book's entries (those that are objects) as a table, with their positions in the hidden ``_row``."""
    rows = [{_ROW: i, **_display(e)} for i, e in enumerate(_entries(book)) if isinstance(e, dict)]
    table = pd.DataFrame(rows, columns=[_ROW, *LORE_COLUMNS])
    return table.astype(
        {_ROW: "Int64", **dict.fromkeys(_FLAGS, bool), "insertion_order": float}
        | {column: object for column in ("comment", "keys", "secondary_keys", "content")}
    )


def lore_from_rows(book: dict[str, Any] | None, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The book with its entries as edited in the table.

    A cell left as it was keeps the entry's value exactly (keys with commas in them, odd types); every
    field the table does not show is kept. New rows become entries with a new id; blank ones are
    dropped. Entries that are not objects are kept at the end. ``None`` when there was no book and
    there are no entries.
    """
    originals = _entries(book)
    numeric_ids = [e.get("id") for e in originals if isinstance(e, dict) and _is_number(e.get("id"))]
    next_id = int(max(numeric_ids, default=-1)) + 1
    entries = []
    for raw in rows:
        row = {k: _plain(v) for k, v in raw.items()}
        position = row.get(_ROW)
        original = originals[int(position)] if _is_index(position, originals) else None
        if not isinstance(original, dict):
            if not (_text(row.get("content")).strip() or _text(row.get("keys")).strip()):
                continue  # a blank new row
            original, next_id = _new_entry(next_id), next_id + 1
        entries.append(_merged(original, row))
    if book is None and not entries:
        return None
    kept = [e for e in originals if not isinstance(e, dict)]
    return {**(book or {"extensions": {}}), "entries": entries + kept}


def _new_entry(entry_id: int) -> dict[str, Any]:
    """A V2 entry with every field the table shows (the spec requires keys, content, enabled, order)."""
    return {
        "id": entry_id,
        "comment": "",
        "keys": [],
        "secondary_keys": [],
        "content": "",
        **_FLAGS,
        "insertion_order": DEFAULT_INSERTION_ORDER,
        "extensions": {},
    }


def _merged(original: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    entry, shown = dict(original), _display(original)
    for column in LORE_COLUMNS:
        value = row.get(column)
        if value == shown[column]:
            continue
        if column in ("keys", "secondary_keys"):
            entry[column] = split_list(_text(value))
        elif column in _FLAGS:
            entry[column] = _FLAGS[column] if value is None else bool(value)
        elif column == "insertion_order":
            number = value if _is_number(value) else DEFAULT_INSERTION_ORDER
            entry[column] = int(number) if float(number).is_integer() else number
        else:
            entry[column] = _text(value)
    return entry


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


def _join(keys: Any) -> str:
    return ", ".join(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _plain(value: Any) -> Any:
    """A table cell as a plain Python value: None for missing (NaN, NA), numpy scalars unwrapped."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_index(value: Any, items: list[Any]) -> bool:
    return _is_number(value) and float(value).is_integer() and 0 <= int(value) < len(items)


# --- the background in memory -----------------------------------------------------------------


def ingest_background(store: MemoryStore, persona_id: str, text: str, *, replace_old: bool = False) -> int:
    """Store the background as memories with a progress bar; returns how many chunks it makes.

    With ``replace_old``, the memories of the persona's previous background that the new text no
    longer has are deleted afterwards (chunks it still has keep their ids, so they are not re-embedded).
    """
    ids: list[str] = []
    if text.strip():
        bar = st.progress(0.0, text="Reading the background into memory…")
        kwargs: dict[str, Callable[[int, int], None]] = {}
        if "progress" in inspect.signature(store.add_background).parameters:
            kwargs["progress"] = lambda done, total: bar.progress(
                min(done / total, 1.0) if total else 1.0,
                text=f"Reading the background into memory… {done:,} of {total:,} chunks",
            )
        ids = store.add_background(persona_id, text, source=BACKGROUND_SOURCE, **kwargs)
        bar.progress(1.0, text=f"The background is in memory ({len(ids):,} chunks).")
    if replace_old:
        keep = set(ids)
        stale = [
            m.id
            for m in store.list(persona_id, kind="background", limit=100_000)
            if m.source == BACKGROUND_SOURCE and m.id not in keep
        ]
        if stale:
            with st.spinner(f"Forgetting {len(stale):,} chunks of the old background…"):
                for memory_id in stale:
                    store.delete(memory_id)
    return len(ids)


# --- avatars and exports ----------------------------------------------------------------------


def thumbnail(library: PersonaLibrary, persona: Persona, size: int = 96) -> bytes:
    """A square PNG of the avatar (a tile with the initial when there is none)."""
    return avatar_preview(library, persona.id, size, square=True) or _initial_tile(persona.name, size)


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
    return _fit(Path(path).read_bytes(), size, square)


def _fit(png: bytes, size: int, square: bool) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(png)) as img:
        if square:
            out = ImageOps.fit(img.convert("RGBA"), (size, size), centering=(0.5, 0.25))  # faces sit high
        else:
            out = img.convert("RGBA")
            out.thumbnail((size, size))
        buffer = io.BytesIO()
        out.save(buffer, "PNG")
        return buffer.getvalue()


@st.cache_data(max_entries=512, show_spinner=False)
def _initial_tile(name: str, size: int) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    hue = hashlib.sha256(name.encode("utf-8", "replace")).digest()[0] / 255
    colour = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.45, 0.6))
    img = Image.new("RGB", (size, size), colour)
    font = ImageFont.load_default(size=size // 2)
    anchor = "mm" if isinstance(font, ImageFont.FreeTypeFont) else None
    initial = (name.strip()[:1] or "?").upper()
    ImageDraw.Draw(img).text((size / 2, size / 2), initial, fill="white", font=font, anchor=anchor)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def export_name(persona: Persona, extension: str) -> str:
    """A file name from the persona's name (letters, digits, spaces, dashes), else its id."""
    stem = re.sub(r"[^\w\- ]+", "", persona.name).strip()[:80] or persona.id
    return f"{stem}.{extension}"


def card_json(persona: Persona) -> bytes:
    """The persona as a Character Card V2 JSON file."""
    return export_json(persona)


def card_png(library: PersonaLibrary, persona: Persona) -> bytes:
    """The persona as a PNG card: the avatar (or a placeholder) with the card in its text chunks."""
    return export_png(persona, library.avatar(persona.id))
