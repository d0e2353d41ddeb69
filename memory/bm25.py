"""BM25 over the lexical mirror's rows (:mod:`memory.lexical`): words stemmed by SQLite FTS5's
porter tokenizer (stdlib ``sqlite3``), postings, and the scoring, with numpy. The rows and their
neighbours come from the caller (:mod:`memory.rows` has them); nothing here reads the rows'
table.

Each turn is indexed with its context, weighted per field (see :class:`memory.ranking.Weights`):
its own text, who said it, the turns just before and after it in the same conversation, two more
turns either side, and its date in words ("8 May 2023"). Only the turn's own text is ever
returned; the context just helps a reply like "Yes, last Friday!" be found by what it answers.

The score is FTS5's own bm25 with column weights (k1 = 1.2, b = 0.75, weighted term frequency,
the row's length over all its fields). FTS5 itself computed it first, but scoring every row that
shares a word with the query, seven times over (each turn's words also sit in six neighbours'
context), took 90 ms at 100,000 memories. Here FTS5 only tokenizes and stems; the postings are
plain lists of row numbers, and a query term's context is spread to the neighbours with
``numpy.bincount`` at query time (a few ms at 100,000). The neighbours are the turns around each
turn in its conversation, in the order the rows' table keeps (which
:meth:`memory.lexical.LexicalIndex.adjacent` also gives).
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from memory import ranking
from memory.rows import Links, Row

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


class Stemmer:
    """FTS5 only tokenizing and stemming (see the module's docstring), in a database of its own so
    that stemming a whole rebuild holds neither the rows nor the postings. Thread-safe."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.executescript(
            """
            CREATE VIRTUAL TABLE scratch USING fts5(x, content='', tokenize='porter unicode61');
            CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, 'instance');
            """
        )

    def stems(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's words, stemmed by FTS5's porter tokenizer."""
        out: list[list[str]] = [[] for _ in texts]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO scratch(rowid, x) VALUES (?, ?)", [(n + 1, t) for n, t in enumerate(texts)]
            )
            for term, doc in self._db.execute("SELECT term, doc FROM scratch_terms"):
                out[doc - 1].append(term)
            self._db.execute("INSERT INTO scratch(scratch) VALUES ('delete-all')")
        return out


class BM25:
    """The postings of the rows the caller adds, by rowid, their lengths and neighbours, and the
    scoring. Not thread-safe (the caller locks), but :meth:`words` only stems: it may run beside
    anything."""

    def __init__(self) -> None:
        self._stemmer = Stemmer()
        self.clear(stemmed=True)

    def clear(self, stemmed: bool) -> None:
        """Forget every row. ``stemmed=False``: the words of the rows added from now on are left
        for later (:meth:`words`, then :meth:`add_words`), until ``stemmed`` is set again."""
        self.stemmed = stemmed  # whether every row's words are in the postings
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
        return len(self._ids)  # every row, its words indexed or not (see add)

    def __contains__(self, rowid: object) -> bool:
        return rowid in self._ids

    # -- writing -------------------------------------------------------------------------------

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

    def add(self, rows: Sequence[Row]) -> None:
        """Take these rows in; their words too, unless :attr:`stemmed` is off (see :meth:`clear`)."""
        if not rows:
            return
        self._grow(max(r[0] for r in rows))
        for rowid, memory_id, _, text, _, _ in rows:
            self._ids[rowid] = memory_id
            self._alive[rowid] = True
            self._asks[rowid] = "?" in text
        if self.stemmed:
            self.add_words(rows, *self.words(rows))

    def words(self, rows: Sequence[Row]) -> tuple[list[list[str]], list[list[str]]]:
        """Each row's stemmed words: of its text and speaker, and of its date."""
        own = self._stemmer.stems([f"{text} {speaker or ''}" for _, _, _, text, speaker, _ in rows])
        dates = self._stemmer.stems(
            [date_words(datetime.fromtimestamp(c, UTC)) if k == "turn" else "" for _, _, k, _, _, c in rows]
        )
        return own, dates

    def add_words(self, rows: Sequence[Row], own: list[list[str]], dates: list[list[str]]) -> None:
        """Put these rows' words (from :meth:`words`) in the postings."""
        for (rowid, *_), words, date in zip(rows, own, dates, strict=True):
            self._own_len[rowid] = len(words)
            self._date_len[rowid] = len(date)
            for term in self._numbers(words):
                self._own.setdefault(term, []).append(rowid)
            for term in self._numbers(date):
                self._dated.setdefault(term, []).append(rowid)
        self._lengths = {}

    def drop(self, rowids: Iterable[int]) -> None:
        for rowid in rowids:
            self._ids.pop(rowid, None)
            self._alive[rowid] = False
            self._near[:, rowid] = -1
        self._lengths = {}

    def link(self, links: Links) -> None:
        """Set these turns' neighbours, replacing those they had."""
        self._near[:, links.turns] = -1
        self._near[links.slots, links.of] = links.neighbours
        self._lengths = {}

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
        self, words: list[str], limit: int, allowed: list[int] | None, excluded: list[int], weights: ranking.Weights
    ) -> dict[str, float]:
        """Up to ``limit`` ids of rows having any of ``words`` (:func:`query_terms`), best first,
        with their bm25 score (higher is better); only the rowids ``allowed`` (``None``: any), and
        none of those ``excluded``. Its words must be in the postings (:attr:`stemmed`)."""
        if not self._ids:
            return {}
        terms = {self._terms[w] for w in self._stemmer.stems([" ".join(words)])[0] if w in self._terms}
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
        if allowed is not None:
            mask = np.zeros(size, dtype=bool)
            mask[allowed] = True
            scores[~mask] = 0.0
        if excluded:
            scores[excluded] = 0.0
        hit = np.flatnonzero(scores)
        if len(hit) > limit:
            hit = hit[np.argpartition(-scores[hit], limit - 1)[:limit]]
        hit = hit[np.argsort(-scores[hit], kind="stable")]
        return {self._ids[int(r)]: float(scores[r]) for r in hit}

    def adjacent(self, rowid: int) -> tuple[str | None, str | None, bool]:
        """The turn before this one and the turn after it (ids, the nearest neighbours), and
        whether the one before asked a question."""
        before, after = int(self._near[0, rowid]), int(self._near[FAR, rowid])
        return (
            self._ids.get(before) if before >= 0 else None,
            self._ids.get(after) if after >= 0 else None,
            bool(before >= 0 and self._asks[before]),
        )
