"""Plain retrieval baselines the store is compared with, and the bench's embedding cache.

Three untuned baselines over the same units (each turn's own text, and the background cut by
:func:`paragraph_chunks`, the chunker the store used when the baselines were written, kept
frozen as the store's version 1 chunker, so that later changes to the store's units do not move
the baselines):

- dense: all-MiniLM-L6-v2 (the app's int8 model) through a Chroma collection, cosine;
- BM25: k1 = 1.2, b = 0.75, porter-stemmed words (SQLite FTS5's tokenizer), the query's
  stopwords dropped;
- fusion: reciprocal-rank fusion of the two (k = 60, each list 100 deep), no weights.

Nothing here is used by the app.
"""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from chromadb.api import ClientAPI

from memory.chunking import chunk_text
from memory.embeddings import OfflineMiniLM

RRF_K = 60
DEPTH = 100  # results each list gives to the fusion
CACHE = Path(__file__).resolve().parents[1] / "data" / "bench-cache" / "minilm-vectors.npz"

_WORD = re.compile(r"\w+")
#: A common English stopword list (frozen here: the baselines must not move with the store).
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


def paragraph_chunks(text: str) -> list[str]:
    """The store's version 1 chunker, which the first held-out benchmark used and which stays
    frozen in :func:`memory.chunking.chunk_text` (version 1 ids are computed with it)."""
    return chunk_text(text)


class CachedMiniLM(OfflineMiniLM):
    """The app's embedder, with the vectors it computed kept on disk by text (the same vectors,
    computed once across benchmark runs: LoCoMo alone is 6,000 turns)."""

    def __init__(self, path: Path = CACHE) -> None:
        super().__init__()
        self._path = path
        self._cache: dict[str, npt.NDArray[np.float32]] = {}
        self._dirty = False
        if path.exists():
            with np.load(path) as stored:
                self._cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    @staticmethod
    def _key(kind: str, text: str) -> str:
        return kind + hashlib.sha1(text.encode()).hexdigest()

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        keys = [self._key("d", t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._cache))
        if missing:
            for text, vector in zip(missing, super().encode(missing), strict=True):
                self._cache[self._key("d", text)] = vector
            self._dirty = True
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])

    def encode_query(self, text: str) -> npt.NDArray[np.float32]:
        key = self._key("q", text)
        if key not in self._cache:
            self._cache[key] = super().encode_query(text)
            self._dirty = True
        return self._cache[key]

    def save(self) -> None:
        if self._dirty:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            keys = list(self._cache)
            np.savez(self._path, keys=np.array(keys), vectors=np.stack([self._cache[k] for k in keys]))
            self._dirty = False


def _stems(db: sqlite3.Connection, texts: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in texts]
    db.executemany("INSERT INTO scratch(rowid, x) VALUES (?, ?)", [(n + 1, t) for n, t in enumerate(texts)])
    for term, doc in db.execute("SELECT term, doc FROM scratch_terms"):
        out[doc - 1].append(term)
    db.execute("INSERT INTO scratch(scratch) VALUES ('delete-all')")
    return out


class Baselines:
    """Dense, BM25 and their fusion over one persona's units."""

    def __init__(self, client: ClientAPI, embed: OfflineMiniLM, name: str, units: Sequence[str]) -> None:
        self.units = list(units)
        self._embed = embed
        self._collection = client.create_collection(
            "baseline-" + hashlib.sha1(name.encode()).hexdigest()[:24],
            embedding_function=embed,
            configuration={"hnsw": {"space": "cosine"}},
        )
        vectors = embed.encode(self.units)
        for start in range(0, len(self.units), 1000):
            self._collection.add(
                ids=[str(n) for n in range(start, min(start + 1000, len(self.units)))],
                documents=self.units[start : start + 1000],
                embeddings=vectors[start : start + 1000],
            )
        self._db = sqlite3.connect(":memory:")
        self._db.executescript(
            "CREATE VIRTUAL TABLE scratch USING fts5(x, content='', tokenize='porter unicode61');"
            "CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, 'instance');"
        )
        docs = _stems(self._db, self.units)
        self._lengths = np.array([len(d) for d in docs], dtype=np.float64)
        self._average = float(self._lengths.mean()) if len(docs) else 1.0
        self._postings: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        gathered: dict[str, list[tuple[int, int]]] = {}
        for n, words in enumerate(docs):
            for term, count in Counter(words).items():
                gathered.setdefault(term, []).append((n, count))
        for term, rows in gathered.items():
            self._postings[term] = (np.array([r for r, _ in rows]), np.array([c for _, c in rows], dtype=np.float64))

    def dense(self, query: str, limit: int = DEPTH) -> list[int]:
        result = self._collection.query(
            query_embeddings=[self._embed.encode_query(query)], n_results=min(limit, len(self.units)), include=[]
        )
        return [int(i) for i in result["ids"][0]]

    def bm25(self, query: str, limit: int = DEPTH, k1: float = 1.2, b: float = 0.75) -> list[int]:
        words = [w for w in _WORD.findall(query.lower()) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
        if not words:
            return []
        terms = set(_stems(self._db, [" ".join(words)])[0])
        scores = np.zeros(len(self.units))
        total = len(self.units)
        for term in terms:
            if term not in self._postings:
                continue
            rows, counts = self._postings[term]
            idf = math.log(1 + (total - len(rows) + 0.5) / (len(rows) + 0.5))
            scores[rows] += idf * counts * (k1 + 1) / (counts + k1 * (1 - b + b * self._lengths[rows] / self._average))
        hit = np.flatnonzero(scores)
        return hit[np.argsort(-scores[hit], kind="stable")][:limit].tolist()

    def fusion(self, query: str, limit: int = DEPTH) -> list[int]:
        scores: dict[int, float] = {}
        for ranked in (self.dense(query), self.bm25(query)):
            for rank, unit in enumerate(ranked, start=1):
                scores[unit] = scores.get(unit, 0.0) + 1.0 / (RRF_K + rank)
        return sorted(scores, key=lambda u: -scores[u])[:limit]

    def texts(self, method: str, query: str, k: int) -> list[str]:
        """The texts of the ``k`` best units by ``method`` ("dense", "bm25" or "fusion")."""
        return [self.units[u] for u in getattr(self, method)(query)[:k]]
