"""The prompts, as code. Nothing is fetched at run time.

The layout keeps the prompt's beginning the same from one reply to the next: the persona (system)
and the history come first, and what changes with every message (the recalled memories, the
lorebook entries it brought into play) goes in front of the new message, inside it. A llama.cpp
based server (LM Studio, the built-in one) keeps the last prompt in its cache and reads only what
differs, so the model starts answering after reading the new message instead of the whole
conversation again: on the built-in model with 20 turns of history, 0.1 s instead of 2.8 s
(memories in the system prompt changed its end, and everything after it had to be read again).
The notes are not a system message of their own: the chat templates of Gemma and Mistral,
among others, refuse a system message after the first.
"""

from __future__ import annotations

from typing import Protocol

from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder


class PersonaCard(Protocol):
    """What a prompt needs of a persona (structural: any object with these attributes)."""

    name: str
    description: str
    personality: str
    scenario: str
    system_prompt: str
    mes_example: str
    post_history_instructions: str


DEFAULT_INSTRUCTIONS = (
    "You are {{char}}, talking with {{user}}. Stay in character: speak as {{char}} in the first "
    "person, with {{char}}'s knowledge, voice and opinions. Never say you are an AI or a "
    "language model. Keep replies short and conversational unless asked for more."
)
#: Why the user's message may start with notes (see the module docstring); stays the same.
NOTES_EXPLAINED = (
    "{{user}}'s latest message may begin with <notes>: what you remember and world information "
    "that may matter now. They are for you only; {{user}} did not write them."
)

CHAT_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "{persona}"),
        MessagesPlaceholder("history"),
        ("human", "{notes}{message}"),
    ]
)


def substitute(text: str, char: str, user: str) -> str:
    """Replace the Character Card placeholders ``{{char}}`` and ``{{user}}``."""
    for placeholder, value in (("{{char}}", char), ("{{user}}", user), ("<BOT>", char), ("<USER>", user)):
        text = text.replace(placeholder, value)
        text = text.replace(placeholder.lower(), value)
    return text


def persona_prompt(persona: PersonaCard, user: str = "User", user_description: str = "") -> str:
    """The system prompt that makes the model speak as the persona. ``user_description`` (who the
    user is, see personas.users) follows the character's definition, where SillyTavern puts it."""
    instructions = persona.system_prompt.strip() or DEFAULT_INSTRUCTIONS
    sections = [
        instructions,
        f"About {persona.name}:\n{persona.description.strip()}" if persona.description.strip() else "",
        f"Personality: {persona.personality.strip()}" if persona.personality.strip() else "",
        f"Scenario: {persona.scenario.strip()}" if persona.scenario.strip() else "",
        f"About {{{{user}}}}:\n{user_description.strip()}" if user_description.strip() else "",
        f"Examples of how {persona.name} speaks:\n{persona.mes_example.strip()}" if persona.mes_example.strip() else "",
        persona.post_history_instructions.strip(),
        NOTES_EXPLAINED,
    ]
    return substitute("\n\n".join(s for s in sections if s), persona.name, user)


def notes_block(memories: list[str], lore: list[str]) -> str:
    """The recalled memories (best first) and lorebook entries, put in front of the new message
    (empty when there are none)."""
    sections = []
    if memories:
        sections.append(
            "What you remember that may matter now (most relevant first; use it only if it helps, "
            "and do not list it back):\n" + "\n".join(f"- {m}" for m in memories)
        )
    if lore:
        sections.append("World information:\n" + "\n".join(f"- {entry}" for entry in lore))
    return "<notes>\n" + "\n\n".join(sections) + "\n</notes>\n\n" if sections else ""


def with_authors_note(history: list[tuple[str, str]], message: str, note: str, depth: int) -> tuple[list, str]:
    """The history and new message with an author's note (SillyTavern's: a short instruction
    that steers the story) put ``depth`` messages from the end, the new message being depth 0.
    It goes into a user message, at that depth or the next one after it (the new message at the
    latest), because several chat templates refuse a system message after the first."""
    line = f"[Author's note: {note.strip()}]\n\n"
    messages = [*history, ("user", message)]
    at = max(0, len(messages) - 1 - max(0, depth))
    while messages[at][0] != "user":
        at += 1
    role, text = messages[at]
    messages[at] = (role, line + text)
    return messages[:-1], messages[-1][1]
