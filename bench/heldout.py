"""Recall judged where it was not tuned: ``python -m bench.heldout [--sets ...] [--quick]``.

Four sets, in one process, each loaded as the app loads memories (background through
``add_background``; turns through ``add_turns``, user/assistant roles, no speaker names for the
persona chats, the speakers' names for LoCoMo as :mod:`bench.locomo` does):

======================  =========  ===============================================================
set                     role       what
======================  =========  ===============================================================
``locomo-tuning``       tuning     LoCoMo conversations 26, 30, 41, 42, 43 (762 questions)
``locomo-heldout``      held-out   LoCoMo conversations 44, 47, 48, 49, 50 (778 questions)
``persona``             tuning     bench/fixtures/persona_chats.json (ours, 34 questions)
``persona-tuning``      tuning     bench/fixtures/persona_chats_tuning.json (ours, in the style of
                                   the blind set's brief: long backgrounds, six kinds, 50 questions)
``blind``               held-out   bench/fixtures/blind/persona_chats_blind.json (90 questions,
                                   written by someone who never read memory/; frozen)
======================  =========  ===============================================================

The LoCoMo split is by file name (the first five of the sorted names tune, the last five are
held out), chosen before any ranking change and never to be changed. Weights and features may be
designed on the tuning sets only; the held-out sets are for reporting.

Beside the store, in the same process and over the same data, three plain baselines
(:mod:`bench.baselines`): dense MiniLM through Chroma, BM25, and their reciprocal-rank fusion,
over single turns ("speaker: text" where the data names speakers, as LoCoMo does) and background
chunks. Metric (shared/benchmarks/locomo10/README.md): a hit at k when an evidence text is
contained in one of the k recalled texts; for questions with several evidence texts also "all":
every one of them within k. For knowledge updates also whether the
newer fact ranks above the older. MRR@5: the mean of 1 / the rank of the first evidence within
5 (0 without), for the order the prompt gets. Characters: the mean length of the k=5 texts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings

from bench import Figure, Report, judged, machine, table, write_section
from bench import locomo as locomo_bench
from bench.baselines import Baselines, CachedMiniLM, paragraph_chunks
from memory import MemoryStore, ranking
from memory.embeddings import ServerEmbeddings
from memory.models import NewTurn

FIXTURES = Path(__file__).with_name("fixtures")
PERSONA = FIXTURES / "persona_chats.json"
TUNING = FIXTURES / "persona_chats_tuning.json"
BLIND = FIXTURES / "blind" / "persona_chats_blind.json"
#: The frozen LoCoMo split (file stems).
LOCOMO_TUNING = ("26", "30", "41", "42", "43")
LOCOMO_HELDOUT = ("44", "47", "48", "49", "50")
SETS = ("locomo-tuning", "locomo-heldout", "persona", "persona-tuning", "blind")
BASELINES = ("dense", "bm25", "fusion")
KS = (5, 10)
BLIND_KINDS = ("user_fact", "background", "persona_said", "update", "temporal", "multi")

Recall = Callable[[MemoryStore, str, str, int, datetime], list[str]]


@dataclass(frozen=True)
class Question:
    text: str
    kind: str
    evidence: tuple[str, ...]
    older: str | None = None  # for a knowledge update: the superseded text


@dataclass
class Case:
    """One persona (or LoCoMo conversation): what is stored and what is asked."""

    persona_id: str
    background: str
    sessions: list[list[NewTurn]]
    now: datetime
    questions: list[Question]


@dataclass
class DataSet:
    key: str
    title: str
    role: str  # "tuning" / "held-out"
    kinds: tuple[str, ...]
    cases: list[Case]


def _locomo(key: str, stems: Sequence[str], role: str, data: Path) -> DataSet:
    cases = []
    for stem in stems:
        dialogue = locomo_bench.load(data / f"{stem}.json")
        questions = [
            Question(q.text, locomo_bench.CATEGORIES[q.category], tuple(q.evidence)) for q in dialogue.questions
        ]
        cases.append(Case(f"locomo-{dialogue.name}", "", dialogue.sessions, dialogue.now, questions))
    title = f"LoCoMo {role} ({', '.join(stems)})"
    return DataSet(key, title, role, tuple(locomo_bench.CATEGORIES.values()), cases)


def _persona_chats(key: str, path: Path, role: str, kinds: tuple[str, ...]) -> DataSet:
    data = json.loads(path.read_text())
    cases = []
    for persona in data["personas"]:
        sessions = []
        for session in persona["sessions"]:
            start = datetime.fromisoformat(session["date"])
            sessions.append(
                [NewTurn(role_, text, start + timedelta(minutes=i)) for i, (role_, text) in enumerate(session["turns"])]
            )
        questions = [
            Question(q["q"], q["type"], tuple(q["evidence"]), q.get("older") or None) for q in persona["questions"]
        ]
        stored = [persona["background"], *(t.text for s in sessions for t in s)]
        for question in questions:
            for text in (*question.evidence, question.older or ""):
                assert any(text in s for s in stored), f"{path.name}: evidence not in the data: {text[:40]!r}"
        cases.append(
            Case(persona["id"], persona["background"], sessions, datetime.fromisoformat(persona["now"]), questions)
        )
    return DataSet(key, f"{path.name} ({role})", role, kinds, cases)


def load_sets(keys: Sequence[str], quick: bool = False, data: Path = locomo_bench.DATA) -> list[DataSet]:
    """The data sets by key; ``quick``: two LoCoMo conversations per half."""
    tuning, heldout = (LOCOMO_TUNING[:2], LOCOMO_HELDOUT[:2]) if quick else (LOCOMO_TUNING, LOCOMO_HELDOUT)
    makers = {
        "locomo-tuning": lambda: _locomo("locomo-tuning", tuning, "tuning", data),
        "locomo-heldout": lambda: _locomo("locomo-heldout", heldout, "held-out", data),
        "persona": lambda: _persona_chats("persona", PERSONA, "tuning", ("fact", "update", "multi", "background")),
        "persona-tuning": lambda: _persona_chats("persona-tuning", TUNING, "tuning", BLIND_KINDS),
        "blind": lambda: _persona_chats("blind", BLIND, "held-out", BLIND_KINDS),
    }
    return [makers[key]() for key in keys]


@dataclass
class Loaded:
    """The sets stored in one store, with the baselines built over the same data."""

    store: MemoryStore
    sets: list[DataSet]
    baselines: dict[str, Baselines] = field(default_factory=dict)  # by persona id


def prepare(
    sets: list[DataSet], folder: Path, embed: CachedMiniLM, store_embed: ServerEmbeddings | None = None
) -> Loaded:
    """Store every set as the app does (with ``store_embed``, a server's embedding model, instead
    of MiniLM when given) and build the baselines, always over MiniLM, beside it."""
    settings = ChromaSettings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=str(folder / "baselines"), settings=settings)
    store = MemoryStore.open(path=str(folder / "chroma"), embedding_function=store_embed or embed)
    loaded = Loaded(store, sets)
    for data_set in sets:
        for case in data_set.cases:
            if case.background:
                store.add_background(case.persona_id, case.background, source="fixture")
            for n, session in enumerate(case.sessions):
                store.add_turns(case.persona_id, f"session-{n}", session)
            # a turn as it was said: with its speaker's name where the data has one (LoCoMo)
            units = paragraph_chunks(case.background) + [
                f"{t.speaker}: {t.text}" if t.speaker else t.text for s in case.sessions for t in s
            ]
            loaded.baselines[case.persona_id] = Baselines(client, embed, case.persona_id, units)
    embed.save()
    return loaded


def store_recall(store: MemoryStore, persona_id: str, query: str, k: int, now: datetime) -> list[str]:
    return [m.shown for m in store.recall(persona_id, query, k=k, now=now)]


@dataclass
class Tally:
    """Hits of one method on one set."""

    hits: dict[tuple[str, int], list[bool]] = field(default_factory=dict)  # (kind or "all", k)
    every: dict[tuple[str, int], list[bool]] = field(default_factory=dict)  # all evidence within k (several)
    newer_first: list[bool] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    reciprocal: list[float] = field(default_factory=list)  # 1 / rank of the first evidence at k=5 (0: none)
    latency_ms: list[float] = field(default_factory=list)

    def rate(self, kind: str = "all", k: int = 5, every: bool = False) -> float | None:
        values = (self.every if every else self.hits).get((kind, k), [])
        return sum(values) / len(values) if values else None

    def count(self, kind: str = "all") -> int:
        return len(self.hits.get((kind, 5), []))


def _first(texts: list[str], needle: str) -> int | None:
    return next((i for i, text in enumerate(texts) if needle in text), None)


def score(loaded: Loaded, data_set: DataSet, method: str, recall: Recall = store_recall) -> Tally:
    """Ask every question of ``data_set`` by ``method`` ("store" or a baseline)."""
    tally = Tally()
    for case in data_set.cases:
        baseline = loaded.baselines[case.persona_id]
        for question in case.questions:
            found: dict[int, list[str]] = {}
            for k in KS:
                if method == "store":
                    started = time.perf_counter()
                    found[k] = recall(loaded.store, case.persona_id, question.text, k, case.now)
                    tally.latency_ms.append((time.perf_counter() - started) * 1000)
                else:
                    found[k] = baseline.texts(method, question.text, k)
            tally.chars.append(sum(len(t) for t in found[5]))
            first = [r for r in (_first(found[5], e) for e in question.evidence) if r is not None]
            tally.reciprocal.append(1.0 / (1 + min(first)) if first else 0.0)
            for k in KS:
                ranks = [_first(found[k], e) for e in question.evidence]
                hit = any(r is not None for r in ranks)
                for kind in ("all", question.kind):
                    tally.hits.setdefault((kind, k), []).append(hit)
                    if len(question.evidence) > 1:
                        tally.every.setdefault((kind, k), []).append(all(r is not None for r in ranks))
            if question.older:
                texts = found[10]
                newer = [r for r in (_first(texts, e) for e in question.evidence) if r is not None]
                older = _first(texts, question.older)
                tally.newer_first.append(bool(newer) and (older is None or min(newer) < older))
    return tally


def _pair(tally: Tally, kind: str = "all", every: bool = False) -> str:
    values = [tally.rate(kind, k, every) for k in KS]
    return " / ".join("-" if v is None else f"{v:.3f}" for v in values)


def tables(results: dict[str, dict[str, Tally]], sets: list[DataSet], label: str = "this store") -> str:
    """The overview (one row per set) and the per-kind tables, as Markdown."""
    header = ["set", "role", "questions", f"{label} R@5 / R@10", "dense", "BM25", "fusion (RRF)",
              f"{label} − fusion, R@5", "MRR@5 (store / fusion)", "characters at k=5 (store / fusion)"]  # fmt: skip
    rows = []
    for data_set in sets:
        tallies = results[data_set.key]
        store, fusion = tallies["store"], tallies["fusion"]
        margin = (store.rate() or 0.0) - (fusion.rate() or 0.0)
        rows.append([data_set.title, data_set.role, store.count(), f"**{_pair(store)}**",
                     *(_pair(tallies[m]) for m in BASELINES), f"{margin:+.3f}",
                     f"{statistics.mean(store.reciprocal):.3f} / {statistics.mean(fusion.reciprocal):.3f}",
                     f"{statistics.mean(store.chars):.0f} / {statistics.mean(fusion.chars):.0f}"])  # fmt: skip
    parts = [table(header, rows)]
    for data_set in sets:
        tallies = results[data_set.key]
        store = tallies["store"]
        kind_rows = []
        for kind in ("all", *data_set.kinds):
            kind_rows.append([kind, store.count(kind), *(_pair(tallies[m], kind) for m in ("store", *BASELINES))])
            if store.rate(kind, 5, every=True) is not None and kind != "all":
                kind_rows.append([f"{kind}, all evidence", len(store.every[(kind, 5)]),
                                  *(_pair(tallies[m], kind, every=True) for m in ("store", *BASELINES))])  # fmt: skip
        note = ""
        if store.newer_first:
            counts = {m: f"{sum(t.newer_first)}/{len(t.newer_first)}" for m, t in tallies.items()}
            note = (
                f"\n\nKnowledge updates with the newer fact above the older (within 10): {label} "
                f"{counts['store']}, dense {counts['dense']}, BM25 {counts['bm25']}, fusion {counts['fusion']}."
            )
        latency = statistics.median(store.latency_ms)
        parts.append(
            f"**{data_set.title}**, R@5 / R@10 by kind:\n\n"
            + table(["kind", "n", label, "dense", "BM25", "fusion"], kind_rows)
            + note
            + f"\n\nMedian recall latency ({label}): {latency:.1f} ms."
        )
    return "\n\n".join(parts)


def figures(results: dict[str, dict[str, Tally]]) -> list[Figure]:
    """Headline figures with the issue's targets (bench, not tests)."""
    out = []
    if "blind" in results:
        blind, fusion = results["blind"]["store"], results["blind"]["fusion"]
        r5, r10 = blind.rate(k=5) or 0.0, blind.rate(k=10) or 0.0
        out += [
            Figure("blind persona chats (held-out) R@5", f"{r5:.3f}", target=">= 0.80", met=judged(r5, 0.80, True)),
            Figure("blind persona chats (held-out) R@10", f"{r10:.3f}", target=">= 0.90", met=judged(r10, 0.90, True)),
            Figure("blind: R@5 above the fusion baseline", f"{r5 - (fusion.rate() or 0):+.3f}", target=">= +0.10",
                   met=judged(r5 - (fusion.rate() or 0), 0.10, True)),
            Figure("blind: characters per query at k=5 (mean)", f"{statistics.mean(blind.chars):.0f}",
                   target="<= 2,000", met=judged(statistics.mean(blind.chars), 2000)),
        ]  # fmt: skip
    if "locomo-heldout" in results:
        held, fusion = results["locomo-heldout"]["store"], results["locomo-heldout"]["fusion"]
        r5 = held.rate(k=5) or 0.0
        out += [
            Figure("LoCoMo held-out half R@5", f"{r5:.3f}", target=">= 0.75", met=judged(r5, 0.75, True)),
            Figure("LoCoMo held-out R@10", f"{held.rate(k=10) or 0:.3f}"),
            Figure("LoCoMo held-out: R@5 above the fusion baseline", f"{r5 - (fusion.rate() or 0):+.3f}",
                   target=">= +0.10", met=judged(r5 - (fusion.rate() or 0), 0.10, True)),
            Figure("LoCoMo held-out: characters per query at k=5 (mean)", f"{statistics.mean(held.chars):.0f}",
                   target="<= 2,000", met=judged(statistics.mean(held.chars), 2000)),
        ]  # fmt: skip
    for key, name in (("locomo-tuning", "LoCoMo tuning half"), ("persona", "our persona chats (tuning)")):
        if key in results:
            tally = results[key]["store"]
            out.append(Figure(f"{name} R@5 / R@10", f"{tally.rate(k=5) or 0:.3f} / {tally.rate(k=10) or 0:.3f}"))
    return out


def evaluate(loaded: Loaded, recall: Recall = store_recall, methods: Sequence[str] = ("store", *BASELINES)) -> dict:
    return {s.key: {m: score(loaded, s, m, recall) for m in methods} for s in loaded.sets}


def variants(w: ranking.Weights = ranking.WEIGHTS) -> dict[str, ranking.Weights]:
    """The ranking with each of its terms switched off in turn (pinned is the user's say and
    is not measured: no set pins anything)."""
    return {
        "all terms": w,
        "− dense retriever (MiniLM)": replace(w, dense=0.0),
        "− lexical retriever (BM25)": replace(w, lexical=0.0),
        "− neighbouring turns in BM25 (near, far)": replace(w, near=0.0, far=0.0),
        "− date words in BM25": replace(w, date=0.0),
        "− importance": replace(w, importance=0.0),
        "− present-tense queries: recency, change bonus": replace(w, recency_present=0.0, change=0.0),
        "− lexical floor (bm25 over the query's best only)": replace(w, lexical_floor=0.0),
        "− the question's side (\"you\": the persona, \"I\": the user)": replace(w, side=0.0),
        "− the time the question names": replace(w, time=0.0),
        "− a recalled question's answer": replace(w, replies=False),
        "− newer fact first (orders only)": replace(w, same_thing=0.0),
        "dense + BM25 alone (every other term off)": replace(
            w, near=0.0, far=0.0, date=0.0, importance=0.0, recency_present=0.0, change=0.0, lexical_floor=0.0,
            side=0.0, time=0.0, replies=False, same_thing=0.0,
        ),
    }  # fmt: skip


def ablation(loaded: Loaded, weights: dict[str, ranking.Weights]) -> str:
    """R@5 / R@10 of each variant on every set, held-out sets first; beside each, the change in
    R@5 against the first variant and the questions it lost and won there (a paired count: a
    change of a few questions either way is noise)."""
    order = sorted(loaded.sets, key=lambda s: s.role != "held-out")
    rows = []
    reference: dict[str, list[bool]] = {}
    for name, w in weights.items():

        def recall(store: MemoryStore, pid: str, query: str, k: int, now: datetime, w=w) -> list[str]:
            return [m.shown for m in store.recall(pid, query, k=k, now=now, weights=w)]

        row: list[object] = [name]
        for data_set in order:
            tally = score(loaded, data_set, "store", recall)
            hits = tally.hits[("all", 5)]
            first = reference.setdefault(data_set.key, hits)
            if hits is first:
                row.append(_pair(tally))
                continue
            lost = sum(a and not b for a, b in zip(first, hits, strict=True))
            won = sum(b and not a for a, b in zip(first, hits, strict=True))
            change = (sum(hits) - sum(first)) / len(hits)
            row.append(f"{_pair(tally)} ({change:+.3f}: −{lost} +{won})")
        rows.append(row)
    header = ["ranking", *(f"{s.title} R@5 / R@10 ({s.role})" for s in order)]
    return table(header, rows)


def run(quick: bool = False, sets: Sequence[str] = SETS, store_embed: ServerEmbeddings | None = None) -> Report:
    data_sets = load_sets(sets, quick)
    embed = CachedMiniLM()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = prepare(data_sets, Path(tmp), embed, store_embed)
        results = evaluate(loaded)
        embed.save()
    flags = " --quick" if quick else ""
    if store_embed:
        flags += f" --server-embeddings {store_embed.base_url} {store_embed.model}"
    markdown = (
        f"## Held-out recall (`python -m bench.heldout{flags}`)\n\n"
        + (f"The store embeds with {store_embed.label()}; the baselines with MiniLM.\n\n" if store_embed else "")
        + tables(results, data_sets)
        + f"\n\n{machine()}.\n"
    )
    return Report(markdown, figures(results))


def run_ablation(quick: bool = False, sets: Sequence[str] = SETS) -> str:
    data_sets = load_sets(sets, quick)
    embed = CachedMiniLM()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = prepare(data_sets, Path(tmp), embed)
        body = ablation(loaded, variants())
    flags = " --quick" if quick else ""
    return (
        f"## Ablation: each ranking term off in turn (`python -m bench.heldout --ablation{flags}`)\n\n"
        + body
        + "\n\nIn brackets: the change in R@5 against the first row, and how many questions were "
        + "lost and won at k=5. "
        + f"{machine()}.\n"
    )


def misses(loaded: Loaded, data_set: DataSet, k: int = 5) -> str:
    """The questions the store misses at ``k``, with what it recalled instead and where the
    evidence ranks: for designing on tuning sets. Refused for a held-out set."""
    if data_set.role != "tuning":
        raise SystemExit(f"{data_set.key} is held out: its questions are not read to design recall")
    lines = []
    for case in data_set.cases:
        for question in case.questions:
            shown = loaded.store.recall(case.persona_id, question.text, k=k, now=case.now)
            if any(_first([m.shown for m in shown], e) is not None for e in question.evidence):
                continue
            texts = [m.shown for m in loaded.store.recall(case.persona_id, question.text, k=50, now=case.now)]
            ranks = [_first(texts, e) for e in question.evidence]
            lines.append(f"\n### [{question.kind}] {question.text}  (evidence ranks {ranks})")
            lines += [f"- evidence: {e[:110]}" for e in question.evidence]
            for m in shown:
                parts = m.breakdown
                lines.append(f"  - {m.score:.3f} ({parts.relevance:.2f}/{parts.recency:.2f}/{parts.importance:.2f}) "
                             f"{m.kind[:4]} {m.role or ''}: {m.text[:110]}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two LoCoMo conversations per half")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--ablation", action="store_true", help="each ranking term off in turn")
    parser.add_argument("--misses", action="store_true", help="the store's misses at k=5 (tuning sets only)")
    parser.add_argument(
        "--server-embeddings",
        nargs=2,
        metavar=("URL", "MODEL"),
        help="the store embeds with this model of an OpenAI-compatible server (e.g. http://127.0.0.1:1234/v1 "
        "text-embedding-nomic-embed-text-v1.5); the baselines stay MiniLM; nothing is written to results.md",
    )
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    if args.misses:
        data_sets = load_sets(sets, args.quick)
        with tempfile.TemporaryDirectory() as tmp:
            loaded = prepare(data_sets, Path(tmp), CachedMiniLM())
            for data_set in data_sets:
                print(f"## {data_set.title}", misses(loaded, data_set))
        return
    complete = not args.quick and args.sets == ",".join(SETS)
    if args.ablation:
        markdown = run_ablation(args.quick, sets)
        print(markdown)
        if complete:
            write_section("ablation", markdown)
        return
    store_embed = ServerEmbeddings(*args.server_embeddings, timeout=600) if args.server_embeddings else None
    report = run(args.quick, sets, store_embed)
    print(report.markdown)
    if complete and not store_embed:
        write_section("heldout", report.markdown)


if __name__ == "__main__":
    main()
