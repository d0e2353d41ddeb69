"""The Character Book (lorebook) of a Character Card V2: which entries the recent chat brings into play.

Plain Python; never imports Streamlit. A book comes from an untrusted card, so malformed entries are
skipped, never fatal.

Keys match as substrings, as SillyTavern does by default ("cat" also matches "category"); whole-word
matching would be a possible improvement. ``recursive_scanning``, ``priority`` and ``position`` are
kept on the entries but not acted on here.

The budget counts what an entry costs in the prompt (its line, bullet and line break included,
after ``{{char}}`` is replaced when the caller's counter does that), entries with no content are
left out, and at most ``MAX_ACTIVE_ENTRIES`` are taken: a card with thousands of always-on
entries cannot crowd the rest of the prompt out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SCAN_DEPTH = 4
DEFAULT_TOKEN_BUDGET = 500
#: Entries in one prompt, at most (their labels are also stored with the reply).
MAX_ACTIVE_ENTRIES = 32
#: Characters of an entry's label shown under a reply.
MAX_LABEL_CHARS = 80


def approx_tokens(text: str) -> int:
    """About four characters per token."""
    return math.ceil(len(text) / 4)


@dataclass
class LoreEntry:
    content: str
    keys: list[str] = field(default_factory=list)
    secondary_keys: list[str] = field(default_factory=list)
    enabled: bool = True
    insertion_order: float = 0
    case_sensitive: bool = False
    selective: bool = False
    constant: bool = False
    name: str = ""
    comment: str = ""
    priority: float | None = None
    position: str = ""
    id: Any = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the entry is named in the UI (shortened: it is stored with every reply that used it)."""
        label = " ".join((self.name or self.comment or ", ".join(self.keys[:3])).split()) or "(constant entry)"
        return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"

    @classmethod
    def from_dict(cls, raw: Any) -> LoreEntry | None:
        """The entry, or None when it is malformed (not an object, no text content, bad keys or order)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("content"), str):
            return None
        keys, secondary = raw.get("keys", []), raw.get("secondary_keys") or []
        order = raw.get("insertion_order", 0)
        if not (isinstance(keys, list) and isinstance(secondary, list) and _is_number(order)):
            return None
        priority = raw.get("priority")
        return cls(
            content=raw["content"],
            keys=_keys(keys),
            secondary_keys=_keys(secondary),
            enabled=raw.get("enabled", True) is not False,
            insertion_order=order,
            case_sensitive=raw.get("case_sensitive") is True,
            selective=raw.get("selective") is True,
            constant=raw.get("constant") is True,
            name=_text(raw.get("name")),
            comment=_text(raw.get("comment")),
            priority=priority if _is_number(priority) else None,
            position=_text(raw.get("position")),
            id=raw.get("id"),
            extensions=raw["extensions"] if isinstance(raw.get("extensions"), dict) else {},
        )

    def matches(self, texts: list[str], folded: list[str] | None = None) -> bool:
        """Constant, or a key in the texts (and, when selective, a secondary key too).

        ``folded`` is ``texts`` casefolded, when the caller has it already.
        """
        if self.constant:
            return True
        if not self.case_sensitive:
            texts = [t.casefold() for t in texts] if folded is None else folded
        if not _any_in(self.keys, texts, self.case_sensitive):
            return False
        # An empty secondary list makes ``selective`` a no-op, as in SillyTavern.
        return not (self.selective and self.secondary_keys) or _any_in(self.secondary_keys, texts, self.case_sensitive)


def prompt_line(content: str) -> str:
    """The line an entry makes in the prompt's world information (see ``llm.prompts.notes_block``)."""
    return f"- {content}\n"


def active_entries(
    book: dict[str, Any] | None,
    recent_texts: list[str],
    token_budget: int | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
    *,
    room: int | None = None,
    max_entries: int = MAX_ACTIVE_ENTRIES,
) -> list[LoreEntry]:
    """The enabled entries with content that the last ``scan_depth`` texts bring into play,
    lowest insertion_order first.

    Entries are taken in that order until the next one would exceed the token budget
    (``token_budget``, else the book's, else 500; never more than ``room``, the tokens the prompt
    has left) or ``max_entries`` are taken; each costs ``count_tokens`` of its :func:`prompt_line`.
    """
    if not isinstance(book, dict) or not isinstance(book.get("entries"), list):
        return []
    depth = book.get("scan_depth")
    depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else DEFAULT_SCAN_DEPTH
    texts = [t for t in recent_texts[-depth:] if isinstance(t, str)] if depth else []
    folded = [t.casefold() for t in texts]
    entries = (LoreEntry.from_dict(raw) for raw in book["entries"])
    active = sorted(
        (e for e in entries if e is not None and e.enabled and e.content.strip() and e.matches(texts, folded)),
        key=lambda e: e.insertion_order,
    )
    budget = _budget(book, token_budget)
    if room is not None:
        budget = min(budget, room)
    return _within_budget(active, budget, count_tokens, max_entries)


def _budget(book: dict[str, Any], token_budget: int | None) -> int:
    if token_budget is not None:
        return token_budget
    budget = book.get("token_budget")
    return budget if _is_number(budget) and budget > 0 else DEFAULT_TOKEN_BUDGET


def _within_budget(
    entries: Iterable[LoreEntry], budget: float, count_tokens: Callable[[str], int], max_entries: int
) -> list[LoreEntry]:
    kept: list[LoreEntry] = []
    used = 0
    for entry in entries:
        used += count_tokens(prompt_line(entry.content))
        if used > budget or len(kept) >= max_entries:
            break
        kept.append(entry)
    return kept


def _any_in(keys: list[str], texts: list[str], case_sensitive: bool) -> bool:
    """Whether a key is in a text (``texts`` are already casefolded when not case-sensitive)."""
    folded_keys = keys if case_sensitive else (k.casefold() for k in keys)
    return any(key in text for key in folded_keys for text in texts)


def _keys(values: list[Any]) -> list[str]:
    """The usable keys: texts that are not blank (a blank key would match everything)."""
    return [v for v in values if isinstance(v, str) and v.strip()]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
