"""LorebookLibrary: lorebooks as JSON files in one folder, and which personas and conversations use them.

Plain Python; never imports Streamlit. ``<folder>/<lorebook id>.json`` holds one book in the format
it came in (``{"persona_chat_lorebook": 1, "format": "world_info" | "character_book", "book": …}``),
so that what an import brought is written back as it was. ``<folder>/attachments.json`` says which
lorebooks each persona uses and the one a conversation uses; the attachments live here rather than
in the persona's card because a lorebook id means nothing in another app (to take a lorebook along
with a card, write it into the card: :meth:`~personas.worldinfo.Lorebook.to_character_book`).

Files are written atomically; reads are cached per file version, so the chat page and every reply
can ask for the books without parsing them again. The books returned are shared: change a copy
(``dataclasses.replace``), then :meth:`LorebookLibrary.save` it.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from personas.files import write_atomic
from personas.model import is_valid_id, make_id
from personas.worldinfo import Lorebook, WorldInfoError, check, read_book

ATTACHMENTS = "attachments.json"
FILE_MARK = "persona_chat_lorebook"


class LorebookLibrary:
    """The lorebooks in ``directory`` and their attachments."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[tuple[int, int], Lorebook]] = {}

    # -- books ----------------------------------------------------------------------------------

    def _path(self, book_id: str) -> Path:
        if not is_valid_id(book_id):  # ids reach file names: no traversal, no surprises
            raise ValueError(f"invalid lorebook id {book_id!r}")
        return self.directory / f"{book_id}.json"

    def _files(self) -> builtins.list[Path]:
        return sorted(p for p in self.directory.glob("*.json") if p.name != ATTACHMENTS and is_valid_id(p.stem))

    def list(self) -> list[Lorebook]:
        """Every readable lorebook, by title (see :meth:`unreadable` for the others)."""
        books = []
        for path in self._files():
            try:
                books.append(self._read(path))
            except (OSError, WorldInfoError):
                continue
        return sorted(books, key=lambda b: (b.title.casefold(), b.id))

    def unreadable(self) -> builtins.list[str]:
        """The files in the folder that are not lorebooks this app can read, with why."""
        found = []
        for path in self._files():
            try:
                self._read(path)
            except (OSError, WorldInfoError) as exc:
                found.append(f"{path.name}: {exc}")
        return found

    def get(self, book_id: str) -> Lorebook:
        path = self._path(book_id)
        if not path.exists():
            raise KeyError(book_id)
        try:
            return self._read(path)
        except FileNotFoundError:  # deleted in between
            raise KeyError(book_id) from None

    def _read(self, path: Path) -> Lorebook:
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path.stem)
            if cached is not None and cached[0] == version:
                return cached[1]
        try:
            stored: Any = json.loads(path.read_text("utf-8"))
            if not isinstance(stored, dict) or stored.get(FILE_MARK) != 1:
                raise WorldInfoError("it is not a lorebook file this app wrote")
            book = replace(read_book(str(stored.get("format")), stored.get("book")), id=path.stem)
        except ValueError as exc:  # JSONDecodeError and WorldInfoError are ValueErrors
            raise WorldInfoError(f"{path.name} cannot be read: {exc}") from None
        with self._lock:
            self._cache[path.stem] = (version, book)
        return book

    def save(self, book: Lorebook) -> Lorebook:
        """Store the book (a new one gets an id from its name); returns it as stored.

        :class:`~personas.worldinfo.WorldInfoError` (nothing stored) when it is over the limits.
        """
        check(book)
        if not book.id:
            book = replace(book, id=make_id(book.title))
        stored = {FILE_MARK: 1, "format": book.format, "book": book.native()}
        data = json.dumps(stored, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")
        with self._lock:
            self._write(self._path(book.id), data)
            self._cache.pop(book.id, None)
        return self.get(book.id)

    def add(self, book: Lorebook) -> Lorebook:
        """Store an imported or new book under a new id (two imports of one file are two books)."""
        return self.save(replace(book, id=""))

    def delete(self, book_id: str) -> None:
        """Forget the book and every attachment of it."""
        with self._lock:
            self._path(book_id).unlink(missing_ok=True)
            self._cache.pop(book_id, None)
            attached = self._attachments()
            attached["personas"] = {p: [b for b in ids if b != book_id] for p, ids in attached["personas"].items()}
            attached["conversations"] = {c: b for c, b in attached["conversations"].items() if b != book_id}
            self._save_attachments(attached)

    # -- attachments ----------------------------------------------------------------------------

    def persona_books(self, persona_id: str) -> builtins.list[str]:
        """The ids of the lorebooks the persona uses, in the order they were attached."""
        return list(self._attachments()["personas"].get(persona_id, []))

    def set_persona_books(self, persona_id: str, book_ids: Iterable[str]) -> None:
        with self._lock:
            attached = self._attachments()
            ids = list(dict.fromkeys(b for b in book_ids if is_valid_id(b)))
            if ids:
                attached["personas"][persona_id] = ids
            else:
                attached["personas"].pop(persona_id, None)
            self._save_attachments(attached)

    def personas_using(self, book_id: str) -> builtins.list[str]:
        return [p for p, ids in self._attachments()["personas"].items() if book_id in ids]

    def set_personas_using(self, book_id: str, persona_ids: Iterable[str]) -> None:
        """Attach the book to exactly these personas (keeping each persona's other books)."""
        wanted = set(persona_ids)
        with self._lock:
            attached = self._attachments()
            for persona_id in sorted(wanted | set(attached["personas"])):
                ids = [b for b in attached["personas"].get(persona_id, []) if b != book_id]
                ids += [book_id] if persona_id in wanted else []
                if ids:
                    attached["personas"][persona_id] = ids
                else:
                    attached["personas"].pop(persona_id, None)
            self._save_attachments(attached)

    def conversation_book(self, persona_id: str, conversation_id: str) -> str | None:
        return self._attachments()["conversations"].get(_conversation_key(persona_id, conversation_id))

    def set_conversation_book(self, persona_id: str, conversation_id: str, book_id: str | None) -> None:
        with self._lock:
            attached = self._attachments()
            key = _conversation_key(persona_id, conversation_id)
            if book_id and is_valid_id(book_id):
                attached["conversations"][key] = book_id
            else:
                attached["conversations"].pop(key, None)
            self._save_attachments(attached)

    def forget_persona(self, persona_id: str) -> None:
        """Drop the attachments of a deleted persona (its lorebooks stay)."""
        with self._lock:
            attached = self._attachments()
            attached["personas"].pop(persona_id, None)
            prefix = _conversation_key(persona_id, "")
            attached["conversations"] = {c: b for c, b in attached["conversations"].items() if not c.startswith(prefix)}
            self._save_attachments(attached)

    def books_for(self, persona_id: str, conversation_id: str) -> builtins.list[Lorebook]:
        """The books a reply in this conversation uses: the conversation's first, then the
        persona's (missing or unreadable ones are skipped)."""
        ids = [self.conversation_book(persona_id, conversation_id), *self.persona_books(persona_id)]
        books = []
        for book_id in dict.fromkeys(i for i in ids if i):
            try:
                books.append(self.get(book_id))
            except (KeyError, ValueError, OSError):
                continue
        return books

    def _attachments(self) -> dict[str, dict[str, Any]]:
        path = self.directory / ATTACHMENTS
        try:
            stored = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            stored = {}
        stored = stored if isinstance(stored, dict) else {}
        personas = v if isinstance(v := stored.get("personas"), dict) else {}
        conversations = v if isinstance(v := stored.get("conversations"), dict) else {}
        lists = {p: ids for p, ids in personas.items() if isinstance(ids, list)}
        return {
            "personas": {p: [b for b in ids if isinstance(b, str)] for p, ids in lists.items()},
            "conversations": {c: b for c, b in conversations.items() if isinstance(b, str)},
        }

    def _save_attachments(self, attached: dict[str, Any]) -> None:
        self._write(self.directory / ATTACHMENTS, json.dumps(attached, ensure_ascii=False, indent=1).encode("utf-8"))

    def _write(self, path: Path, data: bytes) -> None:
        write_atomic(path, data)


def _conversation_key(persona_id: str, conversation_id: str) -> str:
    return f"{persona_id}/{conversation_id}"
