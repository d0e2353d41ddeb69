"""Prompt assembly within the model's context budget (pure functions, no I/O).

Order of sacrifice when the prompt is too long: the oldest history first, then the least relevant
memories; the persona, the lorebook entries in play (with the message, in the system prompt or at
a depth in the chat: see ``llm.prompts``) and the new message are never cut; if those alone do not
fit, :class:`~llm.errors.ContextTooLong` is raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from llm.errors import ContextTooLong
from llm.prompts import Role, by_depth, depth_note, notes_block, place_depth_notes

if TYPE_CHECKING:  # LangChain is imported when first used (see llm.prompts)
    from langchain_core.messages import BaseMessage

TokenCounter = Callable[[str], int]

#: Tokens kept free for the chat template's own markers (role headers, separators).
TEMPLATE_OVERHEAD = 64
#: Tokens of the memories section's heading and the notes' tags (see llm.prompts.notes_block).
MEMORY_HEADER = 24


def memory_cost(line: str, count: TokenCounter) -> int:
    """Tokens one memory line takes in the prompt (its text and the "- " before it)."""
    return count(line) + 2


@lru_cache(maxsize=4096)
def approx_tokens(text: str) -> int:
    """LangChain's character-based estimate (about 4 characters a token, plus per-message cost).

    Exact counts would need the served model's tokenizer; the estimate errs on the generous side
    for English and leaves ``TEMPLATE_OVERHEAD`` of margin. Memoised: the persona and the history
    come back with every message.
    """
    from langchain_core.messages import HumanMessage
    from langchain_core.messages.utils import count_tokens_approximately

    return count_tokens_approximately([HumanMessage(text)])


@dataclass(frozen=True)
class PromptParts:
    """The inputs of ``llm.prompts.CHAT_PROMPT`` and what had to be left out to fit."""

    persona: str
    memories: list[str]
    history: list[BaseMessage]
    message: str
    tokens: int
    dropped_history: int = 0
    dropped_memories: int = 0
    lore: list[str] = field(default_factory=list)
    #: Lorebook entries at a depth in the chat: (depth, text), merged into the history when sent.
    depth_lore: list[tuple[int, str]] = field(default_factory=list)

    def inputs(self) -> dict[str, object]:
        history, message = list(self.history), self.message
        if self.depth_lore:
            history, message = place_depth_notes(history, message, self.depth_lore)
        return {
            "persona": self.persona,
            "history": history,
            "notes": notes_block(self.memories, self.lore),
            "message": message,
        }


def to_messages(history: Sequence[tuple[Role, str]]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [HumanMessage(text) if role == "user" else AIMessage(text) for role, text in history]


def assemble(
    persona: str,
    memories: Sequence[str],
    history: Sequence[tuple[Role, str]],
    message: str,
    budget: int,
    count: TokenCounter = approx_tokens,
    lore: Sequence[str] = (),
    depth_lore: Sequence[tuple[int, str]] = (),
) -> PromptParts:
    """Fit persona + lore + memories + history + message into ``budget`` tokens.

    ``memories`` are best first; ``history`` is oldest first; ``lore`` are the lorebook entries in
    play that go with the message, ``depth_lore`` those at a depth in the chat (``persona`` has
    those before the character already). ``budget`` is the context window minus the tokens
    reserved for the reply.
    """
    fixed = count(persona) + count(message) + TEMPLATE_OVERHEAD
    if lore:
        fixed += count(notes_block([], list(lore)))
    fixed += sum(count(depth_note(lines)) for _, lines in by_depth(depth_lore))
    if fixed > budget:
        what = "persona, lorebook entries and message" if lore or depth_lore else "persona and message"
        raise ContextTooLong(f"{what} take about {fixed} tokens, the budget is {budget}")

    history_costs = [count(text) for _, text in history]
    memory_costs = [memory_cost(text, count) for text in memories]
    total = fixed + sum(history_costs) + sum(memory_costs) + (MEMORY_HEADER if memories else 0)

    first_kept = 0
    while total > budget and first_kept < len(history):
        total -= history_costs[first_kept]
        first_kept += 1
    kept_memories = len(memories)
    while total > budget and kept_memories > 0:
        kept_memories -= 1
        total -= memory_costs[kept_memories] + (MEMORY_HEADER if kept_memories == 0 else 0)

    return PromptParts(
        persona=persona,
        memories=list(memories[:kept_memories]),
        history=to_messages(history[first_kept:]),
        message=message,
        tokens=total,
        dropped_history=first_kept,
        dropped_memories=len(memories) - kept_memories,
        lore=list(lore),
        depth_lore=list(depth_lore),
    )


@dataclass(frozen=True)
class ContextUsage:
    """Estimated tokens each part of the next prompt takes, for the context meter."""

    persona: int
    memories: int
    history: int
    reply: int
    window: int

    @property
    def total(self) -> int:
        return self.persona + self.memories + self.history + self.reply + TEMPLATE_OVERHEAD

    @property
    def fraction(self) -> float:
        return min(1.0, self.total / self.window) if self.window > 0 else 1.0


def context_usage(
    persona: str,
    memories: Sequence[str],
    history: Sequence[tuple[Role, str]],
    reply_tokens: int,
    window: int,
    count: TokenCounter = approx_tokens,
) -> ContextUsage:
    return ContextUsage(
        persona=count(persona),
        memories=sum(memory_cost(m, count) for m in memories),
        history=sum(count(text) for _, text in history),
        reply=reply_tokens,
        window=window,
    )
