"""Backup and restore (memory.backup) on real parts: a real embedded Chroma in temp dirs, the real
persona library and folders; a restore into an empty data folder gives back exactly what was
there, into a non-empty one adds nothing twice, into a store with another embedding model too;
bad backups are refused before anything is written (fuzzed); the Memories page."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from PIL import Image

from memory import MemoryStore
from memory import backup as backups
from memory.backup import (
    CONVERSATIONS,
    MANIFEST,
    MEMORIES,
    BackupError,
    DataFolders,
    backup_before_migration,
    backup_bytes,
    read_backup,
    restore,
)
from memory.models import NewTurn
from personas import Persona, PersonaLibrary
from personas.users import UserPersona, UserPersonaLibrary
from tests.fuzzing import fuzz
from tests.harness import new_app

T0 = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)


@register_embedding_function
class WordHash(EmbeddingFunction[Documents]):
    """Another embedding model than the app's (64 dimensions of hashed words): a store built on it
    has vectors the backup's cannot be, so restoring into it must embed every memory again."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        vectors = np.zeros((len(input), 64), dtype=np.float32)
        for row, text in enumerate(input):
            for word in text.lower().split():
                vectors[row, hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
        vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9, None)
        return list(vectors)

    def encode(self, texts: list[str]) -> np.ndarray:  # what the store calls (as on the app's embedders)
        return np.asarray(self(texts), dtype=np.float32).reshape(len(texts), 64)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    @staticmethod
    def name() -> str:
        return "test-word-hash-64"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> WordHash:
        return WordHash()


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


def folders_in(root: Path) -> DataFolders:
    return DataFolders(root / "personas", root / "lorebooks", root / "user-personas")


def fill(root: Path) -> MemoryStore:
    """A data folder with a bit of everything: seeded samples (one edited), an imported persona
    with an avatar, lorebooks and user personas in nested folders, conversations with titles,
    alternatives, thinking, recalled memories, a stopped reply, pinned, edited and duplicate
    memories, and background."""
    folders = folders_in(root)
    library = PersonaLibrary(folders.personas)
    library.seed_samples()
    mara = library.get("mara-voss")
    library.save(replace(mara, description=mara.description + " She hums sea shanties."))
    wren = Persona(id="wren-a1b2c3", name="Wren ✨", description="Keeper.", extensions={"other_app": {"x": [1, 2]}})
    library.save(wren)
    library.save_avatar(wren.id, png((10, 120, 200)))
    (folders.lorebooks / "shared").mkdir(parents=True)
    (folders.lorebooks / "shared" / "keld.json").write_text('{"entries": [{"keys": ["Keld"]}]}', "utf-8")
    (folders.lorebooks / "notes.txt").write_text("plain text kept as it is\n", "utf-8")
    users = UserPersonaLibrary(folders.user_personas, "Alex")  # as the app makes it: Alex, the default
    sam = UserPersona.new("Sam", "A sailor from Keld.")
    users.save(sam)
    users.save_avatar(sam.id, png((200, 30, 30)))
    users.choose("mara-voss", "c1", sam.id)
    store = MemoryStore.open(path=str(root / "chroma"))
    store.add_background("mara-voss", "Mara was born in Port Ash. Tobin Reed made her brass hand.", source="card")
    store.add_turns(
        "mara-voss",
        "c1",
        [
            NewTurn("user", "I moved to Denver last May.", T0),
            NewTurn("assistant", "Denver! The mountains suit you.", T0 + timedelta(seconds=5)),
            NewTurn("assistant", "A fine city.", T0 + timedelta(seconds=9), recalled=(("bg-x", 0.51),), lore=("Keld",)),
            NewTurn("user", "Yes, the mountains.", T0 + timedelta(minutes=1)),
            NewTurn(
                "assistant",
                "Hmm.",
                T0 + timedelta(minutes=2),
                thinking="She wonders.",
                thinking_seconds=1.25,
                stopped=True,
            ),
        ],
    )
    turn = store.add_turn("mara-voss", "c2", "user", "My sister Hana bakes in Lyon.", T0 + timedelta(days=3))
    store.add_turn("mara-voss", "c2", "user", "My sister Hana bakes in Lyon!", T0 + timedelta(days=3, seconds=1))
    store.update(turn, text="My sister Hana bakes bread in Lyon.", pinned=True)
    store.rename_conversation("mara-voss", "c1", "The Denver move")
    store.set_conversation_settings("mara-voss", "c1", note={"text": "Mara is tired.", "depth": 4, "every": 1})
    store.set_conversation_settings("mara-voss", "c2", parent="c1", forked_at=T0.timestamp(), note=None)
    store.add_turn("wren-a1b2c3", "w1", "user", "Is the lamp lit? 🕯️ <b>yes</b>", T0, speaker="Alex")
    store.add_turn("gone-persona", "g1", "user", "A persona deleted, its memories left", T0)
    return store


def snapshot(store: MemoryStore, folders: DataFolders) -> dict[str, Any]:
    """Everything a backup should give back, to compare two data folders."""
    files = {
        name: {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        for name, root in folders.by_name().items()
        if root.is_dir()
    }
    memories = {
        persona: sorted((r.id, r.text, json.dumps(r.metadata, sort_keys=True)) for r in store.records(persona))
        for persona in sorted(store.persona_ids())
    }
    titles = {persona: store.conversation_titles(persona) for persona in sorted(store.persona_ids())}
    settings = {persona: store.conversation_settings(persona) for persona in sorted(store.persona_ids())}
    return {"files": files, "memories": memories, "titles": titles, "settings": settings}


@pytest.fixture
def source(tmp_path: Path) -> tuple[MemoryStore, DataFolders]:
    return fill(tmp_path / "source"), folders_in(tmp_path / "source")


def test_a_restore_into_an_empty_data_folder_gives_back_exactly_what_was_there(source, tmp_path: Path) -> None:
    store, folders = source
    data = backup_bytes(store, folders)
    before = snapshot(store, folders)
    assert len(before["memories"]["mara-voss"]) == 8 and before["titles"]["mara-voss"] == {"c1": "The Denver move"}
    assert sum("duplicate_of" in meta for _, _, meta in before["memories"]["mara-voss"]) == 1

    target = folders_in(tmp_path / "fresh")
    PersonaLibrary(target.personas).seed_samples()  # what the app does on its first start,
    UserPersonaLibrary(target.user_personas, "User")  # and a user persona for an empty folder
    fresh = MemoryStore.open(path=str(tmp_path / "fresh" / "chroma"))
    steps: list[tuple[int, int]] = []
    result = restore(read_backup(data, "b.zip"), fresh, target, progress=lambda d, t: steps.append((d, t)))
    assert snapshot(fresh, target) == before  # the edited sample and the user personas replaced the fresh ones
    users = UserPersonaLibrary(target.user_personas, "User")
    assert [u.name for u in users.list()] == ["Alex", "Sam"] and users.for_conversation("mara-voss", "c1").name == "Sam"
    assert result.memories_added == 10 and result.memories_present == 0 and result.titles_added == 1
    assert result.settings_added == 2 and before["settings"]["mara-voss"]["c2"]["parent"] == "c1"
    assert "personas/mara-voss.json" in result.files_written  # the seeded sample, unchanged: replaced
    assert result.files_kept == ["personas/elias-thorne.json", "personas/juniper-hale.json"]  # the same already
    assert steps[-1] == (10, 10)
    # it works as the old one did: transcripts, alternatives, flags, recall on rebuilt vectors
    assert [(m.id, m.text, m.stopped, m.thinking) for m in fresh.transcript("mara-voss", "c1")] == [
        (m.id, m.text, m.stopped, m.thinking) for m in store.transcript("mara-voss", "c1")
    ]
    assert fresh.conversations("mara-voss")[-1].title == "The Denver move"
    assert "Hana" in fresh.recall("mara-voss", "where does my sister work?", k=1)[0].text
    assert fresh.recall("mara-voss", "where does my sister work?", k=1)[0].pinned


def test_restoring_into_a_non_empty_folder_adds_nothing_twice(source, tmp_path: Path) -> None:
    store, folders = source
    backup = read_backup(backup_bytes(store, folders))
    again = restore(backup, store, folders)  # into the very folder it came from
    assert again.memories_added == 0 and again.memories_present == 10 and not again.files_written
    assert again.titles_added == 0 and again.settings_added == 0

    other = folders_in(tmp_path / "other")
    other_store = MemoryStore.open(path=str(tmp_path / "other" / "chroma"))
    library = PersonaLibrary(other.personas)
    library.save(Persona(id="mara-voss", name="My own Mara"))  # not the sample: kept
    other_store.add_turn("mara-voss", "c1", "user", "Something only this folder has.", T0)
    other_store.rename_conversation("mara-voss", "c1", "My title")
    other_store.set_conversation_settings("mara-voss", "c1", note={"text": "Mine.", "depth": 2, "every": 1})
    mine = UserPersonaLibrary(other.user_personas, "Me")
    mine.choose("mara-voss", "c9", mine.default_id())  # a folder in use: its choices stay, the backup's join them
    first = restore(backup, other_store, other)
    second = restore(backup, other_store, other)
    assert library.get("mara-voss").name == "My own Mara" and "personas/mara-voss.json" in first.files_kept
    assert first.memories_added == 10 and second.memories_added == 0 and not second.files_written
    assert other_store.count("mara-voss") == 9  # its own turn and the backup's eight
    assert other_store.conversation_titles("mara-voss") == {"c1": "My title"}  # not overwritten
    assert other_store.conversation_settings("mara-voss")["c1"]["note"]["text"] == "Mine."
    assert other_store.conversation_settings("mara-voss")["c2"]["parent"] == "c1"  # what it lacked
    mine = UserPersonaLibrary(other.user_personas, "Me")
    assert mine.for_conversation("mara-voss", "c9").name == "Me" and mine.get(mine.default_id()).name == "Me"
    assert mine.for_conversation("mara-voss", "c1").name == "Sam"
    assert (
        "user-personas/conversations.json" in first.files_written and "user-personas/default.json" in first.files_kept
    )
    assert [m.text for m in other_store.list("mara-voss", text="only this folder")] == [
        "Something only this folder has."
    ]


def test_a_store_with_another_embedding_model_restores_too(source, tmp_path: Path) -> None:
    store, folders = source
    data = backup_bytes(store, folders)
    assert read_backup(data).manifest["embedding_model"] == "persona-chat-minilm-l6-v2-int8"
    other = MemoryStore.open(path=str(tmp_path / "hashed"), embedding_function=WordHash())  # type: ignore[arg-type]
    target = folders_in(tmp_path / "hashed-data")
    restore(read_backup(data), other, target)
    assert snapshot(other, target)["memories"] == snapshot(store, folders)["memories"]
    stored = other._mirrors.collection("mara-voss").get(include=["embeddings"], limit=1)["embeddings"]
    assert len(stored[0]) == 64  # embedded here, by this store's model
    assert "Hana" in other.recall("mara-voss", "sister Hana Lyon", k=1)[0].text


def test_from_a_chroma_server_to_an_embedded_store_and_back(store: MemoryStore, tmp_path: Path) -> None:
    """``store`` is the embedded store and a `chroma run` server in turn (conftest)."""
    store.add_turns(
        "p1", "c1", [NewTurn("user", "Hello from the server", T0), NewTurn("assistant", "Hi", T0 + timedelta(1))]
    )
    store.rename_conversation("p1", "c1", "Greetings")
    folders = folders_in(tmp_path / "a")
    embedded = MemoryStore.open(path=str(tmp_path / "b" / "chroma"))
    restore(read_backup(backup_bytes(store, folders)), embedded, folders_in(tmp_path / "b"))
    assert snapshot(embedded, folders_in(tmp_path / "b"))["memories"] == snapshot(store, folders)["memories"]
    assert embedded.conversation_titles("p1") == {"c1": "Greetings"}
    store.delete_persona("p1")
    assert restore(read_backup(backup_bytes(embedded, folders)), store, folders).memories_added == 2
    assert [m.text for m in store.transcript("p1", "c1")] == ["Hello from the server", "Hi"]


def test_a_backup_is_written_before_a_migration(source, tmp_path: Path) -> None:
    store, folders = source
    moment = datetime(2026, 4, 5, 6, 7, 8, tzinfo=UTC)
    path = backup_before_migration(store, folders, tmp_path / "data" / "backups", "Add branch ids!", now=moment)
    assert path == tmp_path / "data" / "backups" / "20260405T060708Z-before-add-branch-ids.zip"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch file left
    backup = read_backup(path.read_bytes())
    assert backup.manifest["created_at"] == moment.isoformat() and backup.memories == 10

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backups, "write_backup", broken)
        with pytest.raises(OSError, match="disk full"):  # the migration must not run then
            backup_before_migration(store, folders, path.parent, "next", now=moment + timedelta(1))
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_folders_that_do_not_exist_and_unsafe_names_are_left_out(tmp_path: Path) -> None:
    store = MemoryStore.open(path=str(tmp_path / "chroma"))
    folders = folders_in(tmp_path)
    PersonaLibrary(folders.personas).save(Persona(id="solo", name="Solo"))
    (folders.personas / "half-written.tmp").write_bytes(b"x")  # an atomic write in progress
    (folders.personas / "link.json").symlink_to(folders.personas / "solo.json")
    backup = read_backup(backup_bytes(store, folders))
    assert backup.files == {"personas": {"solo.json": (folders.personas / "solo.json").read_bytes()}}
    assert backup.memories == 0 and backup.titles == {} and backup.settings == {}
    folders.lorebooks.mkdir()
    (folders.lorebooks / "what?.json").write_text("{}")
    (folders.lorebooks / "ok.json").write_text("{}")
    backup = read_backup(backup_bytes(store, folders))
    assert backup.files["lorebooks"] == {"ok.json": b"{}"} and backup.manifest["skipped"] == ["lorebooks/what?.json"]


# --- refusals -------------------------------------------------------------------------------


def rezip(data: bytes, change: dict[str, bytes | None], *, manifest: Any = None, fix_hashes: bool = True) -> bytes:
    """A copy of a backup with members changed (None: removed), its manifest fixed to match."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    listed = json.loads(members[MANIFEST])
    for name, content in change.items():
        if content is None:
            members.pop(name, None)
            listed["files"].pop(name, None)
        else:
            members[name] = content
            if fix_hashes:
                listed["files"][name] = {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    members[MANIFEST] = json.dumps(listed if manifest is None else manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("small")
    store = MemoryStore.open(path=str(root / "chroma"))
    store.add_turn("p1", "c1", "user", "hello there", T0)
    folders = folders_in(root)
    PersonaLibrary(folders.personas).save(Persona(id="p1", name="P One"))
    return backup_bytes(store, folders)


def record(**changes: Any) -> bytes:
    line = {"persona_id": "p1", "id": "turn-1", "text": "hi", "metadata": {"persona_id": "p1", "kind": "turn",
            "role": "user", "conversation_id": "c1", "created_at": 1.7e9, "pinned": False}}  # fmt: skip
    for key, value in changes.items():
        if key.startswith("meta_"):
            line["metadata"][key.removeprefix("meta_")] = value
        else:
            line[key] = value
    return (json.dumps(line) + "\n").encode()


def _symlinked(data: bytes) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        link = zipfile.ZipInfo("files/lorebooks/link.json")
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _encrypted(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[raw.index(b"PK\x01\x02") + 8] |= 0x1
    return bytes(raw)


CASES: list[tuple[str, Any, str]] = [
    ("not a zip", lambda d: b"hello", "it is not a zip file"),
    ("no manifest", lambda d: _without(d, MANIFEST), "no manifest.json"),
    ("another format", lambda d: rezip(d, {}, manifest={"format": "other"}), "is not this app's"),
    ("newer", lambda d: rezip(d, {}, manifest={**_manifest(d), "schema_version": 99}), "a newer version of this app"),
    ("unlisted", lambda d: rezip(d, {"files/lorebooks/x.json": b"{}"}, fix_hashes=False), "does not list"),
    ("missing", lambda d: rezip(d, {}, manifest=_with_listed(d, "files/lorebooks/y.json")), "which it does not hold"),
    ("damaged", lambda d: rezip(d, {MEMORIES: b"\n"}, fix_hashes=False), "the file is damaged"),
    ("traversal", lambda d: rezip(d, {"files/personas/../../evil.json": b"{}"}), "points outside"),
    ("absolute", lambda d: rezip(d, {"/etc/cron.d/evil": b"x"}), "points outside"),
    ("outside files", lambda d: rezip(d, {"evil.sh": b"x"}), "points outside"),
    ("unknown folder", lambda d: rezip(d, {"files/chroma/x": b"x"}), "points outside"),
    ("backslash", lambda d: rezip(d, {"files/lorebooks/..\\..\\x": b"x"}), "points outside"),
    ("drive", lambda d: rezip(d, {"files/lorebooks/C:x": b"x"}), "points outside"),
    ("symlink", _symlinked, "a symbolic link"),
    ("encrypted", _encrypted, "is encrypted"),
    ("bomb", lambda d: rezip(d, {"files/lorebooks/zeros.txt": bytes(50 * 2**20)}), "a zip bomb"),
    (
        "a card that is not one",
        lambda d: rezip(d, {"files/personas/p1.json": b'{"spec": 1}'}),
        "is not a character card",
    ),
    ("an avatar that is not one", lambda d: rezip(d, {"files/personas/p1.png": b"GIF89a"}), "not a PNG, JPEG or WebP"),
    ("a persona file name", lambda d: rezip(d, {"files/personas/Bad Name.json": b"{}"}), "not a persona's card"),
    (
        "lorebook not JSON",
        lambda d: rezip(d, {"files/lorebooks/a.json": b"{oops"}),
        "lorebooks/a.json is not valid JSON",
    ),
    ("memories not JSON", lambda d: rezip(d, {MEMORIES: b"{oops\n"}), "memories.jsonl, line 1 is not valid JSON"),
    ("no persona id", lambda d: rezip(d, {MEMORIES: record(persona_id=None)}), "has no persona id"),
    ("text not text", lambda d: rezip(d, {MEMORIES: record(text=["x"])}), "the text must be text"),
    ("wrong persona", lambda d: rezip(d, {MEMORIES: record(meta_persona_id="p2")}), "belongs to another persona"),
    ("kind", lambda d: rezip(d, {MEMORIES: record(meta_kind="secret")}), "its kind must be"),
    ("time", lambda d: rezip(d, {MEMORIES: record(meta_created_at="May")}), "is not a time"),
    ("nested metadata", lambda d: rezip(d, {MEMORIES: record(meta_x={"a": 1})}), "not a value the store can hold"),
    ("null metadata", lambda d: rezip(d, {MEMORIES: record(meta_x=None)}), "not a value the store can hold"),
    ("turn without role", lambda d: rezip(d, {MEMORIES: record(meta_role=5)}), "needs a role and a conversation"),
    ("recalled", lambda d: rezip(d, {MEMORIES: record(meta_recalled="[oops")}), "its 'recalled' is not JSON"),
    ("twice", lambda d: rezip(d, {MEMORIES: record() + record()}), "is there twice"),
    ("NaN", lambda d: rezip(d, {MEMORIES: record().replace(b"1700000000.0", b"NaN")}), "cannot read"),
    ("conversations", lambda d: rezip(d, {CONVERSATIONS: b'{"p1": ["x"]}'}), "must hold the conversations'"),
    ("titles", lambda d: rezip(d, {CONVERSATIONS: b'{"titles": {"p1": ["x"]}, "settings": {}}'}), "'titles' must map"),
    ("settings", lambda d: rezip(d, {CONVERSATIONS: b'{"titles": {}, "settings": {"p1": {"c1": 3}}}'}), "'settings'"),
]


def _without(data: bytes, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as archive:
        for member in source.namelist():
            if member != name:
                archive.writestr(member, source.read(member))
    return buffer.getvalue()


def _manifest(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read(MANIFEST))


def _with_listed(data: bytes, name: str) -> dict[str, Any]:
    manifest = _manifest(data)
    manifest["files"][name] = {"size": 2, "sha256": "00"}
    return manifest


@pytest.mark.parametrize(("what", "make", "why"), CASES, ids=[c[0] for c in CASES])
def test_bad_backups_are_refused(small: bytes, what: str, make: Any, why: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError) as error:
        read_backup(make(small), "old.zip")
    assert str(error.value).startswith("old.zip is not a backup this app can restore: ")
    assert why in str(error.value)


def test_limits(small: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backups, "MAX_MEMBERS", 2)
    with pytest.raises(BackupError, match="holds 4 files; the limit is 2"):
        read_backup(small)
    monkeypatch.setattr(backups, "MAX_MEMBERS", 100)
    monkeypatch.setattr(backups, "MAX_UNPACKED", 100)
    with pytest.raises(BackupError, match="unpacked; the limit is 0 GB"):
        read_backup(small)
    monkeypatch.setattr(backups, "MAX_UNPACKED", 2**30)
    monkeypatch.setattr(backups, "MAX_FILE_BYTES", 10)
    with pytest.raises(BackupError, match=r"files/personas/p1\.json\" is \d+ bytes unpacked; the limit is 10\."):
        read_backup(small)
    monkeypatch.setattr(backups, "MAX_BACKUP_BYTES", 100)
    with pytest.raises(BackupError, match="the limit is 0 GB"):
        read_backup(small)


# --- fuzzing --------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from([MANIFEST, MEMORIES, CONVERSATIONS, "files/personas/p1.json", "files/personas/p1.png", "files/x",
                     "files/lorebooks/a/b.json", "../x", "files/user-personas/..", "files//personas/x"]),
    st.text(min_size=1, max_size=30),
)  # fmt: skip


def _check(data: bytes) -> None:
    try:
        backup = read_backup(data, "fuzz.zip")
    except BackupError as exc:
        assert str(exc).startswith("fuzz.zip is not a backup this app can restore: ")
        return
    for records in backup.records.values():
        assert all(r.metadata["kind"] in ("turn", "background") for r in records)


@fuzz(250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_flipped_bytes(small: bytes, data: st.DataObject) -> None:
    raw = bytearray(small)
    for _ in range(data.draw(st.integers(1, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _check(bytes(raw))


def test_every_byte_of_the_zip_directory_flipped_is_a_clear_error_or_a_backup(small: bytes) -> None:
    """Each byte of the central directory and its end record, zeroed and flipped in turn (the
    fuzzer once found a name starting with a NUL byte: zipfile then raised IndexError, which
    reached the page as a crash)."""
    start = small.find(b"PK\x01\x02")
    for at in range(start, len(small)):
        for value in (0, small[at] ^ 0xFF):
            raw = bytearray(small)
            raw[at] = value
            _check(bytes(raw))


@fuzz(150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_members(small: bytes, data: st.DataObject) -> None:
    changes = data.draw(st.dictionaries(NAMES, st.one_of(st.none(), st.binary(max_size=60)), max_size=4))
    try:
        changed = rezip(small, changes, fix_hashes=data.draw(st.booleans()))
    except (ValueError, IndexError, UnicodeEncodeError):  # names zipfile itself cannot write ("\x00…": "")
        return
    _check(changed)


@fuzz(150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(["persona_id", "id", "text", "metadata"]),
                                st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                             lambda c: st.dictionaries(st.text(max_size=8), c, max_size=4),
                                             max_leaves=8)), max_size=4))  # fmt: skip
def test_fuzz_memory_lines(small: bytes, lines: list[dict[str, Any]]) -> None:
    _check(rezip(small, {MEMORIES: "".join(json.dumps(line) + "\n" for line in lines).encode()}))


# --- the Memories page ----------------------------------------------------------------------


def test_the_memories_page_restores_a_backup_with_a_confirmation(source, app_env: Path) -> None:
    store, folders = source
    data = backup_bytes(store, folders)
    at = new_app()
    at.switch_page("pages/memories.py").run()
    assert not at.exception
    assert at.get("download_button")  # "Download a backup"

    at.file_uploader(key="restore_file").set_value(("backup.zip", data, "application/zip"))
    at = at.button(key="restore_submit").click().run()
    assert "tick the box first" in at.warning[0].value  # not confirmed: nothing restored
    app_store = MemoryStore.open(path=str(app_env / "chroma"))
    assert app_store.count("wren-a1b2c3") == 0

    at.file_uploader(key="restore_file").set_value(("bad.zip", rezip(data, {"evil": b"x"}), "application/zip"))
    at.checkbox(key="restore_sure").check()
    at = at.button(key="restore_submit").click().run()
    assert "is not a backup this app can restore" in at.error[0].value.replace("\\", "")
    assert not (app_env / "personas" / "wren-a1b2c3.json").exists()

    at.file_uploader(key="restore_file").set_value(("backup.zip", data, "application/zip"))
    at.checkbox(key="restore_sure").check()
    at = at.button(key="restore_submit").click().run()
    assert not at.exception and not at.error
    assert "and 10 memories" in at.success[0].value
    assert (app_env / "personas" / "wren-a1b2c3.png").read_bytes() == (
        folders.personas / "wren-a1b2c3.png"
    ).read_bytes()
    assert (app_env / "data" / "lorebooks" / "shared" / "keld.json").exists()  # LOREBOOKS_PATH's default
    assert app_store.count("wren-a1b2c3") == 1
