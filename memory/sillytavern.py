"""SillyTavern chats in: a ``.jsonl`` chat file read defensively, then stored as a conversation.

The file (written by SillyTavern's ``saveChat``, ``public/script.js``) is a header line —
``user_name``, ``character_name``, ``create_date``, ``chat_metadata`` — then one JSON object
per message: ``name``, ``is_user``, ``is_system``, ``send_date``, ``mes``, and for replies
``swipes`` (the alternatives), ``swipe_id`` (the one shown), ``swipe_info`` and ``extra``.
Group chats and chats from other tools may have no header. :func:`memory.export.conversation_sillytavern`
writes the same shape, so what we export imports again.

Files come from elsewhere, so :func:`parse_chat` checks the size before parsing, every line and
field type, and the limits below; anything it refuses raises :class:`ChatFormatError` with a
message for the user ("… is not a SillyTavern chat: <why>"), and nothing is stored.

How a chat becomes turns (:func:`plan_turns`):

- a user message is a user turn; a character message is an assistant turn, and its other swipes
  are stored as further assistant turns just before it, so the chat page shows them as the
  alternatives of that reply (‹ 1 / 3 ›) with the swipe SillyTavern showed selected (the page
  shows the newest alternative by default, so that one is stored last);
- messages with ``is_system`` are skipped: SillyTavern keeps them out of the prompt (its own notes,
  ``/comment``, messages the user hid), and counted in :attr:`ImportPlan.skipped_system`;
- character messages in a row (a group chat, ``/sendas``, a narrator) are one reply here, their
  texts joined by a blank line (prefixed by who said each when the names differ): consecutive
  replies are alternatives in this app. The other swipes of such a run are not kept (counted);
- an opening character message that is the persona's own greeting is skipped, as the chat page
  shows the greeting anyway;
- dates are kept (every format SillyTavern writes or reads: "June 19, 2023 2:20pm",
  "2024-7-12@01h31m37s", "2024-6-5 @14h 56m 50s 682ms", ISO 8601, epoch milliseconds or seconds).
  A date without a time zone is taken as UTC, the zone the app shows, so the times read as
  SillyTavern showed them. A message with no readable date takes the one before it; each turn is
  at least a millisecond after the one before, so the order of the file is the order stored;
- a reasoning model's thinking (``extra.reasoning``, and how long it took,
  ``extra.reasoning_duration`` in ms: newer SillyTavern versions) is kept with the reply shown,
  never embedded or recalled (the thinking of the other swipes, in ``swipe_info``, is not kept).

:func:`import_chat` stores the turns in batches through :meth:`MemoryStore.add_turns` with a
progress callback. The conversation id comes from the turns and the file's dates, and a chat
without dates gets the time of its first import again, so importing the same chat again stores
nothing twice (and finishes an import that was interrupted).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeGuard

from memory.models import NewTurn

if TYPE_CHECKING:
    from memory.store import MemoryStore

#: The largest chat file read (a 5,000-message chat is a few MB).
MAX_CHAT_BYTES = 64 * 2**20
#: Messages (lines) in one chat.
MAX_MESSAGES = 100_000
#: Swipes of one message.
MAX_SWIPES = 1_000
#: Characters of one message or swipe (the card limit of ``personas.limits``).
MAX_TEXT_CHARS = 500_000
#: Characters of a conversation title.
MAX_TITLE_CHARS = 120
#: Turns stored per call of ``add_turns`` (one progress step).
IMPORT_BATCH = 256
#: Space between consecutive turns when the dates do not order them.
STEP = timedelta(milliseconds=1)

_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                "october", "november", "december")  # fmt: skip
_MONTHS = {name: n for n, full in enumerate(_MONTH_NAMES, start=1) for name in (full, full[:3])}
# "June 19, 2023 2:20pm" (getMessageTimeStamp)
_MERIDIEM = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{1,2})\s*([ap]m)", re.IGNORECASE)
# "2024-7-12@01h31m37s" (humanizedDateTime) and "2024-6-5 @14h 56m 50s 682ms" (humanizedISO8601DateTime)
_HUMANIZED = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?")
_DIGITS = re.compile(r"\d{1,16}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HEADER_KEYS = ("user_name", "character_name", "create_date", "chat_metadata")


class ChatFormatError(ValueError):
    """A file that is not a usable SillyTavern chat; the message is meant for the user."""


@dataclass(frozen=True)
class Message:
    """One message of the chat, as the file has it (system messages are not kept)."""

    is_user: bool
    name: str
    text: str  # what SillyTavern showed (``mes``)
    sent_at: datetime | None
    alternatives: tuple[str, ...] = ()  # the other swipes, in the file's order
    thinking: str = ""
    thinking_seconds: float | None = None


@dataclass(frozen=True)
class Chat:
    user_name: str
    character_name: str
    created_at: datetime | None
    messages: tuple[Message, ...]
    skipped_system: int = 0
    title: str = ""


@dataclass(frozen=True)
class ImportPlan:
    """The turns a chat becomes (see the module's docstring), in the order they are stored."""

    turns: tuple[NewTurn, ...]
    messages: int  # messages that made the turns
    skipped_system: int = 0
    merged: int = 0  # character messages joined to the one before them
    dropped_swipes: int = 0
    skipped_greeting: bool = False


@dataclass(frozen=True)
class ImportResult:
    conversation_id: str
    title: str
    plan: ImportPlan
    stored: int  # turns written now (0 when the chat was already imported)

    @property
    def already_imported(self) -> bool:
        return self.stored == 0 and bool(self.plan.turns)


@dataclass
class _Run:
    """Character messages in a row, which become one reply."""

    messages: list[Message] = field(default_factory=list)


# --- parsing ----------------------------------------------------------------------------------


def parse_chat(data: bytes, filename: str = "") -> Chat:
    """Read a SillyTavern chat (``.jsonl``); :class:`ChatFormatError` if it is not one."""
    try:
        return _parse(bytes(data), filename)
    except ChatFormatError as exc:
        raise ChatFormatError(f"{filename or 'This file'} is not a SillyTavern chat: {exc}") from None


def _parse(data: bytes, filename: str) -> Chat:
    if len(data) > MAX_CHAT_BYTES:
        raise ChatFormatError(
            f"it is {len(data) / 2**20:.1f} MB and chats are limited to {MAX_CHAT_BYTES // 2**20} MB."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ChatFormatError("it is not UTF-8 text (a chat file is JSON lines).") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if not lines:
        raise ChatFormatError("the file is empty.")
    if len(lines) > MAX_MESSAGES + 1:
        raise ChatFormatError(f"it has {len(lines):,} lines; the limit is {MAX_MESSAGES:,} messages.")
    records = [(number, _line(number, line)) for number, line in lines]
    header: dict[str, Any] = {}
    if "mes" not in records[0][1]:
        if not any(key in records[0][1] for key in _HEADER_KEYS):
            raise ChatFormatError("line 1 is neither a chat header (user_name, character_name…) nor a message (mes).")
        header, records = records[0][1], records[1:]
    user_name = _text(header, "user_name", 1)
    character_name = _text(header, "character_name", 1)
    created_at = parse_send_date(header.get("create_date"))
    messages: list[Message] = []
    skipped = 0
    for number, record in records:
        if _truthy(record, "is_system", number):
            skipped += 1
            continue
        messages.append(_message(record, number))
    if not messages:
        raise ChatFormatError("it has no messages" + (" (only system notes)." if skipped else "."))
    stem = PurePath(filename).stem if filename else ""
    title = " ".join(stem.split()) or f"{character_name or 'SillyTavern'} (imported)"
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return Chat(user_name, character_name, created_at, tuple(messages), skipped, title)


def _line(number: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except ChatFormatError:
        raise
    except json.JSONDecodeError as exc:
        raise ChatFormatError(f"line {number} is not valid JSON ({exc.msg}, column {exc.colno}).") from None
    except (ValueError, RecursionError):  # a number with thousands of digits, or absurd nesting
        raise ChatFormatError(f"line {number} is JSON this app cannot read (a huge number, absurd nesting).") from None
    if not isinstance(value, dict):
        raise ChatFormatError(f"line {number} is {_kind(value)}, not an object.")
    return value


def _reject_constant(name: str) -> Any:
    raise ChatFormatError(f"it contains {name}, which is not valid JSON.")


def _message(record: dict[str, Any], number: int) -> Message:
    text = _mes(record.get("mes"), number, "mes")
    is_user = _truthy(record, "is_user", number)
    swipes: list[str] = []
    raw = record.get("swipes")
    if raw is not None and not is_user:
        if not isinstance(raw, list):
            raise ChatFormatError(f"line {number}: 'swipes' must be a list of texts, not {_kind(raw)}.")
        if len(raw) > MAX_SWIPES:
            raise ChatFormatError(f"line {number} has {len(raw):,} swipes; the limit is {MAX_SWIPES:,}.")
        swipes = [_mes(item, number, f"swipes[{i}]") for i, item in enumerate(raw)]
    chosen = record.get("swipe_id")
    if chosen is not None and (isinstance(chosen, bool) or not isinstance(chosen, int)):
        raise ChatFormatError(f"line {number}: 'swipe_id' must be a whole number, not {_kind(chosen)}.")
    if not (isinstance(chosen, int) and 0 <= chosen < len(swipes)):
        chosen = swipes.index(text) if text in swipes else None
    alternatives = tuple(s for i, s in enumerate(swipes) if i != chosen and s.strip() and s != text)
    extra = record.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise ChatFormatError(f"line {number}: 'extra' must be an object, not {_kind(extra)}.")
    thinking = (extra or {}).get("reasoning")
    duration = (extra or {}).get("reasoning_duration")  # milliseconds
    return Message(
        is_user=is_user,
        name=_text(record, "name", number),
        text=text,
        sent_at=parse_send_date(record.get("send_date")),
        alternatives=alternatives,
        thinking=_clean(thinking, number, "extra.reasoning") if isinstance(thinking, str) else "",
        thinking_seconds=duration / 1000 if _number(duration) and 0 <= duration < 1e9 else None,
    )


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _mes(value: Any, number: int, key: str) -> str:
    """A message text; Chub's chats (which SillyTavern also reads) wrap it as ``{"message": …}``."""
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        value = value["message"]
    if value is None and key == "mes":
        raise ChatFormatError(f"line {number} has no 'mes' (the message text).")
    if not isinstance(value, str):
        raise ChatFormatError(f"line {number}: '{key}' must be text, not {_kind(value)}.")
    return _clean(value, number, key)


def _clean(text: str, number: int, key: str) -> str:
    """The text as it can be stored: JSON may escape lone UTF-16 surrogates ("\\ud800"), which no
    UTF-8 store accepts; they become U+FFFD (as ``memory.schema.storable`` does)."""
    if len(text) > MAX_TEXT_CHARS:
        raise ChatFormatError(f"line {number}: '{key}' is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}.")
    return _SURROGATE.sub("\ufffd", text)


def _text(record: dict[str, Any], key: str, number: int) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChatFormatError(f"line {number}: '{key}' must be text, not {_kind(value)}.")
    if len(value) > 1_000:
        raise ChatFormatError(f"line {number}: '{key}' is {len(value):,} characters; the limit is 1,000.")
    return _SURROGATE.sub("\ufffd", " ".join(value.split()))


def _truthy(record: dict[str, Any], key: str, number: int) -> bool:
    """A flag as SillyTavern reads it (``!!value``): it writes ``is_system: ""`` for a narrator message."""
    value = record.get(key)
    if isinstance(value, list | dict):
        raise ChatFormatError(f"line {number}: '{key}' must be true or false, not {_kind(value)}.")
    return bool(value)


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number")


def parse_send_date(value: Any) -> datetime | None:
    """A ``send_date`` or ``create_date`` in any format SillyTavern writes or reads, as UTC; None
    when it has none or it cannot be read (the caller then places the message after the one before)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return None
        seconds = value / 1000 if value >= 1e11 else value  # epoch ms (SillyTavern), or seconds (other tools)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or len(value) > 100:
        return None
    try:
        if match := _MERIDIEM.search(value):
            month, day, year, hour, minute, meridiem = match.groups()
            if month.lower() not in _MONTHS or not 1 <= int(hour) <= 12:
                return None
            hour24 = int(hour) % 12 + (12 if meridiem.lower() == "pm" else 0)
            return datetime(int(year), _MONTHS[month.lower()], int(day), hour24, int(minute), tzinfo=UTC)
        if match := _HUMANIZED.search(value):
            year, month, day, hour, minute, second, ms = match.groups()
            return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                            int(ms or 0) * 1000, tzinfo=UTC)  # fmt: skip
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- turns ------------------------------------------------------------------------------------


def plan_turns(chat: Chat, greeting: str = "", now: datetime | None = None) -> ImportPlan:
    """The turns the chat is stored as (see the module's docstring). ``greeting``: the persona's
    greeting as the chat page shows it, skipped when the chat opens with it."""
    groups: list[Message | _Run] = []
    for message in chat.messages:
        if message.is_user:
            groups.append(message)
        elif groups and isinstance(groups[-1], _Run):
            groups[-1].messages.append(message)
        else:
            groups.append(_Run([message]))
    skipped_greeting = False
    if groups and isinstance(groups[0], _Run) and greeting.strip():
        opening = groups[0].messages[0]
        if opening.text.strip() == greeting.strip():
            skipped_greeting = True
            groups[0].messages.pop(0)
            if not groups[0].messages:
                groups.pop(0)
    clock = _Clock(chat.created_at or now or datetime.now(UTC))
    turns: list[NewTurn] = []
    merged = dropped = 0
    for group in groups:
        if isinstance(group, Message):
            turns.append(NewTurn("user", group.text, clock.next(group.sent_at)))
            continue
        run = group.messages
        speaker = run[0].name if len({m.name for m in run}) == 1 and run[0].name != chat.character_name else None
        if len(run) == 1:
            for alternative in run[0].alternatives:
                turns.append(NewTurn("assistant", alternative, clock.next(run[0].sent_at), speaker=speaker))
            text, thinking, seconds = run[0].text, run[0].thinking, run[0].thinking_seconds
        else:
            merged += len(run) - 1
            dropped += sum(len(m.alternatives) for m in run)
            names = len({m.name for m in run}) > 1
            text = "\n\n".join(f"{m.name}: {m.text}" if names and m.name else m.text for m in run)
            thinking = "\n\n".join(m.thinking for m in run if m.thinking)
            seconds = sum(m.thinking_seconds for m in run if m.thinking_seconds) or None
        turns.append(NewTurn("assistant", text, clock.next(run[0].sent_at), speaker=speaker, thinking=thinking,
                             thinking_seconds=seconds))  # fmt: skip
    return ImportPlan(tuple(turns), len(chat.messages) - skipped_greeting, chat.skipped_system, merged, dropped,
                      skipped_greeting)  # fmt: skip


class _Clock:
    """Times for the turns: the message's own date, but always after the turn before."""

    def __init__(self, start: datetime) -> None:
        self._last: datetime | None = None
        self._start = start

    def next(self, wanted: datetime | None) -> datetime:
        moment = wanted or (self._last + STEP if self._last else self._start)
        if self._last is not None and moment < self._last + STEP:
            moment = self._last + STEP
        self._last = moment
        return moment


def conversation_id(chat: Chat, plan: ImportPlan) -> str:
    """The id of the conversation a chat is imported as: from its turns and the dates the file
    gives (not the times made up for messages without one), so the same chat maps to the same
    conversation whenever it is imported."""
    digest = hashlib.sha256(json.dumps([_iso(chat.created_at), [_iso(m.sent_at) for m in chat.messages]]).encode())
    for turn in plan.turns:
        digest.update(json.dumps([turn.role, turn.text], ensure_ascii=False).encode())
    return f"st-{digest.hexdigest()[:24]}"


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def import_chat(
    store: MemoryStore,
    persona_id: str,
    chat: Chat,
    *,
    greeting: str = "",
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Store ``chat`` as a new conversation of the persona, titled like the chat; ``progress(done,
    total)`` is called after each batch of turns. Turns already stored (the same chat imported
    before) are not stored again."""
    plan = plan_turns(chat, greeting, now)
    conversation = conversation_id(chat, plan)
    if chat.created_at is None and (stored := store.transcript(persona_id, conversation)):
        # a chat that starts without dates was given the time of its first import: the same again
        plan = plan_turns(chat, greeting, stored[0].created_at)
    ids = [
        store.turn_id(persona_id, conversation, t.role, t.text, t.created_at or datetime.now(UTC)) for t in plan.turns
    ]
    present = {m.id for m in store.get(ids, persona_id)}
    todo: Sequence[NewTurn] = [t for t, i in zip(plan.turns, ids, strict=True) if i not in present]
    total, done = len(plan.turns), len(present)
    if progress:
        progress(done, total)
    for start in range(0, len(todo), IMPORT_BATCH):
        batch = todo[start : start + IMPORT_BATCH]
        store.add_turns(persona_id, conversation, batch)
        done += len(batch)
        if progress:
            progress(done, total)
    if todo or not store.conversation_titles(persona_id).get(conversation):
        store.rename_conversation(persona_id, conversation, chat.title)
    return ImportResult(conversation, chat.title, plan, len(todo))
