"""The rows of the lexical mirror (:mod:`memory.lexical`): one SQLite ``docs`` table in process
memory, one row per memory (its text, its whole metadata as JSON, and the columns that listing,
filtering and a conversation's order need), and every query on it.

The table keeps the rows' order in their conversation: it lists a conversation and its
transcript, gives the turn before a new one, and finds each turn's neighbours (the turns around
it, which the BM25 postings index as its context, :mod:`memory.bm25`). It is also what the
embedded store saves beside Chroma for the next start (:mod:`memory.snapshot`).

Not thread-safe: :class:`memory.lexical.LexicalIndex` holds its lock around every call.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

#: A row as the postings index it: (rowid, id, kind, text, speaker, created_at).
Row = tuple[int, str, str, str, str | None, float]
_ROWS = "SELECT rowid, id, kind, text, speaker, created_at FROM docs"


@dataclass(frozen=True)
class Entry:
    """What the index keeps of a memory."""

    id: str
    kind: str
    text: str
    created_at: float  # epoch seconds
    conversation_id: str | None = None
    speaker: str | None = None
    meta: str = "{}"  # the record's whole metadata, JSON: the store builds memories from the mirror
    # two fields of ``meta`` that recall reads for every candidate (SQLite's json_extract gives
    # them without parsing the whole JSON in Python)
    pinned: bool = False
    duplicate_of: str | None = None
    group: str | None = None  # a background sentence's paragraph (its hash)
    position: int | None = None  # its place in the paragraph

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads(self.meta)
        return meta


@dataclass(frozen=True)
class ListFilter:
    """What the memories browser filters by; ``None`` means any."""

    kind: str | None = None
    conversation_id: str | None = None
    text: str | None = None  # case-insensitive substring
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None

    def sql(self) -> tuple[str, list[object]]:
        clauses: list[str] = ["1"]
        args: list[object] = []
        for column, value in (("kind", self.kind), ("conversation_id", self.conversation_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.text:
            clauses.append("instr(casefold(text), ?) > 0")
            args.append(self.text.casefold())
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append("created_at <= ?")
            args.append(self.until)
        return " AND ".join(clauses), args


@dataclass(slots=True)
class Links:
    """Some turns' neighbours in their conversation, as rowids in three lists for numpy's fancy
    indexing: turn ``of[k]`` has ``neighbours[k]`` in slot ``slots[k]``, where slot ``n`` below
    ``reach`` is the (n+1)-th turn before it and slot ``reach + n`` the (n+1)-th after it.
    ``turns``: every turn given, with neighbours or without."""

    turns: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    of: list[int] = field(default_factory=list)
    neighbours: list[int] = field(default_factory=list)

    def add(self, slot: int, of: list[int], neighbours: list[int]) -> None:
        self.slots += [slot] * len(of)
        self.of += of
        self.neighbours += neighbours


class Rows:
    """The ``docs`` table. ``reach``: how many turns either side of a turn are its neighbours.

    The postings know the rows by rowid: one is never used twice (AUTOINCREMENT), until
    :meth:`replace` numbers the rows from 1 again."""

    def __init__(self, reach: int) -> None:
        self._reach = reach
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("casefold", 1, str.casefold, deterministic=True)
        self._db.executescript(
            """
            CREATE TABLE docs(
                rowid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,
                text TEXT NOT NULL, created_at REAL NOT NULL, conversation_id TEXT, speaker TEXT,
                meta TEXT NOT NULL DEFAULT '{}', grp TEXT, pos INTEGER);
            CREATE INDEX docs_order ON docs(conversation_id, created_at, rowid);
            CREATE INDEX docs_group ON docs(grp, pos);
            CREATE INDEX docs_newest ON docs(created_at);
            """
        )
        self._indexes()

    def _indexes(self) -> None:
        """Indexes added since the first saved mirrors (a loaded one may lack them)."""
        # recall's "background or this conversation" (``background_or``): 1 ms a scan at 10,000
        self._db.execute("CREATE INDEX IF NOT EXISTS docs_kind ON docs(kind)")

    def transaction(self) -> sqlite3.Connection:
        """``with rows.transaction():`` commits the writes in the block together, or none."""
        return self._db

    # -- writing -------------------------------------------------------------------------------

    def insert(self, entries: Iterable[Entry]) -> None:
        self._db.executemany(
            "INSERT INTO docs(id, kind, text, created_at, conversation_id, speaker, meta, grp, pos) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (e.id, e.kind, e.text, e.created_at, e.conversation_id, e.speaker, e.meta, e.group, e.position)
                for e in entries
            ],
        )

    def replace(self, entries: Iterable[Entry]) -> None:
        """Drop every row and insert ``entries``, numbering the rows from 1 again."""
        self._db.execute("DELETE FROM docs")
        self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'docs'")
        self.insert(entries)

    def delete(self, ids: Sequence[str]) -> set[int]:
        """Delete these memories; returns the rowids they had."""
        rowids = {r[0] for r in self._select("SELECT rowid FROM docs WHERE id IN ({})", ids)}
        self._db.executemany("DELETE FROM docs WHERE rowid = ?", [(r,) for r in rowids])
        return rowids

    @contextmanager
    def saving(self, path: Path) -> Iterator[Callable[[], None]]:
        """``with rows.saving(path) as copy:`` ``copy()`` copies the rows (call it holding the lock
        that guards them) to a new SQLite file, which replaces ``path`` whole when the block ends
        without an error (never half-written)."""
        scratch = path.with_name(path.name + ".tmp")
        scratch.unlink(missing_ok=True)
        target = sqlite3.connect(scratch)
        try:
            yield lambda: self._db.backup(target)
        finally:
            target.close()
        os.replace(scratch, path)

    def load(self, path: Path) -> None:
        """Replace the rows with those :meth:`saving` wrote to ``path``."""
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(self._db)
        finally:
            source.close()
        self._indexes()

    # -- for the postings ----------------------------------------------------------------------

    def for_postings(self, ids: Sequence[str] | None = None) -> list[Row]:
        """These memories' rows (every row when ``ids`` is None) as the postings index them."""
        if ids is None:
            return self._db.execute(_ROWS).fetchall()
        return self._select(_ROWS + " WHERE id IN ({})", ids)

    def in_order(self) -> tuple[list[Row], Links]:
        """Every row (by kind, conversation and time), and every turn's neighbours."""
        rows = self._db.execute(
            "SELECT rowid, id, kind, text, created_at, conversation_id, speaker FROM docs "
            "ORDER BY kind, conversation_id, created_at, rowid"
        ).fetchall()
        links = Links()
        for (kind, _), run in groupby(rows, key=itemgetter(2, 5)):
            if kind == "turn":
                order = [r[0] for r in run]  # a conversation's turns
                links.turns += order
                for n in range(1, self._reach + 1):  # each turn's n-th turn before it, and after it
                    links.add(n - 1, order[n:], order[:-n])
                    links.add(self._reach + n - 1, order[:-n], order[n:])
        return [(r[0], r[1], r[2], r[3], r[6], r[4]) for r in rows], links

    def affected(self, ids: Sequence[str]) -> set[int]:
        """Rowids of these turns and of the turns within ``reach`` of them in their conversation."""
        found: set[int] = set()
        for rowid, conversation_id, created_at in self._select(
            "SELECT rowid, conversation_id, created_at FROM docs WHERE id IN ({}) AND kind = 'turn'", ids
        ):
            found.add(rowid)
            for op, order in (("<", "DESC"), (">", "ASC")):
                found.update(self._neighbours(conversation_id, created_at, rowid, op, order))
        return found

    def links(self, rowids: Iterable[int]) -> Links:
        """The neighbours of these turns (those still here)."""
        links = Links()
        for rowid in rowids:
            found = self._db.execute(
                "SELECT created_at, conversation_id FROM docs WHERE rowid = ?", (rowid,)
            ).fetchone()
            if found is None:
                continue
            created_at, conversation_id = found
            before = self._neighbours(conversation_id, created_at, rowid, "<", "DESC")
            after = self._neighbours(conversation_id, created_at, rowid, ">", "ASC")
            links.turns.append(rowid)  # (as add does, for one turn: slots from 0 before it, from reach after)
            links.slots += [*range(len(before)), *range(self._reach, self._reach + len(after))]
            links.of += [rowid] * (len(before) + len(after))
            links.neighbours += before + after
        return links

    def _neighbours(self, conversation_id: str | None, created_at: float, rowid: int, op: str, order: str) -> list[int]:
        return [
            r[0]
            for r in self._db.execute(
                f"SELECT rowid FROM docs WHERE conversation_id = ? AND kind = 'turn' "
                f"AND (created_at, rowid) {op} (?, ?) ORDER BY created_at {order}, rowid {order} LIMIT ?",
                (conversation_id, created_at, rowid, self._reach),
            )
        ]

    def rowids(self, ids: Sequence[str]) -> list[int]:
        return [r[0] for r in self._select("SELECT rowid FROM docs WHERE id IN ({})", ids)]

    def background_or(self, conversation_id: str) -> list[int]:
        """Rowids of every background memory and of this conversation's turns."""
        return [
            r[0]
            for r in self._db.execute(
                "SELECT rowid FROM docs WHERE kind = 'background' OR conversation_id = ?", (conversation_id,)
            )
        ]

    def turns(self, ids: Sequence[str]) -> list[tuple[int, str]]:
        """(rowid, id) of those of these memories that are turns."""
        return self._select("SELECT rowid, id FROM docs WHERE kind = 'turn' AND id IN ({})", ids)

    # -- reading -------------------------------------------------------------------------------

    def select(self, filters: ListFilter, limit: int, offset: int) -> tuple[list[str], int]:
        """Ids of the memories that pass ``filters``, newest first, one page; and how many pass."""
        where, args = filters.sql()
        total = self._db.execute(f"SELECT count(*) FROM docs WHERE {where}", args).fetchone()[0]
        rows = self._db.execute(
            f"SELECT id FROM docs WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [r[0] for r in rows], total

    def conversation_ids(self, conversation_id: str) -> list[str]:
        """The ids of a conversation's turns, oldest first."""
        rows = self._db.execute(
            "SELECT id FROM docs WHERE kind = 'turn' AND conversation_id = ? ORDER BY created_at, rowid",
            (conversation_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def turns_per_day(self) -> list[tuple[str, int]]:
        """(UTC date as YYYY-MM-DD, turns) for every day with turns, oldest first."""
        return self._db.execute(
            "SELECT date(created_at, 'unixepoch'), count(*) FROM docs WHERE kind = 'turn' GROUP BY 1 ORDER BY 1"
        ).fetchall()

    def conversations(self) -> list[tuple[str, float, float, int, str]]:
        """Per conversation: id, first and last turn time, turns, and its first user message (else
        its first turn)."""
        return self._db.execute(
            """SELECT conversation_id, min(created_at), max(created_at), count(*),
                      coalesce((SELECT text FROM docs AS u WHERE u.kind = 'turn' AND u.speaker = 'user'
                                AND u.conversation_id = d.conversation_id ORDER BY created_at LIMIT 1),
                               (SELECT text FROM docs AS f WHERE f.kind = 'turn'
                                AND f.conversation_id = d.conversation_id ORDER BY created_at LIMIT 1))
               FROM docs AS d WHERE kind = 'turn' GROUP BY conversation_id"""
        ).fetchall()

    def entries(self, ids: Sequence[str]) -> dict[str, Entry]:
        """What the index keeps of these memories (ids it does not have are left out)."""
        rows = self._select(
            "SELECT id, kind, text, created_at, conversation_id, speaker, meta, "
            "coalesce(json_extract(meta, '$.pinned'), 0), json_extract(meta, '$.duplicate_of'), grp, pos "
            "FROM docs WHERE id IN ({})",
            ids,
        )
        return {r[0]: Entry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10]) for r in rows}

    def paragraphs(self, groups: Iterable[str]) -> dict[str, list[tuple[int, str, str]]]:
        """The stored sentences of these paragraphs: (place, id, text), in order."""
        wanted = list(dict.fromkeys(groups))
        found: dict[str, list[tuple[int, str, str]]] = {g: [] for g in wanted}
        for group, position, memory_id, text in self._select(
            "SELECT grp, pos, id, text FROM docs WHERE grp IN ({}) ORDER BY grp, pos", wanted
        ):
            found[group].append((position, memory_id, text))
        return found

    def previous_turn(self, conversation_id: str, created_at: float) -> tuple[str | None, str] | None:
        """(speaker, text) of the last turn of the conversation before ``created_at``."""
        row = self._db.execute(
            "SELECT speaker, text FROM docs WHERE conversation_id = ? AND kind = 'turn' AND created_at < ? "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (conversation_id, created_at),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def _select(self, sql: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """``sql`` with ``{}`` for the placeholders of ``ids``, run 500 ids at a time."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows += self._db.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows
