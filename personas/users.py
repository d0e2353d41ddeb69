"""Who *you* are in a chat (SillyTavern's "Personas"): a name, a short description and an avatar.

Several can be kept; each conversation uses one (the default for new conversations, unless one
is chosen for it). ``{{user}}`` in cards and prompts becomes its name, and its description goes
into the prompt after the character's definition, where SillyTavern puts it by default.

Stored as ``<folder>/<id>.json`` (and ``<id>.png``, the avatar) beside ``default.json`` (which
one is the default) and ``conversations.json`` (which one each conversation uses).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from personas.files import write_atomic
from personas.library import to_png
from personas.model import is_valid_id, make_id

#: Longest name and description a user persona takes (a description is a few lines in a prompt).
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 5_000


@dataclass(frozen=True)
class UserPersona:
    id: str
    name: str
    description: str = ""

    @classmethod
    def new(cls, name: str, description: str = "") -> UserPersona:
        return cls(make_id(name or "you"), name, description)


class UserPersonaError(ValueError):
    """A user persona that cannot be saved; the message is meant for the user."""


class UserPersonaLibrary:
    """The user personas in one folder. With none saved yet, one named ``default_name`` (the
    ``USER_NAME`` setting) is created, so there is always a default."""

    def __init__(self, directory: str | Path, default_name: str = "User") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.default_name = default_name
        if not self._saved():
            first = UserPersona.new(default_name)
            self.save(first)
            self.set_default(first.id)

    # -- files -----------------------------------------------------------------------------------

    def _path(self, user_id: str, suffix: str = ".json") -> Path:
        if not is_valid_id(user_id):
            raise ValueError(f"invalid user persona id {user_id!r}")
        return self.directory / f"{user_id}{suffix}"

    def _write(self, path: Path, data: bytes) -> None:
        write_atomic(path, data)

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.directory / name).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        self._write(self.directory / name, json.dumps(data, ensure_ascii=False).encode())

    # -- the personas ------------------------------------------------------------------------------

    def _saved(self) -> builtins.list[UserPersona]:
        found = []
        for path in self.directory.glob("*.json"):
            if path.name in ("default.json", "conversations.json"):
                continue
            try:
                data = json.loads(path.read_text("utf-8"))
                found.append(UserPersona(str(data["id"]), str(data["name"]), str(data.get("description", ""))))
            except (ValueError, KeyError, TypeError):
                continue  # a file that is not ours
        return found

    def list(self) -> list[UserPersona]:
        """Every user persona, the default first, then by name (the first one again if every
        one was deleted by hand)."""
        found = self._saved()
        if not found:
            found = [UserPersona.new(self.default_name)]
            self.save(found[0])
            self.set_default(found[0].id)
        default = self.default_id(found)
        return sorted(found, key=lambda u: (u.id != default, u.name.casefold()))

    def get(self, user_id: str | None) -> UserPersona:
        """The user persona ``user_id``, or the default one if there is no such persona."""
        personas = self.list()
        return next((u for u in personas if u.id == user_id), personas[0])

    def save(self, user: UserPersona) -> None:
        name = " ".join(user.name.split())
        if not name:
            raise UserPersonaError("Give your persona a name.")
        if len(name) > MAX_NAME_CHARS or len(user.description) > MAX_DESCRIPTION_CHARS:
            raise UserPersonaError(
                f"A name is at most {MAX_NAME_CHARS} characters and a description at most {MAX_DESCRIPTION_CHARS:,}."
            )
        record = asdict(user) | {"name": name}
        self._write(self._path(user.id), json.dumps(record, ensure_ascii=False).encode())

    def delete(self, user_id: str) -> None:
        """Forget a user persona (conversations that used it go back to the default)."""
        self._path(user_id).unlink(missing_ok=True)
        self._path(user_id, ".png").unlink(missing_ok=True)

    # -- the default and each conversation's choice ----------------------------------------------------

    def default_id(self, personas: builtins.list[UserPersona] | None = None) -> str:
        ids = [u.id for u in (personas if personas is not None else self.list())]
        chosen = self._read_json("default.json").get("id")
        return chosen if chosen in ids else ids[0]

    def set_default(self, user_id: str) -> None:
        self._write_json("default.json", {"id": user_id})

    def for_conversation(self, persona_id: str, conversation_id: str) -> UserPersona:
        """Who the user is in this conversation: its choice, else the default."""
        chosen = self._read_json("conversations.json").get(f"{persona_id}/{conversation_id}")
        return self.get(chosen if isinstance(chosen, str) else None)

    def choose(self, persona_id: str, conversation_id: str, user_id: str) -> None:
        choices = self._read_json("conversations.json")
        choices[f"{persona_id}/{conversation_id}"] = user_id
        self._write_json("conversations.json", choices)

    # -- avatars -----------------------------------------------------------------------------------

    def save_avatar(self, user_id: str, image: bytes) -> None:
        """A PNG, JPEG or WebP image as the avatar (re-encoded as PNG; see personas.library.to_png)."""
        self._write(self._path(user_id, ".png"), to_png(image))

    def avatar_path(self, user_id: str) -> Path | None:
        path = self._path(user_id, ".png")
        return path if path.is_file() else None
