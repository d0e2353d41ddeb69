"""Conversations as a tree: a branch is listed under the conversation it was branched from."""

from __future__ import annotations

from collections.abc import Sequence

from memory.models import Conversation


def tree(conversations: Sequence[Conversation]) -> list[tuple[Conversation, int]]:
    """The conversations in the order given (most recent first), each followed by its branches
    (and theirs), with how deep each sits; a branch whose parent is gone is listed as a root."""
    known = {c.id for c in conversations}
    children: dict[str, list[Conversation]] = {}
    for conversation in conversations:
        if conversation.parent in known and conversation.parent != conversation.id:
            children.setdefault(conversation.parent, []).append(conversation)
    ordered: list[tuple[Conversation, int]] = []
    seen: set[str] = set()

    def visit(conversation: Conversation, depth: int) -> None:
        if conversation.id in seen:
            return
        seen.add(conversation.id)
        ordered.append((conversation, depth))
        for child in children.get(conversation.id, []):
            visit(child, depth + 1)

    for conversation in conversations:
        if conversation.parent not in known or conversation.parent == conversation.id:
            visit(conversation, 0)
    for conversation in conversations:  # a cycle (hand-edited settings): still listed
        visit(conversation, 0)
    return ordered
