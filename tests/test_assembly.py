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
