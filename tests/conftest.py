"""Shared fixtures: real servers on loopback (free ports, own process groups), state in temp dirs.

Under CI=true a skipped test counts as a failure: every real part must be there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm.local_server import LocalServerProcess, spawn
from memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def wait_until_ok(url: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200; fail the test if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s")


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
