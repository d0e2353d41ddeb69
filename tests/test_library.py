"""PersonaLibrary: cards as JSON files, avatars as PNG files beside them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from personas import Persona, PersonaLibrary
from personas.library import MAX_AVATAR_BYTES, AvatarError, to_png


def image_bytes(fmt: str, size: tuple[int, int] = (30, 45), mode: str = "RGB", **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 40, 90) if mode == "RGB" else (200, 40, 90, 128)).save(buffer, fmt, **save)
    return buffer.getvalue()


def opened(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return img


@pytest.fixture
def library(tmp_path: Path) -> PersonaLibrary:
    return PersonaLibrary(tmp_path / "personas")


def test_save_get_list_delete(library: PersonaLibrary) -> None:
    zed, amy = Persona(id="zed-1", name="Zed", tags=["a"]), Persona(id="amy-1", name="amy", background="lore")
    library.save(zed)
    library.save(amy)
    assert [p.name for p in library.list()] == ["amy", "Zed"]  # by name, case-insensitively
    assert library.get("zed-1") == zed
    assert json.loads((library.directory / "amy-1.json").read_text("utf-8"))["spec"] == "chara_card_v2"
    library.delete("zed-1")
    assert [p.id for p in library.list()] == ["amy-1"]
    with pytest.raises(KeyError):
        library.get("zed-1")
    assert not list(library.directory.glob("*.tmp"))


def test_ids_cannot_escape_the_directory(library: PersonaLibrary) -> None:
    for bad in ("../evil", "a/b", "", "UPPER", "x" * 80):
        with pytest.raises(ValueError, match="invalid persona id"):
            library.save_avatar(bad, image_bytes("PNG"))
        with pytest.raises(ValueError, match="invalid persona id"):
            library.avatar(bad)


def test_seed_samples_only_into_an_empty_library(library: PersonaLibrary) -> None:
    assert {p.id for p in library.seed_samples()} == {"mara-voss", "elias-thorne", "juniper-hale"}
    assert library.seed_samples() == []
    assert len(library.list()) == 3


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_avatar_is_stored_as_png_beside_the_card(library: PersonaLibrary, fmt: str) -> None:
    library.save(Persona(id="zoe-1", name="Zoë"))
    assert library.avatar("zoe-1") is None and library.avatar_path("zoe-1") is None
    library.save_avatar("zoe-1", image_bytes(fmt))
    assert library.avatar_path("zoe-1") == library.directory / "zoe-1.png"
    img = opened(library.avatar("zoe-1"))
    assert img.size == (30, 45) and img.mode == "RGB"
    assert [p.id for p in library.list()] == ["zoe-1"]  # the PNG is not mistaken for a card


def test_avatar_keeps_transparency_and_drops_metadata(library: PersonaLibrary) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", "eyJuYW1lIjogIngifQ==")  # a card's text chunk travels with a PNG card
    info.add_text("Comment", "private")
    library.save_avatar("zoe-1", image_bytes("PNG", mode="RGBA", pnginfo=info))
    img = opened(library.avatar("zoe-1"))
    assert img.mode == "RGBA" and img.getpixel((0, 0))[3] == 128
    assert "chara" not in img.info and "Comment" not in img.info


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    img = opened(to_png(image_bytes("JPEG", size=(40, 20), exif=exif)))
    assert img.size == (20, 40)


def test_replacing_and_deleting_the_avatar(library: PersonaLibrary) -> None:
    library.save(Persona(id="zoe-1", name="Zoë"))
    library.save_avatar("zoe-1", image_bytes("PNG", size=(10, 10)))
    library.save_avatar("zoe-1", image_bytes("PNG", size=(20, 20)))
    assert opened(library.avatar("zoe-1")).size == (20, 20)
    library.delete_avatar("zoe-1")
    assert library.avatar("zoe-1") is None
    library.save_avatar("zoe-1", image_bytes("PNG"))
    library.delete("zoe-1")  # the card and its avatar
    assert not list(library.directory.iterdir())


def test_too_many_bytes_refused_before_decoding(library: PersonaLibrary) -> None:
    with pytest.raises(AvatarError, match=r"avatars are limited to 8 MB"):
        library.save_avatar("zoe-1", b"\x89PNG" + b"\x00" * MAX_AVATAR_BYTES)
    assert library.avatar("zoe-1") is None


def test_too_many_pixels_refused(library: PersonaLibrary) -> None:
    wide = image_bytes("PNG", size=(8193, 1))
    with pytest.raises(AvatarError, match=r"8193×1 pixels; avatars are limited to 8192×8192"):
        library.save_avatar("zoe-1", wide)
    assert library.avatar("zoe-1") is None
    assert opened(to_png(image_bytes("PNG", size=(8192, 1)))).size == (8192, 1)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", image_bytes("GIF"), image_bytes("BMP"), b"<svg xmlns='http://www.w3.org/2000/svg'/>"],
    ids=["empty", "text", "gif", "bmp", "svg"],
)
def test_other_files_refused(library: PersonaLibrary, data: bytes) -> None:
    with pytest.raises(AvatarError, match="not a PNG, JPEG or WebP image"):
        library.save_avatar("zoe-1", data)
    assert library.avatar("zoe-1") is None


def test_truncated_image_refused(library: PersonaLibrary) -> None:
    data = image_bytes("PNG", size=(200, 200), mode="RGB")
    with pytest.raises(AvatarError, match="cannot be read"):
        library.save_avatar("zoe-1", data[: len(data) // 2])
    assert library.avatar("zoe-1") is None


def test_decompression_bomb_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(AvatarError):
        to_png(image_bytes("PNG", size=(20, 20)))


def test_import_card_stores_the_persona_and_its_image(library: PersonaLibrary) -> None:
    from personas.cards import export_png

    wren = Persona(id="wren", name="Wren", background="Wren keeps the Saltmarsh lighthouse.")
    persona, notes = library.import_card(export_png(wren, image_bytes("PNG")), "wren.png")
    assert persona.name == "Wren" and library.get(persona.id).background == wren.background
    assert library.avatar(persona.id) is not None and opened(library.avatar(persona.id)).size == (30, 45)
    assert notes == []


def test_import_card_refused_stores_nothing(library: PersonaLibrary) -> None:
    from personas.cards import CardError

    with pytest.raises(CardError):
        library.import_card(b'{"spec": "chara_card_v2", "data": 7}', "broken.json")
    assert library.list() == []


def test_import_card_with_an_unusable_image_keeps_the_card_and_says_so(library: PersonaLibrary, monkeypatch) -> None:
    from personas import cards
    from personas.cards import export_png

    real = cards.parse_card

    def with_a_bad_image(data: bytes, name: str):
        from dataclasses import replace

        return replace(real(data, name), avatar_png=b"not an image")

    monkeypatch.setattr(cards, "parse_card", with_a_bad_image)
    persona, notes = library.import_card(export_png(Persona(id="tobin", name="Tobin")), "tobin.png")
    assert library.get(persona.id).name == "Tobin" and library.avatar(persona.id) is None
    assert len(notes) == 1 and notes[0].startswith("Its image was not kept as the avatar:")
