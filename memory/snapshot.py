"""The lexical mirrors on disk (embedded store only): after a restart, the chat page shows the
conversation before Chroma is even imported (about a second), let alone read (another second at
10,000 memories).

A snapshot is a copy, never a source of truth. It holds each persona's mirror rows
(:meth:`memory.lexical.LexicalIndex.save`) and its collection's metadata (``rev``, conversation
titles and settings), stamped with what Chroma's database file looked like (size and modification
time, to the nanosecond) when they matched it. At the next start it is trusted only if the file
still looks exactly so: any write to the store since, by this app or by another process, changes
the file, and the snapshot is ignored. Opening a Chroma client changes it too, so the store saves
a snapshot only after it has checked each mirror against its collection (``rev`` and count) in
this process, and stamps it with how the file looked *before* that check: a write in between
makes the stamp stale, never the snapshot wrong.

Even a trusted snapshot serves only the first reads: the store's warm-up opens Chroma at once and
checks every mirror as it would any other (rebuilding one that differs); writes always check first.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.collections import collection_name
from memory.lexical import LexicalIndex

#: Bumped whenever what is saved changes shape (the mirror's table, the manifest): an older
#: snapshot is then ignored and written again.
VERSION = 1
FOLDER = "persona-chat-mirrors"
MANIFEST = "manifest.json"
_CHROMA_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")

Stamp = list[list[Any]]


@dataclass(frozen=True)
class Saved:
    """One persona's mirror as saved, and its collection's metadata then."""

    path: Path
    rev: str | None
    metadata: dict[str, Any]

    def load(self) -> LexicalIndex:
        return LexicalIndex.load(self.path, self.rev)


class Snapshot:
    """The saved mirrors of the embedded store at ``chroma_path`` whose vectors come from the
    embedding model ``space`` (each model has collections, and a snapshot, of its own)."""

    def __init__(self, chroma_path: str | Path, space: str = "") -> None:
        self.chroma = Path(chroma_path)
        self.folder = self.chroma / FOLDER / (space or "built-in")
        self.space = space
        self._lock = threading.Lock()

    def stamp(self) -> Stamp:
        """How Chroma's database files look now (name, modification time in ns, size)."""
        found: Stamp = []
        for name in _CHROMA_FILES:
            try:
                info = (self.chroma / name).stat()
            except FileNotFoundError:
                continue
            found.append([name, info.st_mtime_ns, info.st_size])
        return found

    def load(self) -> dict[str, Saved]:
        """The saved mirrors by persona id, if Chroma's files look as they did when they were
        saved; else none (nothing saved yet, another version, or the store written since)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        stamp = self.stamp()
        if manifest.get("version") != VERSION or not stamp or manifest.get("stamp") != stamp:
            return {}
        saved = {
            persona_id: Saved(self.folder / entry["file"], entry["rev"], entry["metadata"])
            for persona_id, entry in manifest.get("personas", {}).items()
        }
        return {persona_id: s for persona_id, s in saved.items() if s.path.is_file()}

    def save(self, mirrors: Mapping[str, tuple[LexicalIndex, dict[str, Any]]], stamp: Stamp) -> bool:
        """Save these mirrors, each with its collection's metadata, all checked against Chroma
        after ``stamp`` was taken; kept only if Chroma's files still look as they did then.
        Returns whether it was kept."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            manifest = self.folder / MANIFEST
            manifest.unlink(missing_ok=True)  # the files it names are about to be replaced
            personas: dict[str, dict[str, Any]] = {}
            for persona_id, (index, metadata) in mirrors.items():
                name = collection_name(persona_id, self.space) + ".sqlite3"
                rev = index.save(self.folder / name)
                if rev != metadata.get("rev"):
                    continue  # written while being saved
                personas[persona_id] = {"file": name, "rev": rev, "metadata": metadata}
            for stale in set(self.folder.glob("*.sqlite3")) - {self.folder / p["file"] for p in personas.values()}:
                stale.unlink(missing_ok=True)
            if self.stamp() != stamp:
                return False  # Chroma was written meanwhile: the next start reads Chroma
            scratch = manifest.with_name(MANIFEST + ".tmp")
            scratch.write_text(
                json.dumps({"version": VERSION, "stamp": stamp, "personas": personas}, ensure_ascii=False),
                encoding="utf-8",
            )
            os.replace(scratch, manifest)
            return True
