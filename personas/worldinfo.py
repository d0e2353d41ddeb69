"""Lorebooks as their own thing: SillyTavern World Info files and the Character Card's ``character_book``.

Plain Python; never imports Streamlit. One typed model (:class:`Lorebook` of :class:`LoreEntry`) reads
both formats and writes both:

- **World Info** (SillyTavern's ``worlds/*.json``): ``{"entries": {"0": {"uid": 0, "key": [...],
  "keysecondary": [...], "content": ..., "order": 100, "position": 0, "disable": false, ...}}}``;
- **character_book** (Character Card V2/V3, ``data.character_book``, and V3's standalone
  ``{"spec": "lorebook_v3", "data": {...}}``): ``{"entries": [{"keys": [...], "content": ...,
  "insertion_order": 100, "enabled": true, "extensions": {...}}]}``, with SillyTavern's own fields
  in each entry's ``extensions`` (``position``, ``depth``, ``selectiveLogic``, ``scan_depth``, ...),
  as SillyTavern writes them when it exports a card.

Every entry and book keeps what it was read from (``raw``), so that unknown fields survive: written
back in the format it came from, an entry is its original object with only the fields that were
edited changed (an untouched file comes out equal to what went in). Written in the other format,
SillyTavern's mapping is used; World Info fields a card entry has not travel in its ``extensions``
and come back as fields of their own.

World Info files have no book-level settings (SillyTavern keeps them globally); ours are kept at the
top level under the V2 names (``name``, ``description``, ``scan_depth``, ``token_budget``,
``recursive_scanning``), which SillyTavern leaves alone.

Files come from strangers: :func:`parse_lorebook` checks the size before parsing, rejects NaN and
absurd nesting, cleans NUL and lone surrogates, type-checks every field it uses and refuses with a
:class:`WorldInfoError` whose message says what is wrong. A card's own book is read leniently
instead (:meth:`Lorebook.from_character_book` with ``strict=False``): a malformed entry is skipped,
never fatal, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from personas.limits import MAX_CARD_BYTES, MAX_CARD_JSON_BYTES, MAX_TEXT_CHARS, card_json, clean_json

Format = Literal["world_info", "character_book"]
Placement = Literal["before", "after", "depth"]

#: SillyTavern's ``world_info_position`` (public/scripts/world-info.js).
BEFORE_CHAR, AFTER_CHAR, AN_TOP, AN_BOTTOM, AT_DEPTH, EM_TOP, EM_BOTTOM = range(7)
POSITIONS = MappingProxyType(
    {
        BEFORE_CHAR: "before the character",
        AFTER_CHAR: "after the character",
        AN_TOP: "author's note, top",
        AN_BOTTOM: "author's note, bottom",
        AT_DEPTH: "at a depth in the chat",
        EM_TOP: "example messages, top",
        EM_BOTTOM: "example messages, bottom",
    }
)
#: SillyTavern's ``world_info_logic``: how secondary keys combine (note the numbering).
AND_ANY, NOT_ALL, NOT_ANY, AND_ALL = range(4)
LOGICS = MappingProxyType({AND_ANY: "AND ANY", NOT_ALL: "NOT ALL", NOT_ANY: "NOT ANY", AND_ALL: "AND ALL"})
#: SillyTavern's ``DEFAULT_DEPTH`` for an entry at a depth, and its default insertion order.
DEFAULT_DEPTH = 4
DEFAULT_ORDER = 100
#: Characters of an entry's label shown under a reply.
MAX_LABEL_CHARS = 80
#: Entries in one lorebook; SillyTavern's largest shared books have a few thousand.
MAX_ENTRIES = 20_000
#: A lorebook file to import (pretty-printed JSON is larger than the compact form we keep).
MAX_FILE_BYTES = MAX_CARD_BYTES
#: SillyTavern fields we keep but do not act on: World Info name -> name in a card entry's ``extensions``.
PASSIVE_FIELDS = MappingProxyType(
    {
        "displayIndex": "display_index",
        "group": "group",
        "groupOverride": "group_override",
        "groupWeight": "group_weight",
        "delayUntilRecursion": "delay_until_recursion",
        "useGroupScoring": "use_group_scoring",
        "automationId": "automation_id",
        "vectorized": "vectorized",
        "sticky": "sticky",
        "cooldown": "cooldown",
        "delay": "delay",
    }
)
#: SillyTavern's own copy of a card's book inside a World Info file; not carried into a card.
ORIGINAL_DATA = "originalData"
BOOK_FIELDS = ("name", "description", "scan_depth", "token_budget", "recursive_scanning")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOREBOOK_V3 = "lorebook_v3"


class WorldInfoError(ValueError):
    """A file that is not a usable lorebook; the message is meant for the user."""


class _Bad(ValueError):
    """A field of the wrong type (a strict read refuses the file, a lenient one skips the entry)."""


@dataclass
class LoreEntry:
    """One entry, with the fields of a V2 ``character_book`` entry and SillyTavern's extensions."""

    content: str
    keys: list[str] = field(default_factory=list)
    secondary_keys: list[str] = field(default_factory=list)
    enabled: bool = True
    insertion_order: float = 0  # lower comes first in the prompt; higher wins the budget
    case_sensitive: bool | None = None  # None: the default (not case-sensitive)
    selective: bool = False  # the secondary keys apply (with ``logic``)
    constant: bool = False
    name: str = ""
    comment: str = ""
    priority: float | None = None  # V2: when set, the budget keeps higher priorities first
    position: int = AFTER_CHAR  # SillyTavern's numbering (POSITIONS)
    id: Any = None
    extensions: dict[str, Any] = field(default_factory=dict)
    logic: int = AND_ANY
    match_whole_words: bool | None = None  # None: the default (substrings match)
    depth: int = DEFAULT_DEPTH  # for AT_DEPTH: messages from the end of the chat
    role: int = 0  # SillyTavern's for an entry at a depth (0 system, 1 user, 2 assistant): kept, not used
    scan_depth: int | None = None  # None: the book's
    exclude_recursion: bool = False  # not activated by other entries' content
    prevent_recursion: bool = False  # its content does not activate other entries
    probability: float = 100
    use_probability: bool = False
    #: What the entry was read from, and in which format (unknown fields survive through it).
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    format: Format | None = None
    slot: str | None = None  # its key in a World Info file's ``entries`` object

    @property
    def label(self) -> str:
        """How the entry is named in the UI (shortened: it is stored with every reply that used it).
        Without a name or title, by its first keys, joined with slashes: labels are listed with commas."""
        label = " ".join((self.name or self.comment or " / ".join(self.keys[:3])).split()) or "(constant entry)"
        return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"

    @property
    def placement(self) -> Placement:
        """Where it goes in the prompt: the author's-note and example-message positions, which this
        app has not, count as after the character (see ``llm.prompts``)."""
        return "before" if self.position == BEFORE_CHAR else "depth" if self.position == AT_DEPTH else "after"

    @classmethod
    def from_dict(cls, raw: Any) -> LoreEntry | None:
        """A V2 ``character_book`` entry read leniently: None when it is malformed."""
        try:
            return _entry_from_card(raw, strict=False)
        except _Bad:
            return None


@dataclass
class Lorebook:
    entries: list[LoreEntry] = field(default_factory=list)
    name: str = ""
    description: str = ""
    scan_depth: int | None = None
    token_budget: float | None = None
    recursive_scanning: bool | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    format: Format = "world_info"  # what it was read from, and how the library keeps it
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    id: str = ""  # in the library

    @property
    def title(self) -> str:
        return " ".join(self.name.split()) or self.id or "Untitled lorebook"

    # -- reading ------------------------------------------------------------------------------

    @classmethod
    def from_world_info(cls, data: Any, strict: bool = True) -> Lorebook:
        """A SillyTavern World Info object (``entries`` keyed by uid; a list is taken too)."""
        if not isinstance(data, dict):
            raise _Bad(f"the JSON is {_kind(data)}, not an object with 'entries'")
        entries = data.get("entries")
        if isinstance(entries, dict):
            slots: Iterator[tuple[str | None, Any]] = iter(entries.items())
        elif isinstance(entries, list):
            slots = ((None, e) for e in entries)
        else:
            raise _Bad(f"its 'entries' is {_kind(entries)}, not an object of entries")
        _check_count(entries)
        read = []
        for n, (slot, raw) in enumerate(slots):
            try:
                read.append(replace(_entry_from_world_info(raw, strict), slot=slot))
            except _Bad as exc:
                if strict:
                    raise _Bad(f"entry {_which(slot, n)}: {exc}") from None
        return cls(entries=read, format="world_info", raw=data, **_book_fields(data, strict))

    @classmethod
    def from_character_book(cls, data: Any, strict: bool = True) -> Lorebook:
        """A V2/V3 ``character_book`` object (``entries`` a list)."""
        if not isinstance(data, dict):
            raise _Bad(f"the book is {_kind(data)}, not an object")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise _Bad(f"its 'entries' is {_kind(entries)}, not a list of entries")
        if strict:
            _check_count(entries)
        read = []
        for n, raw in enumerate(entries):
            try:
                read.append(_entry_from_card(raw, strict))
            except _Bad as exc:
                if strict:
                    raise _Bad(f"entry {n + 1}: {exc}") from None
        return cls(entries=read, format="character_book", raw=data, **_book_fields(data, strict))

    # -- writing ------------------------------------------------------------------------------

    def to_world_info(self) -> dict[str, Any]:
        """The book as a SillyTavern World Info object."""
        top = _merged(self, "world_info", BOOK_WRITERS) if self.format == "world_info" else self._other_top()
        # entries read from a World Info file keep their keys in 'entries'; others get their uid,
        # or a new one when they have none or it is taken
        own = {e.slot for e in self.entries if e.format == "world_info" and e.slot is not None}
        numbers = [e.id for e in self.entries if _is_number(e.id)]
        numbers += [int(slot) for slot in own if slot.isascii() and slot.isdigit()]
        next_uid = int(max(numbers, default=-1)) + 1
        entries: dict[str, Any] = {}
        for entry in self.entries:
            raw = entry_to_world_info(entry)
            slot = entry.slot if entry.format == "world_info" else None
            if slot is None:
                if raw.get("uid") is None or str(raw["uid"]) in own or str(raw["uid"]) in entries:
                    raw["uid"], next_uid = next_uid, next_uid + 1
                slot = str(raw["uid"])
            while slot in entries:  # a file's own duplicate keys cannot be: JSON objects keep the last
                raw["uid"], next_uid = next_uid, next_uid + 1
                slot = str(raw["uid"])
            entries[slot] = raw
        return {**top, "entries": entries}

    def to_character_book(self) -> dict[str, Any]:
        """The book as a Character Card ``character_book``."""
        top = _merged(self, "character_book", BOOK_WRITERS) if self.format == "character_book" else self._other_top()
        if self.format == "world_info":
            top.pop(ORIGINAL_DATA, None)
            top.setdefault("extensions", {})
        return {**top, "entries": [entry_to_character_book(e) for e in self.entries]}

    def native(self) -> dict[str, Any]:
        """The book in the format it was read from."""
        return self.to_world_info() if self.format == "world_info" else self.to_character_book()

    def _other_top(self) -> dict[str, Any]:
        """The top level written in the other format than the book's own: ours, then unknown keys."""
        top = {k: v for k, v in self.raw.items() if k != "entries" and k not in BOOK_FIELDS}
        top.pop(ORIGINAL_DATA, None)
        for key, value in _book_values(self).items():
            if value not in (None, ""):
                top[key] = value
        if self.extensions:
            top["extensions"] = self.extensions
        return top


# --- field readers ----------------------------------------------------------------------------


class _Reader:
    """Typed reads of one object's fields. Null counts as absent. ``strict``: a field of the wrong
    type raises :class:`_Bad`; else only ``required`` ones do, and the others fall back to their
    default."""

    def __init__(self, raw: dict[str, Any], strict: bool) -> None:
        self.raw, self.strict = raw, strict

    def _wrong(self, name: str, what: str, required: bool = False) -> None:
        """Raise for a field of the wrong type, unless the read is lenient and it is not required."""
        if self.strict or required:
            raise _Bad(f"'{name}' must be {what}, not {_kind(self.raw[name])}")

    def present(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def text(self, name: str, required: bool = False) -> str:
        value = self.raw.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        self._wrong(name, "text", required)
        return ""

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        self._wrong(name, "true or false")
        return default

    def maybe_flag(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, bool):
            return value
        self._wrong(name, "true, false or null")
        return None

    def number(self, name: str, default: float | None, required: bool = False) -> Any:
        value = self.raw.get(name)
        if value is None:
            return default
        if _is_number(value):
            return value
        self._wrong(name, "a number", required)
        return default

    def whole(self, name: str, default: int | None) -> int | None:
        """A whole number of at least 0 (a depth, a position); a float like 4.0 counts."""
        value = self.raw.get(name)
        if value is None:
            return default
        if _is_number(value) and value >= 0 and (isinstance(value, int) or value.is_integer()):
            return int(value)
        self._wrong(name, "a whole number of at least 0")
        return default

    def keys(self, name: str, required: bool = False) -> list[str]:
        """The usable keys: texts that are not blank (a blank key would match everything)."""
        value = self.raw.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong(name, "a list of texts", required)
            return []
        if self.strict and not all(isinstance(v, str) for v in value):
            raise _Bad(f"'{name}' must be a list of texts")
        return [v for v in value if isinstance(v, str) and v.strip()]

    def object(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self._wrong(name, "an object")
        return {}


def _entry_from_world_info(raw: Any, strict: bool) -> LoreEntry:
    if not isinstance(raw, dict):
        raise _Bad(f"it is {_kind(raw)}, not an object")
    r = _Reader(raw, strict)
    probability = r.number("probability", 100)
    return LoreEntry(
        content=r.text("content", required=True),
        keys=r.keys("key", required=True),
        secondary_keys=r.keys("keysecondary", required=True),
        enabled=not r.flag("disable", False),
        insertion_order=r.number("order", DEFAULT_ORDER, required=True),
        case_sensitive=r.maybe_flag("caseSensitive"),
        selective=r.flag("selective", False),
        constant=r.flag("constant", False),
        name=r.text("name"),
        comment=r.text("comment"),
        priority=r.number("priority", None),
        position=_whole_or(r, "position", BEFORE_CHAR),  # SillyTavern's default for a World Info entry
        id=raw.get("uid"),
        extensions=r.object("extensions"),
        logic=_whole_or(r, "selectiveLogic", AND_ANY),
        match_whole_words=r.maybe_flag("matchWholeWords"),
        depth=_whole_or(r, "depth", DEFAULT_DEPTH),
        role=_whole_or(r, "role", 0),
        scan_depth=r.whole("scanDepth", None),
        exclude_recursion=r.flag("excludeRecursion", False),
        prevent_recursion=r.flag("preventRecursion", False),
        probability=probability,
        use_probability=r.flag("useProbability", False),
        raw=raw,
        format="world_info",
    )


def _entry_from_card(raw: Any, strict: bool) -> LoreEntry:
    if not isinstance(raw, dict):
        raise _Bad(f"it is {_kind(raw)}, not an object")
    r = _Reader(raw, strict)
    if strict and "content" not in raw:
        raise _Bad("it has no 'content'")
    if not isinstance(raw.get("content"), str):
        r.text("content", required=True)
        raise _Bad("it has no text 'content'")
    ext = _Reader(r.object("extensions"), strict)
    # SillyTavern reads its own fields from the extensions; V2's own 'position' and 'case_sensitive'
    # count when the extensions do not say.
    before = raw.get("position") == "before_char"
    if strict and raw.get("position") not in (None, "before_char", "after_char"):
        raise _Bad("'position' must be 'before_char' or 'after_char'")
    case = ext.maybe_flag("case_sensitive") if ext.present("case_sensitive") else r.maybe_flag("case_sensitive")
    probability = ext.number("probability", 100)
    return LoreEntry(
        content=raw["content"],
        keys=r.keys("keys", required=True),
        secondary_keys=r.keys("secondary_keys", required=True),
        enabled=r.flag("enabled", True),
        insertion_order=r.number("insertion_order", 0, required=True),
        case_sensitive=case,
        selective=r.flag("selective", False),
        constant=r.flag("constant", False),
        name=r.text("name"),
        comment=r.text("comment"),
        priority=r.number("priority", None),
        position=_whole_or(ext, "position", BEFORE_CHAR if before else AFTER_CHAR),
        id=raw.get("id"),
        extensions=ext.raw,
        logic=_whole_or(ext, "selectiveLogic", AND_ANY),
        match_whole_words=ext.maybe_flag("match_whole_words"),
        depth=_whole_or(ext, "depth", DEFAULT_DEPTH),
        role=_whole_or(ext, "role", 0),
        scan_depth=ext.whole("scan_depth", None),
        exclude_recursion=ext.flag("exclude_recursion", False),
        prevent_recursion=ext.flag("prevent_recursion", False),
        probability=probability,
        use_probability=ext.flag("useProbability", False),
        raw=raw,
        format="character_book",
    )


def _whole_or(r: _Reader, name: str, default: int) -> int:
    value = r.whole(name, default)
    return default if value is None else value


def _book_fields(data: dict[str, Any], strict: bool) -> dict[str, Any]:
    r = _Reader(data, strict)
    budget = r.number("token_budget", None)
    return {
        "name": r.text("name"),
        "description": r.text("description"),
        "scan_depth": r.whole("scan_depth", None),
        "token_budget": budget if budget is None or budget > 0 else None,
        "recursive_scanning": r.maybe_flag("recursive_scanning"),
        "extensions": r.object("extensions"),
    }


def _check_count(entries: list[Any] | dict[str, Any]) -> None:
    if len(entries) > MAX_ENTRIES:
        raise _Bad(f"it has {len(entries):,} entries; the limit is {MAX_ENTRIES:,}")


# --- field writers ----------------------------------------------------------------------------

#: (path in the written object, the value from the typed entry). A path of two names is inside
#: ``extensions``. A writer returning ``_SKIP`` leaves the field out of a new object.
_SKIP = object()
Writer = tuple[tuple[str, ...], Callable[[Any], Any]]


def _unless(value: Any, empty: Any) -> Any:
    return _SKIP if value == empty else value


WORLD_INFO_WRITERS: tuple[Writer, ...] = (
    (("uid",), lambda e: _unless(e.id, None)),
    (("key",), lambda e: e.keys),
    (("keysecondary",), lambda e: e.secondary_keys),
    (("comment",), lambda e: e.comment),
    (("content",), lambda e: e.content),
    (("constant",), lambda e: e.constant),
    (("selective",), lambda e: e.selective),
    (("selectiveLogic",), lambda e: e.logic),
    (("order",), lambda e: e.insertion_order),
    (("position",), lambda e: e.position),
    (("disable",), lambda e: not e.enabled),
    (("excludeRecursion",), lambda e: e.exclude_recursion),
    (("preventRecursion",), lambda e: e.prevent_recursion),
    (("probability",), lambda e: e.probability),
    (("useProbability",), lambda e: e.use_probability),
    (("depth",), lambda e: e.depth),
    (("scanDepth",), lambda e: e.scan_depth),
    (("caseSensitive",), lambda e: e.case_sensitive),
    (("matchWholeWords",), lambda e: e.match_whole_words),
    (("role",), lambda e: e.role),
    (("name",), lambda e: _unless(e.name, "")),
    (("priority",), lambda e: _unless(e.priority, None)),
)
CARD_WRITERS: tuple[Writer, ...] = (
    (("id",), lambda e: _unless(e.id, None)),
    (("keys",), lambda e: e.keys),
    (("secondary_keys",), lambda e: e.secondary_keys),
    (("comment",), lambda e: e.comment),
    (("content",), lambda e: e.content),
    (("constant",), lambda e: e.constant),
    (("selective",), lambda e: e.selective),
    (("insertion_order",), lambda e: e.insertion_order),
    (("enabled",), lambda e: e.enabled),
    (("position",), lambda e: "before_char" if e.position == BEFORE_CHAR else "after_char"),
    (("case_sensitive",), lambda e: _unless(e.case_sensitive, None)),
    (("name",), lambda e: _unless(e.name, "")),
    (("priority",), lambda e: _unless(e.priority, None)),
    (("extensions", "position"), lambda e: e.position),
    (("extensions", "exclude_recursion"), lambda e: e.exclude_recursion),
    (("extensions", "prevent_recursion"), lambda e: e.prevent_recursion),
    (("extensions", "probability"), lambda e: e.probability),
    (("extensions", "useProbability"), lambda e: e.use_probability),
    (("extensions", "depth"), lambda e: e.depth),
    (("extensions", "selectiveLogic"), lambda e: e.logic),
    (("extensions", "scan_depth"), lambda e: e.scan_depth),
    (("extensions", "match_whole_words"), lambda e: e.match_whole_words),
    (("extensions", "case_sensitive"), lambda e: e.case_sensitive),
    (("extensions", "role"), lambda e: e.role),
)
BOOK_WRITERS: tuple[Writer, ...] = (
    (("name",), lambda b: _unless(b.name, "")),
    (("description",), lambda b: _unless(b.description, "")),
    (("scan_depth",), lambda b: _unless(b.scan_depth, None)),
    (("token_budget",), lambda b: _unless(b.token_budget, None)),
    (("recursive_scanning",), lambda b: _unless(b.recursive_scanning, None)),
    (("extensions",), lambda b: _unless(b.extensions, {})),
)
_READERS: MappingProxyType[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "world_info": lambda raw: _entry_from_world_info(raw, strict=False),
        "character_book": lambda raw: _entry_from_card(raw, strict=False),
    }
)


def _merged(item: Any, fmt: Format, writers: tuple[Writer, ...]) -> dict[str, Any]:
    """``item.raw`` with the fields whose typed value differs from what ``raw`` reads as written
    anew (so an untouched object comes out as it went in, unknown fields and all)."""
    out = dict(item.raw)
    out.pop("entries", None)
    if isinstance(item, LoreEntry):
        try:
            original: Any = _READERS[fmt](item.raw)
        except _Bad:
            original = None
    else:
        original = Lorebook(**_book_fields(item.raw, strict=False))
    for path, value_of in writers:
        value = value_of(item)
        if original is not None and value == value_of(original):
            continue
        if value is _SKIP:
            _remove(out, path)
        else:
            _put(out, path, value)
    return out


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if len(path) == 1:
        out[path[0]] = value
    else:
        inner = out.get(path[0])
        out[path[0]] = {**(inner if isinstance(inner, dict) else {}), path[1]: value}


def _remove(out: dict[str, Any], path: tuple[str, ...]) -> None:
    if len(path) == 1:
        out.pop(path[0], None)
    elif isinstance(out.get(path[0]), dict):
        out[path[0]] = {k: v for k, v in out[path[0]].items() if k != path[1]}


def _fresh(entry: LoreEntry, writers: tuple[Writer, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value_of in writers:
        value = value_of(entry)
        if value is not _SKIP:
            _put(out, path, value)
    return out


def entry_to_world_info(entry: LoreEntry) -> dict[str, Any]:
    """An entry as a World Info entry. From a card entry: SillyTavern's mapping of its extensions;
    other extensions become fields of their own (where :func:`entry_to_character_book` put the
    World Info fields it did not know), and the card's fields World Info lacks stay as they are."""
    if entry.format == "world_info" and entry.raw:
        return _merged(entry, "world_info", WORLD_INFO_WRITERS)
    out = _fresh(entry, WORLD_INFO_WRITERS)
    known = {path[0] for path, _ in CARD_WRITERS if len(path) == 1} | {"extensions"}
    for name, value in entry.raw.items():  # V3's use_regex and the like
        if name not in known:
            out.setdefault(name, value)
    mapped = {path[1] for path, _ in CARD_WRITERS if len(path) == 2}
    by_card_name = {ext_name: wi_name for wi_name, ext_name in PASSIVE_FIELDS.items()}
    leftover = {}
    for name, value in entry.extensions.items():
        if name in mapped:
            continue
        wi_name = by_card_name.get(name, name)
        if wi_name in out:
            leftover[name] = value  # would overwrite a field: kept apart
        else:
            out[wi_name] = value
    if leftover:
        out["extensions"] = leftover
    return out


def entry_to_character_book(entry: LoreEntry) -> dict[str, Any]:
    """An entry as a Character Card ``character_book`` entry (SillyTavern's extensions included,
    so SillyTavern reads it as it wrote it)."""
    if entry.format == "character_book" and entry.raw:
        return _merged(entry, "character_book", CARD_WRITERS)
    out = _fresh(entry, CARD_WRITERS)
    extensions = dict(out["extensions"])
    known = {path[0] for path, _ in WORLD_INFO_WRITERS} | {"extensions"}
    for name, value in entry.raw.items():
        if name in PASSIVE_FIELDS:
            extensions[PASSIVE_FIELDS[name]] = value
        elif name not in known:
            extensions.setdefault(name, value)  # a field neither format knows
    inner = entry.raw.get("extensions")
    if isinstance(inner, dict):
        extensions = {**inner, **extensions}
    out["extensions"] = extensions
    return out


def _book_values(book: Lorebook) -> dict[str, Any]:
    return {name: getattr(book, name) for name in BOOK_FIELDS}


# --- parsing files ----------------------------------------------------------------------------


def parse_lorebook(data: bytes, filename: str = "") -> Lorebook:
    """Read a lorebook from a SillyTavern World Info JSON file, a V3 ``lorebook_v3`` file, a bare
    ``character_book`` object, or a character card (JSON or PNG) with a book in it.

    :class:`WorldInfoError` ("… is not a World Info file: <why>") for anything else.
    """
    try:
        book = _parse(bytes(data))
        check(book)
        return book
    except (WorldInfoError, _Bad) as exc:
        raise WorldInfoError(f"{filename or 'This file'} is not a World Info file: {exc}.") from None


def check(book: Lorebook) -> None:
    """Raise :class:`WorldInfoError` if the book is over the limits: it must fit in a card (as
    compact JSON, in both formats), with at most ``MAX_ENTRIES`` entries and texts of at most
    ``MAX_TEXT_CHARS``."""
    if len(book.entries) > MAX_ENTRIES:
        raise WorldInfoError(f"it has {len(book.entries):,} entries; the limit is {MAX_ENTRIES:,}")
    for entry in book.entries:
        if len(entry.content) > MAX_TEXT_CHARS:
            raise WorldInfoError(
                f"the entry '{entry.label}' is {len(entry.content):,} characters long; the limit is {MAX_TEXT_CHARS:,}"
            )
    for written in (book.native(), book.to_character_book()):
        try:
            size = len(card_json(written))
        except ValueError:
            raise WorldInfoError("it holds a number JSON cannot represent") from None
        if size > MAX_CARD_JSON_BYTES:
            raise WorldInfoError(
                f"it takes {size:,} bytes as JSON; the limit is {MAX_CARD_JSON_BYTES:,} "
                f"({MAX_CARD_JSON_BYTES // 2**20} MB), so that it fits in a character card"
            )


def _parse(data: bytes) -> Lorebook:
    if len(data) > MAX_FILE_BYTES:
        size, limit = len(data) / 2**20, MAX_FILE_BYTES // 2**20
        raise WorldInfoError(f"it is {size:.1f} MB and lorebooks are limited to {limit} MB")
    if data.startswith(PNG_SIGNATURE):
        return _from_png_card(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WorldInfoError("it is neither JSON text (UTF-8) nor a PNG card") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except WorldInfoError:
        raise
    except json.JSONDecodeError as exc:
        raise WorldInfoError(f"it is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise WorldInfoError("it is JSON this app cannot read (a huge number or absurd nesting)") from None
    return _from_json(clean_json(value, WorldInfoError))


def _from_json(value: Any) -> Lorebook:
    if not isinstance(value, dict):
        raise WorldInfoError(f"the JSON is {_kind(value)}, not an object with 'entries'")
    spec = value.get("spec")
    if spec == LOREBOOK_V3:
        return Lorebook.from_character_book(value.get("data"))
    card_data = value.get("data")
    if spec in ("chara_card_v2", "chara_card_v3") or (
        isinstance(card_data, dict) and "name" in card_data and "entries" not in value
    ):
        book = card_data.get("character_book") if isinstance(card_data, dict) else None
        if not isinstance(book, dict):
            raise WorldInfoError("it is a character card without a lorebook (import the card on the Personas page)")
        read = Lorebook.from_character_book(book)
        name = card_data.get("name") if isinstance(card_data, dict) else ""
        return read if read.name.strip() else replace(read, name=_text(name))
    if "entries" not in value:
        if "name" in value and ("first_mes" in value or "description" in value):
            raise WorldInfoError("it looks like a character card (import it on the Personas page)")
        found = ", ".join(f"'{k}'" for k in list(value)[:5]) or "nothing"
        raise WorldInfoError(f"it has no 'entries' (found {found}); a World Info file is an object with 'entries'")
    entries = value["entries"]
    if isinstance(entries, list):  # a card's book, unless its entries are World Info ones
        first = entries[0] if entries else None
        if not (isinstance(first, dict) and "key" in first and "keys" not in first):
            return Lorebook.from_character_book(value)
    return Lorebook.from_world_info(value)


def _from_png_card(data: bytes) -> Lorebook:
    from personas.cards import CardError, parse_card

    try:
        persona = parse_card(data).persona
    except CardError as exc:
        raise WorldInfoError(str(exc).removeprefix("This file is not a character card: ").rstrip(".")) from None
    if not isinstance(persona.character_book, dict):
        raise WorldInfoError("it is a character card without a lorebook (import the card on the Personas page)")
    book = Lorebook.from_character_book(persona.character_book)
    return book if book.name.strip() else replace(book, name=persona.name)


def _reject_constant(name: str) -> Any:
    raise WorldInfoError(f"it contains {name}, which is not valid JSON")


# --- writing files ----------------------------------------------------------------------------


def export_world_info(book: Lorebook) -> bytes:
    """A SillyTavern World Info file (indented UTF-8 JSON, as SillyTavern writes them)."""
    return json.dumps(book.to_world_info(), ensure_ascii=False, indent=4, allow_nan=False).encode("utf-8")


def export_lorebook_v3(book: Lorebook) -> bytes:
    """A standalone V3 lorebook file: ``{"spec": "lorebook_v3", "data": <character_book>}``."""
    wrapped = {"spec": LOREBOOK_V3, "data": book.to_character_book()}
    return json.dumps(wrapped, ensure_ascii=False, indent=2, allow_nan=False).encode("utf-8")


def read_book(fmt: str, data: Any) -> Lorebook:
    """A book in the given format (``"world_info"`` or ``"character_book"``), read strictly;
    :class:`WorldInfoError` if it is not one."""
    try:
        return Lorebook.from_character_book(data) if fmt == "character_book" else Lorebook.from_world_info(data)
    except _Bad as exc:
        raise WorldInfoError(str(exc)) from None


def card_books(character_book: Any) -> list[Lorebook]:
    """A card's own ``character_book`` as a lorebook (read leniently), in a list; empty without one."""
    try:
        return [Lorebook.from_character_book(character_book, strict=False)]
    except _Bad:
        return []


def new_entry(book: Lorebook, **fields: Any) -> LoreEntry:
    """A new entry for ``book``: SillyTavern's defaults (order 100, secondary keys on), but after
    the character (with the message), which costs the prompt cache nothing (see ``llm.prompts``)."""
    values: dict[str, Any] = {"content": "", "insertion_order": DEFAULT_ORDER, "selective": True}
    return LoreEntry(**(values | fields), format=book.format)


# --- small helpers ----------------------------------------------------------------------------


def _which(slot: str | None, n: int) -> str:
    return f"'{slot}'" if slot is not None else str(n + 1)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
