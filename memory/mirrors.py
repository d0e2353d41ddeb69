"""Each persona's lexical mirror (:mod:`memory.lexical`) as this process has it, kept in step with
its Chroma collection, and the snapshot of the mirrors saved beside an embedded store
(:mod:`memory.snapshot`).

A mirror is read in one of two states:

- *as saved at the last run*, right after a restart, until anything opens the persona's
  collection: the first reads (conversations, a transcript, titles, settings) then need no Chroma;
- *checked*: rebuilt from the collection whenever its ``rev`` token or count differs from what
  this process last wrote or read, i.e. when another process wrote (:meth:`Mirrors.synced`).
  Each read asks Chroma for both; the reads of one operation (:meth:`Mirrors.reading`) ask once.

Every write of the store goes through a checked mirror and stamps the collection with a new
``rev`` (:meth:`Mirrors.touch`); the mirrors are saved again a moment after a burst of writes,
after the warm-up has checked them all, and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import uuid
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from memory.collections import Collections, every_record
from memory.lexical import LexicalIndex
from memory.schema import mirror_entry
from memory.snapshot import Saved, Snapshot

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

log = logging.getLogger(__name__)

SNAPSHOT_DELAY = 2.0  # seconds after a write before the mirrors are saved


class Mirrors:
    """The personas' mirrors over one store's collections. Thread-safe."""

    def __init__(self, collections: Collections, snapshot: Snapshot | None = None) -> None:
        self._collections = collections
        self._mirrors: dict[str, LexicalIndex] = {}
        self._snapshot = snapshot
        self._saved: dict[str, Saved] = snapshot.load() if snapshot else {}
        self._unchecked = set(self._saved)  # read as saved until checked
        self._writes = 0  # this process's writes, so that a snapshot is saved after the last one
        self._saved_writes = 0
        self._save_timer: threading.Timer | None = None
        self._lock = threading.RLock()
        self._rebuilding = threading.Lock()
        self._local = threading.local()  # each thread's operations (see reading)
        if snapshot is not None:
            atexit.register(_save_at_exit, weakref.ref(self))

    # -- reading ---------------------------------------------------------------------------------

    def collection(self, persona_id: str) -> Collection:
        """The persona's collection; from now on its mirror is read checked against it."""
        self.check(persona_id)
        return self._collections.of(persona_id)

    def check(self, persona_id: str) -> None:
        """Read the persona's mirror and metadata checked against Chroma from now on (not as
        saved at the last run): before any write, and once anything has opened its collection."""
        with self._lock:
            self._unchecked.discard(persona_id)

    def check_all(self) -> None:
        """Every mirror checked from now on (a saved persona Chroma no longer has reads as empty)."""
        with self._lock:
            self._unchecked.clear()

    def read(self, persona_id: str) -> LexicalIndex:
        """The persona's mirror, to read: as saved at the last run until this process has
        touched the persona's collection, then checked against it (:meth:`synced`)."""
        with self._lock:
            if persona_id in self._unchecked:
                index = self._index(persona_id)
                if persona_id in self._unchecked:  # (not if the saved file could not be read)
                    return index
        return self.checked(persona_id)[1]

    def metadata(self, persona_id: str) -> dict[str, Any]:
        """The persona's collection's metadata (as saved, while its mirror is read so)."""
        with self._lock:
            if persona_id in self._unchecked:
                return self._saved[persona_id].metadata
        if persona_id in self._operations():
            return dict(self.checked(persona_id)[0].metadata or {})
        return dict(self.collection(persona_id).metadata or {})

    def checked(self, persona_id: str) -> tuple[Collection, LexicalIndex, int]:
        """The persona's collection, its mirror checked against it, and its count; within
        :meth:`reading`, as the first read found them."""
        operations = self._operations()
        if (found := operations.get(persona_id)) is not None:
            return found
        collection = self.collection(persona_id)
        size = collection.count()
        found = (collection, self.synced(persona_id, collection, size), size)
        if persona_id in operations:
            operations[persona_id] = found
        return found

    @contextlib.contextmanager
    def reading(self, persona_id: str) -> Iterator[None]:
        """Within it, this thread's reads of the persona check the mirror against Chroma once,
        at the first, instead of at each (a check asks Chroma for the collection and its count:
        1.3 ms, twice that while another thread works). For an operation made of several reads,
        such as the chat service preparing a reply: they see one state of the store. This
        thread's writes end the sharing (the next read checks again)."""
        operations = self._operations()
        if persona_id in operations:  # (nested: the outer one holds it)
            yield
            return
        operations[persona_id] = None
        try:
            yield
        finally:
            operations.pop(persona_id, None)

    def _operations(self) -> dict[str, tuple[Collection, LexicalIndex, int] | None]:
        """This thread's :meth:`reading` scopes: persona id -> what its first read found."""
        operations: dict[str, tuple[Collection, LexicalIndex, int] | None] | None = getattr(self._local, "ops", None)
        if operations is None:
            operations = self._local.ops = {}
        return operations

    def synced(self, persona_id: str, collection: Collection, size: int | None = None) -> LexicalIndex:
        """The persona's mirror, rebuilt from ``collection`` first if another process wrote
        (``size``: its count, when the caller has it)."""
        index = self._index(persona_id)
        rev = (collection.metadata or {}).get("rev")
        size = collection.count() if size is None else size
        if index.rev != rev or len(index) != size:
            # one rebuild at a time: the chat page's first read waits for the start-up warm-up's
            # rebuild instead of making its own beside it (at 10,000 memories that first read
            # took 2.0-2.3 s with two rebuilds at once, 1.3-1.5 s with one)
            with self._rebuilding:
                if index.rev != rev or len(index) != size:
                    index.replace_all([mirror_entry(*record) for record in every_record(collection, size)], rev)
        return index

    def _index(self, persona_id: str) -> LexicalIndex:
        """The persona's mirror as this process has it (the saved one, at first)."""
        with self._lock:
            index = self._mirrors.get(persona_id)  # (an empty index is falsy: no `or` here)
            if index is None:
                saved = self._saved.get(persona_id)
                try:
                    index = saved.load() if saved else LexicalIndex()
                except Exception:  # a damaged snapshot only means reading Chroma
                    log.warning("could not read the saved mirror of %s; reading Chroma", persona_id, exc_info=True)
                    self._unchecked.discard(persona_id)
                    index = LexicalIndex()
                self._mirrors[persona_id] = index
            return index

    # -- writing ---------------------------------------------------------------------------------

    def touch(self, persona_id: str, index: LexicalIndex) -> None:
        """After a write through ``index``: stamp the collection with a new ``rev`` it matches."""
        rev = uuid.uuid4().hex
        self._collections.modify(persona_id, rev=rev)
        index.rev = rev
        self.written(persona_id)

    def written(self, persona_id: str) -> None:
        """After this thread wrote the persona's collection (records or metadata): its next read
        checks again, even within :meth:`reading`; the mirrors are saved a moment later (one save
        for a burst of writes)."""
        operations = self._operations()
        if persona_id in operations:
            operations[persona_id] = None
        with self._lock:
            self._writes += 1
            if self._snapshot is None or self._save_timer is not None:
                return
            self._save_timer = threading.Timer(SNAPSHOT_DELAY, self._save_after_writes)
            self._save_timer.daemon = True
            self._save_timer.start()

    def forget(self, persona_id: str) -> None:
        """The persona's collection is being deleted: no mirror of it, saved or not."""
        with self._lock:
            self._unchecked.discard(persona_id)
            self._saved.pop(persona_id, None)
            self._mirrors.pop(persona_id, None)

    # -- the snapshot ----------------------------------------------------------------------------

    def _save_after_writes(self) -> None:
        with self._lock:
            self._save_timer = None  # a write from now on (even during this save) saves again after it
        self.save_snapshot()

    def save_snapshot(self) -> bool:
        """Save every checked mirror (:mod:`memory.snapshot`); returns whether it was saved. A
        failure only costs the next start time."""
        if self._snapshot is None or not self._collections.opened:
            return False
        try:
            writes, stamp = self._writes, self._snapshot.stamp()
            mirrors: dict[str, tuple[LexicalIndex, dict[str, Any]]] = {}
            for persona_id in self._collections.persona_ids():
                with self._lock:
                    index = self._mirrors.get(persona_id)
                    if index is None or persona_id in self._unchecked:
                        continue
                collection = self._collections.of(persona_id)
                metadata = dict(collection.metadata or {})
                if index.rev == metadata.get("rev") and len(index) == collection.count():
                    mirrors[persona_id] = (index, metadata)
            saved = self._snapshot.save(mirrors, stamp)
        except Exception:  # a snapshot is only a head start (see memory.snapshot)
            log.warning("could not save the memory mirrors' snapshot", exc_info=True)
            return False
        if saved:
            self._saved_writes = writes
        return saved

    def unsaved_writes(self) -> bool:
        return self._writes != self._saved_writes


def _save_at_exit(mirrors: weakref.ref[Mirrors]) -> None:
    """At exit, save the mirrors if there were writes since their last save."""
    alive = mirrors()
    if alive is not None and alive.unsaved_writes():
        alive.save_snapshot()
