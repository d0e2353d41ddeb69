"""Preparing a reply: history window, recall without repeats, lorebook, budget (real store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memory import MemoryStore
from personas import Persona
from ui.reply import HISTORY_WINDOW, prepare_reply, recent_history

T0 = datetime(2026, 4, 1, tzinfo=UTC)
BOOK = {
    "entries": [
        {"keys": ["Kestrel"], "content": "The Kestrel is a three-masted cargo airship.", "name": "The ship"},
        {"keys": ["Oru"], "content": "Oru is a quarantined city.", "enabled": True},
    ]
}
PERSONA = Persona(id="mara", name="Mara", description="Captain.", character_book=BOOK, first_mes="Ahoy, {{user}}.")


def turns_in(store: MemoryStore, n: int, conversation: str = "c1"):
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        store.add_turn("mara", conversation, role, f"Message {i} about the weather in port", T0 + timedelta(minutes=i))
    return store.transcript("mara", conversation)


def test_history_window_keeps_the_greeting_only_at_the_start(store: MemoryStore) -> None:
    short = turns_in(store, 4)
    assert recent_history(short, "Ahoy.")[0] == ("assistant", "Ahoy.")
    long = turns_in(store, HISTORY_WINDOW + 3, "c2")
    history = recent_history(long, "Ahoy.")
    assert len(history) == HISTORY_WINDOW and history[0][1] == long[3].text


def test_recall_skips_what_the_history_already_has(store: MemoryStore) -> None:
    store.add_turn("mara", "old", "user", "My brother Tomas repairs clocks in Vell.", T0 - timedelta(days=30))
    turns = turns_in(store, 4)
    prepared = prepare_reply(store, PERSONA, "Sam", turns, "Ahoy.", "Does my brother fix clocks?", 5, budget=3000)
    ids = [m.id for m in prepared.memories]
    assert not set(ids) & {t.id for t in turns}
    assert "Tomas" in prepared.memories[0].text
    assert "Tomas" in prepared.parts.memories[0]


def test_lorebook_entries_join_the_persona_when_their_key_comes_up(store: MemoryStore) -> None:
    prepared = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "How fast is the kestrel?", 3, budget=3000)
    assert [entry.label for entry in prepared.lore] == ["The ship"]
    assert "World information:\n- The Kestrel is a three-masted cargo airship." in prepared.parts.persona
    assert "Oru" not in prepared.parts.persona
    quiet = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "Hello there", 3, budget=3000)
    assert quiet.lore == [] and "World information" not in quiet.parts.persona


def test_memories_that_do_not_fit_are_not_reported_as_used(store: MemoryStore) -> None:
    for i in range(5):
        store.add_turn("mara", "old", "user", f"Fact {i}: " + "the harbour lights are green " * 20, T0)
    prepared = prepare_reply(store, PERSONA, "Sam", [], "", "harbour lights", 5, budget=450)
    assert 0 < len(prepared.memories) < 5
    assert len(prepared.memories) == len(prepared.parts.memories)


def test_consecutive_replies_are_alternatives_of_one_message(store: MemoryStore) -> None:
    from ui.reply import chosen_turns, exchanges

    for i, role in enumerate(["user", "assistant", "assistant", "user", "assistant"]):
        store.add_turn("mara", "alt", role, f"{role} {i}", T0 + timedelta(seconds=i))
    turns = store.transcript("mara", "alt")
    groups = exchanges(turns)
    assert [[t.text for t in g] for g in groups] == [
        ["user 0"],
        ["assistant 1", "assistant 2"],
        ["user 3"],
        ["assistant 4"],
    ]
    assert [t.text for t in chosen_turns(groups, {})] == ["user 0", "assistant 2", "user 3", "assistant 4"]
    assert chosen_turns(groups, {groups[1][0].id: 0})[1].text == "assistant 1"
    assert chosen_turns(groups, {groups[1][0].id: 9})[1].text == "assistant 2"
