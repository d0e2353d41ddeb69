"""What goes into the next reply's prompt: recent history, recalled memories, lorebook entries,
all fitted to the context budget; and how a stored conversation reads as messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from llm import PromptParts, assemble
from llm.assembly import TEMPLATE_OVERHEAD, approx_tokens
from llm.prompts import Role, depth_note, notes_block, persona_prompt, substitute, with_authors_note, world_section
from llm.thinking import strip_thinking
from memory import Memory, MemoryStore
from personas import Persona
from personas.lorebook import LoreEntry, activate, active_entries
from personas.worldinfo import Lorebook, card_books

#: Turns of the current conversation sent as history, at least (older ones can come back as
#: memories); up to ``HISTORY_WINDOW + HISTORY_STEP - 1``.
HISTORY_WINDOW = 20
#: The window's start moves this many turns at a time, not one turn per message, so the prompt
#: begins the same way for several replies and the server reuses its cache of it (llm.prompts).
HISTORY_STEP = 10


@dataclass(frozen=True)
class PreparedReply:
    parts: PromptParts
    memories: list[Memory]  # the recalled memories that made it into the prompt, best first
    lore: list[LoreEntry]


def history_start(count: int) -> int:
    """Where the history window begins in a conversation of ``count`` turns (see HISTORY_STEP)."""
    return max(0, (count - HISTORY_WINDOW) // HISTORY_STEP * HISTORY_STEP)


def recent_history(turns: Sequence[Memory], greeting: str) -> list[tuple[Role, str]]:
    """The turns in the history window, preceded by the greeting while the window starts at the
    conversation's beginning."""
    start = history_start(len(turns))
    opening: list[tuple[Role, str]] = [("assistant", greeting)] if greeting and start == 0 else []
    return opening + [(role, text) for role, text in map(as_message, turns[start:]) if text]


def as_message(turn: Memory) -> tuple[Role, str]:
    """A stored turn as a history message: a reply without its thinking (never sent back; a reply
    stored by an older version may carry it inline), so a reply that was only thinking is empty."""
    if turn.role == "assistant":
        return "assistant", strip_thinking(turn.text)
    return "user", turn.text


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
    lorebooks: Sequence[Lorebook] | None = None,
    *,
    user_description: str = "",
    authors_note: str = "",
    note_depth: int = 4,
) -> PreparedReply:
    """Recall, pick lorebook entries and assemble the prompt for ``message``.

    ``turns`` are the conversation so far (without ``message``); the ones in the history window
    and ``exclude`` (e.g. the stored user turn) are not recalled again. ``lorebooks``: the books
    to draw entries from, first first for the budget (default: the card's own book).
    ``user_description``: who the user is (their persona); ``authors_note``: put ``note_depth``
    messages from the end.
    """
    history = recent_history(turns, greeting)
    window_ids = {t.id for t in turns[history_start(len(turns)) :]} | set(exclude)
    memories = store.recall(persona.id, message, k=recall_k, exclude=window_ids)
    books = card_books(persona.character_book) if lorebooks is None else lorebooks
    texts = [text for _, text in history] + [message]
    lore = world_info(persona, user_name, books, texts, budget, user_description)
    if authors_note.strip():
        history, message = with_authors_note(history, message, authors_note, note_depth)
    parts = assemble(
        lore.system,
        [m.as_prompt_line() for m in memories],
        history,
        message,
        budget=budget,
        lore=lore.after,
        depth_lore=lore.depth,
    )
    return PreparedReply(parts, memories[: len(parts.memories)], lore.entries)


@dataclass(frozen=True)
class WorldInfo:
    """The lorebook entries in play for a message, where they go (see ``llm.prompts``)."""

    system: str  # the persona's system prompt, with the entries that go before the character
    after: list[str]  # with the message
    depth: list[tuple[int, str]]  # at a depth in the chat
    entries: list[LoreEntry]  # all of them, in prompt order (their labels are stored with the reply)


def world_info(
    persona: Persona,
    user_name: str,
    books: Sequence[Lorebook],
    texts: list[str],
    budget: int,
    user_description: str = "",
) -> WorldInfo:
    """Activate the books' entries for ``texts`` (the history window, the new message last), within
    what the prompt leaves them of ``budget``, with ``{{char}}`` and ``{{user}}`` replaced."""
    base = persona_prompt(persona, user_name, user_description)
    message = texts[-1] if texts else ""
    entries = activate(
        books,
        texts,
        count_tokens=partial(_lore_tokens, persona.name, user_name),
        room=lore_room(base, message, budget),
        depth_cost=approx_tokens(depth_note([""])),
        seed=message,
    )
    said = [substitute(e.content, persona.name, user_name) for e in entries]
    before = [text for e, text in zip(entries, said, strict=True) if e.placement == "before"]
    return WorldInfo(
        system=persona_prompt(persona, user_name, user_description, world_before=before) if before else base,
        after=[text for e, text in zip(entries, said, strict=True) if e.placement == "after"],
        depth=[(e.depth, text) for e, text in zip(entries, said, strict=True) if e.placement == "depth"],
        entries=entries,
    )


def lore_room(system: str, message: str, budget: int) -> int:
    """Tokens the lorebook entries may take: what the persona, the message, the template and the
    world information's headings (with the message and in the system prompt) leave of
    ``budget``. Entries never make a prompt too long, since ``assemble`` does not cut them."""
    headings = approx_tokens(notes_block([], [""])) + approx_tokens("\n\n" + world_section([""]))
    return max(0, budget - approx_tokens(system) - approx_tokens(message) - TEMPLATE_OVERHEAD - headings)


def _lore_tokens(char: str, user: str, line: str) -> int:
    """An entry's prompt line as the model gets it: with ``{{char}}`` and ``{{user}}`` replaced."""
    return approx_tokens(substitute(line, char, user))


def fit_warnings(persona: Persona, user_name: str, context_window: int, reply_tokens: int) -> list[str]:
    """What about this card will not fit in the model's context window: said when a card is
    imported or saved, rather than found out in the chat."""
    budget = context_window - reply_tokens
    fixed = approx_tokens(persona_prompt(persona, user_name)) + TEMPLATE_OVERHEAD
    found = []
    if fixed + approx_tokens("Hi") > budget:
        found.append(
            f"{persona.name}'s card takes about {fixed:,} tokens of every prompt (description, personality, "
            f"scenario, example dialogue, instructions), and {budget:,} are left by a context window of "
            f"{context_window:,} with {reply_tokens:,} for the reply: no message would fit. Shorten those fields, "
            "or load the model with a larger context and set it in the chat's sidebar."
        )
    entries = persona.character_book.get("entries") if isinstance(persona.character_book, dict) else None
    if isinstance(entries, list):
        always = [e for e in map(LoreEntry.from_dict, entries) if e and e.enabled and e.constant and e.content.strip()]
        kept = active_entries(
            persona.character_book,
            [],
            count_tokens=partial(_lore_tokens, persona.name, user_name),
            room=lore_room(persona_prompt(persona, user_name), "", budget),
        )
        if len(kept) < len(always):
            found.append(
                f"{len(always) - len(kept):,} of the lorebook's {len(always):,} always-on entries do not fit in its "
                "token budget (or in what the context window leaves) and will be left out of every prompt."
            )
    return found


def exchanges(turns: Sequence[Memory]) -> list[list[Memory]]:
    """The conversation as messages: a user turn alone, and consecutive assistant turns together
    as the alternatives of one reply (regenerated or retried), oldest first."""
    groups: list[list[Memory]] = []
    for turn in turns:
        if turn.role == "assistant" and groups and groups[-1][0].role == "assistant":
            groups[-1].append(turn)
        else:
            groups.append([turn])
    return groups


def chosen_turns(groups: Sequence[Sequence[Memory]], choices: Mapping[str, int]) -> list[Memory]:
    """One turn per message: the alternative chosen for it (keyed by its first turn's id), else
    the newest."""
    return [group[min(choices.get(group[0].id, len(group) - 1), len(group) - 1)] for group in groups]
