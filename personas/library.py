"""PersonaLibrary: personas as Character Card V2 JSON files in one directory."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from personas.model import Persona, is_valid_id

SAMPLES = Path(__file__).parent / "samples"


class PersonaLibrary:
    """``<directory>/<persona id>.json``, one card per file; written atomically."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, persona_id: str) -> Path:
        if not is_valid_id(persona_id):  # ids reach file names: no traversal, no surprises
            raise ValueError(f"invalid persona id {persona_id!r}")
        return self.directory / f"{persona_id}.json"

    def list(self) -> list[Persona]:
        personas = [Persona.from_card(json.loads(p.read_text("utf-8"))) for p in sorted(self.directory.glob("*.json"))]
        return sorted(personas, key=lambda p: p.name.casefold())

    def get(self, persona_id: str) -> Persona:
        path = self._path(persona_id)
        if not path.exists():
            raise KeyError(persona_id)
        return Persona.from_card(json.loads(path.read_text("utf-8")))

    def save(self, persona: Persona) -> None:
        path = self._path(persona.id)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(persona.to_card(), handle, ensure_ascii=False, indent=2)
        os.replace(tmp, path)

    def delete(self, persona_id: str) -> None:
        self._path(persona_id).unlink(missing_ok=True)

    def seed_samples(self) -> list[Persona]:
        """Copy the sample personas in on first use (when the library is empty)."""
        if any(self.directory.glob("*.json")):
            return []
        samples = [Persona.from_card(json.loads(p.read_text("utf-8"))) for p in sorted(SAMPLES.glob("*.json"))]
        for persona in samples:
            self.save(persona)
        return samples
