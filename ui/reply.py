"""What goes into the next reply's prompt: recent history, recalled memories, lorebook entries,
all fitted to the context budget. No Streamlit here, so benchmarks and tests call it directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llm import PromptParts, assemble
from llm.assembly import Role
from llm.prompts import lore_block, persona_prompt, substitute
from memory import Memory, MemoryStore
from personas import Persona
from personas.lorebook import LoreEntry, active_entries

#: Turns of the current conversation sent as history; older ones can come back as memories.
HISTORY_WINDOW = 20


@dataclass(frozen=True)
class PreparedReply:
    parts: PromptParts
    memories: list[Memory]  # the recalled memories that made it into the prompt, best first
    lore: list[LoreEntry]


def recent_history(turns: Sequence[Memory], greeting: str) -> list[tuple[Role, str]]:
    """The last ``HISTORY_WINDOW`` turns, preceded by the greeting while it is in the window."""
    window = turns[-HISTORY_WINDOW:]
    opening: list[tuple[Role, str]] = [("assistant", greeting)] if greeting and len(turns) <= HISTORY_WINDOW else []
    return opening + [("assistant" if t.role == "assistant" else "user", t.text) for t in window]


def prepare_reply(
    store: MemoryStore,
    persona: Persona,
    user_name: str,
    turns: Sequence[Memory],
    greeting: str,
    message: str,
    recall_k: int,
    budget: int,
    exclude: Sequence[str] = (),
) -> PreparedReply:
    """Recall, pick lorebook entries and assemble the prompt for ``message``.

    ``turns`` are the conversation so far (without ``message``); the ones in the history window
    and ``exclude`` (e.g. the stored user turn) are not recalled again.
    """
    history = recent_history(turns, greeting)
    window_ids = {t.id for t in turns[-HISTORY_WINDOW:]} | set(exclude)
    memories = store.recall(persona.id, message, k=recall_k, exclude=window_ids)
    lore = active_entries(persona.character_book, [text for _, text in history] + [message])
    parts = assemble(
        persona_prompt(persona, user_name) + substitute(lore_block([e.content for e in lore]), persona.name, user_name),
        [m.as_prompt_line() for m in memories],
        history,
        message,
        budget=budget,
    )
    return PreparedReply(parts, memories[: len(parts.memories)], lore)
