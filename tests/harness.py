"""What the tests and the benchmarks share: free ports, starting the app and stopping process
groups, Chromium's flags, finding and waiting for things on the app's pages. The tests' fixtures
(servers, stores, the browser, a page) are in conftest.py; bench/ imports this module too."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPLY_TIMEOUT = 180_000  # ms: a 2-core machine running other things: SmolLM2 can take a while
LOAD_TIMEOUT = 90_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ok(url: str, process: subprocess.Popen | None = None, timeout: float = 60, poll: float = 0.2) -> None:
    """Poll ``url`` until it answers 200; fail (the test) if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll)
    pytest.fail(f"{url} did not answer within {timeout} s")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class App:
    """``streamlit run app.py`` in a process group of its own."""

    process: subprocess.Popen
    url: str
    started: float  # time.time() when it was started (benchmarks time the start-up from it)

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_until_ok(f"{self.url}/_stcore/health", self.process, timeout, poll=0.02)

    def stop(self) -> None:
        stop_group(self.process)


def start_app(
    workdir: Path, llm_url: str, chroma: Path | None = None, *, script: Path = ROOT / "app.py", **settings: str
) -> App:
    """Start the app on a free port with its state in ``workdir`` (its Chroma store in ``chroma``,
    default ``workdir/chroma``) and ``settings`` as environment variables (``LLM_MAX_TOKENS="200"``).
    ``script``: another Streamlit script instead (the benchmarks' bare page)."""
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(workdir),
        "LLM_BASE_URL": llm_url,
        "LLM_BUILTIN_FALLBACK": "false",
        "LLM_TEMPERATURE": "0",
        "LLM_MAX_TOKENS": "64",  # short replies: the tests are about what happens to them, not their length
        "CHROMA_PATH": str(chroma or workdir / "chroma"),
        "PERSONAS_PATH": str(workdir / "personas"),
        "USER_PERSONAS_PATH": str(workdir / "user-personas"),
        "ANONYMIZED_TELEMETRY": "False",
        **settings,
    }
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return App(process, f"http://127.0.0.1:{port}", started)


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def running_app(workdir: Path, llm_url: str, **settings: str) -> Iterator[str]:
    """The app (see :func:`start_app`), healthy; yields its URL and stops it afterwards."""
    app = start_app(workdir, llm_url, **settings)
    try:
        app.wait_healthy()
        yield app.url
    finally:
        app.stop()


# -- AppTest ------------------------------------------------------------------------------------

APP = str(ROOT / "app.py")


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["temperature"] = 0.0
    at.session_state["max_tokens"] = 32
    return at.run()


def open_menu(at: AppTest, memory_id: str) -> AppTest:
    """Open a stored message's menu, as a click on it does (AppTest has no popover to click):
    its Edit, Delete and Branch buttons are drawn only while it is open."""
    from ui.chat_view import menu_key

    at.session_state[menu_key(memory_id)] = True
    return at.run()


def shown(markdown: str) -> str:
    """What an element given ``ui.safe_text.plain`` text shows: its escapes and word joiners gone."""
    from ui.safe_text import WORD_JOINER

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


def texts(message) -> list[str]:
    return [m.value for m in message.markdown]


# -- the chat page -------------------------------------------------------------------------------


def send(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def new_conversation(page) -> None:
    """Start a new conversation: only the greeting is shown."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="New conversation").click()
    messages = page.get_by_test_id("stChatMessage")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length === 1", timeout=LOAD_TIMEOUT
    )
    assert messages.count() == 1


def wait_for_reply(page, count: int) -> None:
    """Wait until ``count`` messages are shown and the last one is a finished, stored reply."""
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= {count}",
        timeout=REPLY_TIMEOUT,
    )
    regenerate = page.get_by_role("button", name="Regenerate")
    regenerate.wait_for(timeout=REPLY_TIMEOUT)  # shown once the reply is stored and the page redrawn
    wait_idle(page)


def conversation_shown(page, timeout: float = 90_000) -> None:
    """Until the page shows the whole stored conversation: the chat input is drawn after it, and
    the run that drew them is over (counting messages before that may count part of them)."""
    page.get_by_test_id("stChatMessage").first.wait_for(timeout=timeout)
    page.get_by_test_id("stChatInputTextArea").wait_for(timeout=timeout)
    wait_idle(page)


def wait_idle(page) -> None:
    """Until the script run is over (Streamlit shows a "Stop" status widget while it runs)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=REPLY_TIMEOUT)


def reply_text(message) -> str:
    return message.get_by_test_id("stMarkdownContainer").first.inner_text().strip()


def choose(page, selectbox, text: str, *, last: bool = False) -> None:
    """Pick the option containing ``text`` in a select box (opening it again if a rerun closed it)."""
    for _ in range(5):
        selectbox.get_by_role("button", name="Open").click()
        options = page.get_by_role("option").filter(has_text=text)
        try:
            options.first.wait_for(timeout=5_000)
        except PlaywrightTimeout:
            continue
        (options.last if last else options.first).click()
        return
    pytest.fail(f"no option {text!r}")


def open_popover(page, popover):
    """Open ``popover`` (a ``stPopover`` locator) and return its body; clicked again if a rerun
    that was still under way closed it (a page redrawn after a reply does)."""
    body = page.get_by_test_id("stPopoverBody")
    for _ in range(5):
        popover.get_by_role("button").first.click()
        try:
            body.first.wait_for(state="visible", timeout=5_000)
            return body
        except PlaywrightTimeout:
            continue
    pytest.fail("the popover did not open")


def server_busy(base_url: str) -> bool:
    """Whether a llama.cpp server (the built-in one) is generating: any slot processing."""
    return any(slot.get("is_processing") for slot in httpx.get(base_url.removesuffix("/v1") + "/slots").json())


def server_stops_generating(base_url: str, within: float = 10) -> bool:
    """Whether the server is done generating within ``within`` seconds: it notices a closed
    request when it next writes to it, a moment later (a loaded machine can take seconds)."""
    deadline = time.monotonic() + within
    while server_busy(base_url):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
