"""How recalled memories are ranked: relevance, recency and importance, in one place.

score = RELEVANCE * cosine similarity of query and memory (0..1)
      + RECENCY   * 0.5 ** (age in days / HALF_LIFE_DAYS)     (background counts as fresh)
      + PINNED    * 1 if the user pinned the memory

Relevance dominates so that an old but relevant fact still beats a recent, unrelated one: the
recency term is worth at most RECENCY (0.15), about the gap between a good and a mediocre match,
and decays slowly (half-life 30 days). It mostly breaks ties between similar memories, which is
what makes a newer "I moved to Denver" beat an older "I live in Boston".
"""

from __future__ import annotations

from datetime import datetime

RELEVANCE = 1.0
RECENCY = 0.15
PINNED = 0.25
HALF_LIFE_DAYS = 30.0


def recency(created_at: datetime, now: datetime) -> float:
    age_days = max(0.0, (now - created_at).total_seconds() / 86400)
    return 0.5 ** (age_days / HALF_LIFE_DAYS)


def score(similarity: float, created_at: datetime, now: datetime, pinned: bool, timeless: bool) -> float:
    fresh = 1.0 if timeless else recency(created_at, now)
    return RELEVANCE * similarity + RECENCY * fresh + PINNED * float(pinned)
