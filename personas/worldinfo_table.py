"""A World Info book's entries (:class:`personas.worldinfo.Lorebook`) as the rows of an editable
table, every field of an entry one cell, and back; and the book's own settings as edited. What the
Lorebooks page shows and saves; plain Python: the page turns the rows into a table widget and its
cells back into plain values (``None`` for an empty cell).

A cell left as it was keeps the entry's value exactly (keys with commas in them, fields the table
does not show, unknown fields): the entries are changed with ``dataclasses.replace``, never in
place (the library shares its books). (A card's own ``character_book``, plain JSON, has a table of
its own: :mod:`personas.lore_table`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from personas.lore_table import is_index, is_number, split_list, text_of
from personas.worldinfo import (
    AFTER_CHAR,
    AND_ANY,
    DEFAULT_DEPTH,
    DEFAULT_ORDER,
    LOGICS,
    POSITIONS,
    Lorebook,
    LoreEntry,
    new_entry,
)

ROW = "_row"  # hidden column: the entry's place in the book
#: The table's columns, in order; each is the :class:`LoreEntry` attribute of the same name.
COLUMNS = (
    "comment", "keys", "content", "secondary_keys", "selective", "logic", "constant", "enabled", "position",
    "depth", "insertion_order", "case_sensitive", "match_whole_words", "scan_depth", "exclude_recursion",
    "prevent_recursion", "probability",
)  # fmt: skip
#: The checkbox columns and what an empty cell means.
FLAGS = MappingProxyType(
    {"selective": True, "constant": False, "enabled": True, "case_sensitive": False, "match_whole_words": False,
     "exclude_recursion": False, "prevent_recursion": False}
)  # fmt: skip
TEXTS = ("comment", "keys", "content", "secondary_keys", "logic", "position")
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


def from_rows(book: Lorebook, edited: list[dict[str, Any]]) -> Lorebook:
    """The book with its entries as edited in the table (a new object; ``book`` is not changed).

    New rows become entries (with SillyTavern's defaults for what they leave empty); blank new rows
    are dropped; deleted rows are gone.
    """
    entries = []
    for raw in edited:  # cells as plain values
        row = dict(raw)
        place = row.get(ROW)
        if is_index(place, book.entries):
            entries.append(_merged(book.entries[int(place)], row))
        elif text_of(row.get("content")).strip() or text_of(row.get("keys")).strip():
            entries.append(_merged(new_entry(book), row))
    return replace(book, entries=entries)


def _merged(entry: LoreEntry, row: dict[str, Any]) -> LoreEntry:
    """The entry with the cells that differ from how it is shown."""
    shown = display(entry)
    changes: dict[str, Any] = {}
    for column in COLUMNS:
        value = row.get(column)
        if value == shown[column] or (value is None and column in _KEEP_WHEN_CLEARED):
            continue
        if column in ("keys", "secondary_keys"):
            changes[column] = split_list(text_of(value))
        elif column in FLAGS:
            changes[column] = FLAGS[column] if value is None else bool(value)
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


# --- the book's settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A book's own settings, as the page's fields give them."""

    name: str
    description: str
    scan_depth: int | None
    token_budget: int | None
    recursive: bool


def with_settings(book: Lorebook, chosen: Settings) -> Lorebook:
    """The book with the settings chosen (a setting left as it was keeps its value exactly)."""
    changes: dict[str, Any] = {}
    if chosen.name != book.name.strip():
        changes["name"] = chosen.name
    if chosen.description != book.description:
        changes["description"] = chosen.description
    if chosen.scan_depth != book.scan_depth:
        changes["scan_depth"] = chosen.scan_depth
    if chosen.token_budget != whole(book.token_budget):
        changes["token_budget"] = chosen.token_budget
    if chosen.recursive != (book.recursive_scanning is True):
        changes["recursive_scanning"] = chosen.recursive
    return replace(book, **changes) if changes else book


def whole(value: float | None) -> int | None:
    """A number as a whole one, if it is one a widget can hold."""
    return int(value) if value is not None and math.isfinite(value) and abs(value) < 1e15 else None
