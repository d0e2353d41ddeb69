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

Lorebook (World Info) entries go where their position says (SillyTavern's positions):

- *after the character* (the default, and where the author's-note and example-message positions
  go too, which this app has not): in the notes in front of the new message, free for the cache;
- *before the character*: in the system prompt, between the instructions and the description.
  The prompt's beginning then changes whenever such an entry comes into play or leaves it, and
  the server reads the whole conversation again for that reply (always-on entries cost nothing:
  they never change);
- *at depth N*: a note merged into the user message N messages from the end of the chat (0: after
  the new message), or the nearest user message, rather than a message of its own, since those
  templates also want user and assistant to alternate. The server reads again from that message
  on: about N messages. The entry's role (system, user, assistant) is kept in the file, not used.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # LangChain is imported when a prompt is first built: it takes half a second
    from langchain_core.messages import BaseMessage
    from langchain_core.prompts import ChatPromptTemplate

#: Who a history message is from.
Role = Literal["user", "assistant"]


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
    "{{user}}'s messages may carry <notes> (mostly at the start of the latest one): what you remember "
    "and world information that may matter now. They are for you only; {{user}} did not write them."
)


@functools.cache
def chat_prompt() -> ChatPromptTemplate:
    """The reply's prompt (``CHAT_PROMPT``); the first call imports LangChain (about 0.5 s)."""
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    return ChatPromptTemplate.from_messages(
        [
            ("system", "{persona}"),
            MessagesPlaceholder("history"),
            ("human", "{notes}{message}"),
        ]
    )


def __getattr__(name: str) -> ChatPromptTemplate:
    """``CHAT_PROMPT``, the reply's prompt, built on first use (PEP 562)."""
    if name == "CHAT_PROMPT":
        return chat_prompt()
    raise AttributeError(f"module 'llm.prompts' has no attribute {name!r}")


def substitute(text: str, char: str, user: str) -> str:
    """Replace the Character Card placeholders ``{{char}}`` and ``{{user}}``."""
    for placeholder, value in (("{{char}}", char), ("{{user}}", user), ("<BOT>", char), ("<USER>", user)):
        text = text.replace(placeholder, value)
        text = text.replace(placeholder.lower(), value)
    return text


def persona_prompt(
    persona: PersonaCard, user: str = "User", user_description: str = "", world_before: Sequence[str] = ()
) -> str:
    """The system prompt that makes the model speak as the persona. ``user_description`` (who the
    user is, see personas.users) follows the character's definition, where SillyTavern puts it;
    ``world_before``: the lorebook entries that go before the character's description (see the
    module docstring)."""
    instructions = persona.system_prompt.strip() or DEFAULT_INSTRUCTIONS
    sections = [
        instructions,
        world_section(world_before),
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
        sections.append(world_section(lore))
    return "<notes>\n" + "\n\n".join(sections) + "\n</notes>\n\n" if sections else ""


def world_section(lore: Sequence[str]) -> str:
    """Lorebook entries under their heading (empty when there are none)."""
    return "World information:\n" + "\n".join(f"- {entry}" for entry in lore) if lore else ""


def depth_note(lore: Sequence[str]) -> str:
    """The note that carries the lorebook entries at one depth in the chat."""
    return "<notes>\n" + world_section(lore) + "\n</notes>"


def by_depth(entries: Sequence[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    """Entries at a depth, grouped by depth (deepest first), each group in the order given."""
    groups: dict[int, list[str]] = {}
    for depth, text in entries:
        groups.setdefault(max(0, depth), []).append(text)
    return sorted(groups.items(), reverse=True)


def place_depth_notes(
    history: Sequence[BaseMessage], message: str, entries: Sequence[tuple[int, str]]
) -> tuple[list[BaseMessage], str]:
    """The history and the new message with each depth's note merged into a user message.

    Depth N is the place before the N-th message from the end, counting the new message (0: after
    it). The note goes at the start of the user message just after that place, else at the end
    of the user message just before it, else at the start of the next user message (the new
    message is one). A depth beyond the chat's start counts as its start.
    """
    from langchain_core.messages import HumanMessage

    texts = [str(m.content) for m in history] + [message]
    users = [isinstance(m, HumanMessage) for m in history] + [True]
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    for depth, lines in by_depth(entries):
        at = max(0, len(texts) - depth)
        if at < len(texts) and users[at]:
            before.setdefault(at, []).append(depth_note(lines))
        elif at > 0 and users[at - 1]:
            after.setdefault(at - 1, []).append(depth_note(lines))
        else:
            target = next(i for i in range(at, len(texts)) if users[i])
            before.setdefault(target, []).append(depth_note(lines))
    merged = ["\n\n".join([*before.get(i, []), text, *after.get(i, [])]) for i, text in enumerate(texts)]
    messages = [HumanMessage(merged[i]) if merged[i] != texts[i] else m for i, m in enumerate(history)]
    return messages, merged[-1]


def with_authors_note(
    history: Sequence[tuple[Role, str]], message: str, note: str, depth: int
) -> tuple[list[tuple[Role, str]], str]:
    """The history and new message with an author's note (SillyTavern's: a short instruction
    that steers the story) put ``depth`` messages from the end, the new message being depth 0.
    It goes into a user message, at that depth or the next one after it (the new message at the
    latest), because several chat templates refuse a system message after the first."""
    line = f"[Author's note: {note.strip()}]\n\n"
    messages: list[tuple[Role, str]] = [*history, ("user", message)]
    at = max(0, len(messages) - 1 - max(0, depth))
    while messages[at][0] != "user":
        at += 1
    role, text = messages[at]
    messages[at] = (role, line + text)
    return messages[:-1], messages[-1][1]
