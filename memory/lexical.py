"""Lexical search over one persona's memories, and the rows that list them: the mirror of its
Chroma collection that this process keeps, made of the rows' table (:mod:`memory.rows`) and
BM25 over their words (:mod:`memory.bm25`).

The index lives in process memory and is a *mirror* of the persona's Chroma collection, never a
second source of truth, so it works the same against the embedded store and a ``chroma run``
server:

- built lazily from the collection's documents and metadata on first use, in two steps: the
  rows (text, metadata, order in the conversation: what listing a conversation needs) at once,
  the BM25 postings (stemming every text: most of a rebuild's time) on the first search, or
  sooner from the store's warm-up in the background (:meth:`LexicalIndex.prepare_search`);
  so the chat page shows a conversation without waiting for the stemming;
- kept in step by the store's own writes (add, update, delete), which also stamp the collection's
  metadata with a fresh ``rev`` token;
- rebuilt from Chroma whenever that token or the collection's count differs from what this
  process last wrote or read, i.e. when another process (another app instance, a script) wrote.
  (One window is left: another process editing a text in place between this store's write and
  its stamp goes unseen until the next write of either; adds and deletes change the count.)

Why not the alternatives: Chroma 1.5.9 has BM25 sparse vectors and hybrid ``Collection.search``,
but only for distributed and hosted Chroma (local clients raise NotImplementedError); a sidecar
index file next to the embedded store would not exist in client/server mode (the embedded store
does save the mirrors' rows beside it, but only as a head start for the next run's first reads,
:mod:`memory.snapshot`; Chroma stays the truth); ``bm25s`` is fast
but cannot add or remove a document without re-indexing everything, and a chat adds one with
every message.

One lock guards both halves, so that a write changes the rows and the postings together; only
the stemming after a rebuild runs without it (see :meth:`LexicalIndex.prepare_search`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from memory import ranking
from memory.bm25 import BM25, FAR, query_terms
from memory.rows import Entry, ListFilter, Rows

__all__ = ["Entry", "LexicalIndex", "ListFilter", "query_terms"]


class LexicalIndex:
    """An in-memory BM25 index of one persona's memories. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows = Rows(reach=FAR)
        self._bm25 = BM25()
        self._postings_lock = threading.Lock()  # one build of the postings at a time
        self._generation = 0  # counts rebuilds: postings stemmed from older rows are thrown away
        self.rev: str | None = None  # the collection's ``rev`` this mirror matches

    def __len__(self) -> int:
        with self._lock:
            return len(self._bm25)

    def prepare_search(self) -> None:
        """Put every row's words in the postings, if a rebuild left them for later. The stemming
        (about a second at 10,000 memories) runs without the index's lock, so listing and
        reading conversations go on meanwhile; rows written meanwhile are indexed after it."""
        if self._bm25.stemmed:
            return
        with self._postings_lock:
            while True:
                with self._lock:
                    if self._bm25.stemmed:
                        return
                    generation = self._generation
                    rows = self._rows.for_postings()
                own, dates = self._bm25.words(rows)  # the slow part, unlocked
                with self._lock:
                    if self._generation != generation:
                        continue  # rebuilt meanwhile: stem the new rows
                    stemmed = {row[0] for row in rows}
                    kept = [n for n, row in enumerate(rows) if row[0] in self._bm25]  # not deleted meanwhile
                    self._bm25.add_words([rows[n] for n in kept], [own[n] for n in kept], [dates[n] for n in kept])
                    added = [row for row in self._rows.for_postings() if row[0] not in stemmed]
                    self._bm25.add_words(added, *self._bm25.words(added))
                    self._bm25.stemmed = True
                    return

    # -- listing -------------------------------------------------------------------------------

    def select(self, filters: ListFilter, limit: int, offset: int) -> tuple[list[str], int]:
        """Ids of the memories that pass ``filters``, newest first, one page; and how many pass."""
        with self._lock:
            return self._rows.select(filters, limit, offset)

    def conversation_ids(self, conversation_id: str) -> list[str]:
        """The ids of a conversation's turns, oldest first."""
        with self._lock:
            return self._rows.conversation_ids(conversation_id)

    def turns_per_day(self) -> list[tuple[str, int]]:
        """(UTC date as YYYY-MM-DD, turns) for every day with turns, oldest first."""
        with self._lock:
            return self._rows.turns_per_day()

    def conversations(self) -> list[tuple[str, float, float, int, str]]:
        """Per conversation: id, first and last turn time, turns, and its first user message (else
        its first turn)."""
        with self._lock:
            return self._rows.conversations()

    # -- writing -------------------------------------------------------------------------------

    def replace_all(self, entries: Iterable[Entry], rev: str | None) -> None:
        """Drop everything and index ``entries`` (a rebuild from the collection)."""
        with self._lock, self._rows.transaction():
            self._rows.replace(entries)
            self._index_rows()
            self.rev = rev

    def save(self, path: Path) -> str | None:
        """Write the rows to ``path``, a SQLite file (replaced whole, never half-written); returns
        the ``rev`` they match. The postings are not saved: :meth:`load` stems again, later."""
        with self._rows.saving(path) as copy, self._lock:
            copy()
            return self.rev

    @classmethod
    def load(cls, path: Path, rev: str | None) -> LexicalIndex:
        """An index of the rows :meth:`save` wrote to ``path``, matching the collection's ``rev``;
        their words are stemmed on the first search (see :meth:`prepare_search`)."""
        index = cls()
        with index._lock:
            index._rows.load(path)
            index._index_rows()
            index.rev = rev
        return index

    def _index_rows(self) -> None:
        """Index the rows afresh (after a rebuild, or a load from disk): their ids, questions and
        neighbours at once, their words on the first search."""
        self._generation += 1
        rows, links = self._rows.in_order()
        self._bm25.clear(stemmed=not rows)  # the words on the first search (see prepare_search)
        self._bm25.add(rows)
        self._bm25.link(links)

    def upsert(self, entries: Sequence[Entry]) -> None:
        """Add or replace entries, and refresh the context of the turns around them."""
        with self._lock, self._rows.transaction():
            ids = [e.id for e in entries]
            before = self._rows.affected(ids)
            self._bm25.drop(self._rows.delete(ids))
            self._rows.insert(entries)
            self._bm25.add(self._rows.for_postings(ids))
            self._bm25.link(self._rows.links(before | self._rows.affected(ids)))

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock, self._rows.transaction():
            around = self._rows.affected(ids)
            rowids = self._rows.delete(ids)
            self._bm25.drop(rowids)
            self._bm25.link(self._rows.links(around - rowids))

    # -- reading -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        limit: int,
        conversation_id: str | None = None,
        exclude: Sequence[str] = (),
        weights: ranking.Weights = ranking.WEIGHTS,
    ) -> dict[str, float]:
        """Up to ``limit`` ids matching any of the query's words, best first, with their bm25
        score (higher is better). ``conversation_id`` keeps background plus that conversation;
        ``exclude`` leaves these ids out; ``weights`` gives the fields' weights."""
        words = query_terms(query)
        if not words or limit <= 0:
            return {}
        self.prepare_search()
        with self._lock:
            allowed = None if conversation_id is None else self._rows.background_or(conversation_id)
            excluded = self._rows.rowids(exclude) if exclude else []
            return self._bm25.search(words, limit, allowed, excluded, weights)

    def entries(self, ids: Sequence[str]) -> dict[str, Entry]:
        """What the index keeps of these memories (ids it does not have are left out)."""
        with self._lock:
            return self._rows.entries(ids)

    def paragraphs(self, groups: Iterable[str]) -> dict[str, list[tuple[int, str, str]]]:
        """The stored sentences of these paragraphs: (place, id, text), in order."""
        with self._lock:
            return self._rows.paragraphs(groups)

    def adjacent(self, ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, bool]]:
        """For each turn: (the turn before it, the turn after it, whether the one before asked a
        question), within its conversation (the nearest neighbours search keeps)."""
        with self._lock:
            return {memory_id: self._bm25.adjacent(rowid) for rowid, memory_id in self._rows.turns(ids)}

    def previous_turn(self, conversation_id: str, created_at: float) -> tuple[str | None, str] | None:
        """(speaker, text) of the last turn of the conversation before ``created_at``."""
        with self._lock:
            return self._rows.previous_turn(conversation_id, created_at)
