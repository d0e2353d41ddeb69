"""MemoryStore: a persona's background and every conversation turn, in Chroma.

One Chroma collection per persona (named from a hash of the persona id, since Chroma limits
collection names), cosine space, embeddings computed offline by :class:`OfflineMiniLM`.
Each record's metadata: ``persona_id, kind, role, conversation_id, created_at`` (epoch seconds),
``pinned``, ``source``, ``recalled`` (JSON) and ``interrupted``.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from memory import ranking
from memory.chunking import chunk_text
from memory.config import StoreConfig
from memory.embeddings import OfflineMiniLM
from memory.models import Conversation, Kind, Memory

COLLECTION_PREFIX = "persona-"
_INCLUDE = ["documents", "metadatas"]


def collection_name(persona_id: str) -> str:
    """A valid Chroma collection name for any persona id (Unicode, spaces, any length)."""
    return COLLECTION_PREFIX + hashlib.sha256(persona_id.encode()).hexdigest()[:32]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _where(**conditions: Any) -> dict[str, Any] | None:
    clauses = [{key: value} for key, value in conditions.items() if value is not None]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _memory(memory_id: str, text: str, meta: dict[str, Any], score: float | None = None) -> Memory:
    return Memory(
        id=memory_id,
        persona_id=meta["persona_id"],
        kind=meta["kind"],
        text=text,
        created_at=datetime.fromtimestamp(meta["created_at"], UTC),
        role=meta.get("role"),
        conversation_id=meta.get("conversation_id"),
        pinned=bool(meta.get("pinned", False)),
        score=score,
        source=meta.get("source"),
        recalled=[tuple(pair) for pair in json.loads(meta.get("recalled", "[]"))],
        interrupted=bool(meta.get("interrupted", False)),
    )


def _records(result: dict[str, Any]) -> list[Memory]:
    return [_memory(i, d, m) for i, d, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)]


class MemoryStore:
    """Background knowledge and conversation turns of every persona.

    Build one with :meth:`open` (embedded store or a ``chroma run`` server), or pass any Chroma
    client. Thread-safe as far as Chroma is; keep one per process.
    """

    def __init__(self, client: ClientAPI, embedding_function: OfflineMiniLM | None = None) -> None:
        self._client = client
        self._embed = embedding_function or OfflineMiniLM()

    @classmethod
    def open(
        cls,
        path: str | None = None,
        host: str | None = None,
        port: int | None = None,
        embedding_function: OfflineMiniLM | None = None,
    ) -> MemoryStore:
        """Open the store: a ``chroma run`` server when ``host`` is given, else the embedded
        store at ``path``. Missing arguments come from ``CHROMA_PATH`` / ``CHROMA_HOST`` /
        ``CHROMA_PORT`` (see ``.env.example``)."""
        if path is None and host is None:
            config = StoreConfig.from_env()
            path, host, port = config.path, config.host, port or config.port
        settings = ChromaSettings(anonymized_telemetry=False)
        if host:
            client = chromadb.HttpClient(host=host, port=port or 8000, settings=settings)
        else:
            client = chromadb.PersistentClient(path=str(path), settings=settings)
        return cls(client, embedding_function)

    # -- collections ---------------------------------------------------------------------------

    def _collection(self, persona_id: str) -> Collection:
        return self._client.get_or_create_collection(
            collection_name(persona_id),
            embedding_function=self._embed,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"persona_id": persona_id},
        )

    def _existing_collections(self, persona_id: str | None) -> builtins.list[Collection]:
        if persona_id is not None:
            return [self._collection(persona_id)]
        return [
            self._client.get_collection(c.name, embedding_function=self._embed)
            for c in self._client.list_collections()
            if c.name.startswith(COLLECTION_PREFIX)
        ]

    def persona_ids(self) -> builtins.list[str]:
        """Personas that have anything stored."""
        return [c.metadata["persona_id"] for c in self._existing_collections(None)]

    def _owner(self, memory_id: str) -> Collection:
        for collection in self._existing_collections(None):
            if collection.get(ids=[memory_id], include=[])["ids"]:
                return collection
        raise KeyError(f"no memory with id {memory_id!r}")

    # -- writing -------------------------------------------------------------------------------

    def add_background(self, persona_id: str, text: str, source: str | None = None) -> builtins.list[str]:
        """Store ``text`` as background chunks; returns their ids. Idempotent: a chunk already
        stored for this persona is not stored again (its id is a hash of its text)."""
        chunks = chunk_text(text)
        ids = [f"bg-{_digest(persona_id, chunk)}" for chunk in chunks]
        unique = dict(zip(ids, chunks, strict=True))
        collection = self._collection(persona_id)
        existing = set(collection.get(ids=builtins.list(unique), include=[])["ids"]) if unique else set()
        new = {i: c for i, c in unique.items() if i not in existing}
        if new:
            now = _now().timestamp()
            meta = {"persona_id": persona_id, "kind": "background", "created_at": now, "pinned": False}
            if source:
                meta["source"] = source
            collection.add(
                ids=builtins.list(new), documents=builtins.list(new.values()), metadatas=[dict(meta) for _ in new]
            )
        return ids

    def add_turn(
        self,
        persona_id: str,
        conversation_id: str,
        role: str,
        text: str,
        created_at: datetime | None = None,
        *,
        recalled: Sequence[tuple[str, float]] = (),
        interrupted: bool = False,
    ) -> str:
        """Store one conversation turn and return its id. ``recalled``: the (memory id, score)
        pairs a reply was given, shown under it. Idempotent for the same turn and time."""
        moment = _as_utc(created_at or _now())
        memory_id = f"turn-{_digest(persona_id, conversation_id, role, moment.isoformat(), text)}"
        meta: dict[str, Any] = {
            "persona_id": persona_id,
            "kind": "turn",
            "role": role,
            "conversation_id": conversation_id,
            "created_at": moment.timestamp(),
            "pinned": False,
        }
        if recalled:
            meta["recalled"] = json.dumps([[i, round(s, 4)] for i, s in recalled])
        if interrupted:
            meta["interrupted"] = True
        self._collection(persona_id).upsert(ids=[memory_id], documents=[text], metadatas=[meta])
        return memory_id

    def update(self, memory_id: str, text: str | None = None, pinned: bool | None = None) -> Memory:
        """Change a memory's text (re-embedded) and/or its pinned flag."""
        collection = self._owner(memory_id)
        current = _records(collection.get(ids=[memory_id], include=_INCLUDE))[0]
        meta = {"pinned": current.pinned if pinned is None else pinned}
        if text is None:
            collection.update(ids=[memory_id], metadatas=[meta])
        else:
            collection.update(ids=[memory_id], documents=[text], metadatas=[meta])
        return _records(collection.get(ids=[memory_id], include=_INCLUDE))[0]

    def delete(self, memory_id: str) -> None:
        self._owner(memory_id).delete(ids=[memory_id])

    def delete_persona(self, persona_id: str) -> None:
        """Forget everything stored for a persona."""
        name = collection_name(persona_id)
        if any(c.name == name for c in self._client.list_collections()):
            self._client.delete_collection(name)

    # -- reading -------------------------------------------------------------------------------

    def get(self, memory_ids: Iterable[str], persona_id: str) -> builtins.list[Memory]:
        """The memories with these ids (missing ones are skipped), in the order asked."""
        wanted = builtins.list(memory_ids)
        if not wanted:
            return []
        found = {m.id: m for m in _records(self._collection(persona_id).get(ids=wanted, include=_INCLUDE))}
        return [found[i] for i in wanted if i in found]

    def recall(
        self,
        persona_id: str,
        query: str,
        k: int = 5,
        conversation_id: str | None = None,
        now: datetime | None = None,
        exclude: Iterable[str] = (),
    ) -> builtins.list[Memory]:
        """The ``k`` memories most worth putting in front of the model, best first.

        ``conversation_id`` limits the turns considered to that conversation (background is
        always considered); ``exclude`` skips ids already in the prompt (the recent history).
        Ranking: see :mod:`memory.ranking`.
        """
        collection = self._collection(persona_id)
        size = collection.count()
        if k <= 0 or size == 0 or not query.strip():
            return []
        excluded = set(exclude)
        where = None
        if conversation_id is not None:
            where = {"$or": [{"kind": "background"}, {"conversation_id": conversation_id}]}
        result = collection.query(
            query_texts=[query],
            n_results=min(size, max(4 * k, 20) + len(excluded)),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        moment = _as_utc(now or _now())
        scored = []
        for memory_id, text, meta, distance in zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True
        ):
            if memory_id in excluded:
                continue
            memory = _memory(memory_id, text, meta)
            value = ranking.score(
                similarity=1.0 - distance,
                created_at=memory.created_at,
                now=moment,
                pinned=memory.pinned,
                timeless=memory.kind == "background",
            )
            scored.append(_memory(memory_id, text, meta, round(value, 4)))
        scored.sort(key=lambda m: m.score or 0.0, reverse=True)
        return scored[:k]

    def transcript(self, persona_id: str, conversation_id: str) -> builtins.list[Memory]:
        """The turns of one conversation, oldest first."""
        where = _where(kind="turn", conversation_id=conversation_id)
        turns = _records(self._collection(persona_id).get(where=where, include=_INCLUDE))
        return sorted(turns, key=lambda m: m.created_at)

    def conversations(self, persona_id: str) -> builtins.list[Conversation]:
        """The persona's conversations, most recently active first; titled by their first user
        message."""
        result = self._collection(persona_id).get(where={"kind": "turn"}, include=_INCLUDE)
        by_conversation: dict[str, builtins.list[Memory]] = {}
        for turn in _records(result):
            by_conversation.setdefault(turn.conversation_id or "", []).append(turn)
        conversations = []
        for conversation_id, turns in by_conversation.items():
            turns.sort(key=lambda m: m.created_at)
            first_user = next((t.text for t in turns if t.role == "user"), turns[0].text)
            title = " ".join(first_user.split())
            conversations.append(
                Conversation(
                    id=conversation_id,
                    title=title if len(title) <= 60 else title[:59] + "…",
                    started_at=turns[0].created_at,
                    updated_at=turns[-1].created_at,
                    turns=len(turns),
                )
            )
        return sorted(conversations, key=lambda c: c.updated_at, reverse=True)

    def list(
        self,
        persona_id: str | None = None,
        kind: Kind | None = None,
        conversation_id: str | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Memory]:
        """Stored memories, newest first, filtered by persona, kind, conversation and a
        case-insensitive text match."""
        where = _where(kind=kind, conversation_id=conversation_id)
        where_document = {"$regex": "(?i)" + re.escape(text.strip())} if text and text.strip() else None
        found: builtins.list[Memory] = []
        for collection in self._existing_collections(persona_id):
            found += _records(collection.get(where=where, where_document=where_document, include=_INCLUDE))
        found.sort(key=lambda m: m.created_at, reverse=True)
        return found[offset : offset + limit]

    def count(self, persona_id: str) -> int:
        return self._collection(persona_id).count()
