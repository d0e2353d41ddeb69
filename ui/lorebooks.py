"""The Lorebooks page's parts: the entries table (every field of an entry, one row each), the book's
settings, and the chat sidebar's choice of a lorebook for the conversation.

Everything a file wrote is shown as text: as widget values and table cells, or through
``ui.safe_text.plain`` where Streamlit renders Markdown. A cell left as it was keeps the entry's
value exactly (keys with commas in them, fields the table does not show, unknown fields): the
entries are changed with ``dataclasses.replace``, never in place (the library shares its books).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import streamlit as st

from personas import Persona
from personas.lore_table import is_index, is_number, split_list, text_of
from personas.lorebook_library import LorebookLibrary
from personas.worldinfo import (
    AFTER_CHAR,
    AND_ANY,
    AT_DEPTH,
    DEFAULT_DEPTH,
    DEFAULT_ORDER,
    LOGICS,
    POSITIONS,
    Lorebook,
    LoreEntry,
    new_entry,
)
from ui.safe_text import plain

if TYPE_CHECKING:  # pandas takes 0.3 s to import: the chat page, which needs no table, never does
    import pandas as pd

_ROW = "_row"  # hidden column: the entry's place in the book
#: The table's columns: (column, LoreEntry attribute, header, help).
COLUMNS = (
    ("comment", "comment", "Title", "A name for the entry (SillyTavern's memo); never sent to the model."),
    ("keys", "keys", "Keys", "Comma-separated words that bring the entry in when they come up in the chat."),
    ("content", "content", "Content", "What goes into the prompt."),
    ("secondary_keys", "secondary_keys", "Secondary keys", "Comma-separated; they count when Selective is on."),
    ("selective", "selective", "Selective", "The secondary keys must agree too, as Logic says."),
    ("logic", "logic", "Logic", "AND ANY: one secondary key too; AND ALL: all; NOT ANY: none; NOT ALL: not all."),
    ("constant", "constant", "Always", "Always in the prompt (within the budget), keys or not."),
    ("enabled", "enabled", "Enabled", ""),
    ("position", "position", "Position", "Before the character: in the system prompt (the server reads the whole "
     "chat again when it comes or goes). After the character: with the message (free). At a depth: in the "
     "chat, Depth messages from its end."),
    ("depth", "depth", "Depth", "For 'at a depth': messages from the end of the chat (0: after the new message)."),
    ("insertion_order", "insertion_order", "Order", "Lower comes first in the prompt; higher wins when the budget "
     "is short."),
    ("case_sensitive", "case_sensitive", "Case-sensitive", ""),
    ("match_whole_words", "match_whole_words", "Whole words", "'cat' does not match 'category'."),
    ("scan_depth", "scan_depth", "Scan depth", "How many recent messages are searched for the keys; empty: the "
     "book's."),
    ("exclude_recursion", "exclude_recursion", "No recursion in", "Not brought in by other entries' content."),
    ("prevent_recursion", "prevent_recursion", "No recursion out", "Its content brings in no other entries."),
    ("probability", "probability", "Probability %", "Below 100: comes in only that often (the same for the same "
     "message)."),
)  # fmt: skip
#: The checkbox columns and what an empty cell means.
_FLAGS = MappingProxyType(
    {"selective": True, "constant": False, "enabled": True, "case_sensitive": False, "match_whole_words": False,
     "exclude_recursion": False, "prevent_recursion": False}
)  # fmt: skip
_TEXTS = ("comment", "keys", "content", "secondary_keys", "logic", "position")
#: Numbers whose cell emptied keeps the entry's value (an empty scan depth means "the book's").
_KEEP_WHEN_CLEARED = ("depth", "insertion_order", "probability")


# --- the entries table ------------------------------------------------------------------------


def display(entry: LoreEntry) -> dict[str, Any]:
    """An entry as a table row: every cell a plain value of its column's type."""
    return {
        "comment": entry.comment or entry.name,
        "keys": ", ".join(entry.keys),
        "content": entry.content,
        "secondary_keys": ", ".join(entry.secondary_keys),
        "selective": entry.selective,
        "logic": LOGICS.get(entry.logic, LOGICS[AND_ANY]),
        "constant": entry.constant,
        "enabled": entry.enabled,
        "position": POSITIONS.get(entry.position, POSITIONS[AFTER_CHAR]),
        "depth": entry.depth,
        "insertion_order": float(entry.insertion_order) if abs(entry.insertion_order) < 1e15 else 0.0,
        "case_sensitive": entry.case_sensitive is True,
        "match_whole_words": entry.match_whole_words is True,
        "scan_depth": entry.scan_depth,
        "exclude_recursion": entry.exclude_recursion,
        "prevent_recursion": entry.prevent_recursion,
        "probability": float(entry.probability if entry.use_probability else 100),
    }


def rows(book: Lorebook) -> pd.DataFrame:
    """The book's entries as a table, with their places in the hidden ``_row``."""
    import pandas as pd

    table = pd.DataFrame(
        [{_ROW: i, **display(e)} for i, e in enumerate(book.entries)], columns=[_ROW, *(c for c, *_ in COLUMNS)]
    )
    return table.astype(
        {_ROW: "Int64", **dict.fromkeys(_FLAGS, bool), **dict.fromkeys(_TEXTS, object)}
        | {"depth": "Int64", "scan_depth": "Int64", "insertion_order": float, "probability": float}
    )


def from_rows(book: Lorebook, edited: list[dict[str, Any]]) -> Lorebook:
    """The book with its entries as edited in the table (a new object; ``book`` is not changed).

    New rows become entries (with SillyTavern's defaults for what they leave empty); blank new rows
    are dropped; deleted rows are gone.
    """
    entries = []
    for raw in edited:
        row = {k: plain_cell(v) for k, v in raw.items()}
        place = row.get(_ROW)
        if is_index(place, book.entries):
            entries.append(_merged(book.entries[int(place)], row))
        elif text_of(row.get("content")).strip() or text_of(row.get("keys")).strip():
            entries.append(_merged(new_entry(book), row))
    return replace(book, entries=entries)


def _merged(entry: LoreEntry, row: dict[str, Any]) -> LoreEntry:
    """The entry with the cells that differ from how it is shown."""
    shown, changes = display(entry), {}
    for column, attribute, *_ in COLUMNS:
        value = row.get(column)
        if value == shown[column] or (value is None and column in _KEEP_WHEN_CLEARED):
            continue
        if column in ("keys", "secondary_keys"):
            changes[attribute] = split_list(text_of(value))
        elif column in _FLAGS:
            changes[attribute] = _FLAGS[column] if value is None else bool(value)
        elif column == "logic":
            changes["logic"] = next((n for n, label in LOGICS.items() if label == value), AND_ANY)
        elif column == "position":
            changes["position"] = next((n for n, label in POSITIONS.items() if label == value), AFTER_CHAR)
        elif column == "comment":  # the title: the entry's name when that is what names it
            changes["name" if entry.name and not entry.comment else "comment"] = text_of(value)
        elif column == "content":
            changes["content"] = text_of(value)
        elif column == "scan_depth":
            changes["scan_depth"] = None if value is None else max(0, int(value))
        elif column == "depth":
            changes["depth"] = max(0, int(value)) if is_number(value) else DEFAULT_DEPTH
        elif column == "insertion_order":
            number = value if is_number(value) else DEFAULT_ORDER
            changes["insertion_order"] = int(number) if float(number).is_integer() else number
        elif column == "probability":
            number = min(100, max(0, value)) if is_number(value) else 100
            changes |= {"probability": int(number) if float(number).is_integer() else number}
            if number < 100:
                changes["use_probability"] = True
    if changes.get("secondary_keys") and not entry.secondary_keys and "selective" not in changes:
        changes["selective"] = True  # keys typed into an empty secondary list are meant to count
    return replace(entry, **changes) if changes else entry


def entries_table(key: str, book: Lorebook) -> Lorebook:
    """The book's entries in an editable table; returns the book as edited."""
    config: dict[str, Any] = {}
    for column, _, header, help_text in COLUMNS:
        common = {"help": help_text or None}
        if column in _FLAGS:
            config[column] = st.column_config.CheckboxColumn(header, default=_FLAGS[column], **common)
        elif column == "logic":
            config[column] = st.column_config.SelectboxColumn(header, options=list(LOGICS.values()),
                                                              default=LOGICS[AND_ANY], **common)  # fmt: skip
        elif column == "position":
            config[column] = st.column_config.SelectboxColumn(header, options=list(POSITIONS.values()),
                                                              default=POSITIONS[AFTER_CHAR], **common)  # fmt: skip
        elif column in ("depth", "scan_depth"):
            default = DEFAULT_DEPTH if column == "depth" else None
            config[column] = st.column_config.NumberColumn(header, min_value=0, step=1, default=default, **common)
        elif column == "insertion_order":
            config[column] = st.column_config.NumberColumn(header, step=1, default=DEFAULT_ORDER, **common)
        elif column == "probability":
            config[column] = st.column_config.NumberColumn(header, min_value=0, max_value=100, step=1, default=100,
                                                           **common)  # fmt: skip
        else:
            width = "large" if column == "content" else "medium"
            config[column] = st.column_config.TextColumn(header, width=width, **common)
    edited = st.data_editor(
        rows(book), key=key, num_rows="dynamic", hide_index=True, column_order=[c for c, *_ in COLUMNS],
        column_config=config, width="stretch",
    )  # fmt: skip
    return from_rows(book, edited.to_dict("records"))


# --- the book's settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    name: str
    description: str
    scan_depth: int | None
    token_budget: int | None
    recursive: bool


def settings_fields(key: str, book: Lorebook) -> Settings:
    """The book's own settings (name, scan depth, budget, recursion); call inside a form."""
    with st.container(horizontal=True):
        name = st.text_input("Name", book.name, key=f"{key}_name", max_chars=max(200, len(book.name)))
        scan_depth = st.number_input(
            "Scan depth", 0, 1000, book.scan_depth, 1, key=f"{key}_scan_depth", placeholder="4",
            help="How many of the latest messages are searched for keys (an entry may say otherwise). Empty: 4.",
        )  # fmt: skip
        budget = st.number_input(
            "Token budget", 1, 1_000_000, _whole(book.token_budget), 50, key=f"{key}_token_budget",
            placeholder="500",
            help="The most this book's entries take in a prompt, higher order first. Empty: 500. All books "
            "together never take more than the context window leaves, nor more than 32 entries.",
        )  # fmt: skip
    recursive = st.checkbox(
        "Recursive scanning", book.recursive_scanning is True, key=f"{key}_recursive",
        help="Entries brought in can bring in others through their content (up to 3 rounds).",
    )  # fmt: skip
    description = st.text_area("Description", book.description, key=f"{key}_description", height=68,
                               help="Notes about the book; never sent to the model.")  # fmt: skip
    return Settings(name.strip(), description, scan_depth, budget, recursive)


def with_settings(book: Lorebook, chosen: Settings) -> Lorebook:
    """The book with the settings chosen (a setting left as it was keeps its value exactly)."""
    changes: dict[str, Any] = {}
    if chosen.name != book.name.strip():
        changes["name"] = chosen.name
    if chosen.description != book.description:
        changes["description"] = chosen.description
    if chosen.scan_depth != book.scan_depth:
        changes["scan_depth"] = chosen.scan_depth
    if chosen.token_budget != _whole(book.token_budget):
        changes["token_budget"] = chosen.token_budget
    if chosen.recursive != (book.recursive_scanning is True):
        changes["recursive_scanning"] = chosen.recursive
    return replace(book, **changes) if changes else book


def summary(book: Lorebook, users: list[str]) -> str:
    """One line about the book: its entries, its format, who uses it (for a caption: plain text)."""
    kinds = {"world_info": "SillyTavern World Info", "character_book": "Character Card lorebook"}
    count = len(book.entries)
    depth = sum(1 for e in book.entries if e.position == AT_DEPTH)
    parts = [f"{count:,} {'entry' if count == 1 else 'entries'}", kinds[book.format]]
    if depth:
        parts.append(f"{depth:,} at a depth in the chat")
    parts.append("used by " + ", ".join(users) if users else "not attached to a persona")
    return plain(" · ".join(parts))


# --- the chat sidebar --------------------------------------------------------------------------


def conversation_picker(library: LorebookLibrary, persona: Persona, conversation_id: str) -> None:
    """The sidebar's choice of a lorebook for this conversation (besides the persona's own)."""
    books = {b.id: b for b in library.list()}
    if not books:
        return
    key = f"lorebook_for_{conversation_id}"
    current = library.conversation_book(persona.id, conversation_id)
    st.session_state[key] = current if current in books else ""
    st.sidebar.selectbox(
        "Lorebook for this conversation", ["", *books], key=key, format_func=lambda i: books[i].title if i else "None",
        on_change=_choose, args=(library, persona.id, conversation_id, key),
        help="World Info for this conversation only, used before the persona's lorebooks.",
    )  # fmt: skip
    own = [books[i].title for i in library.persona_books(persona.id) if i in books]
    if own:
        st.sidebar.caption(plain(f"{persona.name} also uses: " + ", ".join(own)))


def _choose(library: LorebookLibrary, persona_id: str, conversation_id: str, key: str) -> None:
    library.set_conversation_book(persona_id, conversation_id, st.session_state.get(key) or None)


# --- small helpers -----------------------------------------------------------------------------


def plain_cell(value: Any) -> Any:
    """A table cell as a plain Python value: None for missing (NaN, NA), numpy scalars unwrapped."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _whole(value: float | None) -> int | None:
    return int(value) if value is not None and math.isfinite(value) and abs(value) < 1e15 else None
