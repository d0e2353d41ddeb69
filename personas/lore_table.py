"""A card's lorebook (its ``character_book``, plain JSON) as the rows of an editable table, and
back: what the Personas page's lorebook table shows and saves. Plain Python; the page turns the
rows into a table widget and its cells back into plain values.

A cell left as it was keeps the entry's value exactly (keys with commas in them, odd types), and
every field the table does not show is kept.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, TypeGuard

DEFAULT_INSERTION_ORDER = 100  # SillyTavern's default for a new entry


def split_list(text: str) -> list[str]:
    """Comma-separated items, stripped, blanks and repeats dropped."""
    return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


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
ROW = "_row"  # hidden column: the entry's position in the book, so unknown fields survive an edit
FLAGS = MappingProxyType({"enabled": True, "constant": False, "selective": False, "case_sensitive": False})


def entries_of(book: Any) -> list[Any]:
    return book["entries"] if isinstance(book, dict) and isinstance(book.get("entries"), list) else []


def _display(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as a table row (every cell a plain value of its column's type)."""
    order = entry.get("insertion_order")
    return {
        "comment": text_of(entry.get("comment")),
        "keys": _join(entry.get("keys")),
        "secondary_keys": _join(entry.get("secondary_keys")),
        "content": text_of(entry.get("content")),
        "enabled": entry.get("enabled", True) is not False,  # as personas.lorebook reads it
        **{flag: entry.get(flag) is True for flag in ("constant", "selective", "case_sensitive")},
        "insertion_order": order if is_number(order) else 0,
    }


def table_rows(book: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The book's entries (those that are objects) as rows, with their positions in the hidden ``ROW``."""
    return [{ROW: i, **_display(e)} for i, e in enumerate(entries_of(book)) if isinstance(e, dict)]


def book_from_rows(book: dict[str, Any] | None, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The book with its entries as edited in the table.

    A cell left as it was keeps the entry's value exactly (keys with commas in them, odd types); every
    field the table does not show is kept. New rows become entries with a new id; blank ones are
    dropped. Entries that are not objects are kept at the end. ``None`` when there was no book and
    there are no entries.
    """
    originals = entries_of(book)
    numeric_ids = [i for e in originals if isinstance(e, dict) and is_number(i := e.get("id"))]
    next_id = int(max(numeric_ids, default=-1)) + 1
    entries = []
    for raw in rows:  # cells as plain values (None for an empty one)
        row = dict(raw)
        position = row.get(ROW)
        original = originals[int(position)] if is_index(position, originals) else None
        if not isinstance(original, dict):
            if not (text_of(row.get("content")).strip() or text_of(row.get("keys")).strip()):
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
        **FLAGS,
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
            entry[column] = split_list(text_of(value))
        elif column in FLAGS:
            entry[column] = FLAGS[column] if value is None else bool(value)
        elif column == "insertion_order":
            number = value if is_number(value) else DEFAULT_INSERTION_ORDER
            entry[column] = int(number) if float(number).is_integer() else number
        else:
            entry[column] = text_of(value)
    return entry


def _join(keys: Any) -> str:
    return ", ".join(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else ""


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_index(value: Any, items: list[Any]) -> TypeGuard[int | float]:
    return is_number(value) and float(value).is_integer() and 0 <= int(value) < len(items)
