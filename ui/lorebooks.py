"""The Lorebooks page's parts: the entries table (every field of an entry, one row each), the book's
settings, and the chat sidebar's choice of a lorebook for the conversation. Widgets only: the rows
and the settings go to and from a book in :mod:`personas.worldinfo_table`.

Everything a file wrote is shown as text: as widget values and table cells, or through
``ui.safe_text.plain`` where Streamlit renders Markdown.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import streamlit as st

from personas import Persona, worldinfo_table
from personas.lorebook_library import LorebookLibrary
from personas.worldinfo import AFTER_CHAR, AND_ANY, AT_DEPTH, DEFAULT_DEPTH, DEFAULT_ORDER, LOGICS, POSITIONS, Lorebook
from personas.worldinfo_table import COLUMNS, FLAGS, ROW, TEXTS, Settings, display, whole
from ui.safe_text import plain

if TYPE_CHECKING:  # pandas takes 0.3 s to import: the chat page, which needs no table, never does
    import pandas as pd

#: Each column's header and help (the columns: :data:`personas.worldinfo_table.COLUMNS`).
HEADERS = MappingProxyType({
    "comment": ("Title", "A name for the entry (SillyTavern's memo); never sent to the model."),
    "keys": ("Keys", "Comma-separated words that bring the entry in when they come up in the chat."),
    "content": ("Content", "What goes into the prompt."),
    "secondary_keys": ("Secondary keys", "Comma-separated; they count when Selective is on."),
    "selective": ("Selective", "The secondary keys must agree too, as Logic says."),
    "logic": ("Logic", "AND ANY: one secondary key too; AND ALL: all; NOT ANY: none; NOT ALL: not all."),
    "constant": ("Always", "Always in the prompt (within the budget), keys or not."),
    "enabled": ("Enabled", ""),
    "position": ("Position", "Before the character: in the system prompt (the server reads the whole chat again "
                 "when it comes or goes). After the character: with the message (free). At a depth: in the chat, "
                 "Depth messages from its end."),
    "depth": ("Depth", "For 'at a depth': messages from the end of the chat (0: after the new message)."),
    "insertion_order": ("Order", "Lower comes first in the prompt; higher wins when the budget is short."),
    "case_sensitive": ("Case-sensitive", ""),
    "match_whole_words": ("Whole words", "'cat' does not match 'category'."),
    "scan_depth": ("Scan depth", "How many recent messages are searched for the keys; empty: the book's."),
    "exclude_recursion": ("No recursion in", "Not brought in by other entries' content."),
    "prevent_recursion": ("No recursion out", "Its content brings in no other entries."),
    "probability": ("Probability %", "Below 100: comes in only that often (the same for the same message)."),
})  # fmt: skip


# --- the entries table ------------------------------------------------------------------------


def rows(book: Lorebook) -> pd.DataFrame:
    """The book's entries as a table, with their places in the hidden ``_row``."""
    import pandas as pd

    table = pd.DataFrame([{ROW: i, **display(e)} for i, e in enumerate(book.entries)], columns=[ROW, *COLUMNS])
    return table.astype(
        {ROW: "Int64", **dict.fromkeys(FLAGS, bool), **dict.fromkeys(TEXTS, object)}
        | {"depth": "Int64", "scan_depth": "Int64", "insertion_order": float, "probability": float}
    )


def from_rows(book: Lorebook, edited: list[dict[str, Any]]) -> Lorebook:
    """The book as edited in the table (:func:`personas.worldinfo_table.from_rows`)."""
    return worldinfo_table.from_rows(book, [{k: plain_cell(v) for k, v in row.items()} for row in edited])


def entries_table(key: str, book: Lorebook) -> Lorebook:
    """The book's entries in an editable table; returns the book as edited."""
    config: dict[str, Any] = {}
    for column in COLUMNS:
        header, help_text = HEADERS[column]
        common = {"help": help_text or None}
        if column in FLAGS:
            config[column] = st.column_config.CheckboxColumn(header, default=FLAGS[column], **common)
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
        rows(book), key=key, num_rows="dynamic", hide_index=True, column_order=list(COLUMNS),
        column_config=config, width="stretch",
    )  # fmt: skip
    return from_rows(book, edited.to_dict("records"))


# --- the book's settings -----------------------------------------------------------------------


def settings_fields(key: str, book: Lorebook) -> Settings:
    """The book's own settings (name, scan depth, budget, recursion); call inside a form."""
    with st.container(horizontal=True):
        name = st.text_input("Name", book.name, key=f"{key}_name", max_chars=max(200, len(book.name)))
        scan_depth = st.number_input(
            "Scan depth", 0, 1000, book.scan_depth, 1, key=f"{key}_scan_depth", placeholder="4",
            help="How many of the latest messages are searched for keys (an entry may say otherwise). Empty: 4.",
        )  # fmt: skip
        budget = st.number_input(
            "Token budget", 1, 1_000_000, whole(book.token_budget), 50, key=f"{key}_token_budget",
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
