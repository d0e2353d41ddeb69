"""The mirrors saved on disk (memory.snapshot): a restarted store reads conversations before it
opens Chroma, and only while nothing has written the store since; real embedded Chroma."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromadb
import pytest

import memory.mirrors
from memory import MemoryStore
from memory.snapshot import FOLDER, MANIFEST, Snapshot

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BACKGROUND = "Mara was born in Port Ash. Her brass hand was made by Tobin Reed, a clockmaker."
ROOT = Path(__file__).resolve().parents[1]


def _filled(path: Path) -> MemoryStore:
    store = MemoryStore.open(path=str(path))
    store.add_background("mara", BACKGROUND)
    for n, text in enumerate(["Hello captain", "Welcome aboard", "Where are we headed?"]):
        store.add_turn("mara", "c1", "user" if n % 2 == 0 else "assistant", text, T0 + timedelta(seconds=n))
    store.add_turn("mara", "c2", "user", "Another chat", T0 + timedelta(days=1))
    store.rename_conversation("mara", "c1", "The first voyage")
    store.set_conversation_settings("mara", "c1", note="Speak like a sailor")
    return store


def _saved(path: Path) -> MemoryStore:
    """A store as the app leaves it: filled, warmed up, its mirrors saved."""
    store = _filled(path)
    store.warm_up()
    assert store.save_snapshot()
    return store


def _reads(store: MemoryStore) -> tuple[object, ...]:
    return (
        [(m.id, m.text, m.role, m.created_at) for m in store.transcript("mara", "c1")],
        [(c.id, c.title, c.turns, c.updated_at) for c in store.conversations("mara")],
        store.conversation_settings("mara"),
        store.conversation_titles("mara"),
        [m.id for m in store.list("mara", kind="background")],
    )


def test_a_restarted_store_reads_conversations_without_opening_chroma(tmp_path: Path) -> None:
    first = _saved(tmp_path)
    expected = _reads(first)
    again = MemoryStore.open(path=str(tmp_path))
    assert _reads(again) == expected
    assert again.add_background("mara", BACKGROUND)  # stored already: the saved mirror says so
    assert not again._collections.opened  # nothing above needed Chroma
    assert again.recall("mara", "Who made her hand?", k=1, now=T0)[0].text.endswith("a clockmaker.")
    assert again._collections.opened


def test_a_restarted_app_process_reads_the_conversation_before_importing_chroma(tmp_path: Path) -> None:
    _saved(tmp_path)
    script = textwrap.dedent(f"""
        import sys
        from memory import MemoryStore
        store = MemoryStore.open(path={str(tmp_path)!r})
        print([m.text for m in store.transcript("mara", "c1")], [c.title for c in store.conversations("mara")])
        print("chromadb" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    turns, imported = out.stdout.strip().splitlines()
    expected = (["Hello captain", "Welcome aboard", "Where are we headed?"], ["Another chat", "The first voyage"])
    assert turns == " ".join(map(str, expected))
    assert imported == "False"


def test_a_store_written_since_the_snapshot_is_read_from_chroma(tmp_path: Path) -> None:
    _saved(tmp_path)
    # another process's writes (a script, another app instance): a store on its own client, no snapshot
    other = MemoryStore(chromadb.PersistentClient(path=str(tmp_path)))
    other.add_turn("mara", "c1", "user", "Written elsewhere", T0 + timedelta(hours=1))
    again = MemoryStore.open(path=str(tmp_path))
    assert [m.text for m in again.transcript("mara", "c1")][-1] == "Written elsewhere"
    assert again._collections.opened


def test_the_warm_up_checks_a_saved_mirror_against_chroma(tmp_path: Path) -> None:
    _saved(tmp_path)
    # a saved mirror that lacks a turn Chroma has, under a stamp that still matches (as if saved
    # between a write and its stamp): trusted for the first reads only
    saved = next((tmp_path / FOLDER / "built-in").glob("*.sqlite3"))
    with sqlite3.connect(saved) as db:
        db.execute("DELETE FROM docs WHERE text = 'Where are we headed?'")
    again = MemoryStore.open(path=str(tmp_path))
    assert len(again.transcript("mara", "c1")) == 2
    again.warm_up()
    assert [m.text for m in again.transcript("mara", "c1")][-1] == "Where are we headed?"


def test_a_damaged_snapshot_only_means_reading_chroma(tmp_path: Path) -> None:
    first = _saved(tmp_path)
    expected = _reads(first)
    for saved in (tmp_path / FOLDER / "built-in").glob("*.sqlite3"):
        saved.write_bytes(b"not a database")
    assert _reads(MemoryStore.open(path=str(tmp_path))) == expected
    (tmp_path / FOLDER / "built-in" / MANIFEST).write_text("{", encoding="utf-8")
    assert _reads(MemoryStore.open(path=str(tmp_path))) == expected


def test_writes_save_the_snapshot_again_a_moment_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory.mirrors, "SNAPSHOT_DELAY", 0.05)
    store = _filled(tmp_path)
    store.warm_up()
    store.add_turn("mara", "c1", "user", "One more thing", T0 + timedelta(minutes=5))
    snapshot = Snapshot(tmp_path)
    deadline = time.monotonic() + 30
    while not snapshot.load() and time.monotonic() < deadline:  # saved once the write is stamped
        time.sleep(0.05)
    again = MemoryStore.open(path=str(tmp_path))
    assert [m.text for m in again.transcript("mara", "c1")][-1] == "One more thing"
    assert not again._collections.opened
    manifest = json.loads((tmp_path / FOLDER / "built-in" / MANIFEST).read_text(encoding="utf-8"))
    assert json.loads(manifest["personas"]["mara"]["metadata"]["settings"]) == {"c1": {"note": "Speak like a sailor"}}


def test_a_server_store_keeps_no_snapshot(chroma_server: tuple[str, int], tmp_path: Path) -> None:
    host, port = chroma_server
    store = MemoryStore.open(path=str(tmp_path), host=host, port=port)
    store.add_turn("snapshot-server", "c1", "user", "Hello", T0)
    store.warm_up()
    assert not store.save_snapshot() and not (tmp_path / FOLDER).exists()


def test_a_fresh_process_recalls_at_once(tmp_path: Path) -> None:
    """The first recall loads Chroma (opening the collection) and the embedding model (the query
    is embedded on another thread) at the same moment: two threads importing Chroma at once used
    to fail with "partially initialized module 'chromadb.api'"."""
    _saved(tmp_path)
    script = textwrap.dedent(f"""
        from datetime import datetime, UTC
        from memory import MemoryStore
        store = MemoryStore.open(path={str(tmp_path)!r})
        print(store.recall("mara", "Who made her hand?", k=1, now=datetime(2026, 3, 2, tzinfo=UTC))[0].text)
    """)
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().endswith("a clockmaker.")


def test_settings_changed_right_after_a_restart_are_kept_and_read_back(tmp_path: Path) -> None:
    _saved(tmp_path)
    again = MemoryStore.open(path=str(tmp_path))
    assert again.conversation_settings("mara")["c1"] == {"note": "Speak like a sailor"}  # as saved
    again.set_conversation_settings("mara", "c1", parent="c0")
    again.set_conversation_settings("mara", "c2", note="Whisper")
    again.rename_conversation("mara", "c2", "The second voyage")
    expected = {"c1": {"note": "Speak like a sailor", "parent": "c0"}, "c2": {"note": "Whisper"}}
    assert again.conversation_settings("mara") == expected
    assert again.conversation_titles("mara") == {"c1": "The first voyage", "c2": "The second voyage"}
    fresh = MemoryStore(chromadb.PersistentClient(path=str(tmp_path)))  # what Chroma holds
    assert fresh.conversation_settings("mara") == expected
