"""Backups: every persona, avatar, lorebook, user persona, conversation and memory in one zip file.

Plain Python; never imports Streamlit. What the zip holds:

- ``manifest.json``: the format and its version, the app's data schema version
  (:data:`SCHEMA_VERSION`), the embedding model's name, when it was written, counts, and the size
  and SHA-256 of every other member;
- ``files/personas/…``: the persona library's folder as it is (cards as JSON, avatars as PNG);
  ``files/lorebooks/…`` and ``files/user-personas/…``: those folders, when they exist;
- ``memories.jsonl``: every memory of every persona, one per line, with its id, its text and its
  whole metadata (conversation, role, time, pinned, what a reply recalled, its thinking…), but no
  vector: vectors are computed again on restore, so a backup restores into a store whose
  embedding model differs (and the file stays small);
- ``conversations.json``: what is kept per conversation besides its turns: the titles given to
  them and their settings (the author's note, the conversation a branch was made from), by
  persona and conversation. A new per-conversation value in the store must be added here.

Restoring reads and checks everything first (:func:`read_backup`: sizes before unpacking, member
names against the layout above, hashes, every file and record type-checked; a zip bomb, a name
that points outside the folders, a symbolic link or an oversized member is refused with a
:class:`BackupError`), then writes (:func:`restore`). Nothing already there is overwritten and
ids are kept, so restoring into an empty data folder gives back exactly what was there, and into
a non-empty one adds only what is missing: restoring twice adds nothing twice. What a fresh
install makes by itself gives way to the backup: a sample persona it put in the empty library,
still unchanged, is replaced by the backup's copy, and so is the one user persona it made (with
its default); the user personas' choices per conversation are merged (the ones this folder lacks
are added).

Schema migrations that rewrite stored data (none do yet: 1 -> 2 only adds sentence records)
must call :func:`backup_before_migration` before they change anything, and not run if it
fails; it writes ``<backups>/<time>-before-<migration>.zip``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from memory.models import SCHEMA, StoredRecord
from personas.files import replacing, write_atomic
from personas.limits import ZIP_ERRORS

if TYPE_CHECKING:
    from memory.store import MemoryStore

FORMAT = "persona-chat-backup"
FORMAT_VERSION = 1
#: The shape of the stored data (Chroma metadata, persona files): the records' schema. A
#: migration that rewrites stored data must call :func:`backup_before_migration` first. Every
#: version from 1 up is readable (version 1 background chunks are recalled as they are).
SCHEMA_VERSION = SCHEMA
MANIFEST = "manifest.json"
MEMORIES = "memories.jsonl"
CONVERSATIONS = "conversations.json"
FILES = "files/"
#: The folders a backup holds, by their name in it.
FOLDER_NAMES = ("personas", "lorebooks", "user-personas")
#: The user personas' file of which one each conversation uses (``personas.users``): merged on restore.
USER_CHOICES = "conversations.json"

#: The backup file itself (what the Memories page accepts).
MAX_BACKUP_BYTES = 2 * 2**30
#: Members of one backup.
MAX_MEMBERS = 200_000
#: All members unpacked, by their headers.
MAX_UNPACKED = 4 * 2**30
#: One file of a folder (a card file is at most 20 MB, an avatar 8 MB).
MAX_FILE_BYTES = 20 * 2**20
MAX_MEMORIES_BYTES = 2 * 2**30
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_CONVERSATIONS_BYTES = 256 * 2**20
MAX_SETTINGS_CHARS = 100_000  # one conversation's settings as JSON (an author's note is a few lines)
#: Unpacked / packed above this (and over a megabyte) is taken for a zip bomb: text compresses 3-10×.
MAX_RATIO = 200
MAX_TEXT_CHARS = 500_000
MAX_ID_CHARS = 512
MAX_DEPTH = 8  # folders inside a backed-up folder
_PART = re.compile(r"[^\x00-\x1f/\\:*?\"<>|]{1,255}")
_SLUG = re.compile(r"[^a-z0-9]+")


class BackupError(ValueError):
    """A file that is not a backup this app can restore; the message is meant for the user."""


@dataclass(frozen=True)
class DataFolders:
    """Where the data outside the memory store lives: the persona library's folder, and the
    lorebooks' and user personas' folders (backed up when they exist)."""

    personas: Path
    lorebooks: Path | None = None
    user_personas: Path | None = None

    def by_name(self) -> dict[str, Path]:
        paths = {"personas": self.personas, "lorebooks": self.lorebooks, "user-personas": self.user_personas}
        return {name: Path(path) for name, path in paths.items() if path is not None}


@dataclass(frozen=True)
class Backup:
    """A backup read and checked, ready to restore."""

    manifest: dict[str, Any]
    files: dict[str, dict[str, bytes]]  # folder name -> path inside it ("a/b.json") -> content
    records: dict[str, list[StoredRecord]]  # persona id -> its memories
    titles: dict[str, dict[str, str]]  # persona id -> conversation id -> title
    settings: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # the same, -> its settings

    @property
    def memories(self) -> int:
        return sum(len(r) for r in self.records.values())


@dataclass(frozen=True)
class RestoreResult:
    files_written: list[str] = field(default_factory=list)  # "personas/mara-voss.json"…
    files_kept: list[str] = field(default_factory=list)  # already there (not overwritten)
    memories_added: int = 0
    memories_present: int = 0
    titles_added: int = 0
    settings_added: int = 0  # conversations whose settings (author's note, branch parent) were restored


# --- writing ----------------------------------------------------------------------------------


def write_backup(
    target: str | Path | IO[bytes], store: MemoryStore, folders: DataFolders, now: datetime | None = None
) -> dict[str, Any]:
    """Write a backup of everything to ``target`` (a binary file); returns its manifest."""
    hashes: dict[str, dict[str, Any]] = {}
    counts = {"memories": 0, "conversations": 0, "personas": 0, "files": 0}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:

        def add(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            hashes[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        skipped: list[str] = []
        for folder, root in folders.by_name().items():
            for relative, path in _folder_files(root):
                if not _safe_name(f"{FILES}{folder}/{relative}"):  # (a name no restore would write)
                    skipped.append(f"{folder}/{relative}")
                    continue
                add(f"{FILES}{folder}/{relative}", path.read_bytes())
                counts["files"] += 1
                counts["personas"] += folder == "personas" and relative.endswith(".json")
        titles: dict[str, dict[str, str]] = {}
        settings: dict[str, dict[str, dict[str, Any]]] = {}
        digest, size = hashlib.sha256(), 0
        with archive.open(MEMORIES, "w", force_zip64=True) as out:  # streamed: 100,000 memories are ~50 MB
            for persona_id in store.persona_ids():
                for record in store.records(persona_id):
                    line = json.dumps({"persona_id": persona_id, "id": record.id, "text": record.text,
                                       "metadata": record.metadata}, ensure_ascii=False).encode() + b"\n"  # fmt: skip
                    out.write(line)
                    digest.update(line)
                    size += len(line)
                    counts["memories"] += 1
                counts["conversations"] += len(store.conversations(persona_id))
                if named := store.conversation_titles(persona_id):
                    titles[persona_id] = named
                if values := store.conversation_settings(persona_id):
                    settings[persona_id] = values
        hashes[MEMORIES] = {"size": size, "sha256": digest.hexdigest()}
        add(CONVERSATIONS, json.dumps({"titles": titles, "settings": settings}, ensure_ascii=False).encode("utf-8"))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "embedding_model": store.embedding_model,
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "counts": counts,
            "skipped": skipped,  # files left out: names with characters some systems refuse, or too deep
            "files": hashes,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def backup_bytes(store: MemoryStore, folders: DataFolders) -> bytes:
    """A backup of everything, as the bytes of a zip file (for a download)."""
    buffer = io.BytesIO()
    write_backup(buffer, store, folders)
    return buffer.getvalue()


def backup_before_migration(
    store: MemoryStore, folders: DataFolders, backups: Path, migration: str, now: datetime | None = None
) -> Path:
    """Write ``<backups>/<UTC time>-before-<migration>.zip`` and return its path. Every schema
    migration calls this before it changes anything, and does not run if it raises."""
    moment = now or datetime.now(UTC)
    slug = _SLUG.sub("-", migration.lower()).strip("-")[:60] or "migration"
    backups = Path(backups)
    backups.mkdir(parents=True, exist_ok=True)
    path = backups / f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-before-{slug}.zip"
    with replacing(path) as handle:
        write_backup(handle, store, folders, moment)
    return path


def _folder_files(root: Path) -> Iterator[tuple[str, Path]]:
    """The files under ``root`` (relative POSIX paths), without symbolic links and the
    half-written ``*.tmp`` files of atomic writes."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix == ".tmp":
            continue
        if any(p.is_symlink() for p in path.relative_to(root).parents if str(p) != "."):
            continue
        yield path.relative_to(root).as_posix(), path


# --- reading ----------------------------------------------------------------------------------


def read_backup(data: bytes, filename: str = "") -> Backup:
    """Read and check a backup; :class:`BackupError` if it is not one this app can restore."""
    try:
        return _read(bytes(data))
    except BackupError as exc:
        raise BackupError(f"{filename or 'This file'} is not a backup this app can restore: {exc}") from None


def _read(data: bytes) -> Backup:
    if len(data) > MAX_BACKUP_BYTES:
        raise BackupError(f"it is {len(data) / 2**30:.1f} GB; the limit is {MAX_BACKUP_BYTES // 2**30} GB.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except ZIP_ERRORS:
        raise BackupError("it is not a zip file (or the zip is corrupt).") from None
    with archive:
        named = _check_members(members)
        if MANIFEST not in named:
            raise BackupError(f"it has no {MANIFEST}, so it was not written by this app.")
        manifest = _manifest(_json(_member(archive, named[MANIFEST], MAX_MANIFEST_BYTES), MANIFEST))
        listed = manifest["files"]
        for name in named:
            if name != MANIFEST and name not in listed:
                raise BackupError(f"it holds {_short(name)}, which its manifest does not list.")
        for name in listed:
            if name not in named:
                raise BackupError(f"its manifest lists {_short(name)}, which it does not hold.")
        contents: dict[str, bytes] = {}
        for name, info in named.items():
            if name == MANIFEST:
                continue
            limits = {MEMORIES: MAX_MEMORIES_BYTES, CONVERSATIONS: MAX_CONVERSATIONS_BYTES}
            limit = limits.get(name, MAX_FILE_BYTES)
            content = _member(archive, info, limit)
            if len(content) != listed[name]["size"] or hashlib.sha256(content).hexdigest() != listed[name]["sha256"]:
                raise BackupError(
                    f"{_short(name)} is not what its manifest says (size or SHA-256): the file is damaged."
                )
            contents[name] = content
    for required in (MEMORIES, CONVERSATIONS):
        if required not in contents:
            raise BackupError(f"it has no {required}.")
    files: dict[str, dict[str, bytes]] = {}
    for name, content in contents.items():
        if name.startswith(FILES):
            folder, _, relative = name.removeprefix(FILES).partition("/")
            _check_file(folder, relative, content)
            files.setdefault(folder, {})[relative] = content
    titles, settings = _conversations(_json(contents[CONVERSATIONS], CONVERSATIONS))
    return Backup(manifest, files, _records(contents[MEMORIES]), titles, settings)


def _check_members(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The members by name, once each names a place of the layout and looks safe to unpack."""
    if len(members) > MAX_MEMBERS:
        raise BackupError(f"it holds {len(members):,} files; the limit is {MAX_MEMBERS:,}.")
    named: dict[str, zipfile.ZipInfo] = {}
    unpacked = 0
    for info in members:
        name = info.filename
        if name.endswith("/"):  # a folder (not ZipInfo.is_dir(): a name cut to "" at a NUL makes it fail)
            continue
        if not _safe_name(name):
            raise BackupError(f"it holds a file named {_short(name)}, which points outside the data folders.")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise BackupError(f"it holds a symbolic link ({_short(name)}).")
        if info.flag_bits & 0x1:
            raise BackupError(f"{_short(name)} is encrypted.")
        if name in named:
            raise BackupError(f"it holds {_short(name)} twice.")
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise BackupError(
                f"{_short(name)} unpacks to {info.file_size / info.compress_size:,.0f} times its size (a zip bomb?)."
            )
        unpacked += info.file_size
        named[name] = info
    if unpacked > MAX_UNPACKED:
        raise BackupError(
            f"its files add up to {unpacked / 2**30:.1f} GB unpacked; the limit is {MAX_UNPACKED // 2**30} GB."
        )
    return named


def _safe_name(name: str) -> bool:
    """Whether a member's name is one of the layout's, without ``..``, absolute paths, drive
    letters, backslashes or control characters anywhere."""
    if name in (MANIFEST, MEMORIES, CONVERSATIONS):
        return True
    if not name.startswith(FILES):
        return False
    parts = PurePosixPath(name.removeprefix(FILES)).parts
    return (
        len(parts) >= 2
        and len(parts) <= MAX_DEPTH + 2
        and parts[0] in FOLDER_NAMES
        and name.removeprefix(FILES) == "/".join(parts)  # no "//", no trailing "/", no "./"
        and all(_PART.fullmatch(p) and p not in (".", "..") and p.strip() == p for p in parts)
    )


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """One member unpacked, at most ``limit`` bytes whatever its header says."""
    if info.file_size > limit:
        raise BackupError(f"{_short(info.filename)} is {info.file_size:,} bytes unpacked; the limit is {limit:,}.")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except ZIP_ERRORS:
        raise BackupError(f"{_short(info.filename)} is corrupt or packed in a way this app cannot read.") from None
    if len(data) > limit:
        raise BackupError(f"{_short(info.filename)} expands past {limit:,} bytes.")
    return data


def _json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BackupError(f"{name} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{name} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    except (ValueError, RecursionError):
        raise BackupError(f"{name} is JSON this app cannot read (a huge number, absurd nesting).") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"its {MANIFEST} is not this app's (no 'format': '{FORMAT}').")
    version, schema = manifest.get("format_version"), manifest.get("schema_version")
    if not isinstance(version, int) or not isinstance(schema, int) or isinstance(version | schema, bool):
        raise BackupError(f"its {MANIFEST} has no format or schema version.")
    if version > FORMAT_VERSION or schema > SCHEMA_VERSION:
        raise BackupError("it was written by a newer version of this app: update the app, then restore it.")
    if schema < 1:
        raise BackupError(f"its data is of schema version {schema}, which this version ({SCHEMA_VERSION}) cannot read.")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    ):
        raise BackupError(f"its {MANIFEST} does not list its files with their sizes and SHA-256.")
    return manifest


def _check_file(folder: str, relative: str, content: bytes) -> None:
    """Persona cards must be cards and avatars images; other folders' JSON files must be JSON."""
    if folder == "personas":
        from personas.cards import CardError, parse_card
        from personas.library import AvatarError, to_png
        from personas.model import is_valid_id

        stem, _, suffix = relative.rpartition(".")
        if "/" in relative or suffix not in ("json", "png") or not is_valid_id(stem):
            raise BackupError(f"personas/{_short(relative)} is not a persona's card or avatar.")
        try:
            parse_card(content, f"personas/{relative}") if suffix == "json" else to_png(content)
        except (CardError, AvatarError) as exc:
            raise BackupError(str(exc)) from None
    elif relative.endswith(".json"):
        _json(content, f"{folder}/{relative}")


def _records(data: bytes) -> dict[str, list[StoredRecord]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BackupError(f"{MEMORIES} is not UTF-8 text.") from None
    records: dict[str, list[StoredRecord]] = {}
    seen: set[tuple[str, str]] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{MEMORIES}, line {number}"
        value = _json(line.encode("utf-8"), where)
        if not isinstance(value, dict):
            raise BackupError(f"{where} is not an object.")
        persona_id, memory_id, body, meta = (value.get(k) for k in ("persona_id", "id", "text", "metadata"))
        if not (isinstance(persona_id, str) and 0 < len(persona_id) <= MAX_ID_CHARS):
            raise BackupError(f"{where} has no persona id.")
        if not (isinstance(memory_id, str) and 0 < len(memory_id) <= MAX_ID_CHARS):
            raise BackupError(f"{where} has no memory id.")
        if not (isinstance(body, str) and len(body) <= MAX_TEXT_CHARS):
            raise BackupError(f"{where}: the text must be text of at most {MAX_TEXT_CHARS:,} characters.")
        meta = _check_metadata(meta, persona_id, where)
        if (persona_id, memory_id) in seen:
            raise BackupError(f"{where}: the memory {_short(memory_id)} is there twice.")
        seen.add((persona_id, memory_id))
        records.setdefault(persona_id, []).append(StoredRecord(memory_id, body, meta))
    return records


def _check_metadata(meta: Any, persona_id: str, where: str) -> dict[str, Any]:
    """What the store needs of a record's metadata, and only values Chroma can hold: the
    metadata, checked."""
    if not isinstance(meta, dict) or not 0 < len(meta) <= 64:
        raise BackupError(f"{where}: 'metadata' must be an object of at most 64 values.")
    for key, value in meta.items():
        ok = isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value))
        if len(key) > 64 or not ok or (isinstance(value, str) and len(value) > MAX_TEXT_CHARS):
            raise BackupError(f"{where}: the metadata {_short(key)} is not a value the store can hold.")
    if meta.get("persona_id") != persona_id:
        raise BackupError(f"{where}: its metadata belongs to another persona.")
    if meta.get("kind") not in ("background", "turn"):
        raise BackupError(f"{where}: its kind must be 'background' or 'turn'.")
    created = meta.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int | float) or not 0 <= created < 253402300800:
        raise BackupError(f"{where}: its time ('created_at') is not a time.")
    if meta["kind"] == "turn" and not (
        isinstance(meta.get("role"), str) and isinstance(meta.get("conversation_id"), str)
    ):
        raise BackupError(f"{where}: a turn needs a role and a conversation.")
    for key in ("recalled", "lore"):
        if key in meta:
            try:
                json.loads(meta[key])
            except (TypeError, ValueError):
                raise BackupError(f"{where}: its '{key}' is not JSON.") from None
    return meta


def _conversations(value: Any) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, dict[str, Any]]]]:
    """The titles and the settings of conversations, by persona and conversation, type-checked."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("titles"), dict)
        or not isinstance(value.get("settings"), dict)
    ):
        raise BackupError(f"{CONVERSATIONS} must hold the conversations' 'titles' and 'settings'.")
    titles, settings = value["titles"], value["settings"]
    for named in titles.values():
        if not isinstance(named, dict) or not all(isinstance(t, str) and len(t) <= 1_000 for t in named.values()):
            raise BackupError(f"{CONVERSATIONS}: 'titles' must map each persona to its conversations' titles.")
    for values in settings.values():
        if not isinstance(values, dict) or not all(
            isinstance(v, dict) and all(isinstance(k, str) for k in v) and len(json.dumps(v)) <= MAX_SETTINGS_CHARS
            for v in values.values()
        ):
            raise BackupError(f"{CONVERSATIONS}: 'settings' must map each conversation to an object of its values.")
    return titles, settings


def _short(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + '..."'


# --- restoring --------------------------------------------------------------------------------


def restore(
    backup: Backup,
    store: MemoryStore,
    folders: DataFolders,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RestoreResult:
    """Put what the backup holds and this data folder lacks back in place (see the module's
    docstring): the folders' files, then the memories (embedded here; ``progress(done, total)``
    as they are), then the conversations' titles and settings."""
    from personas.library import PersonaLibrary

    roots = folders.by_name()
    written: list[str] = []
    kept: list[str] = []
    library = PersonaLibrary(roots["personas"])
    for folder, files in backup.files.items():
        root = roots.get(folder)
        if root is None:  # (a backup of user personas, restored where the app has none)
            kept += [f"{folder}/{relative}" for relative in files]
            continue
        if folder == "user-personas" and "default.json" in files:
            for path in _fresh_user_personas(root):  # the one a fresh install made: the backup's instead
                path.unlink()
        for relative, content in sorted(files.items()):
            target = root.joinpath(*relative.split("/"))
            if folder == "user-personas" and relative == USER_CHOICES and target.is_file():
                if _add_choices(target, content):  # which user persona each conversation uses
                    written.append(f"{folder}/{relative}")
                else:
                    kept.append(f"{folder}/{relative}")
                continue
            if not target.resolve().is_relative_to(root.resolve()):  # (names were checked: a symlink in the way)
                kept.append(f"{folder}/{relative}")
                continue
            if target.exists() and (
                target.read_bytes() == content or not (folder == "personas" and _replaceable_sample(library, relative))
            ):
                kept.append(f"{folder}/{relative}")
                continue
            write_atomic(target, content)
            written.append(f"{folder}/{relative}")
    total = backup.memories
    done = added = 0
    for persona_id, records in backup.records.items():
        start = done

        def step(now: int, _: int, start: int = start) -> None:
            if progress:
                progress(start + now, total)

        added += store.restore_records(persona_id, records, progress=step)
        done += len(records)
        if progress:
            progress(done, total)
    titles = 0
    for persona_id, named in backup.titles.items():
        present = store.conversation_titles(persona_id)
        for conversation_id, title in named.items():
            if conversation_id not in present:
                store.rename_conversation(persona_id, conversation_id, title)
                titles += 1
    restored = 0
    for persona_id, values in backup.settings.items():
        present_settings = store.conversation_settings(persona_id)
        for conversation_id, value in values.items():
            if conversation_id not in present_settings:
                store.set_conversation_settings(persona_id, conversation_id, **value)
                restored += 1
    return RestoreResult(written, kept, added, total - added, titles, restored)


def _fresh_user_personas(root: Path) -> list[Path]:
    """The files of a user personas folder as a fresh install leaves it (``personas.users``: the
    one persona made for an empty folder, unchanged, its default, no avatar, no choices), which a
    restore replaces by the backup's; none when the folder holds anything else."""
    files = {p.name: p for p in root.iterdir() if p.is_file()} if root.is_dir() else {}
    try:
        default = json.loads(files["default.json"].read_text("utf-8"))["id"]
        record = json.loads(files[f"{default}.json"].read_text("utf-8"))
        choices = json.loads(files[USER_CHOICES].read_text("utf-8")) if USER_CHOICES in files else {}
    except (KeyError, ValueError, TypeError, OSError):
        return []
    made = {"default.json", f"{default}.json", USER_CHOICES} >= set(files) and not choices
    if made and isinstance(record, dict) and record.get("id") == default and not record.get("description"):
        return list(files.values())
    return []


def _add_choices(path: Path, content: bytes) -> bool:
    """Add to the user personas' ``conversations.json`` the choices it lacks; whether it changed."""
    try:
        present, wanted = json.loads(path.read_text("utf-8")), json.loads(content)
    except (ValueError, OSError):
        return False
    if not (isinstance(present, dict) and isinstance(wanted, dict)) or wanted.keys() <= present.keys():
        return False
    write_atomic(path, json.dumps({**wanted, **present}, ensure_ascii=False).encode("utf-8"))
    return True


def _replaceable_sample(library: Any, relative: str) -> bool:
    """A sample persona the app seeded, unchanged since, is replaced by the backup's version of it."""
    stem, _, suffix = relative.rpartition(".")
    return suffix == "json" and library.is_unchanged_sample(stem)
