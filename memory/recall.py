"""The steps of recall around the ranking (:func:`memory.ranking.rank`), on one persona's Chroma
collection and its lexical mirror: gathering the candidates of both retrievers, a background
sentence's passage, a newer memory about the same thing above the older one, and a question's
answer. :meth:`memory.MemoryStore.recall` runs them in that order."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memory import ranking
from memory.chunking import passage
from memory.lexical import LexicalIndex
from memory.rows import Entry
from memory.schema import shorten

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Where

#: Characters of the answer recall gives with a turn that asked a question (``Memory.reply``).
REPLY_CHARS = 300

Winners = list[tuple[str, float, ranking.Breakdown]]


def candidates(
    collection: Collection, index: LexicalIndex, search: str, embedding: Future[npt.NDArray[np.float32]] | None,
    size: int, conversation_id: str | None, excluded: set[str], k: int, w: ranking.Weights,
) -> tuple[dict[str, float], dict[str, float], dict[str, npt.NDArray[np.float32]]]:  # fmt: skip
    """Both retrievers' candidates: every one's cosine (0 when the embedding is off), the lexical
    ones' bm25, and the vectors Chroma gave (the lexical candidates'). ``embedding``: the query's
    vector, being computed on another core meanwhile."""
    wanted = max(ranking.CANDIDATES, 4 * k)  # from each retriever
    where: Where | None = None
    if conversation_id is not None:
        where = {"$or": [{"kind": "background"}, {"conversation_id": conversation_id}]}
    lexical = index.search(search, wanted, conversation_id, list(excluded), weights=w) if w.lexical else {}
    cosine: dict[str, float] = {i: 0.0 for i in lexical}
    vectors: dict[str, npt.NDArray[np.float32]] = {}  # the candidates' vectors Chroma gave
    if embedding is not None:
        # vectors of the lexical candidates, for their cosine (most are not among the dense ones)
        stored = collection.get(ids=list(lexical), include=["embeddings"]) if lexical else None
        vector = embedding.result()
        # Chroma gives ids and distances only: the candidates' texts and metadata come from the
        # mirror (Chroma's copies of them took a third of recall's time). It cannot leave ids out
        # of a query, so it is asked for as many more as are excluded.
        dense = collection.query(
            query_embeddings=vector[None, :],
            n_results=min(size, wanted + len(excluded)),
            where=where,
            include=["distances"],
        )
        cosine.update({i: 1.0 - d for i, d in zip(dense["ids"][0], (dense["distances"] or [[]])[0], strict=True)})
        if stored is not None and stored["ids"]:
            matrix = np.asarray(stored["embeddings"], dtype=np.float32)
            cosine.update(zip(stored["ids"], (matrix @ vector).tolist(), strict=True))
            vectors = dict(zip(stored["ids"], matrix, strict=True))
    return cosine, lexical, vectors


def passages(
    index: LexicalIndex, entries: dict[str, Entry], winners: Winners, hits: dict[str, list[int]]
) -> dict[str, str]:
    """Each winner's text: a background sentence with the sentences of its paragraph it stands
    for (``hits``, from :func:`memory.ranking.rank`) and those between them, as one passage."""
    texts = {i: entries[i].text for i, _, _ in winners}
    if hits:
        found = index.paragraphs(entries[i].group or "" for i in hits)
        for memory_id, places in hits.items():
            rows = found.get(entries[memory_id].group or "", [])
            order = [position for position, _, _ in rows]
            if not all(p in order for p in places):
                continue
            first, last = passage([text for _, _, text in rows], [order.index(p) for p in places])
            texts[memory_id] = " ".join(text for _, _, text in rows[first : last + 1])
    return texts


def answers(index: LexicalIndex, entries: dict[str, Entry], winners: list[str], excluded: set[str]) -> dict[str, str]:
    """For each recalled turn that asked a question, the next turn of its conversation when
    another speaker said it: a question is worth little in the prompt without its answer.
    Not when that answer is recalled itself or already in the prompt (``excluded``)."""
    asking = [i for i in winners if entries[i].kind == "turn" and entries[i].text.rstrip().endswith("?")]
    if not asking:
        return {}
    after = {i: a for i, (_, a, _) in index.adjacent(asking).items() if a and a not in excluded}
    answers = index.entries(list(set(after.values()) - set(winners)))
    return {
        i: shorten(answers[a].text, REPLY_CHARS)
        for i, a in after.items()
        if a in answers and answers[a].speaker != entries[i].speaker and answers[a].text.strip()
    }


def newer_first(
    collection: Collection,
    entries: dict[str, Entry],
    winners: list[tuple[str, float, ranking.Breakdown]],
    w: ranking.Weights,
    known: dict[str, npt.NDArray[np.float32]],
) -> tuple[list[tuple[str, float, ranking.Breakdown]], dict[str, str]]:
    """Knowledge updates among the winners (:func:`memory.ranking.newer_first`): a newer
    memory about the same thing goes right above the older one; its score becomes the
    older's (plus a hair, added to its recency part) so that the list stays best first.
    Returns the winners in that order and, for each older memory, the newer one's id.
    ``known``: vectors recall already has (the lexical candidates'); the others are read."""
    statements = [i for i, _, _ in winners if entries[i].kind == "turn" and not entries[i].text.rstrip().endswith("?")]
    speakers = [entries[i].speaker for i in statements]
    if w.same_thing <= 0 or len(statements) == len(set(speakers)):  # no speaker twice: nothing to order
        return winners, {}
    vectors = {i: known[i] for i in statements if i in known}
    if missing := [i for i in statements if i not in known]:
        got = collection.get(ids=missing, include=["embeddings"])
        vectors.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    order, older = ranking.newer_first(
        [i for i, _, _ in winners],
        {i: entries[i].created_at for i, _, _ in winners},
        {i: entries[i].speaker for i, _, _ in winners},
        vectors,
        {i: entries[i].text for i, _, _ in winners},
        w,
    )
    if not older:
        return winners, {}
    by_id = {i: (total, parts) for i, total, parts in winners}
    ranked: list[tuple[str, float, ranking.Breakdown]] = []
    for memory_id in reversed(order):  # from the last, so that each score is at least the one below
        total, parts = by_id[memory_id]
        floor = ranked[-1][1] + 1e-4 if ranked else total
        if total < floor:
            parts = replace(parts, recency=parts.recency + floor - total)
            total = floor
        ranked.append((memory_id, total, parts))
    return list(reversed(ranked)), older
