"""The app in headless Chromium against the bare server: ``python -m bench.browser [--quick]``.

Figure 2: from pressing Enter in the chat box to the reply's first text on screen (a
MutationObserver records ``performance.now()`` when the new assistant message first has text; a
capturing ``keydown`` listener records Enter), minus the bare server's time to first token for the
same prompt. The app talks to a built-in server through a byte-for-byte TCP relay that records
each request and when it passed (about 0.1 ms more per request): the recorded chat request is
then replayed, unchanged, on a twin server that saw the same requests in the same order (same
prompt cache), with ``httpx`` streaming: that is the bare reference. The relay's timestamps also
split the figure into "app before the request", "server to first token" and "first token to
screen". The page's streaming rate (characters/s of the reply as it grows on screen) is shown next
to the rate at which the same reply's text left the server (the relay's timestamps of each
server-sent event) and to the bare stream's: screen / relay is the "no throttling" check (the app
shows tokens as fast as the server hands them over); relay / bare is the server's own pace during
the app's round, when it shares the CPU with Streamlit and Chromium (on a 2-core machine a
2-thread llama.cpp slows down sharply as soon as anything else runs), against the replay's, when it
has the machine to itself.

Figure 5: start-up, from starting ``streamlit run`` to the chat input being visible in Chromium
(launched beforehand), and to the conversation being shown (the store open, the greeting drawn),
on a warm install (one unmeasured start first), with an empty store (first run: the sample
personas are seeded, the background is embedded) and with the cached 10,000-memory store of
:mod:`bench.path`: as a user's store is after a run of the app (it saved its mirrors,
:mod:`memory.snapshot`), and a copy never started (the first start after an upgrade). Beside them,
Streamlit's floor: a bare page (``bench/bare_page.py``) started and opened the same way.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure, Report, judged, table, write_section
from bench.path import MESSAGES, fmt, store_copy
from bench.relay import Relay, replay
from tests.harness import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ROOT, App, free_port, start_app

MAX_TOKENS = 96
UNTHROTTLED = 0.9  # screen / relay streaming rate at or above which the app adds no throttling
APP = ROOT / "app.py"
BARE_PAGE = Path(__file__).with_name("bare_page.py")

#: Records, per message sent, when Enter was pressed and when the reply's text (its answer, or a
#: reasoning model's thinking) grew on screen while it was being written.
OBSERVER = """() => {
    window.__rounds = [];
    document.addEventListener('keydown', (e) => {
        if (e.key !== 'Enter') return;
        const n = document.querySelectorAll('[data-testid="stChatMessage"]').length;
        window.__rounds.push({enter: performance.now(), origin: performance.timeOrigin, target: n + 1,
                              first: null, thought: null, samples: []});
    }, true);
    new MutationObserver(() => {
        const round = window.__rounds[window.__rounds.length - 1];
        if (!round) return;
        const message = document.querySelectorAll('[data-testid="stChatMessage"]')[round.target];
        const answer = message && message.querySelector('.st-key-live_answer');
        if (!answer) return;  // (not being written: drawn from the store)
        const thinking = message.querySelector('[data-testid="stExpanderDetails"]');
        const thought = thinking ? thinking.innerText.trim().length : 0;
        const length = answer.innerText.trim().length + thought;
        if (!length) return;
        const now = performance.now();
        if (round.first === null) round.first = now;
        if (thought && round.thought === null) round.thought = now;
        const last = round.samples[round.samples.length - 1];
        if (!last || last[1] !== length) round.samples.push([now, length]);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def grown(pieces: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """(time, length so far) of a text that arrives in (time, characters) pieces."""
    return list(zip([t for t, _ in pieces], itertools.accumulate(n for _, n in pieces), strict=True))


def rate(points: list[tuple[float, int]]) -> float:
    """Characters/s of a text growing through (seconds, length so far) points, from its first
    text to its last: the first text only starts the clock, so screen, relay and replay are
    measured alike whatever the size of their first piece."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return 0.0
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


# -- the app --------------------------------------------------------------------------------------


def _streaming(state: dict, relay: list[tuple[float, int]], bare: list[tuple[float, int]]) -> dict[str, float]:
    """Streaming rates of one round: on screen (the observer's samples), leaving the server (the
    relay's pieces), bare (the replay's pieces); their ratio; and how long after the last piece
    left the server the last text was on screen (ms)."""
    screen = [((state["origin"] + t) / 1000, length) for t, length in state["samples"]]
    page_cps, relay_cps = rate(screen), rate(grown(relay))
    return {
        "page_cps": page_cps, "relay_cps": relay_cps, "bare_cps": rate(grown(bare)),
        "kept": page_cps / relay_cps if relay_cps else 0.0, "last_lag": (screen[-1][0] - relay[-1][0]) * 1000,
    }  # fmt: skip


#: Records, with the page's own clock, the animation frame in which the first chat message is
#: drawn: Playwright's own check for "visible" runs between the page's tasks, so while Chromium lays
#: out the rest of the page it sees the message up to 1.4 s after it was drawn.
PAINTED = """() => {
    new MutationObserver((_, observer) => {
        if (!document.querySelector('[data-testid="stChatMessage"]')) return;
        observer.disconnect();
        requestAnimationFrame(() => { window.__painted = performance.timeOrigin + performance.now(); });
    }).observe(document, {subtree: true, childList: true});
}"""


@dataclass(frozen=True)
class Startup:
    """Seconds from ``streamlit run`` to healthy, to the chat input visible (the user can type),
    and to the conversation shown (its first message: the store is open), as Playwright sees it
    and as the page drew it (:data:`PAINTED`); then, on the running app (idle: its warm-up done),
    from opening the page in a new tab of the same browser to the conversation shown, both ways,
    and drawn in a new browser profile (nothing cached: Streamlit's scripts fetched again)."""

    healthy: float
    usable: float
    shown: float
    painted: float
    reopened: float
    repainted: float
    repainted_cold: float


def _painted(page) -> float:
    """When (``time.time()``) the page drew its first chat message (:data:`PAINTED`)."""
    page.wait_for_function("() => window.__painted !== undefined")
    return page.evaluate("window.__painted") / 1000


def _conversation_shown(page, url: str) -> tuple[float, float]:
    """Open ``url``; when the first chat message is visible to Playwright, and when it was drawn."""
    page.add_init_script(f"({PAINTED})()")
    page.goto(url)
    page.get_by_test_id("stChatMessage").first.wait_for(state="visible", timeout=120_000)
    return time.time(), _painted(page)


def _idle(pid: int, timeout: float = 60) -> None:
    """Wait until process ``pid`` has used under 5 % of a core for half a second: a running app
    whose start-up work (the memory store's warm-up, in the background) is done."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    deadline, before = time.monotonic() + timeout, cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - before < 0.025:
            return
        before = now


def _startup(browser, workdir: Path, base_url: str, chroma: Path, script: Path = APP) -> Startup:
    workdir.mkdir(parents=True, exist_ok=True)
    # a warm install, as on a user's machine: the app's modules compiled once and cached in
    # __pycache__ (a sandbox that sets PYTHONDONTWRITEBYTECODE would compile them at every start)
    app = start_app(workdir, base_url, chroma, script=script, LLM_MAX_TOKENS=str(MAX_TOKENS),
                    PYTHONDONTWRITEBYTECODE="")  # fmt: skip
    try:
        app.wait_healthy()
        healthy = time.time() - app.started
        profile = browser.new_context(viewport=DESKTOP)
        page = profile.new_page()
        page.add_init_script(f"({PAINTED})()")
        page.goto(app.url)
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=120_000)
        usable = time.time() - app.started
        page.get_by_test_id("stChatMessage").first.wait_for(state="visible", timeout=120_000)
        shown = time.time() - app.started
        painted = _painted(page) - app.started
        page.close()
        _idle(app.process.pid)
        opened = time.time()
        seen, drawn = _conversation_shown(profile.new_page(), app.url)
        profile.close()
        cold = browser.new_context(viewport=DESKTOP)
        opened_cold = time.time()
        _, drawn_cold = _conversation_shown(cold.new_page(), app.url)
        cold.close()
        return Startup(healthy, usable, shown, painted, seen - opened, drawn - opened, drawn_cold - opened_cold)
    finally:
        app.stop()


def _rounds(browser, relay: Relay, bare_url: str, home: Path, chroma: Path, rounds: int) -> list[dict]:
    """Messages sent in the app (talking to ``relay``), each timed from Enter to its first text on
    screen and split by the relay's timestamps; the same request replayed on ``bare_url``."""
    home.mkdir()
    app: App = start_app(home, relay.base_url, chroma, LLM_MAX_TOKENS=str(MAX_TOKENS))
    results = []
    try:
        app.wait_healthy()
        page = browser.new_page(viewport=DESKTOP)
        page.goto(app.url)
        page.get_by_test_id("stChatMessage").first.wait_for(timeout=120_000)
        opened = page.url
        page.get_by_role("button", name="New conversation").click()
        # wait until the new one (the greeting alone) is drawn, in a run that has finished
        page.wait_for_function("(opened) => location.href !== opened && "
                               "document.querySelectorAll('[data-testid=stChatMessage]').length === 1",
                               arg=opened, timeout=60_000)  # fmt: skip
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
        time.sleep(1)
        page.evaluate(OBSERVER)
        box = page.get_by_test_id("stChatInputTextArea")
        for n in range(rounds + 1):  # the first round warms up the reply path
            before = len(relay.requests)
            box.fill(f"{MESSAGES[n % len(MESSAGES)]} ({n})")
            box.press("Enter")
            target = page.evaluate("window.__rounds[window.__rounds.length - 1].target")
            page.get_by_test_id("stChatMessage").nth(target).get_by_text("Memories used").wait_for(timeout=120_000)
            time.sleep(0.3)
            chats = [r for r in relay.requests[before:] if r.path.endswith("/chat/completions")]
            state = page.evaluate("window.__rounds[window.__rounds.length - 1]")
            bare_ttft, bare_pieces = replay(bare_url, chats[-1])
            if n == 0 or state["first"] is None or not chats[-1].pieces:
                continue
            enter = state["origin"] + state["enter"]  # epoch ms
            first = state["origin"] + state["first"]
            request, token = chats[-1].started * 1000, (chats[-1].first_content or 0) * 1000
            thought = state["origin"] + state["thought"] if state["thought"] is not None else None
            results.append({
                "screen": first - enter, "bare": bare_ttft, "diff": first - enter - bare_ttft,
                "before_request": request - enter, "server": token - request, "to_screen": first - token,
                "thought_to_screen": thought - token if thought is not None else None,
                **_streaming(state, chats[-1].pieces, bare_pieces),
            })  # fmt: skip
            r = results[-1]
            print(f"  round {n}: Enter → text {first - enter:.0f} ms (app before the request "
                  f"{request - enter:.0f}, server {token - request:.0f}, to screen {first - token:.0f}), "
                  f"bare {bare_ttft:.0f} ms; chars/s on screen {r['page_cps']:.0f}, leaving the server "
                  f"{r['relay_cps']:.0f}, bare {r['bare_cps']:.0f}", file=sys.stderr)  # fmt: skip
        page.close()
    finally:
        app.stop()
    return results


def run(quick: bool = False) -> Report:
    from playwright.sync_api import sync_playwright

    from llm.local_server import spawn

    rounds = 3 if quick else 20
    starts = 1 if quick else 5
    servers = []
    relays: list[Relay] = []
    startup_rows: list[list[str]] = []
    figures: list[Figure] = []
    try:
        for thinking in (None, None, "split", "split"):  # twins: the app's and the bare replay's
            servers.append(spawn(port=free_port(), thinking=thinking))
        app_server, bare_server, thinking_server, thinking_twin = servers
        relays = [Relay.before(app_server.base_url), Relay.before(thinking_server.base_url)]
        relay, thinking_relay = relays
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
            tmp_path = Path(tmp)
            big = store_copy(10_000, tmp_path / "big")
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            # figure 5: start-up, and opening the page on a running app. The 10,000-memory store is
            # started once unmeasured, as a user's store was at its last run (it leaves the saved
            # mirrors, memory.snapshot); a copy never started shows what the first start after
            # an upgrade costs. The bare page is Streamlit's own floor on this machine.
            kinds = (("empty store (first run: seeds, embeds the background)", None, APP),
                     ("10,000 memories, never started (no saved mirrors: the first start after an upgrade)",
                      "fresh", APP),
                     ("10,000 memories", big, APP),
                     ("bare Streamlit page, no app code (the floor on this machine)", None, BARE_PAGE))  # fmt: skip
            for label, chroma, script in kinds:
                warm = tmp_path / "warm"
                _startup(browser, warm, app_server.base_url, big if chroma is big else warm / "chroma", script)
                starts_here: list[Startup] = []
                for n in range(starts):
                    home = tmp_path / f"start-{len(startup_rows)}-{n}"
                    store = store_copy(10_000, home) if chroma == "fresh" else chroma or home / "chroma"
                    one = _startup(browser, home, app_server.base_url, store, script)
                    starts_here.append(one)
                    print(f"  start-up, {label}: healthy {one.healthy:.2f} s, chat input {one.usable:.2f} s, "
                          f"conversation drawn {one.painted:.2f} s (seen {one.shown:.2f} s); opened again: drawn "
                          f"{one.repainted:.2f} s (seen {one.reopened:.2f} s), new profile {one.repainted_cold:.2f} s",
                          file=sys.stderr)  # fmt: skip

                def ms(field: str, runs: list[Startup] = starts_here) -> list[float]:
                    return [getattr(run, field) * 1000 for run in runs]

                judged_here = chroma is big  # the targets: a warm install, 10,000 memories
                met = judged(statistics.median(ms("usable")), 3000) if script == APP else "–"
                store = label.split(" (")[0]
                shown_met = judged(statistics.median(ms("painted")), 2000) if judged_here else "–"
                reopened_met = judged(statistics.median(ms("repainted")), 1000) if judged_here else "–"
                shown_cell = f"{fmt(ms('painted'))} (seen {fmt(ms('shown'))})" + (
                    f" (<= 2 s: {shown_met})" if judged_here else "")  # fmt: skip
                reopened_cell = f"{fmt(ms('repainted'))} (seen {fmt(ms('reopened'))})" + (
                    f" (<= 1 s: {reopened_met})" if judged_here else "")  # fmt: skip
                reopened_cell += f"; new browser profile {fmt(ms('repainted_cold'))}"
                target = f"<= 3 s: {met}" if script == APP else "–"
                startup_rows.append([label, fmt(ms("healthy")), fmt(ms("usable")), target, shown_cell, reopened_cell])
                figures.append(Figure.of(f"start-up → chat input visible, {store}, ms", ms("usable"),
                                         target="<= 3 s" if script == APP else "–", met=met))  # fmt: skip
                figures.append(Figure.of(f"start-up → conversation drawn, {store}, ms", ms("painted"),
                                         target="<= 2 s" if judged_here else "–", met=shown_met))  # fmt: skip
                figures.append(Figure.of(f"  as Playwright sees it, {store}, ms", ms("shown")))
                figures.append(Figure.of(f"running app: page opened → conversation drawn, {store}, ms",
                                         ms("repainted"), target="<= 1 s" if judged_here else "–",
                                         met=reopened_met))  # fmt: skip
                figures.append(Figure.of(f"  as Playwright sees it, {store}, ms", ms("reopened")))
                figures.append(Figure.of(f"  in a new browser profile (nothing cached), {store}, ms",
                                         ms("repainted_cold")))  # fmt: skip

            # figure 2: Enter → first text, against the bare server; then with a model that thinks
            results = _rounds(browser, relay, bare_server.base_url, tmp_path / "chat", big, rounds)
            thinking_results = _rounds(browser, thinking_relay, thinking_twin.base_url, tmp_path / "thinking",
                                       store_copy(10_000, tmp_path / "big-thinking"), rounds)  # fmt: skip
            browser.close()
    finally:
        for each in relays:
            each.stop()
        for server in servers:
            server.stop()

    def col(key: str) -> list[float]:
        return [r[key] for r in results]

    met = judged(statistics.median(col("diff")), 250)
    ratio = statistics.median(col("page_cps")) / max(1e-9, statistics.median(col("bare_cps")))
    server_ratio = statistics.median(col("relay_cps")) / max(1e-9, statistics.median(col("bare_cps")))
    kept = statistics.median(col("kept"))
    unthrottled = judged(kept, UNTHROTTLED, at_least=True)
    rows = [
        ["Enter → first reply text on screen", fmt(col("screen")), fmt(col("bare")), "–"],
        ["  of which: Enter → the app sends the request (the message box's callback, journal, recall, assembly)",
         fmt(col("before_request")), "–", "–"],
        ["  of which: request → first token leaves the server (through the relay)", fmt(col("server")),
         fmt(col("bare")), "–"],
        ["  of which: first token → text on screen (websocket, React)", fmt(col("to_screen")), "–", "–"],
        ["**screen − bare** (target p50 <= 250 ms)", fmt(col("diff")), "0", met],
        ["streaming: characters/s on screen", fmt(col("page_cps")), fmt(col("bare_cps")),
         f"{ratio:.0%} of bare (p50)"],
        ["  characters/s leaving the server for the same request (relay)", fmt(col("relay_cps")),
         fmt(col("bare_cps")), f"{server_ratio:.0%} of bare (p50): the server's pace beside the app"],
        [f"  **screen / relay** (no throttling: p50 >= {UNTHROTTLED:.0%})",
         f"{kept:.0%} / lowest {min(col('kept')):.0%}", "–", unthrottled],
        ["  last text leaves the server → on screen", fmt(col("last_lag")), "–", "–"],
    ]  # fmt: skip
    thoughts = [r["thought_to_screen"] for r in thinking_results if r["thought_to_screen"] is not None]
    thought_met = judged(statistics.median(thoughts), 100) if thoughts else "no thinking seen"
    rows += [
        ["**a model that thinks**: first thinking text leaves the server → on screen (target p50 <= 100 ms)",
         fmt(thoughts) if thoughts else "–", "–", thought_met],
        ["  Enter → first text (thinking) on screen", fmt([r["screen"] for r in thinking_results]),
         fmt([r["bare"] for r in thinking_results]), "–"],
    ]  # fmt: skip
    figures[:0] = [
        Figure.of("browser: Enter → first reply text on screen, ms", col("screen"),
                  bare=fmt(col("bare"))),
        Figure.of("  screen − bare, ms", col("diff"), target="p50 <= 250", met=met),
        Figure.of("browser: streaming, characters/s on screen", col("page_cps"),
                  bare=fmt(col("bare_cps")), target="as the server sends", met=f"{ratio:.0%} of bare"),
        Figure.of("  characters/s leaving the server, same request (relay)", col("relay_cps"),
                  bare=fmt(col("bare_cps"))),
        Figure("  screen / relay (no throttling)", f"{kept:.0%}", f"lowest {min(col('kept')):.0%}",
               target=f">= {UNTHROTTLED:.0%}", met=unthrottled),
        *([Figure.of("browser, thinking model: first thinking text leaves the server → on screen, ms", thoughts,
                     target="p50 <= 100", met=thought_met)] if thoughts else []),
    ]  # fmt: skip
    flags = " --quick" if quick else ""
    markdown = (
        f"## In the browser (`python -m bench.browser{flags}`)\n\n"
        f"Headless Chromium, `streamlit run app.py`, built-in SmolLM2-135M behind a recording relay, bare "
        f"reference: the same request replayed on a twin server (for the thinking rows: the built-in model "
        f"made to think, `--thinking split`, and its twin). 10,000 memories stored, a new conversation, "
        f"{len(results)} messages (after one warm-up), max_tokens {MAX_TOKENS}, temperature 0; ms, p50 / p95.\n\n"
        + table(["figure 2", "app p50 / p95", "bare p50 / p95", "target met"], rows)
        + f"\n\nFigure 5: start-up, `streamlit run` → chat input visible in Chromium (warm install, {starts} starts "
        "each after one unmeasured start); ms, p50 / p95.\n\n"
        + table(
            [
                "store",
                "→ /_stcore/health ok",
                "→ chat input visible",
                "target",
                "→ conversation drawn (seen by Playwright)",
                "running app: page opened in a new tab → conversation drawn (seen by Playwright); in a new"
                " browser profile",
            ],
            startup_rows,
        )
        + "\n"
    )
    return Report(markdown, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 messages and 1 start of each kind")
    args = parser.parse_args()
    markdown = run(args.quick).markdown
    print(markdown)
    write_section("browser-quick" if args.quick else "browser", markdown)


if __name__ == "__main__":
    main()
