"""MemoryStore: a persona's background and every conversation turn, in Chroma.

A facade over the parts of :mod:`memory`, each with one job:

- :mod:`memory.collections`: one Chroma collection per persona, in one embedding model's space;
- :mod:`memory.mirrors`: each collection's lexical mirror (:mod:`memory.lexical`) kept in step
  with it, and saved beside an embedded store (:mod:`memory.snapshot`) so that a restart reads
  conversations before Chroma is even imported;
- :mod:`memory.schema`: a record's ids, its Chroma metadata, its mirror row and the
  :class:`Memory` read back (version :data:`SCHEMA`);
- :mod:`memory.duplicates`: near-identical memories, found as they are written;
- :mod:`memory.recall`'s steps around the ranking (:mod:`memory.ranking`), a pure function;
- :mod:`memory.journal`: turns taken but not stored yet.

Embeddings are computed offline by :class:`OfflineMiniLM` (or by a server's model). The document is
always the memory's own text (what the UI shows and edits); the embedding is computed from
"speaker: text" for turns. Chroma is the source of truth; reads (``get``, ``transcript``,
``list``, ``recall``) build their memories from the checked mirror, and ask Chroma only for
vectors.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from memory import ranking, schema
from memory.collections import Collections, every_record, import_chroma
from memory.config import StoreConfig
from memory.duplicates import originals
from memory.journal import Journal, PendingTurn
from memory.lexical import LexicalIndex
from memory.mirrors import Mirrors
from memory.models import Conversation, Kind, Memory, NewTurn, StoredRecord
from memory.query import read as read_question
from memory.recall import answers, candidates, newer_first, passages
from memory.rows import ListFilter
from memory.schema import (
    background_metadata,
    embedded_text,
    memory_from,
    mirror_entry,
    shorten,
    storable,
    turn_metadata,
)
from memory.snapshot import Snapshot

if TYPE_CHECKING:  # Chroma and the embedding model load when first needed (see MemoryStore.open)
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Metadata

    from memory.embeddings import OfflineMiniLM, ServerEmbeddings

_BATCH = 64  # memories embedded and written per Chroma call
#: Query vectors kept (:meth:`MemoryStore.expect_query`): a message's, and a few asked again
#: (Regenerate, Retry).
QUERY_VECTORS_KEPT = 8


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class MemoryStore:
    """Background knowledge and conversation turns of every persona.

    Build one with :meth:`open` (embedded store or a ``chroma run`` server), or pass any Chroma
    client. Thread-safe as far as Chroma is; keep one per process.
    """

    def __init__(
        self,
        client: ClientAPI | Callable[[], ClientAPI],
        embedding_function: OfflineMiniLM | ServerEmbeddings | None = None,
        journal: Journal | None = None,
        *,
        snapshot: Snapshot | None = None,
    ) -> None:
        #: The embedding model's part of the collection names ("" for the built-in MiniLM).
        self.space: str = getattr(embedding_function, "space", "")
        self._embedding_function = embedding_function
        self._collections = Collections(client, lambda: self._embed, self.space)
        self._mirrors = Mirrors(self._collections, snapshot)
        self._journal = journal if journal is not None else Journal(None)
        self._storing = threading.Lock()
        self._query_worker = ThreadPoolExecutor(1, thread_name_prefix="query-embedding")
        self._query_vectors: OrderedDict[str, Future[npt.NDArray[np.float32]]] = OrderedDict()
        self._query_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | None = None,
        host: str | None = None,
        port: int | None = None,
        embedding_function: OfflineMiniLM | ServerEmbeddings | None = None,
    ) -> MemoryStore:
        """Open the store: a ``chroma run`` server when ``host`` is given, else the embedded
        store at ``path``. Missing arguments come from ``CHROMA_PATH`` / ``CHROMA_HOST`` /
        ``CHROMA_PORT`` (see ``.env.example``). The journal of turns not stored yet
        (:mod:`memory.journal`) is kept in ``path`` in both cases."""
        if path is None and host is None:
            config = StoreConfig.from_env()
            path, host, port = config.path, config.host, port or config.port

        def client() -> ClientAPI:  # opened on first use: the first reads may need no Chroma
            import_chroma()
            import chromadb
            from chromadb.config import Settings

            settings = Settings(anonymized_telemetry=False)
            if host:
                return chromadb.HttpClient(host=host, port=port or 8000, settings=settings)
            return chromadb.PersistentClient(path=str(path), settings=settings)

        if host:  # a server's files are not here: no snapshot to check them by
            return cls(client(), embedding_function, Journal(path))
        space = getattr(embedding_function, "space", "")
        return cls(client, embedding_function, Journal(path), snapshot=Snapshot(str(path), space))

    @functools.cached_property
    def _embed(self) -> OfflineMiniLM | ServerEmbeddings:
        if self._embedding_function is not None:
            return self._embedding_function
        import_chroma()
        from memory.embeddings import OfflineMiniLM

        return OfflineMiniLM()

    def _vectors(self, texts: builtins.list[str]) -> npt.NDArray[np.float32]:
        return self._embed.encode(texts)

    def _query_vector(self, query: str) -> npt.NDArray[np.float32]:
        vector = self._embed.encode_query(query)
        vector.setflags(write=False)  # shared by the recalls of the same query
        return vector

    def _query_embedding(self, search: str) -> Future[npt.NDArray[np.float32]]:
        """The vector of ``search``, being computed on the query worker or done: one per text among
        the last :data:`QUERY_VECTORS_KEPT` asked (a failed one is asked again)."""
        with self._query_lock:
            future = self._query_vectors.pop(search, None)
            if future is None or (future.done() and future.exception() is not None):
                future = self._query_worker.submit(self._query_vector, search)
            self._query_vectors[search] = future
            while len(self._query_vectors) > QUERY_VECTORS_KEPT:
                self._query_vectors.popitem(last=False)
            return future

    def expect_query(self, query: str) -> None:
        """Start embedding ``query`` for a :meth:`recall` of it that follows soon. The chat service
        calls this as a message arrives, so that the vector is computed on another core while the
        conversation is read; recall otherwise waits for it (about 8 ms of MiniLM on 2 cores)."""
        if query.strip():
            self._query_embedding(read_question(query, _now()).search)

    def persona_ids(self) -> builtins.list[str]:
        """Personas that have anything stored."""
        return self._collections.persona_ids()

    def save_snapshot(self) -> bool:
        """Save every checked mirror (:mod:`memory.snapshot`), so that the next start reads
        conversations before opening Chroma; returns whether it was saved. The store does this
        itself after its warm-up and after writes; a failure only costs the next start time."""
        return self._mirrors.save_snapshot()

    def _write(
        self, persona_id: str, collection: Collection, index: LexicalIndex, ids: builtins.list[str],
        texts: builtins.list[str], metas: Sequence[Metadata], vectors: npt.NDArray[np.float32],
    ) -> None:  # fmt: skip
        """Write records to Chroma and the mirror, and stamp the collection (:meth:`Mirrors.touch`)."""
        collection.upsert(ids=ids, documents=texts, metadatas=builtins.list(metas), embeddings=vectors)
        index.upsert([mirror_entry(i, t, m) for i, t, m in zip(ids, texts, metas, strict=True)])
        self._mirrors.touch(persona_id, index)

    def _checked(self, persona_id: str) -> tuple[Collection, LexicalIndex]:
        """The persona's collection and its mirror, checked against it (to write through): always
        asked of Chroma, never as a :meth:`reading` scope found them, so that a write never lands
        on a mirror that lacks another process's writes."""
        collection = self._mirrors.collection(persona_id)
        return collection, self._mirrors.synced(persona_id, collection)

    # -- writing -------------------------------------------------------------------------------

    def add_background(
        self,
        persona_id: str,
        text: str,
        source: str | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> builtins.list[str]:
        """Store ``text`` as background, one record per sentence (each knows its paragraph and
        its place in it, see :mod:`memory.chunking`); returns their ids. Idempotent: a sentence
        already stored for this persona is not stored again (its id is a hash of its paragraph,
        place and text), nor is one near-identical to a stored one (its id is then the stored
        one's). ``progress(done, total)`` is called as sentences are embedded. Version 1 chunks of
        the same text are replaced (:meth:`_replace_v1_chunks`)."""
        units, ids = schema.background_units(persona_id, storable(text))
        # all stored already (every start of the app, for each persona): the mirror says so, as
        # saved at the last run if need be, and Chroma need not even be opened for it
        index = self._mirrors.read(persona_id)
        if len(index.entries(builtins.list(units))) == len(units):
            self._replace_v1_chunks(persona_id, index, text)
            return ids
        collection, index = self._checked(persona_id)
        existing = set(index.entries(builtins.list(units)))
        new = {i: u for i, u in units.items() if i not in existing}
        same: dict[str, str] = {}
        done = len(units) - len(new)
        if progress:
            progress(done, len(units))
        items = builtins.list(new.items())
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            batch_ids = [i for i, _ in batch]
            texts = [sentence for _, (sentence, _) in batch]
            vectors = self._vectors(texts)
            duplicates = originals(collection, index, batch_ids, texts, "background", vectors)
            same.update(duplicates)
            keep = [n for n, i in enumerate(batch_ids) if i not in duplicates]
            if keep:
                common = background_metadata(persona_id, _now(), source)
                metas: builtins.list[Metadata] = [{**common, **batch[n][1][1]} for n in keep]
                kept_ids, kept_texts = [batch_ids[n] for n in keep], [texts[n] for n in keep]
                self._write(persona_id, collection, index, kept_ids, kept_texts, metas, vectors[keep])
            done += len(batch)
            if progress:
                progress(done, len(units))
        self._replace_v1_chunks(persona_id, index, text)
        return [same.get(i, i) for i in ids]

    def _replace_v1_chunks(self, persona_id: str, index: LexicalIndex, text: str) -> None:
        """Migration 1 -> 2: a store written before sentence records holds this background as
        chunks of up to 600 characters (:func:`memory.chunking.chunk_text`, ids from their text).
        Once the sentences are stored, those chunks of the same text are deleted. Chunks of any
        other text, and chunks the user edited or pinned, are left alone and still recalled, whole:
        nothing the user did is undone, so this needs no backup before it."""
        chunks = schema.v1_chunks(persona_id, storable(text))
        found = index.entries(builtins.list(chunks))
        stale = [
            i
            for i, chunk in chunks.items()
            if (entry := found.get(i)) is not None
            and entry.kind == "background"
            and "v" not in entry.metadata()
            and entry.text == chunk
            and not entry.pinned
        ]
        if stale:
            self.delete_many(persona_id, stale)

    def add_turn(
        self,
        persona_id: str,
        conversation_id: str,
        role: str,
        text: str,
        created_at: datetime | None = None,
        *,
        recalled: Sequence[tuple[str, float]] = (),
        lore: Sequence[str] = (),
        interrupted: bool = False,
        speaker: str | None = None,
        stopped: bool = False,
        thinking: str = "",
        thinking_seconds: float | None = None,
    ) -> str:
        """Store one conversation turn and return its id. ``recalled``: the (memory id, score)
        pairs a reply was given, and ``lore`` the lorebook entries, shown under it. ``speaker``:
        who said it, when known by name. ``thinking``: a reasoning model's thinking, kept with the
        reply but never embedded, searched or recalled. Idempotent for the same turn and time."""
        turn = NewTurn(
            role, storable(text), created_at, speaker=speaker, recalled=tuple(recalled), lore=tuple(lore),
            interrupted=interrupted, stopped=stopped, thinking=storable(thinking), thinking_seconds=thinking_seconds,
        )  # fmt: skip
        return self.add_turns(persona_id, conversation_id, [turn])[0]

    def accept_turn(
        self, persona_id: str, conversation_id: str, role: str, text: str, created_at: datetime | None = None
    ) -> str:
        """Take a turn now and store it later: it is journaled at once (see :mod:`memory.journal`)
        and stored by the next :meth:`store_pending`. Returns the id it will have."""
        moment, text = _as_utc(created_at or _now()), storable(text)
        turn_id = self.turn_id(persona_id, conversation_id, role, text, moment)
        self._journal.append(PendingTurn(turn_id, persona_id, conversation_id, role, text, moment))
        return turn_id

    def has_pending(self) -> bool:
        return not self._journal.empty()

    def pending(self) -> builtins.list[PendingTurn]:
        """The journaled turns not stored yet, oldest first."""
        return self._journal.pending()

    def store_pending(
        self, only: Iterable[str] | None = None, created_at: datetime | None = None
    ) -> builtins.list[str]:
        """Store journaled turns, oldest first (all of them, or the ids in ``only``); returns
        their ids. ``created_at`` stamps them with another time than when they were taken (a
        message that waited in line behind a reply is placed after that reply); their ids stay
        the ones :meth:`accept_turn` gave. If storing fails, the turns stay journaled for the next
        call (the error is raised)."""
        wanted = None if only is None else set(only)
        with self._storing:
            pending = [t for t in self._journal.pending() if wanted is None or t.id in wanted]
            done: builtins.list[str] = []
            try:
                for turn in pending:
                    new = NewTurn(turn.role, turn.text, created_at or turn.created_at, id=turn.id)
                    done += self.add_turns(turn.persona_id, turn.conversation_id, [new])
            finally:
                self._journal.discard(set(done))
            return done

    @staticmethod
    def turn_id(persona_id: str, conversation_id: str, role: str, text: str, created_at: datetime) -> str:
        """The id :meth:`add_turn` gives this turn (known before it is stored)."""
        return schema.turn_id(persona_id, conversation_id, role, text, _as_utc(created_at))

    def add_turns(self, persona_id: str, conversation_id: str, turns: Sequence[NewTurn]) -> builtins.list[str]:
        """Store many turns of one conversation at once (faster than one by one: embedded and
        written in batches); returns their ids in the order given."""
        if not turns:
            return []
        moments = [_as_utc(t.created_at or _now()) for t in turns]
        ids = [
            t.id or self.turn_id(persona_id, conversation_id, t.role, t.text, m)
            for t, m in zip(turns, moments, strict=True)
        ]
        first = {memory_id: n for n, memory_id in reversed(builtins.list(enumerate(ids)))}
        collection, index = self._checked(persona_id)
        order = sorted(first.values(), key=lambda n: moments[n])
        previous = index.previous_turn(conversation_id, moments[order[0]].timestamp())
        metas: builtins.list[dict[str, Any]] = [{} for _ in turns]
        for n in order:
            turn = turns[n]
            metas[n] = turn_metadata(persona_id, conversation_id, turn, moments[n], previous)
            previous = (turn.speaker or turn.role, turn.text)
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            batch_ids = [ids[n] for n in batch]
            vectors = self._vectors([embedded_text(turns[n].text, metas[n]) for n in batch])
            texts = [turns[n].text for n in batch]
            for own, original in originals(collection, index, batch_ids, texts, "turn", vectors).items():
                metas[first[own]]["duplicate_of"] = original
            self._write(persona_id, collection, index, batch_ids, texts, [metas[n] for n in batch], vectors)
        return ids

    def update(
        self,
        memory_id: str,
        text: str | None = None,
        pinned: bool | None = None,
        *,
        persona_id: str | None = None,
        interrupted: bool | None = None,
        thinking: str | None = None,
    ) -> Memory:
        """Change a memory's text (re-embedded and re-indexed) and/or its pinned flag; for a
        reply also whether it was cut short (``interrupted=False`` clears a stop too) and its
        thinking. With ``persona_id`` the store need not look for the memory in every persona."""
        if persona_id is None:
            persona_id = str((self._collections.owner(memory_id).metadata or {})["persona_id"])
        collection, index = self._checked(persona_id)
        found = index.entries([memory_id])
        if memory_id not in found:
            raise KeyError(f"no memory with id {memory_id!r}")
        current = found[memory_id]  # the record as stored, from the mirror
        meta = current.metadata()
        if pinned is not None:
            meta["pinned"] = pinned
        if interrupted is not None:
            meta.pop("stopped", None)
            meta.pop("interrupted", None)
            if interrupted:
                meta["interrupted"] = True
        if thinking is not None:
            meta.pop("thinking", None)
            if thinking:
                meta["thinking"] = storable(thinking)
        if text is None:
            collection.update(ids=[memory_id], metadatas=[meta])
            text = current.text
        else:
            text = storable(text)
            vectors = self._vectors([embedded_text(text, meta)])
            meta.pop("duplicate_of", None)
            collection.upsert(ids=[memory_id], documents=[text], metadatas=[meta], embeddings=vectors)
        index.upsert([mirror_entry(memory_id, text, meta)])
        self._mirrors.touch(persona_id, index)
        return self._memories(index, [memory_id])[0]

    def delete(self, memory_id: str, *, persona_id: str | None = None) -> None:
        """Forget one memory (with ``persona_id``, without looking in every persona)."""
        if persona_id is None:
            persona_id = (self._collections.owner(memory_id).metadata or {})["persona_id"]
        self.delete_many(persona_id, [memory_id])

    def delete_many(self, persona_id: str, memory_ids: Iterable[str]) -> None:
        """Delete several memories of one persona at once (ids not stored are ignored)."""
        ids = builtins.list(dict.fromkeys(memory_ids))
        if not ids:
            return
        collection, index = self._checked(persona_id)
        collection.delete(ids=ids)
        index.delete(ids)
        self._mirrors.touch(persona_id, index)

    def delete_conversation(self, persona_id: str, conversation_id: str) -> int:
        """Forget a conversation's turns (and its title and settings); returns how many there were."""
        _, index = self._checked(persona_id)
        ids = index.conversation_ids(conversation_id)
        self.delete_many(persona_id, ids)
        self._set_per_conversation(persona_id, "titles", conversation_id, None)
        self._set_per_conversation(persona_id, "settings", conversation_id, None)
        return len(ids)

    def rename_conversation(self, persona_id: str, conversation_id: str, title: str) -> None:
        """Give a conversation a title of its own (an empty title goes back to the default: its
        first message)."""
        self._set_per_conversation(persona_id, "titles", conversation_id, " ".join(title.split()) or None)

    def conversation_settings(self, persona_id: str) -> dict[str, dict[str, Any]]:
        """What is set for each of the persona's conversations (see :meth:`set_conversation_settings`)."""
        settings: dict[str, dict[str, Any]] = json.loads(self._mirrors.metadata(persona_id).get("settings", "{}"))
        return settings

    def set_conversation_settings(self, persona_id: str, conversation_id: str, **values: Any) -> None:
        """Set values of a conversation's own (JSON-able; ``None`` removes one): the chat service
        keeps its author's note and the conversation it branched from there."""
        self._mirrors.check(persona_id)  # (what is changed is read from Chroma, not from the saved copy)
        settings = self.conversation_settings(persona_id).get(conversation_id, {})
        settings = {k: v for k, v in {**settings, **values}.items() if v is not None}
        self._set_per_conversation(persona_id, "settings", conversation_id, settings or None)

    def _set_per_conversation(self, persona_id: str, key: str, conversation_id: str, value: Any) -> None:
        self._mirrors.check(persona_id)
        self._collections.set_per_conversation(persona_id, key, conversation_id, value)
        self._mirrors.written(persona_id)

    def delete_persona(self, persona_id: str) -> None:
        """Forget everything stored for a persona."""
        self._mirrors.forget(persona_id)
        self._collections.delete(persona_id)
        self._mirrors.written(persona_id)

    # -- reading -------------------------------------------------------------------------------

    def _memories(self, index: LexicalIndex, ids: Sequence[str]) -> builtins.list[Memory]:
        """The memories with these ids, in that order, from the mirror (ids it lacks are skipped)."""
        found = index.entries(ids)
        return [memory_from(i, found[i].text, found[i].metadata()) for i in ids if i in found]

    def get(self, memory_ids: Iterable[str], persona_id: str) -> builtins.list[Memory]:
        """The memories with these ids (missing ones are skipped), in the order asked."""
        wanted = builtins.list(memory_ids)
        if not wanted:
            return []
        return self._memories(self._mirrors.read(persona_id), wanted)

    def reading(self, persona_id: str) -> contextlib.AbstractContextManager[None]:
        """A scope for an operation made of several reads of one persona (its transcript, its
        conversations' settings, a recall): inside it, this thread's reads see the store as the
        first of them found it, and ask Chroma whether another process wrote only once. Writes
        are as usual; after one, the next read checks again."""
        return self._mirrors.reading(persona_id)

    def recall(
        self,
        persona_id: str,
        query: str,
        k: int = 5,
        conversation_id: str | None = None,
        now: datetime | None = None,
        exclude: Iterable[str] = (),
        *,
        weights: ranking.Weights | None = None,
    ) -> builtins.list[Memory]:
        """The ``k`` memories most worth putting in front of the model, best first.

        ``conversation_id`` limits the turns considered to that conversation (background is
        always considered); ``exclude`` skips ids already in the prompt (the recent history).
        Candidates come from dense and lexical search; ranking: see :mod:`memory.ranking`
        (``weights``: other weights than :data:`memory.ranking.WEIGHTS`, for the benchmarks).
        """
        if k <= 0 or not query.strip():
            return []
        w = weights or ranking.WEIGHTS
        moment = _as_utc(now or _now())
        asked = read_question(query, moment)
        search = asked.search
        # the query is embedded on another core while the lexical side is read (or already was:
        # expect_query)
        embedding = self._query_embedding(search) if w.dense else None
        collection, index, size = self._mirrors.checked(persona_id)
        if size == 0:
            return []
        excluded = set(exclude)
        cosine, lexical, vectors = candidates(
            collection, index, search, embedding, size, conversation_id, excluded, k, w
        )
        # (a candidate another process stored or deleted a moment ago may be missing: skipped)
        entries = index.entries(builtins.list(cosine))
        winners, hits = ranking.rank(entries, cosine, lexical, query, asked, moment, k, excluded, w)
        texts = passages(index, entries, winners, hits)
        winners, older = newer_first(collection, entries, winners, w, vectors)
        replies = answers(index, entries, [i for i, _, _ in winners], excluded) if w.replies else {}
        return [
            replace(
                memory_from(i, texts[i], entries[i].metadata(), round(total, 4)),
                breakdown=parts,
                older_than=datetime.fromtimestamp(entries[older[i]].created_at, UTC) if i in older else None,
                reply=replies.get(i),
            )
            for i, total, parts in winners
        ]

    def transcript(self, persona_id: str, conversation_id: str) -> builtins.list[Memory]:
        """The turns of one conversation, oldest first."""
        index = self._mirrors.read(persona_id)
        return self._memories(index, index.conversation_ids(conversation_id))

    def warm_up(self) -> None:
        """Build every persona's lexical mirror and load the embedding model now (the app calls
        this in the background at start-up, so the first message does not pay for it), after
        storing the turns an earlier run journaled but did not store."""
        self.store_pending(only=self._journal.leftover)
        # first what the pages show (every persona's rows: conversations, transcripts), then what
        # the first message needs (the embedding model, the lexical postings)
        mirrors = [self._checked(persona_id)[1] for persona_id in self.persona_ids()]
        self._mirrors.check_all()
        self.save_snapshot()  # (writes meanwhile make it stale: their own save follows)
        self._vectors(["warm up"])
        self._query_vector("warm up")
        for mirror in mirrors:
            mirror.prepare_search()

    def conversations(self, persona_id: str) -> builtins.list[Conversation]:
        """The persona's conversations, most recently active first; titled by the user (see
        :meth:`rename_conversation`) or by their first user message."""
        metadata = self._mirrors.metadata(persona_id)
        titles = json.loads(metadata.get("titles", "{}"))
        settings = json.loads(metadata.get("settings", "{}"))
        conversations = [
            Conversation(
                id=conversation_id,
                title=titles.get(conversation_id) or shorten(first_message, 60),
                started_at=datetime.fromtimestamp(first, UTC),
                updated_at=datetime.fromtimestamp(last, UTC),
                turns=turns,
                parent=settings.get(conversation_id, {}).get("parent"),
            )
            for conversation_id, first, last, turns, first_message in self._mirrors.read(persona_id).conversations()
        ]
        return sorted(conversations, key=lambda c: c.updated_at, reverse=True)

    def list(
        self,
        persona_id: str | None = None,
        kind: Kind | None = None,
        conversation_id: str | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[Memory]:
        """Stored memories, newest first, filtered by persona, kind, conversation, a
        case-insensitive text match and a time range (``since`` and ``until`` inclusive)."""
        filters = _filter(kind, conversation_id, text, since, until)
        if persona_id is None:
            pages = [
                self.list(p, kind, conversation_id, text, limit + offset, 0, since, until) for p in self.persona_ids()
            ]
            return sorted((m for page in pages for m in page), key=lambda m: m.created_at, reverse=True)[
                offset : offset + limit
            ]
        index = self._mirrors.read(persona_id)
        ids, _ = index.select(filters, limit, offset)
        return self._memories(index, ids)

    def turns_per_day(self, persona_id: str) -> dict[str, int]:
        """How many conversation turns were stored on each day (UTC, ``YYYY-MM-DD``)."""
        return dict(self._mirrors.read(persona_id).turns_per_day())

    def count(
        self,
        persona_id: str,
        kind: Kind | None = None,
        conversation_id: str | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many memories of the persona pass the filters of :meth:`list` (all without)."""
        collection = self._mirrors.collection(persona_id)
        if (kind, conversation_id, text, since, until) == (None,) * 5:
            return collection.count()
        filters = _filter(kind, conversation_id, text, since, until)
        return self._mirrors.synced(persona_id, collection).select(filters, 0, 0)[1]

    # -- imports and backups (memory.sillytavern, memory.backup) -------------------------------

    @property
    def embedding_model(self) -> str:
        """The name of the embedding model the store's vectors come from."""
        embed = self._embed  # (first: it loads memory.embeddings, and Chroma, one thread at a time)
        from memory.embeddings import ServerEmbeddings

        if isinstance(embed, ServerEmbeddings):
            return f"{embed.name()}:{embed.model}"
        name = getattr(embed, "name", None)
        return str(name()) if callable(name) else type(embed).__name__

    @property
    def embedding_label(self) -> str:
        """The embedding model, as the user knows it."""
        embed = self._embed  # (first: see embedding_model)
        from memory.embeddings import ServerEmbeddings

        if isinstance(embed, ServerEmbeddings):
            return embed.label()
        return "the built-in all-MiniLM-L6-v2 (offline)"

    def conversation_titles(self, persona_id: str) -> dict[str, str]:
        """The titles given to the persona's conversations (by :meth:`rename_conversation`), by id."""
        return dict(json.loads(self._mirrors.metadata(persona_id).get("titles", "{}")))

    def records(self, persona_id: str) -> Iterator[StoredRecord]:
        """Every memory of the persona as stored (id, text, whole metadata), read from Chroma."""
        for memory_id, text, meta in every_record(self._mirrors.collection(persona_id)):
            yield StoredRecord(memory_id, text, meta)

    def restore_records(
        self,
        persona_id: str,
        records: Iterable[StoredRecord],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Store memories as another store had them (a backup: ids, texts and metadata kept; the
        vectors computed here, so a store with another embedding model restores too). Ids already
        stored are left as they are, so restoring twice stores nothing twice. Returns how many were
        stored; ``progress(done, total)`` as they are embedded."""
        wanted = {r.id: r for r in records}
        collection, index = self._checked(persona_id)
        present = index.entries(builtins.list(wanted))
        new = sorted((r for i, r in wanted.items() if i not in present), key=lambda r: r.metadata["created_at"])
        if progress:
            progress(0, len(new))
        for start in range(0, len(new), _BATCH):
            batch = new[start : start + _BATCH]
            texts = [storable(r.text) for r in batch]
            metas: builtins.list[Metadata] = [{**r.metadata, "persona_id": persona_id} for r in batch]
            vectors = self._vectors([embedded_text(t, m) for t, m in zip(texts, metas, strict=True)])
            self._write(persona_id, collection, index, [r.id for r in batch], texts, metas, vectors)
            if progress:
                progress(start + len(batch), len(new))
        return len(new)


def _filter(
    kind: str | None, conversation_id: str | None, text: str | None, since: datetime | None, until: datetime | None
) -> ListFilter:
    return ListFilter(
        kind=kind,
        conversation_id=conversation_id,
        text=text.strip() if text and text.strip() else None,
        since=_as_utc(since).timestamp() if since else None,
        until=_as_utc(until).timestamp() if until else None,
    )
