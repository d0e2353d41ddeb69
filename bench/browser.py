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
to the bare stream's.

Figure 5: start-up, from starting ``streamlit run`` to the chat input being visible in Chromium
(launched beforehand), on a warm install (one unmeasured start first), with an empty store (first
run: the sample personas are seeded, the background is embedded) and with the cached
10,000-memory store of :mod:`bench.path`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import table, write_section
from bench.path import MESSAGES, ROOT, fmt, free_port, store_copy

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
MAX_TOKENS = 96

OBSERVER = """() => {
    window.__rounds = [];
    document.addEventListener('keydown', (e) => {
        if (e.key !== 'Enter') return;
        const n = document.querySelectorAll('[data-testid="stChatMessage"]').length;
        window.__rounds.push({enter: performance.now(), origin: performance.timeOrigin, target: n + 1,
                              first: null, samples: []});
    }, true);
    new MutationObserver(() => {
        const round = window.__rounds[window.__rounds.length - 1];
        if (!round) return;
        const message = document.querySelectorAll('[data-testid="stChatMessage"]')[round.target];
        if (!message) return;
        const box = message.querySelector('[data-testid="stMarkdownContainer"]');
        const length = box ? box.innerText.trim().length : 0;
        if (!length) return;
        const now = performance.now();
        if (round.first === null) round.first = now;
        const last = round.samples[round.samples.length - 1];
        if (!last || last[1] !== length) round.samples.push([now, length]);
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


# -- a recording relay in front of the app's model server -----------------------------------------


@dataclass
class Request:
    started: float  # time.time() of its first byte
    path: str
    body: bytes
    first_content: float | None = None  # time.time() of the first response chunk with text


@dataclass
class Relay:
    """A TCP relay on a free port that records the HTTP requests passing through it."""

    upstream: tuple[str, int]
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def start(self) -> Relay:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending: list[Request] = []
            threading.Thread(target=self._up, args=(client, server, pending), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, pending), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, pending: list[Request]) -> None:
        buffer, started = b"", 0.0
        while data := _recv(client):
            if not buffer:
                started = time.time()
            server.sendall(data)
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                               if k.strip().lower() == "content-length"), 0)  # fmt: skip
                if len(rest) < length:
                    break
                request = Request(started, lines[0].split(" ")[1], rest[:length])
                self.requests.append(request)
                pending.append(request)
                buffer, started = rest[length:], time.time()
        server.close()

    def _down(self, server: socket.socket, client: socket.socket, pending: list[Request]) -> None:
        while data := _recv(server):
            now = time.time()
            client.sendall(data)
            request = pending[-1] if pending else None
            if request and request.first_content is None and _has_text(data):
                request.first_content = now
        client.close()

    def stop(self) -> None:
        self._listener.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _has_text(data: bytes) -> bool:
    for line in data.split(b"\n"):
        if line.startswith(b"data: {"):
            try:
                choices = json.loads(line[6:]).get("choices") or [{}]
            except ValueError:
                continue
            if (choices[0].get("delta") or {}).get("content"):
                return True
    return False


def replay(base_url: str, request: Request) -> tuple[float, float]:
    """(time to first text ms, characters/s after it) of ``request`` sent as is to ``base_url``."""
    url = base_url.removesuffix("/v1") + request.path
    started = time.perf_counter()
    first = last = None
    chars = 0
    headers = {"content-type": "application/json", "authorization": "Bearer lm-studio"}
    with httpx.stream("POST", url, content=request.body, headers=headers, timeout=120) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            text = (choices[0].get("delta") or {}).get("content") or ""
            if text:
                now = time.perf_counter()
                first = first or now
                last = now
                chars += len(text)
    if first is None:
        return float("nan"), 0.0
    return (first - started) * 1000, (chars / (last - first)) if last and last > first else 0.0


# -- the app --------------------------------------------------------------------------------------


def _start_app(workdir: Path, base_url: str, chroma: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(workdir),
        "LLM_BASE_URL": base_url,
        "LLM_BUILTIN_FALLBACK": "false",
        "LLM_TEMPERATURE": "0",
        "LLM_MAX_TOKENS": str(MAX_TOKENS),
        "CHROMA_PATH": str(chroma),
        "PERSONAS_PATH": str(workdir / "personas"),
        "ANONYMIZED_TELEMETRY": "False",
    }
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.fileWatcherType", "none"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}", started


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("streamlit exited")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise TimeoutError("streamlit did not become healthy")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _startup(browser, workdir: Path, base_url: str, chroma: Path) -> tuple[float, float]:
    """(seconds to healthy, seconds to the chat input visible) of one ``streamlit run``."""
    workdir.mkdir(parents=True, exist_ok=True)
    process, url, started = _start_app(workdir, base_url, chroma)
    try:
        _wait_healthy(url, process)
        healthy = time.time() - started
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=120_000)
        usable = time.time() - started
        page.close()
        return healthy, usable
    finally:
        _stop(process)


def run(quick: bool = False) -> str:
    from playwright.sync_api import sync_playwright

    from llm.local_server import spawn

    rounds = 3 if quick else 20
    starts = 1 if quick else 5
    servers = []
    relay = None
    process = None
    startup_rows: list[list[str]] = []
    try:
        for _ in range(2):
            servers.append(spawn(port=free_port()))
        app_server, bare_server = servers
        host, port = app_server.base_url.removeprefix("http://").removesuffix("/v1").split(":")
        relay = Relay((host, int(port))).start()
        relay_url = f"http://127.0.0.1:{relay.port}/v1"
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
            tmp_path = Path(tmp)
            big = store_copy(10_000, tmp_path / "big")
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            # figure 5: start-up
            for label, chroma in (("empty store (first run: seeds, embeds the background)", None),
                                  ("10,000 memories", big)):  # fmt: skip
                _startup(browser, tmp_path / "warm", app_server.base_url, tmp_path / "warm" / "chroma")  # warm-up
                healthy, usable = [], []
                for n in range(starts):
                    home = tmp_path / f"start-{len(startup_rows)}-{n}"
                    home.mkdir()
                    h, u = _startup(browser, home, app_server.base_url, chroma or home / "chroma")
                    healthy.append(h * 1000)
                    usable.append(u * 1000)
                    print(f"  start-up, {label}: healthy {h:.2f} s, chat input {u:.2f} s", file=sys.stderr)
                met = "yes" if statistics.median(usable) <= 3000 else "**no**"
                startup_rows.append([label, fmt(healthy), fmt(usable), f"<= 3 s: {met}"])

            # figure 2: Enter → first text, against the bare server
            home = tmp_path / "chat"
            home.mkdir()
            process, url, _ = _start_app(home, relay_url, big)
            _wait_healthy(url, process)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.get_by_test_id("stChatInputTextArea").wait_for(timeout=120_000)
            page.get_by_role("button", name="New conversation").click()
            page.get_by_test_id("stChatMessage").first.wait_for(timeout=60_000)
            time.sleep(1)
            page.evaluate(OBSERVER)
            box = page.get_by_test_id("stChatInputTextArea")
            results = []
            for n in range(rounds + 1):  # the first round warms up the reply path
                before = len(relay.requests)
                box.fill(f"{MESSAGES[n % len(MESSAGES)]} ({n})")
                box.press("Enter")
                target = page.evaluate("window.__rounds[window.__rounds.length - 1].target")
                page.get_by_test_id("stChatMessage").nth(target).get_by_text("Memories used").wait_for(timeout=120_000)
                time.sleep(0.3)
                chats = [r for r in relay.requests[before:] if r.path.endswith("/chat/completions")]
                state = page.evaluate("window.__rounds[window.__rounds.length - 1]")
                bare_ttft, bare_cps = replay(bare_server.base_url, chats[-1])
                if n == 0 or state["first"] is None:
                    continue
                enter = state["origin"] + state["enter"]  # epoch ms
                first = state["origin"] + state["first"]
                samples = state["samples"]
                span = (samples[-1][0] - samples[0][0]) / 1000 if len(samples) > 1 else 0
                page_cps = (samples[-1][1] - samples[0][1]) / span if span else 0.0
                request, token = chats[-1].started * 1000, (chats[-1].first_content or 0) * 1000
                results.append({
                    "screen": first - enter, "bare": bare_ttft, "diff": first - enter - bare_ttft,
                    "before_request": request - enter, "server": token - request, "to_screen": first - token,
                    "page_cps": page_cps, "bare_cps": bare_cps,
                })  # fmt: skip
                print(f"  round {n}: Enter → text {first - enter:.0f} ms (app before the request "
                      f"{request - enter:.0f}, server {token - request:.0f}, to screen {first - token:.0f}), "
                      f"bare {bare_ttft:.0f} ms", file=sys.stderr)  # fmt: skip
            page.close()
            browser.close()
    finally:
        if process is not None:
            _stop(process)
        if relay is not None:
            relay.stop()
        for server in servers:
            server.stop()

    def col(key: str) -> list[float]:
        return [r[key] for r in results]

    met = "yes" if statistics.median(col("diff")) <= 250 else "**no**"
    ratio = statistics.median(col("page_cps")) / max(1e-9, statistics.median(col("bare_cps")))
    rows = [
        ["Enter → first reply text on screen", fmt(col("screen")), fmt(col("bare")), "–"],
        ["  of which: Enter → the app sends the request (rerun, store, recall, assembly)",
         fmt(col("before_request")), "–", "–"],
        ["  of which: request → first token leaves the server (through the relay)", fmt(col("server")),
         fmt(col("bare")), "–"],
        ["  of which: first token → text on screen (websocket, React)", fmt(col("to_screen")), "–", "–"],
        ["**screen − bare** (target p50 <= 250 ms)", fmt(col("diff")), "0", met],
        ["streaming: characters/s on screen vs bare stream", fmt(col("page_cps")), fmt(col("bare_cps")),
         f"{ratio:.0%} of bare (p50)"],
    ]  # fmt: skip
    flags = " --quick" if quick else ""
    return (
        f"## In the browser (`python -m bench.browser{flags}`)\n\n"
        f"Headless Chromium, `streamlit run app.py`, built-in SmolLM2-135M behind a recording relay, bare "
        f"reference: the same request replayed on a twin server. 10,000 memories stored, a new conversation, "
        f"{len(results)} messages (after one warm-up), max_tokens {MAX_TOKENS}, temperature 0; ms, p50 / p95.\n\n"
        + table(["figure 2", "app p50 / p95", "bare p50 / p95", "target met"], rows)
        + f"\n\nFigure 5: start-up, `streamlit run` → chat input visible in Chromium (warm install, {starts} starts "
        "each after one unmeasured start); ms, p50 / p95.\n\n"
        + table(["store", "→ /_stcore/health ok", "→ chat input visible", "target"], startup_rows)
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 messages and 1 start of each kind")
    args = parser.parse_args()
    markdown = run(args.quick)
    print(markdown)
    write_section("browser-quick" if args.quick else "browser", markdown)


if __name__ == "__main__":
    main()
