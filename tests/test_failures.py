"""Failures provoked for real: a model server killed mid-reply, a process SIGKILLed while
writing, a Chroma server that goes away and comes back, threads writing at once, odd Unicode,
and prompt assembly fuzzed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm import ContextTooLong, LLMError, ReplyStream, Sampling, assemble, make_client, reply_messages
from llm.local_server import MODEL_ALIAS, spawn
from memory import MemoryStore
from tests.fuzzing import fuzz
from tests.harness import free_port, new_app, texts, wait_until_ok

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def test_server_killed_mid_reply_keeps_the_partial_reply() -> None:
    server = spawn(port=free_port())
    try:
        parts = assemble("You are a storyteller.", [], [], "Tell me a very long story about the sea.", 3000)
        reply = ReplyStream(
            make_client(server.base_url, "none"), MODEL_ALIAS, reply_messages(parts), Sampling(0.0, 1.0, 2000)
        )
        received: list[str] = []
        with pytest.raises(LLMError):
            for piece in reply:
                received.append(piece.content)
                if len(received) == 5:
                    os.killpg(server.process.pid, signal.SIGKILL)
        assert len(received) >= 5 and "".join(received).strip()
    finally:
        server.stop()


def test_sigkill_while_writing_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    writer = textwrap.dedent(
        f"""
        from memory import MemoryStore
        store = MemoryStore.open(path={str(path)!r})
        for i in range(10_000):
            print(store.add_turn("mara", "c1", "user", f"message number {{i}}"), flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
    acknowledged = []
    for line in process.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 40:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    store = MemoryStore.open(path=str(path))
    stored = {m.id for m in store.transcript("mara", "c1")}
    assert set(acknowledged) <= stored
    assert store.recall("mara", "message number 17", k=1)  # the index opens and answers


class ChromaServer:
    """A `chroma run` that a test can stop and start again on the same port and folder."""

    def __init__(self, path: Path) -> None:
        chroma = Path(sys.executable).with_name("chroma")
        self.port = free_port()
        self.command = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until_ok(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)


@pytest.fixture
def chroma(tmp_path: Path):
    server = ChromaServer(tmp_path / "server")
    server.start()
    yield server
    server.stop()


def test_chroma_server_goes_away_and_comes_back(chroma: ChromaServer) -> None:
    store = MemoryStore.open(host="127.0.0.1", port=chroma.port)
    first = store.add_turn("mara", "c1", "user", "Before the outage", T0)
    chroma.stop()
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, it raises
        store.add_turn("mara", "c1", "user", "During the outage", T0 + timedelta(seconds=1))
    chroma.start()
    second = store.add_turn("mara", "c1", "user", "After the outage", T0 + timedelta(seconds=2))
    assert [m.id for m in store.transcript("mara", "c1")] == [first, second]
    assert store.recall("mara", "outage", k=2)


def test_the_app_says_the_store_is_gone_and_recovers(chroma: ChromaServer, app_env, monkeypatch) -> None:
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma.port))
    at = new_app()
    at.chat_input[0].set_value("Remember the lighthouse.").run()
    assert not at.exception
    chroma.stop()
    at.run()
    assert not at.exception
    assert any("The memory store does not answer" in e.value for e in at.error)
    chroma.start()
    at.button(key="store_retry").click().run()
    assert not at.exception and not at.error
    assert [texts(m)[0] for m in at.chat_message][1] == "Remember the lighthouse."


@pytest.mark.timeout(600)
def test_every_page_says_the_store_is_gone(chroma: ChromaServer, llm_server, page, tmp_path: Path) -> None:
    """In the browser, where every page runs inside app.py's frame and its store guard (AppTest
    runs a page on its own)."""
    from tests.harness import LOAD_TIMEOUT, running_app, wait_idle

    with running_app(tmp_path, llm_server.base_url, CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(chroma.port)) as app:
        page.goto(f"{app}/memories")
        page.get_by_text("memories stored").first.wait_for(timeout=LOAD_TIMEOUT)
        chroma.stop()
        for path in ("memories", "personas", "lorebooks", "you", ""):
            page.goto(f"{app}/{path}")
            wait_idle(page)
            assert not page.get_by_test_id("stException").count(), f"/{path}: a raw exception"
            if path in ("memories", "personas", ""):  # the pages that read the store as they open
                page.get_by_text("The memory store does not answer").wait_for(timeout=LOAD_TIMEOUT)
        chroma.start()
        page.goto(f"{app}/memories")
        page.get_by_text("memories stored").first.wait_for(timeout=LOAD_TIMEOUT)


def test_threads_writing_one_conversation_at_once(store: MemoryStore) -> None:
    def write(worker: int) -> None:
        for i in range(15):
            store.add_turn("mara", "c1", "user", f"worker {worker} line {i}", T0 + timedelta(seconds=worker * 100 + i))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    texts = [m.text for m in store.transcript("mara", "c1")]
    assert sorted(texts) == sorted(f"worker {w} line {i}" for w in range(4) for i in range(15))
    assert store.count("mara", text="worker 3") == 15


@pytest.mark.parametrize(
    "text",
    [
        "emoji 🎉👩‍👩‍👧 done",
        "RTL שלום עולם مرحبا",
        "combining e\u0301\u0302 a\u0308",
        "NUL \x00 inside",
        "<b>&amp;</b> {{user}}",
    ],
)
def test_unusual_unicode_round_trips(store: MemoryStore, text: str) -> None:
    memory_id = store.add_turn("mara", "c1", "user", text, T0)
    assert store.get([memory_id], "mara")[0].text == text
    assert store.transcript("mara", "c1")[0].text == text


def test_lone_surrogates_are_replaced_not_refused(store: MemoryStore) -> None:
    memory_id = store.add_turn("mara", "c1", "user", "broken \ud83d client", T0)
    assert store.get([memory_id], "mara")[0].text == "broken \ufffd client"


@fuzz(200, deadline=None)
@given(
    persona=st.text(max_size=300),
    memories=st.lists(st.text(max_size=200), max_size=8),
    history=st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.text(max_size=200)), max_size=12),
    message=st.text(min_size=1, max_size=300),
    budget=st.integers(min_value=0, max_value=2000),
)
def test_assembly_never_exceeds_the_budget_or_cuts_the_essentials(persona, memories, history, message, budget) -> None:
    try:
        parts = assemble(persona, memories, history, message, budget)
    except ContextTooLong:
        return
    assert parts.persona == persona and parts.message == message
    assert parts.tokens <= budget
    assert parts.memories == memories[: len(parts.memories)]  # the best ones are kept
    kept = [m.content for m in parts.history]
    assert kept == [text for _, text in history][len(history) - len(kept) :]  # the newest ones are kept


def test_editing_memories_while_turns_are_written(store: MemoryStore) -> None:
    """The memories page editing while a reply is stored: both land, nothing is lost."""
    edited = [store.add_turn("mara", "old", "user", f"Old fact {i}", T0 + timedelta(seconds=i)) for i in range(10)]

    def write() -> None:
        for i in range(20):
            store.add_turn("mara", "c1", "assistant", f"Streaming reply {i}", T0 + timedelta(hours=1, seconds=i))

    def edit() -> None:
        for i, memory_id in enumerate(edited):
            store.update(memory_id, text=f"Edited fact {i}", pinned=i % 2 == 0)

    threads = [threading.Thread(target=write), threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.transcript("mara", "c1")) == 20
    assert [m.text for m in store.transcript("mara", "old")] == [f"Edited fact {i}" for i in range(10)]
    assert [m.pinned for m in store.transcript("mara", "old")] == [i % 2 == 0 for i in range(10)]
    assert store.count("mara", text="Edited fact") == 10 and store.count("mara", text="Old fact") == 0
