"""The store's Chroma collections: one per persona, named from a hash of its id (Chroma limits
collection names), cosine space, in the space of one embedding model (a store never mixes the
vectors of two models). Each collection's own metadata holds the persona id, the mirror's
``rev`` token (:mod:`memory.lexical`) and the conversations' titles and settings (JSON)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # Chroma is imported by whoever opens the client (about a second)
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Embeddable, EmbeddingFunction

COLLECTION_PREFIX = "persona-"
_IMPORTING = threading.Lock()
_PAGE = 5000  # records per Chroma get when reading a whole collection


def import_chroma() -> None:
    """Import Chroma (once; about a second), one thread at a time: the store loads it when first
    needed, and two threads importing it at once fail ("partially initialized module
    'chromadb.api'": the package imports itself in a circle)."""
    with _IMPORTING:
        import chromadb  # noqa: F401


def collection_name(persona_id: str, space: str = "") -> str:
    """A valid Chroma collection name for any persona id (Unicode, spaces, any length). ``space``
    names the embedding model of the store's vectors (none for the built-in MiniLM): a store
    never mixes the vectors of two models, each model has collections of its own."""
    name = COLLECTION_PREFIX + hashlib.sha256(persona_id.encode()).hexdigest()[:32]
    return f"{name}-{space}" if space else name


def in_space(name: str, space: str) -> bool:
    """Whether a collection's name is one of a store whose embedding model is ``space``."""
    if not name.startswith(COLLECTION_PREFIX):
        return False
    rest = name[len(COLLECTION_PREFIX) + 32 :]
    return rest == (f"-{space}" if space else "")


def every_record(collection: Collection, size: int | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(id, document, metadata) of every record of ``collection`` (``size``: its count, when
    the caller has it), read a page at a time."""
    for offset in range(0, collection.count() if size is None else size, _PAGE):
        page = collection.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
        for memory_id, text, meta in zip(page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True):
            yield memory_id, text, dict(meta)


class Collections:
    """The personas' collections of one Chroma client, for one embedding model. Thread-safe.

    ``client`` may be a function that opens it: it is then opened on first use (the store's
    first reads after a restart may come from its snapshot, :mod:`memory.snapshot`, instead).
    ``embed`` gives the embedding function, also when first needed."""

    def __init__(
        self, client: ClientAPI | Callable[[], ClientAPI], embed: Callable[[], object], space: str = ""
    ) -> None:
        self._client: ClientAPI | None = None if callable(client) else client
        self._open = client if callable(client) else None
        self._opening = threading.Lock()
        self.space = space
        self._embed_function = embed
        self._metadata_lock = threading.RLock()

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            with self._opening:
                if self._client is None and self._open is not None:
                    self._client = self._open()
        assert self._client is not None
        return self._client

    @property
    def opened(self) -> bool:
        """Whether the Chroma client is open yet."""
        return self._client is not None

    @property
    def _embed(self) -> EmbeddingFunction[Embeddable]:
        # Chroma types a collection's function as taking documents or images; ours take documents
        return cast("EmbeddingFunction[Embeddable]", self._embed_function())

    def of(self, persona_id: str) -> Collection:
        """The persona's collection, created when it has none yet."""
        client = self.client  # (imports Chroma, if this opens it)
        from chromadb.errors import NotFoundError

        name = collection_name(persona_id, self.space)
        try:  # half the time of get_or_create, which the store calls for every read
            return client.get_collection(name, embedding_function=self._embed)
        except NotFoundError:
            pass
        return client.get_or_create_collection(
            name,
            embedding_function=self._embed,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"persona_id": persona_id},
        )

    def existing(self) -> list[Collection]:
        """Every persona's collection in this space."""
        return [
            self.client.get_collection(c.name, embedding_function=self._embed)
            for c in self.client.list_collections()
            if in_space(c.name, self.space)
        ]

    def persona_ids(self) -> list[str]:
        """Personas that have anything stored."""
        return [c.metadata["persona_id"] for c in self.existing()]

    def owner(self, memory_id: str) -> Collection:
        """The collection holding ``memory_id`` (``KeyError`` if none does)."""
        for collection in self.existing():
            if collection.get(ids=[memory_id], include=[])["ids"]:
                return collection
        raise KeyError(f"no memory with id {memory_id!r}")

    def delete(self, persona_id: str) -> None:
        name = collection_name(persona_id, self.space)
        if any(c.name == name for c in self.client.list_collections()):
            self.client.delete_collection(name)

    def modify(self, persona_id: str, **changes: Any) -> None:
        """Change keys of the collection's metadata (``rev``, conversation titles and settings),
        one change at a time, on a fresh read of it: a write from a stale copy would undo another
        thread's change (a title set while the reply was being stored)."""
        with self._metadata_lock:
            name = collection_name(persona_id, self.space)
            collection = self.client.get_collection(name, embedding_function=self._embed)
            collection.modify(metadata={**(collection.metadata or {}), "persona_id": persona_id, **changes})

    def set_per_conversation(self, persona_id: str, key: str, conversation_id: str, value: Any) -> None:
        """Set (or, with a falsy ``value``, remove) one conversation's entry of the JSON object
        stored under ``key`` (``titles``, ``settings``)."""
        with self._metadata_lock:  # read, change, write: not from a stale copy (see modify)
            values = json.loads((self.of(persona_id).metadata or {}).get(key, "{}"))
            if value:
                values[conversation_id] = value
            else:
                values.pop(conversation_id, None)
            self.modify(persona_id, **{key: json.dumps(values, ensure_ascii=False)})
