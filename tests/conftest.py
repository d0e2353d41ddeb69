"""Shared fixtures: real servers on loopback (free ports, own process groups), state in temp dirs.

Under CI=true a skipped test counts as a failure: every real part must be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import streamlit as st

from llm.local_server import LocalServerProcess, spawn
from memory import MemoryStore
from tests.harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, free_port, stop_group, wait_until_ok

#: Fixtures that start real servers, a browser or the whole app: the tests using them are the slow
#: tier (`make test`); the others, pure logic and the embedded store, are `make test-fast`.
SLOW_FIXTURES = frozenset({"llm_server", "thinking_servers", "chroma_server", "browser", "page", "app_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        server_store = params is not None and params.params.get("store") == "server"
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or server_store:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which requires every real part: {report.longrepr}"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's .env or writes to their home or data/."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    for name in ("LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL", "CHROMA_PATH", "CHROMA_HOST", "CHROMA_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LocalServerProcess]:
    """The built-in SmolLM2-135M server, started once for the whole run."""
    server = spawn(port=free_port())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real `chroma run` server on a free loopback port, for client/server mode."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/api/v2/heartbeat", process)
        yield "127.0.0.1", port
    finally:
        stop_group(process)


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryStore:
    """Every store test runs on the embedded store and on a `chroma run` server."""
    if request.param == "embedded":
        return MemoryStore.open(path=str(tmp_path / "chroma"))
    host, port = request.getfixturevalue("chroma_server")
    store = MemoryStore.open(host=host, port=port)
    for persona_id in store.persona_ids():  # a clean server for each test
        store.delete_persona(persona_id)
    return store


@pytest.fixture(scope="session")
def thinking_servers() -> Iterator[dict[str, LocalServerProcess]]:
    """The built-in server made to answer like a reasoning model, one per way servers send the
    thinking (``split``: ``delta.reasoning_content``; ``inline``: ``<think>…</think>`` in the
    content; ``open``: only ``</think>``); started on first use."""
    started: dict[str, LocalServerProcess] = {}

    class Servers(dict):
        def __missing__(self, mode: str) -> LocalServerProcess:
            started[mode] = spawn(port=free_port(), thinking=mode)
            self[mode] = started[mode]
            return started[mode]

    yield Servers()
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's), driven by Playwright; one for the whole run."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A desktop-sized page; its last screenshot and HTML are kept in test-artifacts/ (to see a failure)."""
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.name.removeprefix("test_")
    with suppress(PlaywrightError):  # a crashed page has nothing to show
        page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)
        (ARTIFACTS / f"journey-{name}.html").write_text(page.content(), encoding="utf-8")
    context.close()


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's; data/ goes here
    monkeypatch.setenv("LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("LLM_BUILTIN_FALLBACK", "false")
    monkeypatch.setenv("LLM_BUILTIN_PORT", str(free_port()))
    monkeypatch.setenv("CHROMA_PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("PERSONAS_PATH", str(tmp_path / "personas"))
    monkeypatch.setenv("USER_PERSONAS_PATH", str(tmp_path / "user-personas"))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session")
def embedding_server() -> Iterator[LocalServerProcess]:
    """The built-in server answering ``/v1/embeddings`` (SmolLM2 as a weak, real embedder)."""
    server = spawn(port=free_port(), embeddings=True)
    yield server
    server.stop()
