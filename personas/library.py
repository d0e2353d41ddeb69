"""PersonaLibrary: personas as Character Card V2 JSON files in one directory, with their avatars."""

from __future__ import annotations

import builtins
import io
import json
import warnings
from pathlib import Path

from personas.files import write_atomic
from personas.limits import MAX_AVATAR_BYTES
from personas.model import Persona, is_valid_id

SAMPLES = Path(__file__).parent / "samples"
MAX_AVATAR_SIDE = 8192
AVATAR_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}


class AvatarError(ValueError):
    """An image that cannot be used as an avatar; the message is meant for the user."""


class PersonaLibrary:
    """``<directory>/<persona id>.json``, one card per file, and ``<persona id>.png``, its avatar.

    Files are written atomically.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, persona_id: str, suffix: str = ".json") -> Path:
        if not is_valid_id(persona_id):  # ids reach file names: no traversal, no surprises
            raise ValueError(f"invalid persona id {persona_id!r}")
        return self.directory / f"{persona_id}{suffix}"

    def _write(self, path: Path, data: bytes) -> None:
        write_atomic(path, data)

    def list(self) -> list[Persona]:
        personas = [Persona.from_card(json.loads(p.read_text("utf-8"))) for p in sorted(self.directory.glob("*.json"))]
        return sorted(personas, key=lambda p: p.name.casefold())

    def get(self, persona_id: str) -> Persona:
        path = self._path(persona_id)
        if not path.exists():
            raise KeyError(persona_id)
        return Persona.from_card(json.loads(path.read_text("utf-8")))

    def save(self, persona: Persona) -> None:
        card = json.dumps(persona.to_card(), ensure_ascii=False, indent=2)
        self._write(self._path(persona.id), card.encode("utf-8"))

    def import_card(self, data: bytes, file_name: str) -> tuple[Persona, builtins.list[str]]:
        """Store a Character Card (V1, V2 or V3; PNG, JSON or CHARX) and its image as the avatar;
        returns the persona and notes for the user (what was left out, an image not kept).
        :class:`personas.cards.CardError` (nothing stored) when the card is refused. Its
        background goes into memory separately (the store is not the library's)."""
        from personas.cards import parse_card

        parsed = parse_card(data, file_name)
        notes = builtins.list(parsed.notes)
        if parsed.avatar_png:
            try:
                self.save_avatar(parsed.persona.id, parsed.avatar_png)
            except AvatarError as exc:
                notes.append(f"Its image was not kept as the avatar: {exc}")
        self.save(parsed.persona)
        return parsed.persona, notes

    def delete(self, persona_id: str) -> None:
        """Forget the persona's card and its avatar (its memories live in the MemoryStore)."""
        self._path(persona_id).unlink(missing_ok=True)
        self.delete_avatar(persona_id)

    # -- avatars ---------------------------------------------------------------------------------

    def save_avatar(self, persona_id: str, image: bytes) -> None:
        """Store a PNG, JPEG or WebP image as the persona's avatar, converted to PNG.

        :class:`AvatarError` (nothing stored) for anything over ``MAX_AVATAR_BYTES`` or
        ``MAX_AVATAR_SIDE`` pixels a side, or that is not one of those images. The image is
        re-encoded, so metadata (EXIF, a card's text chunks) is not kept.
        """
        path = self._path(persona_id, ".png")
        self._write(path, to_png(image))

    def avatar_path(self, persona_id: str) -> Path | None:
        path = self._path(persona_id, ".png")
        return path if path.is_file() else None

    def avatar(self, persona_id: str) -> bytes | None:
        path = self.avatar_path(persona_id)
        try:
            return path.read_bytes() if path else None
        except FileNotFoundError:  # deleted in between
            return None

    def delete_avatar(self, persona_id: str) -> None:
        self._path(persona_id, ".png").unlink(missing_ok=True)

    def seed_samples(self) -> builtins.list[Persona]:
        """Copy the sample personas in on first use (when the library is empty)."""
        if any(self.directory.glob("*.json")):
            return []
        samples = [Persona.from_card(json.loads(p.read_text("utf-8"))) for p in sorted(SAMPLES.glob("*.json"))]
        for persona in samples:
            self.save(persona)
        return samples

    def is_unchanged_sample(self, persona_id: str) -> bool:
        """Whether the persona is a sample :meth:`seed_samples` copied in, unchanged since (a
        backup restored into a fresh data folder may replace it: see ``memory.backup``)."""
        sample = SAMPLES / f"{persona_id}.json"
        if not is_valid_id(persona_id) or not sample.is_file():
            return False
        try:
            return self.get(persona_id) == Persona.from_card(json.loads(sample.read_text("utf-8")))
        except (KeyError, ValueError, TypeError):
            return False


def to_png(image: bytes) -> bytes:
    """The image as PNG bytes (first frame, EXIF orientation applied); :class:`AvatarError` if unusable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(image) > MAX_AVATAR_BYTES:
        raise AvatarError(
            f"The image is {len(image) / 2**20:.1f} MB; avatars are limited to {MAX_AVATAR_BYTES // 2**20} MB."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image), formats=list(AVATAR_FORMATS)) as img:
                width, height = img.size  # read from the header, before any pixel is decoded
                if max(width, height) > MAX_AVATAR_SIDE:
                    raise AvatarError(
                        f"The image is {width}×{height} pixels; avatars are limited to "
                        f"{MAX_AVATAR_SIDE}×{MAX_AVATAR_SIDE}."
                    )
                img.seek(0)  # the first frame of an animation
                picture = ImageOps.exif_transpose(img)
                has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
                picture = picture.convert("RGBA" if has_alpha else "RGB")
                buffer = io.BytesIO()
                picture.save(buffer, "PNG")
                return buffer.getvalue()
    except AvatarError:
        raise
    except UnidentifiedImageError:
        raise AvatarError("The file is not a PNG, JPEG or WebP image.") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AvatarError(f"The image cannot be read ({exc}).") from None
