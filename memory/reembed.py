"""Switching the memory's embedding model: every memory embedded again by the other model.

Each model has collections of its own (see ``memory.collections.collection_name``), so a switch copies
what the store holds (ids, texts, metadata, conversation titles and settings) into the other
model's collections, embedding it there, and the old collections stay as they were (switching
back copies what changed since). Nothing is lost if it stops halfway: the next switch goes on.
"""

from __future__ import annotations

from collections.abc import Callable

from memory.models import StoredRecord
from memory.store import MemoryStore


def _differs(a: StoredRecord, b: StoredRecord) -> bool:
    return (a.text, a.metadata) != (b.text, b.metadata)


def reembed(source: MemoryStore, target: MemoryStore, progress: Callable[[int, int], None] | None = None) -> int:
    """Make ``target`` hold what ``source`` holds, its vectors from ``target``'s model; returns
    how many memories were embedded. ``progress(done, total)`` counts memories over all personas."""
    plan = []
    for persona_id in source.persona_ids():
        records = list(source.records(persona_id))
        wanted = {r.id: r for r in records}
        present = {r.id: r for r in target.records(persona_id)}
        # gone from the source, or changed there (an edit, a pin): out of the target, then in again
        stale = {i for i, r in present.items() if i not in wanted or _differs(r, wanted[i])}
        target.delete_many(persona_id, stale)
        plan.append((persona_id, [r for r in records if r.id not in present or r.id in stale]))
    total = sum(len(todo) for _, todo in plan)
    done = 0
    if progress:
        progress(0, total)
    for persona_id, todo in plan:

        def step(n: int, _: int, base: int = done) -> None:
            if progress:
                progress(base + n, total)

        target.restore_records(persona_id, todo, progress=step)
        done += len(todo)
        for conversation_id, title in source.conversation_titles(persona_id).items():
            target.rename_conversation(persona_id, conversation_id, title)
        for conversation_id, values in source.conversation_settings(persona_id).items():
            target.set_conversation_settings(persona_id, conversation_id, **values)
    return total
