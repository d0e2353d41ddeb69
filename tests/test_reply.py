"""Preparing a reply: history window, recall without repeats, lorebook, budget (real store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chat.prompting import HISTORY_STEP, HISTORY_WINDOW, history_start, prepare_reply, recent_history
from llm.prompts import CHAT_PROMPT
from memory import MemoryStore
from personas import Persona

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


def test_history_window_moves_in_steps() -> None:
    starts = [history_start(count) for count in range(200)]
    for count, start in enumerate(starts):
        assert start % HISTORY_STEP == 0
        assert min(count, HISTORY_WINDOW) <= count - start < HISTORY_WINDOW + HISTORY_STEP
    assert starts == sorted(starts)
    assert len(set(starts)) == 1 + (199 - HISTORY_WINDOW) // HISTORY_STEP  # it moved once per step


def test_history_window_keeps_the_greeting_only_at_the_start(store: MemoryStore) -> None:
    short = turns_in(store, 4)
    assert recent_history(short, "Ahoy.")[0] == ("assistant", "Ahoy.")
    long = turns_in(store, HISTORY_WINDOW + HISTORY_STEP + 3, "c2")
    history = recent_history(long, "Ahoy.")
    assert len(history) == HISTORY_WINDOW + 3 and history[0][1] == long[HISTORY_STEP].text
    assert recent_history(long[:-2], "Ahoy.")[0] == history[0]  # one exchange earlier: the same start


def test_the_next_prompt_begins_like_the_last_one(store: MemoryStore) -> None:
    """What changes with a message (memories, lore) goes with it, so the server can reuse its
    cache of everything before it (see llm.prompts)."""
    store.add_turn("mara", "old", "user", "My brother Tomas repairs clocks in Vell.", T0 - timedelta(days=30))
    store.add_turn("mara", "old", "user", "The Kestrel has a brass compass.", T0 - timedelta(days=29))
    turns = turns_in(store, 6)

    def messages(turns, message):
        prepared = prepare_reply(store, PERSONA, "Sam", turns, "Ahoy.", message, 5, budget=3000)
        return CHAT_PROMPT.invoke(prepared.parts.inputs()).to_messages(), prepared

    first, before = messages(turns, "Does my brother still fix clocks?")
    store.add_turn("mara", "c1", "user", "Does my brother still fix clocks?", T0 + timedelta(hours=1))
    store.add_turn("mara", "c1", "assistant", "Aye, in Vell.", T0 + timedelta(hours=1, seconds=5))
    second, after = messages(store.transcript("mara", "c1"), "How fast is the Kestrel?")
    assert [m.text for m in before.memories] != [m.text for m in after.memories]
    assert [m.content for m in second[: len(first) - 1]] == [m.content for m in first[:-1]]
    assert second[-1].content.startswith("<notes>\n") and second[-1].content.endswith("How fast is the Kestrel?")
    assert "Kestrel is a three-masted" in second[-1].content and "Kestrel is a three" not in second[0].content


def test_recall_skips_what_the_history_already_has(store: MemoryStore) -> None:
    store.add_turn("mara", "old", "user", "My brother Tomas repairs clocks in Vell.", T0 - timedelta(days=30))
    turns = turns_in(store, 4)
    prepared = prepare_reply(store, PERSONA, "Sam", turns, "Ahoy.", "Does my brother fix clocks?", 5, budget=3000)
    ids = [m.id for m in prepared.memories]
    assert not set(ids) & {t.id for t in turns}
    assert "Tomas" in prepared.memories[0].text
    assert "Tomas" in prepared.parts.memories[0]


def test_lorebook_entries_join_the_message_when_their_key_comes_up(store: MemoryStore) -> None:
    prepared = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "How fast is the kestrel?", 3, budget=3000)
    assert [entry.label for entry in prepared.lore] == ["The ship"]
    notes = prepared.parts.inputs()["notes"]
    assert "World information:\n- The Kestrel is a three-masted cargo airship." in notes
    assert "Oru" not in notes
    quiet = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "Hello there", 3, budget=3000)
    assert quiet.lore == [] and "World information" not in quiet.parts.inputs()["notes"]


def test_memories_that_do_not_fit_are_not_reported_as_used(store: MemoryStore) -> None:
    for i in range(5):
        store.add_turn("mara", "old", "user", f"Fact {i}: " + "the harbour lights are green " * 20, T0)
    prepared = prepare_reply(store, PERSONA, "Sam", [], "", "harbour lights", 5, budget=450)
    assert 0 < len(prepared.memories) < 5
    assert len(prepared.memories) == len(prepared.parts.memories)


def test_consecutive_replies_are_alternatives_of_one_message(store: MemoryStore) -> None:
    from chat.prompting import chosen_turns, exchanges

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


def test_the_server_reads_only_the_new_message_again(store: MemoryStore, llm_server) -> None:
    """On the real built-in server: the second reply's prompt comes from the server's cache up to
    the previous message (``usage.prompt_tokens_details.cached_tokens``, llama.cpp's count)."""
    import openai

    from llm.local_server import MODEL_ALIAS

    store.add_turn("mara", "old", "user", "My brother Tomas repairs clocks in Vell.", T0 - timedelta(days=30))
    store.add_turn("mara", "old", "user", "The Kestrel has a brass compass.", T0 - timedelta(days=29))
    client = openai.OpenAI(base_url=llm_server.base_url, api_key="none")
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    usage = []
    for n, message in enumerate(["Does my brother still fix clocks?", "Where is the brass compass?"]):
        turns = turns_in(store, 12, "c0") if n == 0 else store.transcript("mara", "c0")
        prepared = prepare_reply(store, PERSONA, "Sam", turns, "Ahoy.", message, 5, budget=3000)
        messages = CHAT_PROMPT.invoke(prepared.parts.inputs()).to_messages()
        reply = client.chat.completions.create(
            model=MODEL_ALIAS, max_completion_tokens=4, temperature=0,
            messages=[{"role": roles[m.type], "content": m.content} for m in messages],
        )  # fmt: skip
        usage.append(reply.usage)
        store.add_turn("mara", "c0", "user", message, T0 + timedelta(hours=n + 1))
        answer = reply.choices[0].message.content or "…"
        store.add_turn("mara", "c0", "assistant", answer, T0 + timedelta(hours=n + 1, seconds=5))
    first, second = usage
    assert second.prompt_tokens > first.prompt_tokens > 300
    # read again: the previous message (now without its notes), its reply and the new message;
    # with the memories in the system prompt, only the instructions before them would be cached
    assert second.prompt_tokens_details.cached_tokens > first.prompt_tokens - 200


def saltmarsh_world():
    from personas.worldinfo import Lorebook

    entries = [
        {"uid": 0, "key": ["lamp"], "content": "Before: the lamp burns paraffin.", "position": 0, "order": 1},
        {"uid": 1, "key": ["lamp"], "content": "After: the lens turns every twelve seconds.", "position": 1,
         "comment": "The lens"},
        {"uid": 2, "key": ["lamp"], "content": "At depth: {{char}} polished the lens at dawn.", "position": 4,
         "depth": 2},
        {"uid": 3, "key": ["ferry"], "content": "Never brought in.", "position": 1},
    ]  # fmt: skip
    return Lorebook.from_world_info({"entries": {str(e["uid"]): e for e in entries}})


def test_world_info_entries_go_where_their_position_says(store: MemoryStore) -> None:
    turns = turns_in(store, 4)
    prepared = prepare_reply(store, PERSONA, "Sam", turns, "Ahoy.", "Is the lamp lit?", 3, budget=3000,
                             lorebooks=[saltmarsh_world()])  # fmt: skip
    assert [e.label for e in prepared.lore] == ["lamp", "The lens", "lamp"]  # stored with the reply
    messages = CHAT_PROMPT.invoke(prepared.parts.inputs()).to_messages()
    system, *history, last = (m.content for m in messages)
    assert "World information:\n- Before: the lamp burns paraffin." in system
    assert system.index("Before: the lamp") < system.index("About Mara")
    assert last.startswith("<notes>\n") and "- After: the lens turns every twelve seconds." in last
    assert last.endswith("Is the lamp lit?") and "Before:" not in last and "At depth" not in last
    (noted,) = [text for text in history if "At depth" in text]  # two messages from the end: the last user turn
    assert noted.startswith(turns[-2].text) and noted.endswith("- At depth: Mara polished the lens at dawn.\n</notes>")
    assert "Never brought in" not in "".join(m.content for m in messages)


def test_the_books_given_replace_the_cards_own(store: MemoryStore) -> None:
    """The chat service passes the card's own book among them; without lorebooks it is used alone."""
    from personas.worldinfo import card_books

    alone = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "The kestrel and the lamp", 3, budget=3000)
    assert [e.label for e in alone.lore] == ["The ship"]
    both = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "The kestrel and the lamp", 3, budget=3000,
                         lorebooks=[saltmarsh_world(), *card_books(PERSONA.character_book)])  # fmt: skip
    assert [e.label for e in both.lore] == ["The ship", "lamp", "The lens", "lamp"]  # prompt order: by order
    none = prepare_reply(store, PERSONA, "Sam", [], "Ahoy.", "The kestrel", 3, budget=3000, lorebooks=[])
    assert none.lore == []
