"""Prompt assembly and trimming (pure logic; LangChain's fake chat model for the chain)."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llm import ContextTooLong, assemble, reply_messages
from llm.assembly import MEMORY_HEADER
from llm.prompts import CHAT_PROMPT


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def count_words(text: str) -> int:
    return len(text.split())


HISTORY = [
    ("user", words(10, "u1")),
    ("assistant", words(10, "a1")),
    ("user", words(10, "u2")),
    ("assistant", words(10, "a2")),
]


def test_everything_fits_untouched() -> None:
    parts = assemble("persona", ["m1", "m2"], HISTORY, "hello", budget=10_000)
    assert parts.dropped_history == 0 and parts.dropped_memories == 0
    assert [m.content for m in parts.history] == [text for _, text in HISTORY]
    assert isinstance(parts.history[0], HumanMessage) and isinstance(parts.history[1], AIMessage)
    assert parts.memories == ["m1", "m2"]


def test_oldest_history_goes_first() -> None:
    fixed = count_words("persona") + count_words("hello") + 64
    budget = fixed + MEMORY_HEADER + 2 + 1 + 25  # room for the memory and two of the four history turns
    parts = assemble("persona", ["m1"], HISTORY, "hello", budget=budget, count=count_words)
    assert parts.dropped_history == 2
    assert [m.content for m in parts.history] == [HISTORY[2][1], HISTORY[3][1]]
    assert parts.memories == ["m1"]
    assert parts.tokens <= budget


def test_memories_go_after_history_least_relevant_first() -> None:
    fixed = count_words("persona") + count_words("hello") + 64
    memories = [words(5, "best"), words(5, "good"), words(5, "weak")]
    budget = fixed + MEMORY_HEADER + 2 * (5 + 2)
    parts = assemble("persona", memories, HISTORY, "hello", budget=budget, count=count_words)
    assert parts.history == []
    assert parts.memories == memories[:2]
    assert parts.dropped_memories == 1


def test_persona_and_message_are_never_cut() -> None:
    persona = words(50, "p")
    message = words(50, "m")
    with pytest.raises(ContextTooLong):
        assemble(persona, [], HISTORY, message, budget=100, count=count_words)
    parts = assemble(persona, ["x"], HISTORY, message, budget=164, count=count_words)
    assert parts.persona == persona and parts.message == message
    assert parts.history == [] and parts.memories == []


def test_prompt_layout_system_history_then_notes_with_the_message() -> None:
    parts = assemble("You are Mara.", ["(2026-01-01) The user said: I like tea"], HISTORY[:2], "hi", budget=4000,
                     lore=["The Kestrel is an airship."])  # fmt: skip
    messages = CHAT_PROMPT.invoke(parts.inputs()).to_messages()
    assert isinstance(messages[0], SystemMessage) and messages[0].content == "You are Mara."
    assert [type(m) for m in messages[1:]] == [HumanMessage, AIMessage, HumanMessage]
    assert [m.content for m in messages[1:3]] == [text for _, text in HISTORY[:2]]
    last = messages[-1].content
    assert last.startswith("<notes>\n") and last.endswith("</notes>\n\nhi")
    assert last.index("- (2026-01-01) The user said: I like tea") < last.index("World information:\n- The Kestrel")


def test_no_memories_no_notes() -> None:
    parts = assemble("You are Mara.", [], [], "hi", budget=4000)
    messages = CHAT_PROMPT.invoke(parts.inputs()).to_messages()
    assert messages[0].content == "You are Mara." and messages[-1].content == "hi"


def test_lorebook_entries_are_never_cut() -> None:
    lore = [words(30, "lore")]
    assemble("persona", [], [], "hello", budget=80, count=count_words)  # fits without the entry
    with pytest.raises(ContextTooLong, match="lorebook"):
        assemble("persona", [], [], "hello", budget=80, count=count_words, lore=lore)
    parts = assemble("persona", ["m1"], HISTORY, "hello", budget=110, count=count_words, lore=lore)
    assert parts.lore == lore and parts.history == [] and parts.memories == []


def test_braces_in_user_text_are_not_template_variables() -> None:
    parts = assemble("Persona {name}", ["{memories}"], [("user", "{history}")], "{message} {{user}}", budget=4000)
    messages = CHAT_PROMPT.invoke(parts.inputs()).to_messages()
    assert messages[-1].content.endswith("- {memories}\n</notes>\n\n{message} {{user}}")
    assert "Persona {name}" in messages[0].content


def test_reply_messages_are_the_prompt_in_the_openai_format() -> None:
    parts = assemble("You are Mara.", ["(2026-04-01) The user said: I keep bees."], [("user", "hi"),
                     ("assistant", "Ahoy")], "And you?", budget=4000)  # fmt: skip
    messages = reply_messages(parts)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "You are Mara."
    assert messages[-1]["content"].startswith("<notes>") and messages[-1]["content"].endswith("And you?")
    assert reply_messages(parts, "Well,")[-1] == {"role": "assistant", "content": "Well,"}


def test_context_usage_adds_up_the_parts() -> None:
    from llm.assembly import context_usage

    usage = context_usage("p " * 10, ["m " * 5], HISTORY, reply_tokens=100, window=400, count=count_words)
    assert (usage.persona, usage.memories, usage.history, usage.reply) == (10, 7, 40, 100)
    assert usage.total == 10 + 7 + 40 + 100 + 64
    assert usage.fraction == usage.total / 400
    assert context_usage("p " * 1000, [], [], 0, 400, count_words).fraction == 1.0


# --- lorebook entries at a depth in the chat -----------------------------------------------------


def placed(history: list[tuple[str, str]], message: str, entries: list[tuple[int, str]]) -> list[tuple[str, str]]:
    from llm.assembly import to_messages
    from llm.prompts import place_depth_notes

    messages, last = place_depth_notes(to_messages(history), message, entries)
    return [("user" if isinstance(m, HumanMessage) else "assistant", m.content) for m in messages] + [("user", last)]


NOTE = "<notes>\nWorld information:\n- {}\n</notes>"
CHAT = [("assistant", "Ahoy."), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")]


def test_depth_zero_goes_after_the_new_message() -> None:
    assert placed(CHAT, "hi", [(0, "x")])[-1] == ("user", "hi\n\n" + NOTE.format("x"))


def test_a_depth_note_merges_into_the_nearest_user_message() -> None:
    at_one = placed(CHAT, "hi", [(1, "x")])  # before the new message: at its start
    assert at_one[-1] == ("user", NOTE.format("x") + "\n\nhi") and at_one[:-1] == CHAT
    at_two = placed(CHAT, "hi", [(2, "x")])  # before a2, an assistant message: at the end of u2
    assert at_two[3] == ("user", "u2\n\n" + NOTE.format("x")) and at_two[4] == CHAT[4]
    at_three = placed(CHAT, "hi", [(3, "x")])  # before u2: at its start
    assert at_three[3] == ("user", NOTE.format("x") + "\n\nu2")


def test_a_depth_beyond_the_chat_goes_to_its_first_user_message() -> None:
    assert placed(CHAT, "hi", [(99, "x")])[1] == ("user", NOTE.format("x") + "\n\nu1")
    assert placed([], "hi", [(5, "x")]) == [("user", NOTE.format("x") + "\n\nhi")]


def test_entries_at_one_depth_share_a_note_and_deeper_ones_come_first() -> None:
    last = placed(CHAT, "hi", [(1, "a"), (0, "b"), (1, "c"), (6, "d")])[-1][1]
    assert last == "<notes>\nWorld information:\n- a\n- c\n</notes>\n\nhi\n\n" + NOTE.format("b")
    assert placed(CHAT, "hi", [(6, "d")])[1][1].startswith(NOTE.format("d"))


def test_assistant_messages_are_never_written_into() -> None:
    for depth in range(8):
        result = placed(CHAT, "hi", [(depth, "x")])
        assert [text for role, text in result if role == "assistant"] == [t for r, t in CHAT if r == "assistant"]
        assert sum("<notes>" in text for _, text in result) == 1


def test_depth_notes_are_counted_never_cut_and_sent() -> None:
    depth_lore = [(2, words(30, "lore"))]
    with pytest.raises(ContextTooLong, match="lorebook"):
        assemble("persona", [], [], "hello", budget=80, count=count_words, depth_lore=depth_lore)
    parts = assemble("persona", ["m1"], HISTORY, "hello", budget=110, count=count_words, depth_lore=depth_lore)
    assert parts.depth_lore == depth_lore and parts.history == [] and parts.memories == []
    full = assemble("p", [], HISTORY, "hello", budget=10_000, depth_lore=depth_lore)
    sent = reply_messages(full)
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert sent[3]["content"].endswith("u29\n\n" + NOTE.format(depth_lore[0][1]))  # u2 ... before a2
    assert [m.content for m in full.history] == [text for _, text in HISTORY]  # the parts keep the history as it is


def test_without_depth_entries_the_history_is_sent_as_it_is() -> None:
    parts = assemble("p", [], HISTORY, "hello", budget=10_000)
    assert parts.inputs()["history"] == parts.history
