"""The app's reply path against the bare server: ``python -m bench.path [--quick]``.

Figure 1 (time to first token): ``MemoryStore.accept_turn`` (the user's message journaled) →
:func:`ui.reply.prepare_reply` (recall among 10,000 stored memories, lorebook, prompt assembly)
→ ``llm.build_chain(make_chat_model(...)).stream`` (the chain built once, as the chat page caches
it) → first token, as the chat page does (which stores the message with ``store_pending`` after
the first token); minus the bare server's time to first token for the identical final messages
(the ``openai`` client, streaming). Figure 3 (streaming): characters and chunks per second seen
through the app's chain (with the chat page's ``safe_stream``) vs the bare stream, same prompt,
same ``max_tokens``, temperature 0.

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
import json
import random
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import Figure, Report, judged, percentile, table, write_section
from bench.relay import Relay

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "data" / "bench-cache"
#: Bump when the store layout, the persona or the generated turns change.
CACHE_VERSION = "v1"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def bare_stream(client, model: str, messages: list[dict], max_tokens: int, temperature: float,
                extra: dict) -> Iterator[str]:  # fmt: skip
    """The bare server's stream of text pieces (``openai`` client, no LangChain)."""
    stream = client.chat.completions.create(
        model=model, messages=messages, stream=True, max_completion_tokens=max_tokens, temperature=temperature,
        **extra,
    )  # fmt: skip
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


def _timed(pieces: Iterator[str], started: float) -> tuple[float, float, int, int]:
    """(first piece ms, last piece ms, characters, pieces) of a stream started at ``started``."""
    first = last = 0.0
    chars = count = 0
    for piece in pieces:
        now = time.perf_counter()
        if not count:
            first = now
        last = now
        chars += len(piece)
        count += 1
    return (first - started) * 1000, (last - started) * 1000, chars, count


def timed(work: Callable[[], object]) -> float:
    """Milliseconds ``work`` takes."""
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def _to_openai(messages) -> list[dict]:
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": m.content} for m in messages]


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> Report:
    import openai

    from llm import LLMSettings, build_chain, make_chat_model, stream_reply
    from llm.local_server import spawn
    from llm.prompts import CHAT_PROMPT, substitute
    from memory import MemoryStore
    from personas import PersonaLibrary
    from ui.chat_view import safe_stream
    from ui.reply import prepare_reply

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
            settings = LLMSettings.from_env({"LLM_BASE_URL": relay.base_url, "LLM_TEMPERATURE": "0"})
            store = MemoryStore.open(path=str(chroma))
            persona = library.get(PERSONA)
            user_name = "User"
            conversation_id = "bench-path"
            greeting = substitute(persona.first_mes, persona.name, user_name)
            model_id = openai.OpenAI(base_url=app_server.base_url, api_key="x").models.list().data[0].id
            bare = openai.OpenAI(base_url=bare_relay.base_url, api_key=settings.api_key, max_retries=0)
            # replies are cut after the first token: max_tokens only bounds the time a round takes
            sampling = replace(settings.sampling, max_tokens=32)
            extra = {"top_p": sampling.top_p, "frequency_penalty": sampling.frequency_penalty,
                     "presence_penalty": sampling.presence_penalty}  # fmt: skip
            # warm-up: embedding model, lexical mirror, both servers, the HTTP clients
            store.recall(PERSONA, "warm up", k=5)
            for server in servers:
                client = openai.OpenAI(base_url=server.base_url, api_key="x")
                list(bare_stream(client, model_id, [{"role": "user", "content": "hi"}], 4, 0.0, {}))

            names = ("store", "prepare", "chain", "app", "bare", "diff", "server", "own", "bare_own", "net")
            rows: dict[str, list[float]] = {name: [] for name in names}
            budget = settings.context_window - settings.sampling.max_tokens
            # built once, as the chat page's ui.resources.reply_chain caches it per configuration
            model = make_chat_model(settings.base_url, settings.api_key, model_id, sampling, settings.timeout)
            chain = build_chain(model)
            turns = store.transcript(PERSONA, conversation_id)
            for n in range(rounds):
                message = f"{MESSAGES[n % len(MESSAGES)]} ({n})"
                app_first = n % 2 == 0

                def app_path(
                    message: str = message, turns: list = turns
                ) -> tuple[list, float, float, float, float, float]:
                    # as pages/chat.py does: the user's turn is journaled, the reply prepared and
                    # streamed, and the turn stored (embedded, written) once the first token is out
                    sent = len(relay.requests)
                    t0 = time.perf_counter()
                    user_turn = store.accept_turn(PERSONA, conversation_id, "user", message)
                    prepared = prepare_reply(store, persona, user_name, turns, greeting, message, 5, budget,
                                             exclude=[user_turn])  # fmt: skip
                    t2 = time.perf_counter()
                    pieces = safe_stream(stream_reply(chain, prepared.parts, settings.base_url, model_id))
                    first = next(pieces)
                    t3 = time.perf_counter()
                    with ThreadPoolExecutor(max_workers=1) as pool:
                        saving = pool.submit(timed, store.store_pending)
                        reply = first + "".join(pieces)  # at most 32 tokens
                        t_store = saving.result()
                    store.add_turn(PERSONA, conversation_id, "assistant", reply,
                                   recalled=[(m.id, m.score or 0.0) for m in prepared.memories])  # fmt: skip
                    messages = _to_openai(CHAT_PROMPT.format_messages(**prepared.parts.inputs()))
                    (request,) = relay.requests[sent:]
                    return messages, t_store, (t2 - t0) * 1000, (t3 - t2) * 1000, (t3 - t0) * 1000, request.server_ms

                def bare_ttft(messages: list[dict]) -> tuple[float, float]:
                    """(time to first token, the bare client's own share of it) in ms."""
                    sent = len(bare_relay.requests)
                    started = time.perf_counter()
                    pieces = bare_stream(bare, model_id, messages, sampling.max_tokens, sampling.temperature, extra)
                    next(pieces)
                    ttft = (time.perf_counter() - started) * 1000
                    for _ in pieces:
                        pass
                    (request,) = bare_relay.requests[sent:]
                    return ttft, ttft - request.server_ms

                if app_first:
                    messages, t_store, t_prepare, t_chain, t_app, t_server = app_path()
                    t_bare, t_bare_own = bare_ttft(messages)
                else:
                    # the bare client goes first with the same final messages, computed without
                    # touching the store (the app's own round then computes them again)
                    probe = prepare_reply(store, persona, user_name, turns, greeting, message, 5, budget)
                    t_bare, t_bare_own = bare_ttft(_to_openai(CHAT_PROMPT.format_messages(**probe.parts.inputs())))
                    messages, t_store, t_prepare, t_chain, t_app, t_server = app_path()
                    if _to_openai(CHAT_PROMPT.format_messages(**probe.parts.inputs())) != messages:
                        # recall differed (the stored user turn is excluded anyway): measure again
                        t_bare, t_bare_own = bare_ttft(messages)
                turns = store.transcript(PERSONA, conversation_id)
                rows["store"].append(t_store)
                rows["prepare"].append(t_prepare)
                rows["chain"].append(t_chain)
                rows["app"].append(t_app)
                rows["bare"].append(t_bare)
                rows["diff"].append(t_app - t_bare)
                rows["server"].append(t_server)
                rows["own"].append(t_app - t_server)
                rows["bare_own"].append(t_bare_own)
                rows["net"].append(t_app - t_server - t_bare_own)
                say(
                    f"  round {n + 1}/{rounds}: app {t_app:.0f} ms (prepare {t_prepare:.0f}, chain {t_chain:.0f}; "
                    f"server {t_server:.0f}, app's share {t_app - t_server:.1f}), bare twin {t_bare:.0f} ms "
                    f"(its client's share {t_bare_own:.1f}); storing the turn after the first token {t_store:.0f} ms"
                )

            # figure 3: streaming rate through the chain vs the bare stream
            stream_sampling = replace(sampling, temperature=0.0, max_tokens=stream_tokens)
            stream_chain = build_chain(make_chat_model(settings.base_url, settings.api_key, model_id, stream_sampling))
            prepared = prepare_reply(store, persona, user_name, turns, greeting, MESSAGES[0], 5, budget)
            messages = _to_openai(CHAT_PROMPT.format_messages(**prepared.parts.inputs()))
            rate: dict[str, list[float]] = {"app_cps": [], "bare_cps": [], "app_pps": [], "bare_pps": []}
            sizes: dict[str, tuple[int, int]] = {}
            for n in range(stream_rounds):
                for side in ("app", "bare") if n % 2 == 0 else ("bare", "app"):
                    started = time.perf_counter()
                    if side == "app":
                        pieces = safe_stream(stream_reply(stream_chain, prepared.parts, settings.base_url, model_id))
                    else:
                        pieces = bare_stream(bare, model_id, messages, stream_tokens, 0.0, extra)
                    first, last, chars, count = _timed(pieces, started)
                    seconds = max(1e-6, (last - first) / 1000)
                    rate[f"{side}_cps"].append((chars - 1) / seconds if chars > 1 else 0.0)
                    rate[f"{side}_pps"].append((count - 1) / seconds if count > 1 else 0.0)
                    sizes[side] = (chars, count)
    finally:
        for each in relays:
            each.stop()
        for server in servers:
            server.stop()

    met = judged(statistics.median(rows["net"]), 30)
    ttft_rows = [
        ["store the user turn (`store_pending`, after the first token)", fmt(rows["store"], 1), "–", "–"],
        ["`prepare_reply` (recall in 10k + lorebook + assembly)", fmt(rows["prepare"], 1), "–", "–"],
        ["chain: request → first token", fmt(rows["chain"]), fmt(rows["bare"]), "–"],
        ["**app path → first token** (journal, prepare, chain)", fmt(rows["app"]), fmt(rows["bare"]), "–"],
        ["  server: request → first token, the same request (relay)", fmt(rows["server"]), "–", "–"],
        ["client's share: time to first token − the server's (relay)", fmt(rows["own"], 1),
         fmt(rows["bare_own"], 1), "–"],
        ["**app − bare, same request** (the two clients' shares; target p50 <= 30 ms)", fmt(rows["net"], 1), "0",
         met],
        ["app − bare twin server, as measured (± the two server processes' difference)", fmt(rows["diff"]), "0",
         "–"],
    ]  # fmt: skip
    stream_rows = [
        ["characters/s (after the first piece)", fmt(rate["app_cps"]), fmt(rate["bare_cps"]),
         f"{statistics.median(rate['app_cps']) / max(1e-9, statistics.median(rate['bare_cps'])):.0%}"],
        ["pieces/s (≈ tokens/s)", fmt(rate["app_pps"]), fmt(rate["bare_pps"]),
         f"{statistics.median(rate['app_pps']) / max(1e-9, statistics.median(rate['bare_pps'])):.0%}"],
    ]  # fmt: skip
    ratio = statistics.median(rate["app_cps"]) / max(1e-9, statistics.median(rate["bare_cps"]))
    figures = [
        Figure.of("time to first token through the app's chain, ms", rows["app"],
                  bare=fmt(rows["bare"])),
        Figure.of("  app − bare, same request (10,000 memories), ms", rows["net"], 1, target="p50 <= 30", met=met),
        Figure.of("  app's share: its time − its server's on the same request, ms", rows["own"], 1,
                  bare=fmt(rows["bare_own"], 1)),
        Figure.of("  app − bare twin server (another process: ± its own noise), ms", rows["diff"]),
        Figure.of("  of which `prepare_reply` (recall, lorebook, assembly), ms", rows["prepare"], 1),
        Figure.of("streaming through the chain, characters/s", rate["app_cps"],
                  bare=fmt(rate["bare_cps"]), target="as the server", met=f"{ratio:.0%}"),
    ]  # fmt: skip
    flags = " --quick" if quick else ""
    markdown = (
        f"## Reply path vs bare server (`python -m bench.path{flags}`)\n\n"
        f"Built-in SmolLM2-135M (two twin servers, each behind a recording relay: app path on one, bare `openai` "
        f"client on the other, same requests in the same order), persona {PERSONA} with 10,000 stored memories, "
        f"recall k=5, {rounds} rounds (a new message each), p50 / p95 in ms. Each client's share is its time to "
        "first token minus its server's own time on that very request (relay timestamps); app − bare is the "
        "difference of the two shares, i.e. the twin comparison without the difference between two server "
        "processes.\n\n"
        + table(["figure 1: time to first token", "app p50 / p95", "bare p50 / p95", "target met"], ttft_rows)
        + f"\n\nFigure 3: streaming, same prompt, temperature 0, max_tokens {stream_tokens}, {stream_rounds} rounds "
        f"each (app: `build_chain(...).stream` through the chat page's `safe_stream`; reply "
        f"{sizes.get('app', (0, 0))[0]} vs {sizes.get('bare', (0, 0))[0]} characters, "
        f"{sizes.get('app', (0, 0))[1]} vs {sizes.get('bare', (0, 0))[1]} pieces).\n\n"
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
