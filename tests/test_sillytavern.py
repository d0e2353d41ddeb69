"""SillyTavern chat import: files of the shapes SillyTavern writes, dates, swipes as alternatives,
storing into a real store, the round trip with our own export, refusals, and fuzzing.

The fixtures in tests/fixtures/sillytavern/ are ours (SillyTavern is AGPL-3.0, so none of its
files is copied): each has the shape SillyTavern's code writes (``saveChat``, ``getFirstMessage``,
``sendMessageAsUser``, ``saveReply`` with ``swipe_info``, ``/comment`` and hidden messages with
``is_system``, ``sendNarratorMessage`` with ``is_system: ""``, a group chat without a header, a
Chub chat with ``{"message": …}`` texts) and every date format it writes or reads.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from chat.prompting import chosen_turns, exchanges
from memory import MemoryStore
from memory import sillytavern as st_chat
from memory.export import conversation_sillytavern
from memory.sillytavern import ChatFormatError, import_chat, parse_chat, parse_send_date, plan_turns
from tests.fuzzing import fuzz
from tests.harness import new_app
from ui.safe_text import WORD_JOINER

FIXTURES = Path(__file__).parent / "fixtures" / "sillytavern"
STORM = FIXTURES / "mara-the-storm.jsonl"
GREETING = (
    "*The deck of the Kestrel tilts as the wind picks up.* Hold on to something, Alex. We sail into the storm tonight."
)


def lines(*records: object) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


HEADER = {"user_name": "Alex", "character_name": "Mara", "create_date": "2024-01-01@10h00m00s", "chat_metadata": {}}


def message(text: str, is_user: bool = False, **more: object) -> dict[str, object]:
    return {"name": "Alex" if is_user else "Mara", "is_user": is_user, "is_system": False, "mes": text, **more}


@pytest.fixture
def memory(tmp_path: Path) -> MemoryStore:
    return MemoryStore.open(path=str(tmp_path / "chroma"))


# --- parsing --------------------------------------------------------------------------------


def test_a_chat_as_sillytavern_writes_it() -> None:
    chat = parse_chat(STORM.read_bytes(), STORM.name)
    assert (chat.user_name, chat.character_name, chat.title) == ("Alex", "Captain Mara Voss", "mara-the-storm")
    assert chat.created_at == datetime(2024, 7, 12, 21, 4, 10, tzinfo=UTC)
    assert chat.skipped_system == 2  # the /comment note and the hidden message
    assert [m.is_user for m in chat.messages] == [False, True, False, True, False, False, True, False, True]
    reply = chat.messages[2]
    assert reply.text.startswith("To the floating isle of Keld")  # swipe_id 1 is what SillyTavern showed
    assert reply.alternatives == ("To Port Ash, to resupply.", "Nowhere you would like, landlubber.")
    assert chat.messages[4].thinking == "She is proud of the hand; keep it short."
    assert chat.messages[5].name == "Narrator"  # is_system "" is not a system message (JavaScript's !!"")
    assert chat.messages[7].alternatives == ()  # an empty swipe (a generation that failed) is not kept


def test_the_turns_of_a_chat(memory: MemoryStore) -> None:
    plan = plan_turns(parse_chat(STORM.read_bytes()), greeting=GREETING)
    assert plan.skipped_greeting and plan.skipped_system == 2 and plan.merged == 1
    roles = [t.role for t in plan.turns]
    assert roles == ["user", "assistant", "assistant", "assistant", "user", "assistant", "user", "assistant", "user"]
    # the alternatives come first and the reply SillyTavern showed last: the chat page shows the newest
    assert plan.turns[3].text.startswith("To the floating isle of Keld")
    assert [t.text for t in plan.turns[1:3]] == ["To Port Ash, to resupply.", "Nowhere you would like, landlubber."]
    times = [t.created_at for t in plan.turns]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[0] == datetime(2024, 7, 12, 21, 5, tzinfo=UTC)
    assert times[6] == datetime(2024, 7, 12, 21, 12, 3, 120_000, tzinfo=UTC)
    assert times[7] == datetime.fromtimestamp(1720819000, UTC)
    assert times[8] == datetime(2024, 7, 12, 21, 20, tzinfo=UTC)
    # a character message followed by the narrator's: one reply, each part with who said it
    assert plan.turns[5].text == (
        "Captain Mara Voss: Tobin Reed, a clockmaker in Keld. He charged me a song and a bottle of plum brandy."
        "\n\nNarrator: Lightning splits the sky over the bow."
    )
    assert plan.turns[5].thinking == "She is proud of the hand; keep it short."
    assert plan.turns[5].thinking_seconds == 1.25
    # without the persona's greeting, the chat's opening message and its swipes are kept
    kept = plan_turns(parse_chat(STORM.read_bytes()), greeting="Another greeting")
    assert not kept.skipped_greeting and [t.role for t in kept.turns[:3]] == ["assistant", "assistant", "user"]
    assert kept.turns[1].text == GREETING


def test_a_group_chat_without_a_header_and_a_chub_chat() -> None:
    group = plan_turns(parse_chat((FIXTURES / "harbour-group.jsonl").read_bytes()))
    assert [t.role for t in group.turns] == ["assistant", "user", "assistant", "user"]
    assert group.turns[0].speaker == "Juniper Hale"  # a group member speaking alone: their name
    assert group.turns[2].text == "Juniper Hale: Berth seven is free.\n\nElias Thorne: Seven leaks. Take nine."
    assert group.turns[2].speaker is None and group.dropped_swipes == 1 and group.merged == 1
    chub = parse_chat((FIXTURES / "chub-export.jsonl").read_bytes())
    assert chub.messages[0].text == "The library is closed, but I suppose you may come in."
    assert chub.messages[0].alternatives == ("Shh. Whisper, if you must speak.",)
    assert chub.messages[1].sent_at == datetime.fromtimestamp(1698912060, UTC)  # epoch seconds, as text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("June 19, 2023 2:20pm", datetime(2023, 6, 19, 14, 20, tzinfo=UTC)),
        ("January 1, 2024 12:00am", datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
        ("December 31, 2024 12:59PM", datetime(2024, 12, 31, 12, 59, tzinfo=UTC)),
        ("Sep 3, 2024 9:07am", datetime(2024, 9, 3, 9, 7, tzinfo=UTC)),
        ("2024-7-12@01h31m37s", datetime(2024, 7, 12, 1, 31, 37, tzinfo=UTC)),
        ("2024-6-5 @14h 56m 50s 682ms", datetime(2024, 6, 5, 14, 56, 50, 682_000, tzinfo=UTC)),
        ("2026-09-25 @23h59m28s", datetime(2026, 9, 25, 23, 59, 28, tzinfo=UTC)),
        ("2026-01-02T03:04:05.000Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-01T12:00:00", datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
        (1710000000000, datetime(2024, 3, 9, 16, 0, tzinfo=UTC)),  # epoch ms (Date.now())
        ("1710000000000", datetime(2024, 3, 9, 16, 0, tzinfo=UTC)),
        (1785232801, datetime.fromtimestamp(1785232801, UTC)),  # epoch seconds (other tools)
        ("", None),
        ("yesterday", None),
        ("February 30, 2024 1:00pm", None),
        ("Smarch 3, 2024 1:00pm", None),
        (-5, None),
        (True, None),
        (None, None),
        (float("inf"), None),
        (10**30, None),
    ],
)
def test_dates_in_every_format_sillytavern_reads(value: object, expected: datetime | None) -> None:
    assert parse_send_date(value) == expected


def test_messages_without_dates_follow_the_one_before() -> None:
    chat = parse_chat(lines(HEADER, message("Hi", True), message("Ahoy", send_date="nonsense"), message("Bye", True)))
    times = [t.created_at for t in plan_turns(chat).turns]
    assert times[0] == datetime(2024, 1, 1, 10, tzinfo=UTC)  # the chat's create_date
    assert times[1] - times[0] == times[2] - times[1] == timedelta(milliseconds=1)
    undated = plan_turns(parse_chat(lines(message("Hi", True))), now=datetime(2026, 5, 1, tzinfo=UTC))
    assert undated.turns[0].created_at == datetime(2026, 5, 1, tzinfo=UTC)


def test_dates_that_go_back_keep_the_order_of_the_file() -> None:
    chat = parse_chat(lines(HEADER, message("one", True, send_date=2_000_000_000_000), message("two", send_date=5)))
    first, second = plan_turns(chat).turns
    assert second.created_at == first.created_at + timedelta(milliseconds=1)


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "the file is empty"),
        (b"\n \n", "the file is empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "line 1 is a list, not an object"),
        (b'{"hello": 1}', "neither a chat header"),
        (lines(HEADER), "it has no messages"),
        (lines(HEADER, message("x", is_system=True)), "only system notes"),
        (lines(HEADER, message("Hi", True)) + b"\n{broken", "line 3 is not valid JSON"),
        (lines(HEADER, {"name": "Mara", "is_user": False}), "line 2 has no 'mes'"),
        (lines(HEADER, message(42)), "'mes' must be text, not a number"),  # type: ignore[arg-type]
        (lines(HEADER, message("x", swipes="x")), "'swipes' must be a list"),
        (lines(HEADER, message("x", swipes=["x", 3])), "'swipes[1]' must be text"),
        (lines(HEADER, message("x", swipe_id="0")), "'swipe_id' must be a whole number"),
        (lines(HEADER, message("x", is_user=[True])), "'is_user' must be true or false"),
        (lines(HEADER, message("x", extra=[])), "'extra' must be an object"),
        (lines(HEADER, message("x", name={"a": 1})), "'name' must be text"),
        (lines({**HEADER, "user_name": 7}, message("x")), "'user_name' must be text"),
        (lines(HEADER, message("x" * (st_chat.MAX_TEXT_CHARS + 1))), "the limit is 500,000"),
        (lines(HEADER, message("x", swipes=["y"] * (st_chat.MAX_SWIPES + 1))), "the limit is 1,000"),
        (lines(HEADER) + b'\n{"mes": NaN}', "NaN, which is not valid JSON"),
        (lines(HEADER) + b'\n{"mes": "x", "n": 1' + b"0" * 5000 + b"}", "cannot read"),
        (lines(HEADER) + b"\n" + b"[" * 100_000 + b"]" * 100_000, "cannot read"),
    ],
)
def test_bad_files_get_a_clear_message(data: bytes, why: str) -> None:
    with pytest.raises(ChatFormatError) as error:
        parse_chat(data, "chat.jsonl")
    assert str(error.value).startswith("chat.jsonl is not a SillyTavern chat: ")
    assert why in str(error.value)


def test_limits_on_size_and_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ChatFormatError, match="chats are limited to 64 MB"):
        parse_chat(b" " * (st_chat.MAX_CHAT_BYTES + 1))
    monkeypatch.setattr(st_chat, "MAX_MESSAGES", 3)
    parse_chat(lines(HEADER, *[message("x", True)] * 3))
    with pytest.raises(ChatFormatError, match="it has 5 lines; the limit is 3 messages"):
        parse_chat(lines(HEADER, *[message("x", True)] * 4))


def test_lone_surrogates_and_nul_can_be_stored(memory: MemoryStore) -> None:
    raw = b'{"name": "Al\\udc00ex", "is_user": true, "mes": "bad \\ud800 half, NUL \\u0000 kept"}'
    chat = parse_chat(raw)
    result = import_chat(memory, "mara", chat)
    (turn,) = memory.transcript("mara", result.conversation_id)
    assert turn.text == "bad \ufffd half, NUL \x00 kept"


# --- storing --------------------------------------------------------------------------------


def test_import_stores_a_conversation_with_alternatives_dates_and_title(memory: MemoryStore) -> None:
    chat = parse_chat(STORM.read_bytes(), "Captain Mara Voss - 2024-7-12@21h04m10s.jsonl")
    steps: list[tuple[int, int]] = []
    result = import_chat(memory, "mara", chat, greeting=GREETING, progress=lambda d, t: steps.append((d, t)))
    assert result.stored == 9 and not result.already_imported
    assert steps[0] == (0, 9) and steps[-1] == (9, 9)
    (conversation,) = memory.conversations("mara")
    assert conversation.id == result.conversation_id
    assert conversation.title == "Captain Mara Voss - 2024-7-12@21h04m10s"
    assert conversation.started_at == datetime(2024, 7, 12, 21, 5, tzinfo=UTC)
    transcript = memory.transcript("mara", result.conversation_id)
    groups = exchanges(transcript)
    assert [len(g) for g in groups] == [1, 3, 1, 1, 1, 1, 1]  # the reply with two other swipes: ‹ 3 / 3 ›
    shown = chosen_turns(groups, {})
    assert shown[1].text.startswith("To the floating isle of Keld")
    assert [m.text for m in groups[1][:2]] == ["To Port Ash, to resupply.", "Nowhere you would like, landlubber."]
    assert shown[3].thinking == "She is proud of the hand; keep it short." and shown[3].thinking_seconds == 1.2
    assert shown[3].context == "the user: Who made your brass hand?"  # what it answered, as for any turn
    assert any("Tobin Reed" in m.text for m in memory.recall("mara", "who made the brass hand?", k=3))

    again = import_chat(memory, "mara", parse_chat(STORM.read_bytes(), "renamed.jsonl"), greeting=GREETING)
    assert again.already_imported and again.conversation_id == result.conversation_id
    assert memory.count("mara") == 9 and len(memory.conversations("mara")) == 1
    assert memory.conversations("mara")[0].title == "Captain Mara Voss - 2024-7-12@21h04m10s"  # kept


def test_an_interrupted_import_is_finished_by_importing_again(
    memory: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(st_chat, "IMPORT_BATCH", 4)
    chat = parse_chat(STORM.read_bytes())
    calls = 0
    original = memory.add_turns

    def failing(*args: object, **kwargs: object) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the store went away")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(memory, "add_turns", failing)
    with pytest.raises(ConnectionError):
        import_chat(memory, "mara", chat)
    assert memory.count("mara") == 4
    monkeypatch.setattr(memory, "add_turns", original)
    steps: list[tuple[int, int]] = []
    result = import_chat(memory, "mara", chat, progress=lambda d, t: steps.append((d, t)))
    assert result.stored == len(result.plan.turns) - 4 and steps[0] == (4, len(result.plan.turns))
    assert [m.text for m in memory.transcript("mara", result.conversation_id)] == [t.text for t in result.plan.turns]


def test_a_chat_without_dates_imported_twice_is_stored_once(memory: MemoryStore) -> None:
    chat = parse_chat(lines({"user_name": "Alex"}, message("Hi", True), message("Ahoy"), message("Bye", True)))
    first = import_chat(memory, "mara", chat, now=datetime(2026, 1, 1, tzinfo=UTC))
    again = import_chat(memory, "mara", chat, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert again.already_imported and again.conversation_id == first.conversation_id
    assert memory.count("mara") == 3
    assert memory.transcript("mara", first.conversation_id)[0].created_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_what_we_export_imports_again(memory: MemoryStore) -> None:
    """Our SillyTavern export read back: the same turns, texts, roles and times (to the second)."""
    start = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    texts = ["Hi captain", "Ahoy! 🌊 <b>bold</b> & {{user}}", "Line one\nline two", 'Mara said: "yes"']
    for n, text in enumerate(texts):
        memory.add_turn("src", "c1", "user" if n % 2 == 0 else "assistant", text, start + timedelta(minutes=n))
    turns = memory.transcript("src", "c1")
    exported = conversation_sillytavern("Mara", "User", "Welcome aboard.", turns)
    result = import_chat(memory, "dst", parse_chat(exported.encode(), "c1.jsonl"), greeting="Welcome aboard.")
    assert result.plan.skipped_greeting
    back = memory.transcript("dst", result.conversation_id)
    assert [(m.role, m.text) for m in back] == [(m.role, m.text) for m in turns]
    assert [m.created_at for m in back] == [m.created_at.replace(microsecond=0) for m in turns]


# --- fuzzing --------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["name", "is_user", "is_system", "send_date", "mes", "swipes", "swipe_id", "extra", "user_name",
          "create_date", "chat_metadata"]  # fmt: skip
VALID = [json.loads(line) for line in STORM.read_text("utf-8").splitlines()]


def _check(data: bytes) -> None:
    try:
        chat = parse_chat(data, "fuzz.jsonl")
    except ChatFormatError as exc:
        assert str(exc).startswith("fuzz.jsonl is not a SillyTavern chat: ")
        return
    plan = plan_turns(chat, greeting=GREETING)
    times = [t.created_at for t in plan.turns]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(t.role in ("user", "assistant") and isinstance(t.text, str) for t in plan.turns)


@fuzz(300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_bytes(data: bytes) -> None:
    _check(data)


@fuzz(400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_a_real_chat_with_fields_changed(data: st.DataObject) -> None:
    records = [dict(r) for r in VALID]
    for _ in range(data.draw(st.integers(1, 6))):
        record = records[data.draw(st.integers(0, len(records) - 1))]
        key = data.draw(st.sampled_from(FIELDS))
        if data.draw(st.booleans()):
            record[key] = data.draw(JSON)
        else:
            record.pop(key, None)
    if data.draw(st.booleans()):
        del records[data.draw(st.integers(0, len(records) - 1))]
    _check(lines(*records))


@fuzz(150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(JSON, st.builds(dict, mes=st.text(max_size=10), is_user=st.booleans())), max_size=8))
def test_fuzz_lines_of_any_json(records: list[object]) -> None:
    _check(lines(*records))


# --- the Personas page and the chat page ------------------------------------------------------


def shown(markdown: str) -> str:
    """What an element given ``ui.safe_text.plain`` text shows: its escapes and word joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


def test_the_personas_page_imports_a_chat_and_the_chat_page_shows_it(app_env: Path) -> None:
    at = new_app()
    at.switch_page("pages/personas.py").run()
    at.file_uploader(key="chat_file_mara-voss").set_value(("broken.jsonl", b'{"user_name": "A"}\n{oops', "x"))
    at = at.button(key="chat_submit_mara-voss").click().run()
    assert "broken.jsonl is not a SillyTavern chat: line 2 is not valid JSON" in shown(at.error[0].value)
    store = MemoryStore.open(path=str(app_env / "chroma"))
    assert not [c for c in store.conversations("mara-voss")]  # nothing stored

    at.file_uploader(key="chat_file_mara-voss").set_value((STORM.name, STORM.read_bytes(), "application/jsonl"))
    at = at.button(key="chat_submit_mara-voss").click().run()
    assert not at.exception and not at.error
    success = shown(at.success[0].value)
    assert "Imported “mara-the-storm” for Captain Mara Voss: 9 messages as 11 turns" in success
    assert "2 system notes left out" in success and "1 message in a row joined to the reply before" in success

    at.switch_page("pages/chat.py").run()
    assert not at.exception
    messages = [m.markdown[0].value for m in at.chat_message]
    assert any("To the floating isle of Keld" in text for text in messages)
    assert not any("To Port Ash" in text for text in messages)  # an alternative, behind ‹ ›
    assert "3 / 3" in [c.value for c in at.caption]  # the reply SillyTavern showed, with its two other swipes
