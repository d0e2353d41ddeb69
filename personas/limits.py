"""One set of size limits for personas, used by the persona form, card import and card export.

Whatever passes :func:`check` exports as a JSON or PNG card that imports again, unchanged: the
card is written as compact JSON of at most ``MAX_CARD_JSON_BYTES``, and a PNG card holds one
base64 copy of it beside an avatar of at most ``MAX_AVATAR_BYTES``, which together stay under
``MAX_CARD_BYTES``, the largest file import reads. Plain Python; never imports Streamlit.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zipfile
import zlib
from typing import Any

from personas.model import Persona

#: What Python's zipfile raises on a corrupt or hostile archive (opening it, listing it, reading
#: a member): a flipped byte can give any of these, IndexError and struct.error included (found by
#: fuzzing the backup reader). Readers of CHARX cards and backups turn them into a clear message.
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    IndexError,
    NotImplementedError,
    RuntimeError,
)

#: Characters in a persona's name (titles, labels, file names).
MAX_NAME_CHARS = 200
#: Characters in any one text of a card; a 50,000-word background is about 350,000.
MAX_TEXT_CHARS = 500_000
#: Nesting of the card's JSON, counted from the card itself; real cards need about 5.
MAX_DEPTH = 64
#: The card as this app writes it (compact UTF-8 JSON): room for a background at the limit and a
#: lorebook of thousands of entries.
MAX_CARD_JSON_BYTES = 8 * 2**20
#: An avatar image as stored and as put in a PNG card.
MAX_AVATAR_BYTES = 8 * 2**20
#: A card file to import: a JSON card, or a PNG card (avatar, plus the card in base64).
MAX_CARD_BYTES = 20 * 2**20
#: What a PNG card adds to its avatar: the base64 card in a tEXt chunk (length, type, "chara\0", CRC).
PNG_CARD_OVERHEAD = 4 * math.ceil(MAX_CARD_JSON_BYTES / 3) + 12 + len(b"chara\x00")


#: A lone UTF-16 surrogate: JSON may escape one ("\\ud800"), which cannot be written back as UTF-8
#: (``json.loads`` pairs the valid ones).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class LimitError(ValueError):
    """A persona over one of the limits; the message is meant for the user."""


def card_json(card: dict[str, Any]) -> bytes:
    """The card as this app exports it: compact UTF-8 JSON (no NaN or Infinity, which JSON lacks)."""
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def check(persona: Persona) -> None:
    """Raise :class:`LimitError` if the persona is over a limit (so that it could not be exported
    and imported again)."""
    if len(persona.name) > MAX_NAME_CHARS:
        raise LimitError(f"The name is {len(persona.name):,} characters long; the limit is {MAX_NAME_CHARS:,}.")
    card = persona.to_card()
    _check_value(card["data"], "data", 1)
    try:
        size = len(card_json(card))
    except ValueError:  # a number JSON cannot hold (inf, nan)
        raise LimitError("The card holds a number JSON cannot represent (infinite or not a number).") from None
    if size > MAX_CARD_JSON_BYTES:
        raise LimitError(
            f"The card takes {size:,} bytes as JSON; the limit is {MAX_CARD_JSON_BYTES:,} "
            f"({MAX_CARD_JSON_BYTES // 2**20} MB). Shorten the background or the lorebook."
        )


def _check_value(value: Any, path: str, depth: int) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            where = f"'{path}'" if path else "A text"
            raise LimitError(f"{where} is {len(value):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
        return
    if not isinstance(value, list | dict):
        return
    if depth >= MAX_DEPTH:
        raise LimitError(f"'{path}' is nested more than {MAX_DEPTH} levels deep.")
    items = enumerate(value) if isinstance(value, list) else value.items()
    for key, item in items:
        if isinstance(key, str):
            _check_value(key, path, depth)
        _check_value(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key, depth + 1)


def clean_json(value: Any, error: type[Exception], path: str = "", depth: int = 0) -> Any:
    """A copy of parsed JSON without NUL characters or lone surrogates; ``error`` (the reader's
    own exception: a card's, a World Info file's) for an over-long text, absurd nesting or a
    number too large for JSON (1e999 reads as inf)."""
    if isinstance(value, str):
        return _clean_text(value, error, path)
    if depth >= MAX_DEPTH and isinstance(value, list | dict):
        raise error(f"'{path}' is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, list):
        return [clean_json(item, error, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        cleaned = {_clean_text(k, error, path): v for k, v in value.items()}
        return {k: clean_json(v, error, f"{path}.{k}" if path else k, depth + 1) for k, v in cleaned.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise error(f"'{path}' is a number too large for JSON.")
    return value


def _clean_text(text: str, error: type[Exception], path: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise error(f"'{path}' is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
    return LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))
