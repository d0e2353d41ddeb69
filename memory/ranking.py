"""How recalled memories are ranked, in one place.

Candidates come from two retrievers, each asked for ``CANDIDATES`` (or more) memories: Chroma's
nearest neighbours of the query embedding (dense, all-MiniLM-L6-v2 over "speaker: text") and
bm25 over the stemmed words of the query (lexical, :mod:`memory.bm25`). The query is read
first (:mod:`memory.query`): whose memories it asks about and the time it names; words that
only name a time ("the weekend before last") are not searched. Every candidate gets::

    base    = DENSE   * cosine(query, memory)                               about 0.1 .. 0.8
            + LEXICAL * bm25 / max(best bm25 of this query, LEXICAL_FLOOR)  0 .. 1
            + IMPORTANCE * importance(text)                                 0 .. 1, see below
    score   = base
            + SIDE if the memory is of the side the question asks about ("you" / "I")
            + TIME * in_time(created_at, the time the question names)       0 .. 1
            + PINNED if the user pinned the memory
    (a query about the present: + RECENCY_PRESENT * 0.5 ** (age / PRESENT_HALF_LIFE_DAYS), + CHANGE
    for a memory that announces a change)

then the best k are chosen (near-duplicates once, background sentences of one paragraph merged
into one passage), a newer memory about the same thing is put above an older one
(:func:`newer_first`), and a question comes with its answer (``Memory.reply``).

Why these terms and weights. Each term was switched off in turn on the held-out sets (the
LoCoMo held-out half and the blind persona chats, ``python -m bench.heldout --ablation``;
bench/results.md), and what did not buy recall there was removed: a general recency term
(held-out R@5 +0.005 and +0.000 without it) and a turn inheriting part of its neighbours' score,
most of all from the question it answers (−0.009 and +0.000; R@10 −0.014 and +0.033). What stays,
with held-out R@5 without it (LoCoMo held-out / blind), in the latest ablation:

- Dense and lexical are complementary: the embedding finds paraphrases ("pastry chef" for "what
  does she do for a living"), bm25 finds names, numbers and rare words the small model blurs.
  Without bm25: −0.302 / +0.044 (LoCoMo asks by name; the blind chats, worded unlike their
  memories, do better without it: the one term that costs on a held-out set, kept for the
  other); without the embedding: −0.041 / −0.189. Raw cosine is used (its spread is similar from
  query to query); bm25 has no fixed scale, so it is divided by the query's best bm25, but never
  by less than LEXICAL_FLOOR, so that in a small store, where every word is "rare", one shared
  word cannot outweigh meaning (without the floor: −0.005 / −0.033).
- The lexical index weights a turn's own words (and its speaker) 1, the turns right before and
  after it 0.5, two more turns either side 0.2 and its date in words 0.5 (``COLUMNS``): in a
  dialogue a reply ("Yes, last Friday!") is about what it answers. Without the neighbours:
  −0.045 / −0.067; without the date: −0.004 / +0.000 (the time range below does most of its
  work now).
- Importance is a cheap, LLM-free signal (``importance``): half for how many content words a
  text has (saturating at 10), half for telling rather than asking. It keeps "Thanks!", "lol
  same" or "What inspired it?" below informative turns of equal relevance. Small weight (up to
  0.15): a tie-breaker, not a reason to recall (−0.013 / +0.000).
- The question's side (SIDE): "What did *you* suggest?" is about the persona's turns (and, unless
  it asks what was said, its background), "Where do *I* work?" about the user's
  (:func:`memory.query.side`): +0.000 / −0.067 (LoCoMo asks about people by name).
- The time the question names (TIME, ``in_time``: full inside the range, fading over
  TIME_SLACK_DAYS either side, since an event is often told days later): −0.006 / −0.022.
- Knowledge updates when the query asks about the present ("now", "currently", "still", "these
  days", ...): recency worth up to RECENCY_PRESENT, halving every PRESENT_HALF_LIFE_DAYS, and
  CHANGE more for a memory that announces a change ("moved", "quit", "no longer", ...). No
  held-out question says "now" (the blind brief forbade it), so no set measures it (+0.000
  everywhere); kept because it is what puts "I moved to Denver" above "I live in Boston" for
  "where do I live now?" when the two are too unlike for :func:`newer_first`.
- Knowledge updates without "now" ("Where do I work?" after a change of job): among the
  memories recalled, a later one of the same speaker that tells of a change
  (:func:`tells_update`: moved, swapped, instead, finally, called it a day, ...) and is about
  the same thing as an earlier one (cosine of their vectors >= SAME_THING) is put right above
  it, and the prompt shows the earlier one as older (``Memory.older_than``). It changes the
  order of what is recalled, not what is (R@k the same with or without it): the newer fact
  first within 5 in 7 of 15 blind updates instead of 4 (MRR@5 +0.010), LoCoMo held-out MRR@5
  −0.009 (99 of 778 lists reordered; without the change words, on the tuning half, 554 of 762
  were and MRR@5 fell by 0.12).
- A recalled question comes with the answer it got (``MemoryStore._replies``): −0.017 / +0.000,
  at about 80 characters more per query.
- Pinned memories get a flat bonus about the size of a strong lexical match: the user said so
  (no set pins anything).

Tried on the tuning sets and dropped: diversity among the k (MMR), splitting a question into its
parts, the side as a prefix of the embedded query, a turn's vector carrying its previous
turn's, and pulling in later news about a recalled statement (tuning chats +0.02 R@5, LoCoMo
tuning MRR@5 −0.05).

Near-duplicates are flagged ``duplicate_of`` when stored (turns; a near-identical background chunk
is not stored at all), and only the best of a group is recalled. Near-identical means both:
cosine of "speaker: text" >= DUPLICATE, and at least DUPLICATE_WORDS of their words in common
(Jaccard). The embedding alone would merge "My code is 4471" with "My code is 4472" (cosine
0.987) or Monday with Tuesday; a changed number or name is a new fact, not a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from memory.query import Question
    from memory.rows import Entry

#: Candidates asked from each retriever (at least; more when k is large).
CANDIDATES = 50

DENSE = 1.3
LEXICAL = 1.0
LEXICAL_FLOOR = 6.0
IMPORTANCE = 0.15
RECENCY_PRESENT = 0.7
PRESENT_HALF_LIFE_DAYS = 90.0
CHANGE = 0.3
PINNED = 0.3
SAME_THING = 0.5
SIDE = 0.3
TIME = 0.4
TIME_SLACK_DAYS = 4.0
DUPLICATE = 0.95
DUPLICATE_WORDS = 0.8

#: Field weights of the lexical index (see memory.bm25): own text, speaker, the turns
#: right before and after, two more turns either side, date in words.
COLUMNS = {"body": 1.0, "speaker": 1.0, "near": 0.5, "far": 0.2, "date": 0.5}


@dataclass(frozen=True)
class Weights:
    """Every weight of the ranking in one value. Recall uses :data:`WEIGHTS`; the benchmark
    passes others (``MemoryStore.recall(..., weights=...)``) to switch terms off one at a time.
    A retriever whose weight is 0 is not asked at all."""

    dense: float = DENSE
    lexical: float = LEXICAL
    lexical_floor: float = LEXICAL_FLOOR
    importance: float = IMPORTANCE
    recency_present: float = RECENCY_PRESENT
    present_half_life_days: float = PRESENT_HALF_LIFE_DAYS
    change: float = CHANGE
    pinned: float = PINNED
    side: float = SIDE
    time: float = TIME
    time_slack_days: float = TIME_SLACK_DAYS
    same_thing: float = SAME_THING
    replies: bool = True  # a recalled question comes with its answer (MemoryStore._replies)
    body: float = COLUMNS["body"]
    speaker: float = COLUMNS["speaker"]
    near: float = COLUMNS["near"]
    far: float = COLUMNS["far"]
    date: float = COLUMNS["date"]


WEIGHTS = Weights()

_WORD = re.compile(r"\w+")
_PRESENT = re.compile(
    r"\b(now|nowadays|currently|current|these days|at the moment|anymore|any more|still|latest|today)\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(moved|moving|relocated|no longer|anymore|any more|switched|changed|quit|started|became|"
    r"(?:got|have|found|started) (?:a|my) new)\b",
    re.IGNORECASE,
)
_FILLER = frozenset(
    """a an and are as at be but by do for from have i if in is it me my of on or so that the this to
    was we with you your yeah yes no oh ok okay lol haha thanks thank hey hi hello wow so just
    really too very""".split()  # noqa: SIM905
)


@lru_cache(maxsize=65_536)  # the same candidates come back message after message
def importance(text: str) -> float:
    """0..1: half for how much a memory says (content words, 10 or more count fully), half for
    telling rather than asking (a question is a request for a fact, not the fact)."""
    words = {w for w in _WORD.findall(text.lower()) if w not in _FILLER}
    asks = text.rstrip().endswith("?")
    return 0.5 * min(1.0, len(words) / 10) + (0.0 if asks else 0.5)


def near_duplicate(cosine: float, text: str, other: str) -> bool:
    """Same meaning and (almost) the same words: see the module docstring."""
    if cosine < DUPLICATE:
        return False
    words, others = set(_WORD.findall(text.lower())), set(_WORD.findall(other.lower()))
    return len(words & others) >= DUPLICATE_WORDS * max(1, len(words | others))


def asks_about_present(query: str) -> bool:
    return _PRESENT.search(query) is not None


#: Words with which people tell that something changed: a move, a new job, a break-up, a plan
#: dropped or moved, a rename (for :func:`newer_first`; wider than ``_CHANGE``).
_UPDATE = re.compile(
    r"\b(moved|moving|move|relocated|no longer|anymore|any more|not any ?more|switch(?:ed|ing)?|swap(?:ped)?|"
    r"chang(?:ed|ing)|quit|left|leaving|start(?:ed|ing|s)?|began|became|instead|finally|accept(?:ed)?|"
    r"sold|bought|got (?:a|the|my|our) new|new (?:job|place|flat|house|home|car|name)|renam(?:ed|ing)|"
    r"(?:we|i)(?:'re| are| am|'m)? call(?:ing)? (?:him|her|it|them)|broke up|split up|call(?:ed)? it a day|"
    r"divorc(?:ed|ing)|engaged|married|postponed|cancell?ed|rescheduled|pushed back|dropped|gave up|"
    r"stopped|replaced|upgraded|hired|promoted|retired|joined|no more|from now on|these days|now)\b",
    re.IGNORECASE,
)


def tells_update(text: str) -> bool:
    """Whether a memory reads like news that replaces something ("we've swapped Norway for
    Iceland", "Claire and I called it a day", "we call him the Admiral now")."""
    return _UPDATE.search(text) is not None


def announces_change(text: str) -> bool:
    """Whether a memory reads like a change of state ("I moved to", "I quit", "no longer")."""
    return _CHANGE.search(text) is not None


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    age_days = max(0.0, (now - created_at).total_seconds() / 86400)
    return float(0.5 ** (age_days / half_life_days))


def lexical(bm25: float, best: float, w: Weights = WEIGHTS) -> float:
    """bm25 scaled to 0..1 by the query's best bm25 (floored: see the module docstring)."""
    return bm25 / max(best, w.lexical_floor, 1e-9) if bm25 > 0 else 0.0


def base(cosine: float, lexical_score: float, importance_score: float, w: Weights = WEIGHTS) -> float:
    return w.dense * cosine + w.lexical * lexical_score + w.importance * importance_score


@dataclass(frozen=True)
class Breakdown:
    """A recalled memory's score in the three parts the memories page shows."""

    relevance: float  # dense + lexical + what it inherits from its neighbours
    recency: float
    importance: float  # the importance signal, pinned, and a change announced for a present query

    @property
    def total(self) -> float:
        return self.relevance + self.recency + self.importance


def in_time(created_at: datetime, since: datetime | None, until: datetime | None, w: Weights = WEIGHTS) -> float:
    """1 inside the range a question names, falling to 0 within ``time_slack_days`` either side
    (an event is often told a few days later: "on Saturday I climbed ..."); 0 without a range."""
    if since is None or until is None:
        return 0.0
    if since <= created_at <= until:
        return 1.0
    days = (since - created_at if created_at < since else created_at - until).total_seconds() / 86400
    return max(0.0, 1.0 - days / w.time_slack_days) if w.time_slack_days > 0 else 0.0


def score(
    relevance: float,
    importance_score: float,
    created_at: datetime,
    now: datetime,
    pinned: bool,
    timeless: bool,
    present: bool = False,
    change: bool = False,
    w: Weights = WEIGHTS,
    side: bool = False,
    when: float = 0.0,
) -> Breakdown:
    """``relevance`` (base without importance) with importance (the signal and the pinned
    bonus); ``side``: the memory is of the side the question asks about (SIDE more relevance);
    ``when``: how far it lies in the time the question names (:func:`in_time`, TIME of recency);
    for a query about the ``present``, recency and a bonus for memories that announce a
    ``change``."""
    fresh = 0.0 if not present else 1.0 if timeless else recency(created_at, now, w.present_half_life_days)
    extra = w.importance * importance_score + w.pinned * float(pinned) + w.change * float(present and change)
    return Breakdown(
        relevance=relevance + w.side * float(side),
        recency=w.recency_present * fresh + w.time * when,
        importance=extra,
    )


def newer_first(
    order: list[str],
    when: dict[str, float],
    speaker: dict[str, str | None],
    vectors: dict[str, npt.NDArray[np.float32]],
    texts: dict[str, str],
    w: Weights = WEIGHTS,
) -> tuple[list[str], dict[str, str]]:
    """Knowledge updates: ``order`` (ids, best first) with each later memory of a speaker that
    tells of a change (:func:`tells_update`) put right above the best-ranked earlier one of the
    same speaker about the same thing (cosine of their vectors >= ``same_thing``; give no vector
    for a question, which states nothing). One move per memory, none onto a memory that moved or
    was already updated: no chains. Returns the new order and, for each memory a newer one was
    put above, that newer one's id. Memories without a vector (background) stay where they are."""
    older: dict[str, str] = {}
    if w.same_thing <= 0:
        return list(order), older
    moved: dict[str, str] = {}  # newer -> the best-ranked earlier memory it updates (one move each)
    for b, newer in enumerate(order):
        target = next((a for a in order[:b] if a not in moved and a not in older
                       and _updates(newer, a, when, speaker, vectors, w.same_thing)), None)  # fmt: skip
        if target is not None and tells_update(texts[newer]):
            moved[newer] = target
            older[target] = newer
    result = [i for i in order if i not in moved]
    for newer, target in moved.items():
        result.insert(result.index(target), newer)
    return result, older


def _updates(
    newer: str,
    older: str,
    when: dict[str, float],
    speaker: dict[str, str | None],
    vectors: dict[str, npt.NDArray[np.float32]],
    similar: float,
) -> bool:
    if newer not in vectors or older not in vectors or when[newer] <= when[older]:
        return False
    return speaker[newer] == speaker[older] and float(vectors[newer] @ vectors[older]) >= similar


def of_side(entry: Entry, asked: Question) -> bool:
    """Whether a memory is of the side a question asks about: the user's turns for "I", the
    persona's turns and background for "you" (only its turns when it asks what "you" said)."""
    if asked.about is None:
        return False
    if entry.kind == "background":
        return asked.about == "persona" and not asked.said
    role = (entry.metadata().get("role") if entry.speaker not in ("user", "assistant") else entry.speaker) or ""
    return (role == "user") == (asked.about == "user")


def rank(
    entries: Mapping[str, Entry], cosine: Mapping[str, float], bm25: Mapping[str, float], query: str,
    asked: Question, now: datetime, k: int, excluded: Set[str], w: Weights = WEIGHTS,
) -> tuple[list[tuple[str, float, Breakdown]], dict[str, list[int]]]:  # fmt: skip
    """The best ``k`` of the candidates (``entries``, with their ``cosine`` and ``bm25`` scores),
    best first, as (id, score, its parts): each scored (:func:`score`), near-duplicates once, a
    background sentence next to a better one of its paragraph merged into it. Also, for each
    winning background sentence, the places in its paragraph of the sentences it stands for (the
    store shows them as one passage). A pure function: the store gathers the candidates."""
    best = max(bm25.values(), default=0.0)
    weight = {i: importance(entry.text) for i, entry in entries.items()}
    bases = {i: base(cosine[i], lexical(bm25.get(i, 0.0), best, w), weight[i], w) for i in entries}
    present = asks_about_present(query)
    scored: list[tuple[float, str, Breakdown]] = []
    for memory_id, entry in entries.items():
        if memory_id in excluded or not entry.text.strip():  # (a reply that was only thinking)
            continue
        created_at = datetime.fromtimestamp(entry.created_at, UTC)
        background = entry.kind == "background"
        parts = score(
            bases[memory_id] - w.importance * weight[memory_id],
            weight[memory_id],
            created_at=created_at,
            now=now,
            pinned=entry.pinned,
            timeless=background,
            present=present,
            change=present and announces_change(entry.text),
            w=w,
            side=of_side(entry, asked),
            when=0.0 if background else in_time(created_at, asked.since, asked.until, w),
        )
        scored.append((parts.total, memory_id, parts))
    scored.sort(key=lambda item: item[0], reverse=True)
    winners: list[tuple[str, float, Breakdown]] = []
    seen: set[str] = set()
    hits: dict[str, list[int]] = {}  # a winning background sentence: the places it shows
    for total, memory_id, parts in scored:
        entry = entries[memory_id]
        group = entry.duplicate_of or memory_id
        if group in seen:  # only the best of near-duplicates
            continue
        seen.add(group)
        if entry.group is not None and entry.position is not None:
            # a sentence next to (or one apart from) a better one of its paragraph joins its passage
            near = next(
                (other for other, places in hits.items() if entries[other].group == entry.group
                 and min(abs(entry.position - p) for p in places) <= 2),
                None,
            )  # fmt: skip
            if near is not None:
                hits[near].append(entry.position)
                continue
            hits[memory_id] = [entry.position]
        winners.append((memory_id, total, parts))
        if len(winners) == k:
            break
    return winners, hits
