"""Lexical search over one persona's memories: BM25 over words stemmed by SQLite FTS5's porter
tokenizer (stdlib ``sqlite3``), scored with numpy.

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

Each turn is indexed with its context, weighted per field (see :class:`memory.ranking.Weights`):
its own text, who said it, the turns just before and after it in the same conversation, two more
turns either side, and its date in words ("8 May 2023"). Only the turn's own text is ever
returned; the context just helps a reply like "Yes, last Friday!" be found by what it answers.

The score is FTS5's own bm25 with column weights (k1 = 1.2, b = 0.75, weighted term frequency,
the row's length over all its fields). FTS5 itself computed it first, but scoring every row that
shares a word with the query, seven times over (each turn's words also sit in six neighbours'
context), took 90 ms at 100,000 memories. Here FTS5 only tokenizes and stems; the postings are
plain lists of row numbers, and a query term's context is spread to the neighbours with
``numpy.bincount`` at query time (a few ms at 100,000). A SQLite table keeps the rows' order in
their conversation, for the neighbours (which :meth:`LexicalIndex.adjacent` also gives).
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memory import ranking

#: How far the context fields reach, in turns of the same conversation.
NEAR = 1
FAR = 3
K1 = 1.2
B = 0.75

_WORD = re.compile(r"\w+")

#: Words that carry no topic in a question ("what did she say about ..."). Matching them would
#: rank long chatty turns first; rare words, names and numbers are what lexical search is for.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either ever few for
    from further get got had has have having he her here hers herself him himself his how i if in
    into is it its itself just kind like me might more most much must my myself no nor not now of
    off on once one only or other our ours ourselves out over own same say said she should so some
    such than that the their theirs them themselves then there these they this those through to too
    under until up us very was we were what when where which while who whom whose why will with
    would you your yours yourself yourselves""".split()  # noqa: SIM905
)


def query_terms(query: str) -> list[str]:
    """The words of ``query`` worth matching: lower-cased, each once, without stopwords and
    single letters (the "s" of "Caroline's")."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def date_words(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


#: Every row as the postings index it: (rowid, id, kind, text, speaker, created_at).
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


class LexicalIndex:
    """An in-memory BM25 index of one persona's memories. Thread-safe."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("casefold", 1, str.casefold, deterministic=True)
        self._lock = threading.RLock()
        # FTS5 only tokenizes and stems (see the module's docstring), in a database of its own so
        # that stemming a whole rebuild holds neither the rows nor the postings
        self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
        self._stemmer_lock = threading.Lock()
        self._postings_lock = threading.Lock()  # one build of the postings at a time
        self._generation = 0  # counts rebuilds: postings stemmed from older rows are thrown away
        self.rev: str | None = None  # the collection's ``rev`` this mirror matches
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
        self._stemmer.executescript(
            """
            CREATE VIRTUAL TABLE scratch USING fts5(x, content='', tokenize='porter unicode61');
            CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, 'instance');
            """
        )
        self._clear()

    def _clear(self) -> None:
        self._generation += 1
        self._indexed = True  # whether every row's words are in the postings (see prepare_search)
        self._terms: dict[str, int] = {}
        self._own: dict[int, list[int]] = {}  # term -> rows whose text or speaker has it (once per use)
        self._dated: dict[int, list[int]] = {}  # term -> rows whose date has it
        self._cache: dict[tuple[str, int], tuple[int, npt.NDArray[np.int64]]] = {}  # postings as arrays
        self._ids: dict[int, str] = {}
        size = 1024
        self._alive = np.zeros(size, dtype=bool)
        self._own_len = np.zeros(size, dtype=np.float64)
        self._date_len = np.zeros(size, dtype=np.float64)
        self._near = np.full((2 * FAR, size), -1, dtype=np.int64)  # neighbours, nearest first, before/after
        self._asks = np.zeros(size, dtype=bool)  # the row's text has a question mark
        self._lengths: dict[tuple[bool, bool, bool], npt.NDArray[np.float64]] = {}  # by fields counted

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)  # every row, its words indexed or not (see _add_rows)

    # -- tokens ----------------------------------------------------------------------------------

    def _stems(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's words, stemmed by FTS5's porter tokenizer."""
        out: list[list[str]] = [[] for _ in texts]
        with self._stemmer_lock, self._stemmer:
            self._stemmer.executemany(
                "INSERT INTO scratch(rowid, x) VALUES (?, ?)", [(n + 1, t) for n, t in enumerate(texts)]
            )
            for term, doc in self._stemmer.execute("SELECT term, doc FROM scratch_terms"):
                out[doc - 1].append(term)
            self._stemmer.execute("INSERT INTO scratch(scratch) VALUES ('delete-all')")
        return out

    def _numbers(self, words: list[str]) -> list[int]:
        return [self._terms.setdefault(word, len(self._terms)) for word in words]

    def _grow(self, rowid: int) -> None:
        size = len(self._alive)
        if rowid < size:
            return
        while size <= rowid:
            size *= 2
        extra = size - len(self._alive)
        self._alive = np.concatenate([self._alive, np.zeros(extra, dtype=bool)])
        self._own_len = np.concatenate([self._own_len, np.zeros(extra)])
        self._date_len = np.concatenate([self._date_len, np.zeros(extra)])
        self._near = np.concatenate([self._near, np.full((2 * FAR, extra), -1, dtype=np.int64)], axis=1)
        self._asks = np.concatenate([self._asks, np.zeros(extra, dtype=bool)])

    def _add_rows(self, rows: Sequence[tuple[int, str, str, str, str | None, float]]) -> None:
        """Take (rowid, id, kind, text, speaker, created_at) rows in; their words too, unless a
        rebuild left the postings for later (:meth:`prepare_search` indexes these rows then)."""
        if not rows:
            return
        self._grow(max(r[0] for r in rows))
        for rowid, memory_id, _, text, _, _ in rows:
            self._ids[rowid] = memory_id
            self._alive[rowid] = True
            self._asks[rowid] = "?" in text
        if self._indexed:
            self._add_postings(rows, *self._words(rows))

    def _words(
        self, rows: Sequence[tuple[int, str, str, str, str | None, float]]
    ) -> tuple[list[list[str]], list[list[str]]]:
        """Each row's stemmed words: of its text and speaker, and of its date."""
        own = self._stems([f"{text} {speaker or ''}" for _, _, _, text, speaker, _ in rows])
        dates = self._stems(
            [date_words(datetime.fromtimestamp(c, UTC)) if k == "turn" else "" for _, _, k, _, _, c in rows]
        )
        return own, dates

    def _add_postings(
        self, rows: Sequence[tuple[int, str, str, str, str | None, float]], own: list[list[str]],
        dates: list[list[str]],
    ) -> None:  # fmt: skip
        for (rowid, *_), words, date in zip(rows, own, dates, strict=True):
            self._own_len[rowid] = len(words)
            self._date_len[rowid] = len(date)
            for term in self._numbers(words):
                self._own.setdefault(term, []).append(rowid)
            for term in self._numbers(date):
                self._dated.setdefault(term, []).append(rowid)
        self._lengths = {}

    def prepare_search(self) -> None:
        """Put every row's words in the postings, if a rebuild left them for later. The stemming
        (about a second at 10,000 memories) runs without the index's lock, so listing and
        reading conversations go on meanwhile; rows written meanwhile are indexed after it."""
        if self._indexed:
            return
        with self._postings_lock:
            while True:
                with self._lock:
                    if self._indexed:
                        return
                    generation = self._generation
                    rows = self._db.execute(_ROWS).fetchall()
                own, dates = self._words(rows)  # the slow part, unlocked
                with self._lock:
                    if self._generation != generation:
                        continue  # rebuilt meanwhile: stem the new rows
                    stemmed = {row[0] for row in rows}
                    kept = [n for n, row in enumerate(rows) if row[0] in self._ids]  # not deleted meanwhile
                    self._add_postings([rows[n] for n in kept], [own[n] for n in kept], [dates[n] for n in kept])
                    added = [row for row in self._db.execute(_ROWS).fetchall() if row[0] not in stemmed]
                    self._add_postings(added, *self._words(added))
                    self._indexed = True
                    return

    def _drop(self, rowids: Iterable[int]) -> None:
        for rowid in rowids:
            self._ids.pop(rowid, None)
            self._alive[rowid] = False
            self._near[:, rowid] = -1
        self._lengths = {}

    # -- listing -------------------------------------------------------------------------------

    def select(self, filters: ListFilter, limit: int, offset: int) -> tuple[list[str], int]:
        """Ids of the memories that pass ``filters``, newest first, one page; and how many pass."""
        where, args = filters.sql()
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM docs WHERE {where}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT id FROM docs WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [r[0] for r in rows], total

    def conversation_ids(self, conversation_id: str) -> list[str]:
        """The ids of a conversation's turns, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM docs WHERE kind = 'turn' AND conversation_id = ? ORDER BY created_at, rowid",
                (conversation_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def turns_per_day(self) -> list[tuple[str, int]]:
        """(UTC date as YYYY-MM-DD, turns) for every day with turns, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT date(created_at, 'unixepoch'), count(*) FROM docs WHERE kind = 'turn' GROUP BY 1 ORDER BY 1"
            ).fetchall()

    def conversations(self) -> list[tuple[str, float, float, int, str]]:
        """Per conversation: id, first and last turn time, turns, and its first user message (else
        its first turn)."""
        with self._lock:
            return self._db.execute(
                """SELECT conversation_id, min(created_at), max(created_at), count(*),
                          coalesce((SELECT text FROM docs AS u WHERE u.kind = 'turn' AND u.speaker = 'user'
                                    AND u.conversation_id = d.conversation_id ORDER BY created_at LIMIT 1),
                                   (SELECT text FROM docs AS f WHERE f.kind = 'turn'
                                    AND f.conversation_id = d.conversation_id ORDER BY created_at LIMIT 1))
                   FROM docs AS d WHERE kind = 'turn' GROUP BY conversation_id"""
            ).fetchall()

    # -- writing -------------------------------------------------------------------------------

    def replace_all(self, entries: Iterable[Entry], rev: str | None) -> None:
        """Drop everything and index ``entries`` (a rebuild from the collection)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM docs")
            self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'docs'")
            self._insert(entries)
            self._index_rows()
            self.rev = rev

    def save(self, path: Path) -> str | None:
        """Write the rows to ``path``, a SQLite file (replaced whole, never half-written); returns
        the ``rev`` they match. The postings are not saved: :meth:`load` stems again, later."""
        scratch = path.with_name(path.name + ".tmp")
        scratch.unlink(missing_ok=True)
        target = sqlite3.connect(scratch)
        try:
            with self._lock:
                self._db.backup(target)
                rev = self.rev
        finally:
            target.close()
        os.replace(scratch, path)
        return rev

    @classmethod
    def load(cls, path: Path, rev: str | None) -> LexicalIndex:
        """An index of the rows :meth:`save` wrote to ``path``, matching the collection's ``rev``;
        their words are stemmed on the first search (see :meth:`prepare_search`)."""
        index = cls()
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            with index._lock:
                source.backup(index._db)
                index._index_rows()
                index.rev = rev
        finally:
            source.close()
        return index

    def _index_rows(self) -> None:
        """Index the rows in ``docs`` afresh (after a rebuild, or a load from disk): their ids,
        questions and neighbours at once, their words on the first search."""
        self._clear()
        rows = self._db.execute(
            "SELECT rowid, id, kind, text, created_at, conversation_id, speaker FROM docs "
            "ORDER BY kind, conversation_id, created_at, rowid"
        ).fetchall()
        self._indexed = not rows  # the words on the first search (see prepare_search)
        self._add_rows([(r[0], r[1], r[2], r[3], r[6], r[4]) for r in rows])
        for i, (rowid, _, kind, _, _, conversation_id, _) in enumerate(rows):
            if kind != "turn":
                continue
            for side, step in ((0, -1), (FAR, 1)):
                j, n = i + step, 0
                while n < FAR and 0 <= j < len(rows) and rows[j][2] == "turn" and rows[j][5] == conversation_id:
                    self._near[side + n, rowid] = rows[j][0]
                    j, n = j + step, n + 1

    def upsert(self, entries: Sequence[Entry]) -> None:
        """Add or replace entries, and refresh the context of the turns around them."""
        with self._lock, self._db:
            ids = [e.id for e in entries]
            before = self._affected(ids)
            self._drop(self._delete_rows(ids))
            self._insert(entries)
            rows = self._select("SELECT rowid, id, kind, text, speaker, created_at FROM docs WHERE id IN ({})", ids)
            self._add_rows(rows)
            self._relink(before | self._affected(ids))

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock, self._db:
            around = self._affected(ids)
            rowids = self._delete_rows(ids)
            self._drop(rowids)
            self._relink(around - rowids)

    def _insert(self, entries: Iterable[Entry]) -> None:
        self._db.executemany(
            "INSERT INTO docs(id, kind, text, created_at, conversation_id, speaker, meta, grp, pos) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (e.id, e.kind, e.text, e.created_at, e.conversation_id, e.speaker, e.meta, e.group, e.position)
                for e in entries
            ],
        )

    def _delete_rows(self, ids: Sequence[str]) -> set[int]:
        rowids = {r[0] for r in self._select("SELECT rowid FROM docs WHERE id IN ({})", ids)}
        self._db.executemany("DELETE FROM docs WHERE rowid = ?", [(r,) for r in rowids])
        return rowids

    def _select(self, sql: str, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows += self._db.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _affected(self, ids: Sequence[str]) -> set[int]:
        """Row ids of these turns and of the turns within FAR of them in their conversation."""
        found: set[int] = set()
        for rowid, conversation_id, created_at in self._select(
            "SELECT rowid, conversation_id, created_at FROM docs WHERE id IN ({}) AND kind = 'turn'", ids
        ):
            found.add(rowid)
            for op, order in (("<", "DESC"), (">", "ASC")):
                found.update(self._neighbours(conversation_id, created_at, rowid, op, order))
        return found

    def _relink(self, rowids: Iterable[int]) -> None:
        """Recompute the neighbours of these turns."""
        for rowid in rowids:
            found = self._db.execute(
                "SELECT created_at, conversation_id FROM docs WHERE rowid = ?", (rowid,)
            ).fetchone()
            if found is None:
                continue
            created_at, conversation_id = found
            before = self._neighbours(conversation_id, created_at, rowid, "<", "DESC")
            after = self._neighbours(conversation_id, created_at, rowid, ">", "ASC")
            self._near[:, rowid] = -1
            for side, found_rows in ((0, before), (FAR, after)):
                for n, other in enumerate(found_rows):
                    self._near[side + n, rowid] = other
        self._lengths = {}

    def _neighbours(self, conversation_id: str | None, created_at: float, rowid: int, op: str, order: str) -> list[int]:
        return [
            r[0]
            for r in self._db.execute(
                f"SELECT rowid FROM docs WHERE conversation_id = ? AND kind = 'turn' "
                f"AND (created_at, rowid) {op} (?, ?) ORDER BY created_at {order}, rowid {order} LIMIT ?",
                (conversation_id, created_at, rowid, FAR),
            )
        ]

    # -- reading -------------------------------------------------------------------------------

    @staticmethod
    def _weights(w: ranking.Weights) -> npt.NDArray[np.float64]:
        """Context weight of each neighbour slot (NEAR slots weigh ``near``, the rest ``far``)."""
        return np.array([w.near if n % FAR < NEAR else w.far for n in range(2 * FAR)])

    def _row_lengths(self, w: ranking.Weights) -> npt.NDArray[np.float64]:
        """Words in each row over the fields that count (own and speaker; date and neighbours
        unless their weight is 0)."""
        key = (w.near > 0, w.far > 0, w.date > 0)
        if key not in self._lengths:
            lengths = self._own_len + (self._date_len if w.date > 0 else 0.0)
            for weight, slot in zip(self._weights(w), self._near, strict=True):
                if weight > 0:
                    has = slot >= 0
                    lengths[has] += self._own_len[slot[has]]
            self._lengths[key] = lengths
        return self._lengths[key]

    def _live(self, field: str, term: int) -> npt.NDArray[np.int64]:
        """The live rows having ``term`` in ``field`` ("own" or "date"), once per use."""
        rows = (self._own if field == "own" else self._dated).get(term, [])
        length, cached = self._cache.get((field, term), (-1, None))
        if cached is None or length != len(rows):
            cached = np.fromiter(rows, dtype=np.int64, count=len(rows))
            self._cache[(field, term)] = (len(rows), cached)
        return cached[self._alive[cached]]

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
            if not self._ids:
                return {}
            terms = {self._terms[w] for w in self._stems([" ".join(words)])[0] if w in self._terms}
            size = len(self._alive)
            lengths = self._row_lengths(weights)
            alive = self._alive
            total = int(alive.sum())
            average = float(lengths[alive].mean()) or 1.0
            own, speaker_w, date_w = weights.body, weights.speaker, weights.date
            slots = self._weights(weights)
            scores = np.zeros(size)
            for term in terms:
                rows = self._live("own", term)
                dated = self._live("date", term)
                targets = [rows, dated]
                counts = [np.full(len(rows), max(own, speaker_w)), np.full(len(dated), date_w)]
                for slot, weight in zip(self._near, slots, strict=True):
                    if weight <= 0:
                        continue
                    around = slot[rows]
                    around = around[around >= 0]
                    targets.append(around)
                    counts.append(np.full(len(around), weight))
                frequency = np.bincount(np.concatenate(targets), np.concatenate(counts), minlength=size)
                hit = np.flatnonzero(frequency)
                if not len(hit):
                    continue
                idf = math.log((total - len(hit) + 0.5) / (len(hit) + 0.5))
                idf = idf if idf > 0 else 1e-6
                f = frequency[hit]
                scores[hit] += idf * f * (K1 + 1) / (f + K1 * (1 - B + B * lengths[hit] / average))
            if conversation_id is not None:
                allowed = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT rowid FROM docs WHERE kind = 'background' OR conversation_id = ?", (conversation_id,)
                    )
                ]
                mask = np.zeros(size, dtype=bool)
                mask[allowed] = True
                scores[~mask] = 0.0
            if exclude:
                scores[[r[0] for r in self._select("SELECT rowid FROM docs WHERE id IN ({})", exclude)]] = 0.0
            hit = np.flatnonzero(scores)
            if len(hit) > limit:
                hit = hit[np.argpartition(-scores[hit], limit - 1)[:limit]]
            hit = hit[np.argsort(-scores[hit], kind="stable")]
            return {self._ids[int(r)]: float(scores[r]) for r in hit}

    def entries(self, ids: Sequence[str]) -> dict[str, Entry]:
        """What the index keeps of these memories (ids it does not have are left out)."""
        with self._lock:
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
        with self._lock:
            for group, position, memory_id, text in self._select(
                "SELECT grp, pos, id, text FROM docs WHERE grp IN ({}) ORDER BY grp, pos", wanted
            ):
                found[group].append((position, memory_id, text))
        return found

    def adjacent(self, ids: Sequence[str]) -> dict[str, tuple[str | None, str | None, bool]]:
        """For each turn: (the turn before it, the turn after it, whether the one before asked a
        question), within its conversation (the nearest neighbours search keeps, see
        :meth:`_relink`)."""
        with self._lock:
            rows = self._select("SELECT rowid, id FROM docs WHERE kind = 'turn' AND id IN ({})", ids)
            found = {}
            for rowid, memory_id in rows:
                before, after = int(self._near[0, rowid]), int(self._near[FAR, rowid])
                found[memory_id] = (
                    self._ids.get(before) if before >= 0 else None,
                    self._ids.get(after) if after >= 0 else None,
                    bool(before >= 0 and self._asks[before]),
                )
        return found

    def previous_turn(self, conversation_id: str, created_at: float) -> tuple[str | None, str] | None:
        """(speaker, text) of the last turn of the conversation before ``created_at``."""
        with self._lock:
            row = self._db.execute(
                "SELECT speaker, text FROM docs WHERE conversation_id = ? AND kind = 'turn' AND created_at < ? "
                "ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (conversation_id, created_at),
            ).fetchone()
        return None if row is None else (row[0], row[1])
