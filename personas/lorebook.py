"""Which lorebook entries the recent chat brings into play (pure functions).

Plain Python; never imports Streamlit. The books are :class:`~personas.worldinfo.Lorebook` objects
(SillyTavern World Info files, or a card's ``character_book``; see :mod:`personas.worldinfo`),
and the rules are SillyTavern's (``public/scripts/world-info.js``):

- an entry is *in play* when it is enabled, has content, and is constant or has a key in the last
  ``scan_depth`` messages (the entry's, else its book's, else 4). Keys match as substrings
  ("cat" also matches "category") unless the entry matches whole words; case does not matter
  unless the entry is case-sensitive. Keys written as ``/regex/`` are not evaluated (a pattern
  from a stranger's file could take Python's ``re`` forever): they match only as the text they are.
- with ``selective`` and secondary keys, those must agree too: AND ANY (one of them), AND ALL (all),
  NOT ANY (none), NOT ALL (not all of them);
- ``use_probability`` with a probability under 100 rolls a die; the roll is derived from the
  entry and ``seed`` (the new message), so the same message always brings the same entries (a
  regenerated reply gets the same prompt);
- a book with ``recursive_scanning`` lets the content of its entries in play bring in further
  entries of recursive books (not those with ``exclude_recursion``, and not from entries with
  ``prevent_recursion``), at most ``max_recursion`` rounds;
- the budget: each book's entries are taken, higher ``priority`` (else higher ``insertion_order``)
  first, while they fit its ``token_budget`` (else 500 tokens) and until one does not; all of them
  together never take more than ``room`` (what the prompt has left) nor more than
  ``MAX_ACTIVE_ENTRIES``. Each entry costs what its line costs in the prompt (bullet and line break
  included, after ``{{char}}`` is replaced when the caller's counter does that). The same content
  in two books (a card's book and its copy in the library) goes in once.
- the entries taken come back in the order they go into the prompt: lower ``insertion_order``
  first (so the higher ones are nearest the message, where they weigh most).

Kept in the file, not acted on: groups, sticky / cooldown / delay, ``delayUntilRecursion``,
decorators (``@@activate``), character filters, vector matching, and the role of an entry at a depth.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from personas.worldinfo import (
    AND_ALL,
    MAX_LABEL_CHARS,
    NOT_ALL,
    NOT_ANY,
    Lorebook,
    LoreEntry,
    card_books,
)

__all__ = [
    "DEFAULT_SCAN_DEPTH",
    "DEFAULT_TOKEN_BUDGET",
    "MAX_ACTIVE_ENTRIES",
    "MAX_LABEL_CHARS",
    "MAX_RECURSION_STEPS",
    "LoreEntry",
    "activate",
    "active_entries",
    "approx_tokens",
    "prompt_line",
]

DEFAULT_SCAN_DEPTH = 4
DEFAULT_TOKEN_BUDGET = 500
#: Entries in one prompt, at most (their labels are also stored with the reply).
MAX_ACTIVE_ENTRIES = 32
#: Rounds of recursive activation after the first scan, at most.
MAX_RECURSION_STEPS = 3


def approx_tokens(text: str) -> int:
    """About four characters per token."""
    return math.ceil(len(text) / 4)


def prompt_line(content: str) -> str:
    """The line an entry makes in the prompt's world information (see ``llm.prompts.world_section``)."""
    return f"- {content}\n"


@dataclass(frozen=True)
class _Candidate:
    book: int
    index: int
    entry: LoreEntry
    scan_depth: int
    recursive: bool

    @property
    def rank(self) -> tuple[Any, ...]:
        """Who gets the budget first: the earlier book, then the higher priority (or order)."""
        weight = self.entry.priority if self.entry.priority is not None else self.entry.insertion_order
        return (self.book, -weight, self.index)


def activate(
    books: Sequence[Lorebook],
    recent_texts: Sequence[str],
    *,
    count_tokens: Callable[[str], int] = approx_tokens,
    token_budget: int | None = None,
    room: int | None = None,
    max_entries: int = MAX_ACTIVE_ENTRIES,
    max_recursion: int = MAX_RECURSION_STEPS,
    depth_cost: int = 0,
    seed: str = "",
) -> list[LoreEntry]:
    """The entries of ``books`` (first book first for the budget) that ``recent_texts`` (oldest
    first, the new message last) bring into play, in prompt order; see the module docstring.

    ``token_budget`` replaces every book's own; ``depth_cost`` is added to the cost of an entry
    that goes at a depth in the chat (its note's wrapper).
    """
    texts = [t for t in recent_texts if isinstance(t, str)]
    candidates = [
        _Candidate(b, i, entry, _scan_depth(entry, book), book.recursive_scanning is True)
        for b, book in enumerate(books)
        for i, entry in enumerate(book.entries)
        if entry.enabled and entry.content.strip() and (entry.constant or entry.keys)
    ]
    budgets = [token_budget if token_budget is not None else _budget(book) for book in books]
    used = [0] * len(books)
    closed = [False] * len(books)  # a book whose next entry did not fit takes no more
    total, taken = 0, list[_Candidate]()
    seen: dict[str, int] = {}  # content -> the book it was taken from
    waiting = list(range(len(candidates)))  # not in play yet
    scans = _Scans(texts)
    for step in range(max_recursion + 1):
        found = [n for n in waiting if _in_play(candidates[n], scans, step, seed)]
        now = set(found)
        waiting = [n for n in waiting if n not in now]
        fed = []
        for c in sorted((candidates[n] for n in found), key=lambda c: c.rank):
            content = c.entry.content.strip()
            if closed[c.book] or seen.get(content, c.book) != c.book:
                continue
            cost = count_tokens(prompt_line(c.entry.content)) + (depth_cost if c.entry.placement == "depth" else 0)
            if used[c.book] + cost > budgets[c.book]:
                closed[c.book] = True
                continue
            if (room is not None and total + cost > room) or len(taken) >= max_entries:
                return _in_prompt_order(taken)  # the prompt is full: no more entries, no recursion
            used[c.book] += cost
            total += cost
            seen.setdefault(content, c.book)
            taken.append(c)
            if c.recursive and not c.entry.prevent_recursion:
                fed.append(c.entry.content)
        if not fed:
            break
        scans.recursion.extend(fed)
    return _in_prompt_order(taken)


def _in_prompt_order(taken: Iterable[_Candidate]) -> list[LoreEntry]:
    return [c.entry for c in sorted(taken, key=lambda c: (c.entry.insertion_order, c.book, c.index))]


class _Scans:
    """The texts an entry is matched against: the last messages of its scan depth, and after the
    first round the content of the entries taken (both also casefolded; each computed once)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.recursion: list[str] = []
        self._made: dict[tuple[int, int], tuple[list[str], list[str]]] = {}

    def get(self, depth: int, with_recursion: bool) -> tuple[list[str], list[str]]:
        key = (depth, len(self.recursion) if with_recursion else -1)
        if key not in self._made:
            texts = (self.texts[-depth:] if depth else []) + (self.recursion if with_recursion else [])
            self._made[key] = (texts, [t.casefold() for t in texts])
        return self._made[key]


def _in_play(c: _Candidate, scans: _Scans, step: int, seed: str) -> bool:
    """Whether the candidate activates in this round (the first: the chat; later ones: the chat
    and the content of the entries taken so far)."""
    entry = c.entry
    if step == 0:
        in_play = entry.constant or _keys_match(entry, *scans.get(c.scan_depth, False))
    else:  # constant entries were all in the first round
        eligible = c.recursive and not entry.constant and not entry.exclude_recursion
        in_play = eligible and _keys_match(entry, *scans.get(c.scan_depth, True))
    return in_play and _rolled(entry, seed)


def _keys_match(entry: LoreEntry, texts: list[str], folded: list[str]) -> bool:
    """A primary key in the texts, and the secondary keys as ``entry.logic`` wants them."""
    case, whole = entry.case_sensitive is True, entry.match_whole_words is True
    haystacks = texts if case else folded
    if not haystacks or not any(_found(key, haystacks, case, whole) for key in entry.keys):
        return False
    if not (entry.selective and entry.secondary_keys):  # no secondary keys: no condition (SillyTavern)
        return True
    hits = [_found(key, haystacks, case, whole) for key in entry.secondary_keys]
    if entry.logic == AND_ALL:
        return all(hits)
    if entry.logic == NOT_ANY:
        return not any(hits)
    if entry.logic == NOT_ALL:
        return not all(hits)
    return any(hits)  # AND_ANY, and a logic this app does not know


def _found(key: str, haystacks: list[str], case_sensitive: bool, whole_words: bool) -> bool:
    """Whether the key is in one of the texts (already casefolded unless ``case_sensitive``)."""
    needle = key.strip() if case_sensitive else key.strip().casefold()
    if whole_words and len(needle.split()) == 1:  # SillyTavern: a key of several words matches as it is
        pattern = _word_pattern(needle)
        return any(pattern.search(text) for text in haystacks)
    return any(needle in text for text in haystacks)


@lru_cache(maxsize=4096)
def _word_pattern(word: str) -> re.Pattern[str]:
    """The word with a non-word character (or the text's end) on each side, as SillyTavern has it."""
    return re.compile(rf"(?:^|\W){re.escape(word)}(?:$|\W)")


def _rolled(entry: LoreEntry, seed: str) -> bool:
    """The probability check: a roll in [0, 100) from the entry and ``seed`` (repeatable)."""
    if not entry.use_probability or entry.probability >= 100:
        return True
    digest = hashlib.sha256(f"{seed}\x00{entry.id}\x00{entry.content}".encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100 < entry.probability


def _scan_depth(entry: LoreEntry, book: Lorebook) -> int:
    for depth in (entry.scan_depth, book.scan_depth):
        if depth is not None:
            return depth
    return DEFAULT_SCAN_DEPTH


def _budget(book: Lorebook) -> float:
    return book.token_budget if book.token_budget is not None and book.token_budget > 0 else DEFAULT_TOKEN_BUDGET


def active_entries(
    book: dict[str, Any] | None,
    recent_texts: list[str],
    token_budget: int | None = None,
    count_tokens: Callable[[str], int] = approx_tokens,
    *,
    room: int | None = None,
    max_entries: int = MAX_ACTIVE_ENTRIES,
) -> list[LoreEntry]:
    """:func:`activate` for one card's ``character_book`` as found in the card (read leniently:
    malformed entries are skipped, a malformed book gives nothing)."""
    return activate(
        card_books(book), recent_texts, count_tokens=count_tokens, token_budget=token_budget, room=room,
        max_entries=max_entries,
    )  # fmt: skip
