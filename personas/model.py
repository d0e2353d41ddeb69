"""The persona record: the fields of a Character Card V2, plus a long background text."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

CARD_SPEC = "chara_card_v2"
CARD_SPEC_VERSION = "2.0"
#: Our own fields travel inside the card's ``extensions`` under this key.
EXTENSION_KEY = "persona_chat"
#: Persona fields that are not keys of the card's ``data`` (they travel in ``extensions`` or are ours).
_NOT_CARD_DATA = frozenset({"id", "background", "extensions", "extra"})


def make_id(name: str) -> str:
    """A filesystem- and URL-safe id: an ASCII slug of the name plus a random suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40] or "persona"
    return f"{slug}-{uuid.uuid4().hex[:6]}"


def is_valid_id(persona_id: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", persona_id))


@dataclass
class Persona:
    id: str
    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    creator: str = ""
    character_version: str = ""
    background: str = ""  # long lore, ingested into memory (not sent whole to the model)
    extensions: dict[str, Any] = field(default_factory=dict)
    character_book: dict[str, Any] | None = None  # the card's lorebook as found (see personas.lorebook)
    extra: dict[str, Any] = field(default_factory=dict)  # card data keys we do not use (V3 fields...), kept

    def to_card(self) -> dict[str, Any]:
        """This persona as a Character Card V2 (our extra fields under ``extensions``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_CARD_DATA}
        if data["character_book"] is None:  # optional in the spec: absent rather than null
            del data["character_book"]
        data["extensions"] = {**self.extensions, EXTENSION_KEY: {"id": self.id, "background": self.background}}
        data.update({key: value for key, value in self.extra.items() if key not in data})
        return {"spec": CARD_SPEC, "spec_version": CARD_SPEC_VERSION, "data": data}

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> Persona:
        """Read a card this app wrote (see :meth:`to_card`); ``personas.cards`` checks foreign ones first."""
        data = dict(card["data"])
        extensions = dict(data.pop("extensions", {}) or {})
        ours = extensions.pop(EXTENSION_KEY, {}) or {}
        card_fields = {f.name for f in fields(cls)} - _NOT_CARD_DATA
        return cls(
            id=ours.get("id") or make_id(data.get("name", "")),
            background=ours.get("background", ""),
            extensions=extensions,
            extra={k: v for k, v in data.items() if k not in card_fields},
            **{k: v for k, v in data.items() if k in card_fields},
        )
