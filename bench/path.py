"""The app's reply path against the bare server: ``python -m bench.path [--quick]``.

Figure 1 (time to first token): the chat service the page uses (:class:`chat.ChatService`):
``Conversation.send`` (the message journaled and put in line) → its worker's recall among 10,000
stored memories, lorebook and prompt assembly → the request → the first piece on the live reply
(what the page draws); minus the bare server's time to first token for the very same request,
replayed byte for byte by a bare client. Figure 3 (streaming): characters per second on the live
reply vs the bare stream of the same request.

Two built-in servers (``llm.local_server.spawn``) are started: the app's path talks to one, the
bare client to its twin, and both receive the same requests in the same order, so llama.cpp's
prompt cache helps both the same way (one server would serve the second of two identical
prompts from its cache). The order of the two within a round alternates.

Two servers reading the same prompt differ by a few percent from round to round (about ±200 ms
on a 1.7 s prompt read here), far more than the difference being measured. So each server sits
behind a recording relay (:mod:`bench.relay`), which times it on each request: from the
request's first byte to the first text leaving the server. A client's share is its time to first
token minus that; app − bare is the app's share minus the bare client's, per round, i.e. the
twin difference without the servers' own difference. The raw twin difference is shown too.

The 10,000-memory store (the persona "mara-voss": its background plus 10,000 turns, one of them a
conversation of 1,000 turns) is built once and cached under ``data/bench-cache/`` (git-ignored),
keyed by :data:`CACHE_VERSION`; each run works on a copy in a temp dir. Other benchmarks
(:mod:`bench.browser`, :mod:`bench.pages`) reuse it through :func:`cached_store`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Figure, Report, judged, percentile, table, write_section
from bench.relay import Relay
from tests.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "bench-cache"
#: Bump when the store layout, the persona or the generated turns change.
CACHE_VERSION = "v2"  # v2: background one sentence per record (schema 2)
PERSONA = "mara-voss"
#: The conversation of :data:`LONG_TURNS` turns (older than every other conversation).
LONG_CONVERSATION = "long-conversation"
LONG_TURNS = 1_000
START = datetime(2025, 1, 1, tzinfo=UTC)
LOCOMO = ROOT.parent / "shared" / "benchmarks" / "locomo10"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

#: Chat-like messages a user might send (each round uses one, with a round number).
MESSAGES = [
    "Tell me about your ship, captain.",
    "Where did you sail last winter?",
    "What do you remember about the storm off the southern cape?",
    "Who taught you to read the stars?",
    "Do you still have the brass compass?",
    "What cargo are we carrying this time?",
    "Have you ever lost a member of your crew?",
    "What would you do if the harbour master refused us?",
]


# -- the cached store ---------------------------------------------------------------------------


def _sentences() -> list[str]:
    sentences: list[str] = []
    for path in sorted(LOCOMO.glob("*.json")):
        data = json.loads(path.read_text())
        for key, value in data.items():
            if key.startswith("session_") and isinstance(value, list):
                sentences += [s for turn in value for s in _SENTENCE.split(turn["text"]) if len(s) > 20]
    if not sentences:  # no LoCoMo data: made-up but varied sentences
        rng = random.Random(3)
        words = ["sea", "ship", "storm", "harbour", "cargo", "crew", "compass", "chart", "wind", "sail"]
        sentences = [" ".join(rng.choice(words) for _ in range(12)).capitalize() + "." for _ in range(5000)]
    return sentences


def _conversations(count: int, seed: int) -> Iterator[tuple[str, list]]:
    """``count`` unique turns: one conversation of ``LONG_TURNS`` (the oldest), then
    conversations of 20 spread over a year."""
    from memory.models import NewTurn

    sentences = _sentences()
    rng = random.Random(seed)

    def turns(start: datetime, size: int) -> list[NewTurn]:
        return [
            NewTurn(
                "user" if i % 2 == 0 else "assistant",
                f"{rng.choice(sentences)} {rng.choice(sentences)}",
                start + timedelta(seconds=30 * i),
            )
            for i in range(size)
        ]

    made = 0
    if count >= LONG_TURNS and seed == 0:
        long = turns(START - timedelta(days=30), LONG_TURNS)
        for start in range(0, LONG_TURNS, 100):
            yield LONG_CONVERSATION, long[start : start + 100]
        made = LONG_TURNS
    while made < count:
        size = min(20, count - made)
        yield f"conv-{seed}-{made}", turns(START + timedelta(minutes=rng.randrange(365 * 24 * 60)), size)
        made += size


def cached_store(memories: int = 10_000) -> Path:
    """The folder of a Chroma store holding the persona's background and ``memories`` turns,
    built on first use (a few minutes per 10,000 on 2 cores) and cached. Copy it before writing."""
    target = CACHE / f"{CACHE_VERSION}-{memories}" / "chroma"
    if target.exists():
        return target
    from memory import MemoryStore
    from personas import PersonaLibrary

    smaller = sorted(
        (int(p.parent.name.split("-")[1]), p)
        for p in CACHE.glob(f"{CACHE_VERSION}-*/chroma")
        if int(p.parent.name.split("-")[1]) < memories
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="building-"))
    try:
        chroma = work / "chroma"
        done = 0
        if smaller:  # extend the largest smaller store instead of starting again
            done, source = smaller[-1]
            shutil.copytree(source, chroma)
        store = MemoryStore.open(path=str(chroma))
        if not done:
            library = PersonaLibrary(work / "personas")
            library.seed_samples()
            persona = library.get(PERSONA)
            store.add_background(PERSONA, persona.background, source="persona background")
        started = time.perf_counter()
        stored = 0
        for conversation_id, turns in _conversations(memories - done, seed=done):
            store.add_turns(PERSONA, conversation_id, turns)
            stored += len(turns)
            rate = stored / (time.perf_counter() - started)
            print(f"\r  building the {memories:,}-memory store: {done + stored:,} ({rate:.0f}/s)",
                  end="", file=sys.stderr, flush=True)  # fmt: skip
        print(file=sys.stderr)
        del store
        target.parent.mkdir(parents=True, exist_ok=True)
        chroma.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def store_copy(memories: int, into: Path) -> Path:
    """A writable copy of :func:`cached_store` under ``into``."""
    target = into / "chroma"
    shutil.copytree(cached_store(memories), target)
    return target


# -- measuring ----------------------------------------------------------------------------------


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 95)


def fmt(values: list[float], digits: int = 0) -> str:
    p50, p95 = stats(values)
    return f"{p50:.{digits}f} / {p95:.{digits}f}"


def timed(work: Callable[[], object]) -> float:
    """Milliseconds ``work`` takes."""
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def follow(live) -> tuple[float, list[tuple[float, int]], object]:
    """Read a reply being written to its end, as the chat page does: (time.perf_counter() of its
    first visible text, (time.time(), characters on screen) at each change, the last view)."""
    first = 0.0
    points: list[tuple[float, int]] = []
    view = live.wait(-1, 120)
    while True:
        shown = len(view.answer) + len(view.thinking)
        if shown and not first:
            first = time.perf_counter()
        if shown and (not points or points[-1][1] != shown):
            points.append((time.time(), shown))
        if view.finished:
            return first, points, view
        view = live.wait(view.version, 120)


def chars_per_second(points: list[tuple[float, int]]) -> float:
    """Characters per second after the first piece."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return 0.0
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


def bare_stream(client, request) -> tuple[float, list[tuple[float, int]]]:
    """The same request as the app's, sent by a bare ``openai`` client: (time to first text ms,
    (time.time(), characters) of each piece)."""
    started = time.time()
    pieces: list[tuple[float, int]] = []
    for chunk in client.chat.completions.create(**json.loads(request.body)):
        delta = chunk.choices[0].delta if chunk.choices else None
        extra = (delta.model_extra or {}) if delta is not None else {}
        if n := len((delta.content or "") if delta else "") + len(extra.get("reasoning_content") or ""):
            pieces.append((time.time(), n))
    return ((pieces[0][0] - started) * 1000 if pieces else float("nan")), pieces


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> Report:
    import openai

    from chat import ChatService, ReplySettings
    from llm import Sampling
    from llm.local_server import spawn
    from memory import MemoryStore
    from personas import PersonaLibrary

    say = progress or (lambda text: print(text, file=sys.stderr, flush=True))
    rounds = 6 if quick else 20
    stream_rounds = 2 if quick else 6
    stream_tokens = 128 if quick else 200
    say("building / copying the 10,000-memory store…")
    cached_store(10_000)
    servers = []
    relays: list[Relay] = []
    try:
        for _ in range(2):
            servers.append(spawn(port=free_port()))
        app_server, bare_server = servers
        relays = [Relay.before(app_server.base_url), Relay.before(bare_server.base_url)]
        relay, bare_relay = relays
        with tempfile.TemporaryDirectory() as tmp:
            chroma = store_copy(10_000, Path(tmp))
            library = PersonaLibrary(Path(tmp) / "personas")
            library.seed_samples()
            store = MemoryStore.open(path=str(chroma))
            # the chat service the page uses, as ui.resources builds it
            service = ChatService(store, library, "User")
            chat = service.conversation(PERSONA, "bench-path")
            model_id = openai.OpenAI(base_url=app_server.base_url, api_key="x").models.list().data[0].id
            # replies are cut after 32 tokens: max_tokens only bounds the time a round takes
            settings = ReplySettings(relay.base_url, "x", model_id, Sampling(temperature=0.0, max_tokens=32))
            # warm-up: embedding model, lexical mirror, both servers, the HTTP clients
            store.recall(PERSONA, "warm up", k=5)
            service.client(relay.base_url, "x")
            bare = openai.OpenAI(base_url=bare_relay.base_url, api_key="x", max_retries=0)
            for server in servers:
                client = openai.OpenAI(base_url=server.base_url, api_key="x")
                client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=4)  # fmt: skip

            names = ("send", "prepare", "request", "app", "bare", "diff", "server", "own", "bare_own", "net")
            rows: dict[str, list[float]] = {name: [] for name in names}
            for n in range(rounds):
                message = f"{MESSAGES[n % len(MESSAGES)]} ({n})"
                sent = len(relay.requests)
                started = time.perf_counter()
                chat.send(message, settings)  # journal, line, worker: recall, assembly, request
                returned = time.perf_counter()
                live = chat.view().live
                first, _, view = follow(live)
                while chat.busy():  # the reply is stored when it ends
                    time.sleep(0.005)
                (request,) = relay.requests[sent:]
                t_app = (first - started) * 1000
                t_server = request.server_ms
                # the very same request, byte for byte, to the bare twin
                t_bare, _ = bare_stream(bare, request)
                (bare_request,) = bare_relay.requests[-1:]
                t_bare_own = t_bare - bare_request.server_ms
                rows["send"].append((returned - started) * 1000)
                rows["prepare"].append((view.prepared_after or 0) * 1000)
                rows["request"].append(t_app - (view.prepared_after or 0) * 1000)
                rows["app"].append(t_app)
                rows["bare"].append(t_bare)
                rows["diff"].append(t_app - t_bare)
                rows["server"].append(t_server)
                rows["own"].append(t_app - t_server)
                rows["bare_own"].append(t_bare_own)
                rows["net"].append(t_app - t_server - t_bare_own)
                say(
                    f"  round {n + 1}/{rounds}: app {t_app:.0f} ms (prepare {rows['prepare'][-1]:.0f}; server "
                    f"{t_server:.0f}, app's share {t_app - t_server:.1f}), bare twin {t_bare:.0f} ms (its client's "
                    f"share {t_bare_own:.1f})"
                )

            # figure 3: streaming rate through the service vs the bare stream, the same request
            stream_settings = ReplySettings(relay.base_url, "x", model_id, Sampling(0.0, max_tokens=stream_tokens))
            rate: dict[str, list[float]] = {"app_cps": [], "bare_cps": []}
            sizes: dict[str, int] = {}
            for n in range(stream_rounds):
                turns = chat.view().turns
                sent = len(relay.requests)
                chat.answer_again(turns[-2], stream_settings)  # the last message, answered again
                _, points, _ = follow(chat.view().live)
                while chat.busy():
                    time.sleep(0.005)
                (request,) = relay.requests[sent:]
                _, bare_pieces = bare_stream(bare, request)
                bare_points = list(itertools.accumulate(bare_pieces, lambda a, b: (b[0], a[1] + b[1])))
                rate["app_cps"].append(chars_per_second(points))
                rate["bare_cps"].append(chars_per_second(bare_points))
                sizes = {"app": points[-1][1] if points else 0, "bare": bare_points[-1][1] if bare_points else 0}
                say(f"  stream {n + 1}/{stream_rounds}: app {rate['app_cps'][-1]:.0f} chars/s, bare "
                    f"{rate['bare_cps'][-1]:.0f}")  # fmt: skip
    finally:
        for each in relays:
            each.stop()
        for server in servers:
            server.stop()

    met = judged(statistics.median(rows["net"]), 30)
    ttft_rows = [
        ["`Conversation.send` returns (journal, line; waits for the request, 0.25 s at most)", fmt(rows["send"], 1),
         "–", "–"],
        ["prepare (recall in 10k + lorebook + assembly, in the service's worker)", fmt(rows["prepare"], 1), "–", "–"],
        ["prompt ready → first piece on the live reply", fmt(rows["request"]), fmt(rows["bare"]), "–"],
        ["**send → first piece on the live reply** (what the page draws)", fmt(rows["app"]), fmt(rows["bare"]), "–"],
        ["  server: request → first token, the same request (relay)", fmt(rows["server"]), "–", "–"],
        ["client's share: time to first token − the server's (relay)", fmt(rows["own"], 1),
         fmt(rows["bare_own"], 1), "–"],
        ["**app − bare, same request** (the two clients' shares; target p50 <= 30 ms)", fmt(rows["net"], 1), "0",
         met],
        ["app − bare twin server, as measured (± the two server processes' difference)", fmt(rows["diff"]), "0",
         "–"],
    ]  # fmt: skip
    ratio = statistics.median(rate["app_cps"]) / max(1e-9, statistics.median(rate["bare_cps"]))
    stream_rows = [
        ["characters/s (after the first piece)", fmt(rate["app_cps"]), fmt(rate["bare_cps"]), f"{ratio:.0%}"],
    ]
    figures = [
        Figure.of("time to first token through the chat service, ms", rows["app"], bare=fmt(rows["bare"])),
        Figure.of("  app − bare, same request (10,000 memories), ms", rows["net"], 1, target="p50 <= 30", met=met),
        Figure.of("  app's share: its time − its server's on the same request, ms", rows["own"], 1,
                  bare=fmt(rows["bare_own"], 1)),
        Figure.of("  app − bare twin server (another process: ± its own noise), ms", rows["diff"]),
        Figure.of("  of which prepare (recall, lorebook, assembly), ms", rows["prepare"], 1),
        Figure.of("streaming through the chat service, characters/s", rate["app_cps"],
                  bare=fmt(rate["bare_cps"]), target="as the server", met=f"{ratio:.0%}"),
    ]  # fmt: skip
    flags = " --quick" if quick else ""
    markdown = (
        f"## Reply path vs bare server (`python -m bench.path{flags}`)\n\n"
        "Built-in SmolLM2-135M (two twin servers, each behind a recording relay: the chat service "
        "(`chat.ChatService`, as the page uses it) on one, the very same request sent by a bare `openai` "
        f"client to the other), persona "
        f"{PERSONA} with 10,000 stored memories, recall k=5, {rounds} rounds (a new message each), p50 / p95 in ms. "
        "Each client's share is its time to first text minus its server's own time on that very request (relay "
        "timestamps); app − bare is the difference of the two shares, i.e. the twin comparison without the "
        "difference between two server processes.\n\n"
        + table(["figure 1: time to first token", "app p50 / p95", "bare p50 / p95", "target met"], ttft_rows)
        + f"\n\nFigure 3: streaming, the same request, temperature 0, max_tokens {stream_tokens}, {stream_rounds} "
        f"rounds (app: the live reply a page follows; {sizes.get('app', 0)} vs {sizes.get('bare', 0)} characters)."
        "\n\n"
        + table(["figure 3: streaming", "app p50 / p95", "bare p50 / p95", "app / bare (p50)"], stream_rows)
        + "\n"
    )
    return Report(markdown, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about a minute once the store is cached)")
    parser.add_argument("--build", type=int, nargs="*", help="only build the cached stores of these sizes")
    args = parser.parse_args()
    if args.build is not None:
        for size in args.build or [10_000]:
            print(cached_store(size))
        return
    markdown = run(args.quick).markdown
    print(markdown)
    write_section("path-quick" if args.quick else "path", markdown)


if __name__ == "__main__":
    main()
