"""MemoryStore against real embedded Chroma in a temp dir."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from memory import MemoryStore
from memory.collections import collection_name

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BACKGROUND = """Mara was born in Port Ash, a mining town under the floating island of Keld.

She lost her left hand to a snapped mooring cable; her brass hand was made by Tobin Reed, a clockmaker.

She drinks black tea with salt and is afraid of deep water."""


def test_background_is_chunked_and_idempotent(store: MemoryStore) -> None:
    ids = store.add_background("mara", BACKGROUND, source="card")
    assert ids and store.count("mara") == len(set(ids))
    assert store.add_background("mara", BACKGROUND, source="card") == ids
    assert store.count("mara") == len(set(ids))
    stored = store.list("mara", kind="background")
    assert {m.source for m in stored} == {"card"}
    assert "Tobin Reed" in " ".join(m.text for m in stored)


def test_turns_transcript_in_order(store: MemoryStore) -> None:
    ids = [
        store.add_turn("mara", "c1", "user", "Hello captain", T0),
        store.add_turn("mara", "c1", "assistant", "Welcome aboard", T0 + timedelta(seconds=1)),
        store.add_turn("mara", "c2", "user", "Another chat", T0 + timedelta(seconds=2)),
        store.add_turn("mara", "c1", "user", "Where are we headed?", T0 + timedelta(seconds=3)),
    ]
    transcript = store.transcript("mara", "c1")
    assert [m.id for m in transcript] == [ids[0], ids[1], ids[3]]
    assert [m.role for m in transcript] == ["user", "assistant", "user"]
    assert all(m.kind == "turn" and m.conversation_id == "c1" and m.persona_id == "mara" for m in transcript)
    assert transcript[0].created_at == T0
    assert store.add_turn("mara", "c1", "user", "Hello captain", T0) == ids[0]  # same turn, stored once
    assert len(store.transcript("mara", "c1")) == 3
    conversations = store.conversations("mara")
    assert [c.id for c in conversations] == ["c1", "c2"]
    assert conversations[0].title == "Hello captain" and conversations[0].turns == 3


def test_recall_finds_the_relevant_memory_best_first(store: MemoryStore) -> None:
    store.add_background("mara", BACKGROUND)
    store.add_turn("mara", "c1", "user", "My sister Hana is a pastry chef in Lyon.", T0)
    store.add_turn("mara", "c1", "user", "I think the engine sounds odd today.", T0)
    recalled = store.recall("mara", "Who made the captain's prosthetic hand?", k=2, now=T0)
    assert len(recalled) == 2
    assert "Tobin Reed" in recalled[0].text
    assert recalled[0].score >= recalled[1].score
    family = store.recall("mara", "what does my sister do for a living?", k=1, now=T0)
    assert "pastry chef" in family[0].text


def test_newer_fact_wins_over_older(store: MemoryStore) -> None:
    store.add_turn("mara", "c1", "user", "I live in Boston.", T0)
    store.add_turn("mara", "c2", "user", "I moved to Denver last month.", T0 + timedelta(days=60))
    recalled = store.recall("mara", "Where do I live now?", k=2, now=T0 + timedelta(days=61))
    assert "Denver" in recalled[0].text


def test_recall_scoping_and_exclusion(store: MemoryStore) -> None:
    store.add_background("mara", BACKGROUND)
    keep = store.add_turn("mara", "c1", "user", "I collect old maps of the sky.", T0)
    other = store.add_turn("mara", "c2", "user", "I collect old maps of the sea.", T0)
    in_c1 = store.recall("mara", "maps", k=10, conversation_id="c1", now=T0)
    assert keep in {m.id for m in in_c1} and other not in {m.id for m in in_c1}
    assert any(m.kind == "background" for m in in_c1)
    excluded = store.recall("mara", "maps", k=10, exclude={keep}, now=T0)
    assert keep not in {m.id for m in excluded}
    assert store.recall("mara", "maps", k=0) == [] and store.recall("nobody", "maps") == []


def test_pinned_memory_ranks_higher(store: MemoryStore) -> None:
    a = store.add_turn("mara", "c1", "user", "My favourite colour is green.", T0)
    b = store.add_turn("mara", "c1", "user", "My favourite colour used to be blue.", T0)
    store.update(b, pinned=True)
    assert store.recall("mara", "favourite colour", k=2, now=T0)[0].id == b
    store.update(b, pinned=False)
    store.update(a, pinned=True)
    assert store.recall("mara", "favourite colour", k=2, now=T0)[0].id == a


def test_list_filters_newest_first(store: MemoryStore) -> None:
    store.add_background("mara", BACKGROUND)
    for i in range(5):
        store.add_turn(
            "mara", "c1" if i % 2 else "c2", "user", f"Message number {i} about Tea", T0 + timedelta(minutes=i)
        )
    store.add_turn("elias", "c9", "user", "Orchids need tea? No.", T0)
    turns = store.list("mara", kind="turn")
    assert [m.text for m in turns][:2] == ["Message number 4 about Tea", "Message number 3 about Tea"]
    assert [m.text for m in store.list("mara", kind="turn", limit=2, offset=1)] == [
        "Message number 3 about Tea",
        "Message number 2 about Tea",
    ]
    assert {m.conversation_id for m in store.list("mara", conversation_id="c1")} == {"c1"}
    assert len(store.list("mara", text="TEA")) == 6  # five turns + the background chunk with "tea"
    assert {m.persona_id for m in store.list(text="tea")} == {"mara", "elias"}
    assert store.list("mara", text="a.b*c") == []  # regex characters are literal


def test_update_and_delete(store: MemoryStore) -> None:
    memory_id = store.add_turn("mara", "c1", "user", "I live in Boston.", T0)
    updated = store.update(memory_id, text="I live in Denver.")
    assert updated.text == "I live in Denver." and updated.created_at == T0
    assert store.recall("mara", "Denver", k=1, now=T0)[0].id == memory_id
    assert store.update(memory_id, pinned=True).pinned
    store.delete(memory_id)
    assert store.list("mara") == []
    with pytest.raises(KeyError):
        store.delete(memory_id)


def test_delete_persona_forgets_everything(store: MemoryStore) -> None:
    store.add_background("mara", BACKGROUND)
    store.add_turn("elias", "c1", "user", "Hello", T0)
    store.delete_persona("mara")
    assert store.persona_ids() == ["elias"]
    store.delete_persona("mara")  # nothing left: no error


def test_unicode_persona_ids_make_valid_collection_names(store: MemoryStore) -> None:
    for persona_id in ["Zoë the Bard", "名前", "a", "x" * 600, "../../etc"]:
        name = collection_name(persona_id)
        assert 3 <= len(name) <= 512 and name.replace("-", "").isalnum()
        store.add_turn(persona_id, "c", "user", "hi", T0)
        assert store.transcript(persona_id, "c")[0].persona_id == persona_id


def test_recalled_pairs_lore_and_interrupted_flag_round_trip(store: MemoryStore) -> None:
    memory_id = store.add_turn("mara", "c1", "assistant", "Partial", T0, recalled=[("bg-1", 0.51234)],
                               lore=["Maelstrom Gate", "Kestrel"], interrupted=True)  # fmt: skip
    (turn,) = store.get([memory_id], "mara")
    assert turn.recalled == [("bg-1", 0.5123)] and turn.lore == ["Maelstrom Gate", "Kestrel"] and turn.interrupted


def test_persists_across_processes(tmp_path) -> None:
    path = tmp_path / "chroma"
    store = MemoryStore.open(path=str(path))
    store.add_background("mara", BACKGROUND)
    store.add_turn("mara", "c1", "user", "Remember the lighthouse at Cape Morrow.", T0)
    script = textwrap.dedent(
        f"""
        from memory import MemoryStore
        store = MemoryStore.open(path={str(path)!r})
        print(store.transcript("mara", "c1")[0].text)
        print(store.recall("mara", "which lighthouse?", k=1)[0].text)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.splitlines() == ["Remember the lighthouse at Cape Morrow."] * 2


def test_open_reads_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CHROMA_PATH", str(tmp_path / "from-env"))
    MemoryStore.open().add_turn("mara", "c1", "user", "hi", T0)
    assert (tmp_path / "from-env").is_dir()


def test_embeddings_never_touch_the_network(tmp_path, monkeypatch) -> None:
    """Embedding and recall work with every non-loopback connection refused."""
    real_connect = socket.socket.connect

    def loopback_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise OSError(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    from memory.embeddings import OfflineMiniLM

    store = MemoryStore.open(path=str(tmp_path / "offline"), embedding_function=OfflineMiniLM())
    store.add_background("mara", BACKGROUND)
    assert "salt" in store.recall("mara", "how does she take her tea?", k=1)[0].text


def test_rename_and_delete_a_conversation(store: MemoryStore) -> None:
    store.add_background("mara", BACKGROUND)
    store.add_turn("mara", "c1", "user", "Hello captain", T0)
    store.add_turn("mara", "c1", "assistant", "Welcome aboard", T0 + timedelta(seconds=1))
    store.add_turn("mara", "c2", "user", "Another chat about maps", T0 + timedelta(seconds=2))
    store.rename_conversation("mara", "c1", "  First   voyage ")
    assert {c.id: c.title for c in store.conversations("mara")} == {
        "c1": "First voyage",
        "c2": "Another chat about maps",
    }
    store.rename_conversation("mara", "c1", "")
    assert {c.id: c.title for c in store.conversations("mara")}["c1"] == "Hello captain"
    store.rename_conversation("mara", "c1", "Named again")
    assert store.delete_conversation("mara", "c1") == 2
    assert [c.id for c in store.conversations("mara")] == ["c2"]
    assert store.transcript("mara", "c1") == []
    assert all("Welcome aboard" not in m.text for m in store.recall("mara", "welcome aboard", k=10))
    assert store.list("mara", kind="background")  # the rest is untouched
    store.add_turn("mara", "c1", "user", "A new start", T0 + timedelta(days=1))
    assert {c.id: c.title for c in store.conversations("mara")}["c1"] == "A new start"  # the old title went too


def test_delete_many(store: MemoryStore) -> None:
    ids = [
        store.add_turn("mara", "c1", "user", f"Fact number {i} about ropes", T0 + timedelta(seconds=i))
        for i in range(4)
    ]
    store.delete_many("mara", [ids[0], ids[2], "not-stored"])
    assert [m.id for m in store.transcript("mara", "c1")] == [ids[1], ids[3]]
    assert {m.id for m in store.recall("mara", "ropes", k=10)} == {ids[1], ids[3]}


def test_list_by_dates_and_count_and_days(store: MemoryStore) -> None:
    for day in range(5):
        store.add_turn("mara", "c1", "user", f"Day {day}: the wind turned", T0 + timedelta(days=day))
    store.add_background("mara", BACKGROUND)
    since, until = T0 + timedelta(days=1), T0 + timedelta(days=3)
    assert [m.text[:5] for m in store.list("mara", since=since, until=until)] == ["Day 3", "Day 2", "Day 1"]
    assert store.count("mara", kind="turn", since=since) == 4
    assert store.count("mara", text="WIND") == 5 and store.count("mara") == 5 + len(
        store.list("mara", kind="background")
    )
    days = store.turns_per_day("mara")
    assert list(days) == [f"{(T0 + timedelta(days=d)):%Y-%m-%d}" for d in range(5)] and set(days.values()) == {1}


def test_an_accepted_turn_is_journaled_then_stored(store: MemoryStore) -> None:
    store.add_turn("mara", "c1", "assistant", "Welcome aboard.", T0)
    turn_id = store.accept_turn("mara", "c1", "user", "Where is the lighthouse?", T0 + timedelta(minutes=1))
    assert store.has_pending() and [t.text for t in store.transcript("mara", "c1")] == ["Welcome aboard."]
    assert store.store_pending() == [turn_id]
    assert not store.has_pending() and store.store_pending() == []
    stored = store.transcript("mara", "c1")
    assert [t.id for t in stored][-1] == turn_id and stored[-1].context == "you: Welcome aboard."


def test_a_journaled_turn_survives_the_app_stopping(tmp_path) -> None:
    path = tmp_path / "chroma"
    script = textwrap.dedent(
        f"""
        import os
        from memory import MemoryStore
        store = MemoryStore.open(path={str(path)!r})
        print(store.accept_turn("mara", "c1", "user", "Remember the lighthouse at Cape Morrow."))
        os._exit(0)  # stops before anything is stored, as a killed app would
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    with (path / "pending-turns.jsonl").open("a") as journal:
        journal.write('{"id": "torn')  # a line cut short by the stop is ignored
    store = MemoryStore.open(path=str(path))
    assert store.transcript("mara", "c1") == []
    store.warm_up()  # what the app does at start-up
    assert [(t.id, t.text) for t in store.transcript("mara", "c1")] == [
        (out.stdout.strip(), "Remember the lighthouse at Cape Morrow.")
    ]
    assert not (path / "pending-turns.jsonl").exists()
