"""The prompts, as code. Nothing is fetched at run time."""

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

CHAT_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "{persona}{memories}"),
        MessagesPlaceholder("history"),
        ("human", "{message}"),
    ]
)


def substitute(text: str, char: str, user: str) -> str:
    """Replace the Character Card placeholders ``{{char}}`` and ``{{user}}``."""
    for placeholder, value in (("{{char}}", char), ("{{user}}", user), ("<BOT>", char), ("<USER>", user)):
        text = text.replace(placeholder, value)
        text = text.replace(placeholder.lower(), value)
    return text


def persona_prompt(persona: PersonaCard, user: str = "User") -> str:
    """The system prompt that makes the model speak as the persona."""
    instructions = persona.system_prompt.strip() or DEFAULT_INSTRUCTIONS
    sections = [
        instructions,
        f"About {persona.name}:\n{persona.description.strip()}" if persona.description.strip() else "",
        f"Personality: {persona.personality.strip()}" if persona.personality.strip() else "",
        f"Scenario: {persona.scenario.strip()}" if persona.scenario.strip() else "",
        f"Examples of how {persona.name} speaks:\n{persona.mes_example.strip()}" if persona.mes_example.strip() else "",
        persona.post_history_instructions.strip(),
    ]
    return substitute("\n\n".join(s for s in sections if s), persona.name, user)


def memories_block(memories: list[str]) -> str:
    """The recalled memories, appended to the system prompt (empty when there are none)."""
    if not memories:
        return ""
    lines = "\n".join(f"- {m}" for m in memories)
    return (
        "\n\nWhat you remember that may matter now (most relevant first; use it only if it "
        f"helps, and do not list it back):\n{lines}"
    )


def lore_block(entries: list[str]) -> str:
    """Lorebook entries the recent chat brought into play, appended to the persona."""
    if not entries:
        return ""
    return "\n\nWorld information:\n" + "\n".join(f"- {entry}" for entry in entries)
