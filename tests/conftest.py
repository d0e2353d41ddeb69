"""Shared fixtures: real servers on loopback (free ports, own process groups), state in temp dirs.

Under CI=true a skipped test counts as a failure: every real part must be there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore.open(path=str(tmp_path / "chroma"))
