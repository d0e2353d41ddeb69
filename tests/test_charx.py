"""CHARX cards (Character Card V3's zip: ``card.json`` and ``assets/``): import, the main icon as
the avatar, refusals (corrupt, unsafe names, encryption, bombs) and fuzzing; the Personas page.

The archives are built here in the shapes the V3 spec (github.com/kwaroran/character-card-spec-v3,
MIT) and RisuAI's exports describe: ``card.json`` at the root, ``embeded://`` asset URIs,
``assets/icon/image/1.png``, ``x_meta/1.json``, an opaque ``module.risum``, and RisuAI's JPEG with
the zip after it.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from PIL import Image

from personas import PersonaLibrary, cards
from personas.cards import CardError, parse_card
from personas.limits import MAX_AVATAR_BYTES, MAX_CARD_BYTES
from tests.fuzzing import fuzz
from tests.harness import new_app


def image(colour: tuple[int, int, int], size: tuple[int, int] = (24, 36), kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return buffer.getvalue()


RED, BLUE = image((200, 0, 0)), image((0, 0, 200))


def v3(**data: Any) -> dict[str, Any]:
    return {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": "Juno Ash",
            "description": "A lamplighter in a city of fog.",
            "first_mes": "Mind the puddles, {{user}}.",
            "alternate_greetings": ["Evening."],
            "group_only_greetings": [],
            "tags": ["fog"],
            "nickname": "Ju",
            "creation_date": 1718000000,
            "character_book": {
                "entries": [
                    {
                        "keys": ["lamp"],
                        "content": "Lamps are lit at six.",
                        "enabled": True,
                        "insertion_order": 0,
                        "use_regex": False,
                        "extensions": {},
                    }
                ],
                "extensions": {},
            },
            "extensions": {"risuai": {"bias": [], "viewScreen": "none"}, "depth_prompt": {"depth": 0, "prompt": ""}},
            "assets": [
                {"type": "icon", "uri": "embeded://assets/icon/image/1.png", "name": "iconx", "ext": "png"},
                {"type": "x-risu-asset", "uri": "embeded://assets/other/image/2.png", "name": "smile", "ext": "png"},
                {"type": "icon", "uri": "embeded://assets/icon/image/3.png", "name": "main", "ext": "png"},
                {"type": "background", "uri": "ccdefault:", "name": "main", "ext": "png"},
            ],
            **data,
        },
    }


def charx(card: Any = None, members: dict[str, bytes] | None = None, *, raw_card: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", raw_card if raw_card is not None else json.dumps(v3() if card is None else card))
        default = {
            "module.risum": b"\x00\x01risum",
            "x_meta/1.json": b'{"type": "PNG"}',
            "assets/icon/image/1.png": BLUE,
            "assets/other/image/2.png": BLUE,
            "assets/icon/image/3.png": RED,
        }
        for name, data in (default if members is None else members).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_charx_card_with_its_main_icon() -> None:
    parsed = parse_card(charx(), "juno.charx")
    persona = parsed.persona
    assert persona.name == "Juno Ash" and persona.first_mes == "Mind the puddles, {{user}}."
    assert persona.alternate_greetings == ["Evening."] and persona.tags == ["fog"]
    assert persona.character_book["entries"][0]["content"] == "Lamps are lit at six."
    assert persona.extensions["risuai"] == {"bias": [], "viewScreen": "none"}  # kept for the round trip
    assert persona.extra["nickname"] == "Ju" and len(persona.extra["assets"]) == 4
    assert parsed.avatar_png == RED and parsed.notes == ()  # the icon named "main", not the first


def test_a_risu_jpeg_with_the_zip_after_it() -> None:
    hybrid = image((10, 10, 10), kind="JPEG") + charx()
    parsed = parse_card(hybrid, "juno.jpeg")
    assert parsed.persona.name == "Juno Ash" and parsed.avatar_png == RED


@pytest.mark.parametrize(
    ("assets", "members", "avatar", "note"),
    [
        ([{"type": "icon", "uri": "embeded://assets/icon/image/1.png", "name": "x", "ext": "png"}], None, BLUE, None),
        ([{"type": "icon", "uri": "assets/icon/image/3.png", "name": "main", "ext": "png"}], None, RED, None),
        (None, {"assets/icon/image/9.webp": BLUE}, BLUE, None),  # no assets list: the icon folder
        ([{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}], None, None, None),
        ([{"type": "icon", "uri": "https://example.com/a.png", "name": "main", "ext": "png"}], None, None, "a link"),
        ([{"type": "icon", "uri": "embeded://assets/gone.png", "name": "main", "ext": "png"}], None, None, "not in"),
        (["junk", {"type": "icon", "uri": 5}], None, None, None),
        ([], {}, None, None),
    ],
)
def test_which_icon_becomes_the_avatar(assets: Any, members: Any, avatar: bytes | None, note: str | None) -> None:
    card = v3()
    if assets is None:
        del card["data"]["assets"]
    else:
        card["data"]["assets"] = assets
    parsed = parse_card(charx(card, members))
    assert parsed.avatar_png == avatar
    assert (note is None) == (not parsed.notes) and all(note in n for n in parsed.notes)


def test_an_icon_over_the_avatar_limit_is_left_out_with_a_note() -> None:
    big = b"\x89PNG" + bytes(MAX_AVATAR_BYTES)
    parsed = parse_card(charx(members={"assets/icon/image/3.png": big}))
    assert parsed.persona.name == "Juno Ash" and parsed.avatar_png is None
    assert "Its icon was not kept" in parsed.notes[0] and "8,388,608" in parsed.notes[0]


def _patched_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """The archive with the unpacked size of ``name`` in its central directory set to ``size``."""
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + struct.unpack("<H", data[at + 28 : at + 30])[0]] != name:
        at = data.index(b"PK\x01\x02", at + 46)
    return data[: at + 24] + struct.pack("<I", size) + data[at + 28 :]


def _encrypted() -> bytes:
    data = bytearray(charx())
    at = data.index(b"PK\x01\x02")
    data[at + 8] |= 0x1  # the central directory's "encrypted" flag of card.json
    return bytes(data)


def _symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("card.json", json.dumps(v3()))
        link = zipfile.ZipInfo("assets/icon/image/3.png")
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


BOMB = charx(raw_card=b'{"spec": "chara_card_v3", "data": {"name": "x", "description": "' + b" " * (MAX_CARD_BYTES + 1))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (charx()[:200], "the archive is corrupt"),
        (b"PK\x03\x04" + b"\x00" * 100, "the archive is corrupt"),
        (charx(members={}, raw_card=b"{not json"), "its card.json is not valid JSON"),
        (charx(members={}, raw_card=b"\xff\xfe"), "its card.json is not UTF-8 text"),
        (charx({"spec": "chara_card_v2", "data": {"description": "x"}}, {}), "it has no 'name'"),
        (charx(members={"../../etc/cron.d/x": b"boom"}), "which points outside it"),
        (charx(members={"/etc/x": b"boom"}), "which points outside it"),
        (charx(members={"C:/x": b"boom"}), "which points outside it"),
        (charx(members={"assets\\..\\..\\x": b"boom"}), "which points outside it"),
        (_symlink(), "a symbolic link"),
        (_encrypted(), "is encrypted"),
        (BOMB, "the limit is 20,971,520"),
        (_patched_sizes(BOMB, b"card.json", 1_000), "corrupt"),  # a header that lies about the size
    ],
)
def test_bad_archives_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(CardError) as error:
        parse_card(data, "bad.charx")
    assert str(error.value).startswith("bad.charx is not a character card: ")
    assert why in str(error.value)
    assert len(BOMB) < 100_000  # the bomb is small before it is unpacked


def test_a_card_without_card_json_and_too_many_members(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("character.json", json.dumps(v3()))
    with pytest.raises(CardError, match=r"has no card\.json at its root"):
        parse_card(buffer.getvalue())
    monkeypatch.setattr(cards, "MAX_CHARX_MEMBERS", 3)
    with pytest.raises(CardError, match="holds 6 files; the limit is 3"):
        parse_card(charx())
    monkeypatch.setattr(cards, "MAX_CHARX_MEMBERS", 100)
    monkeypatch.setattr(cards, "MAX_CHARX_UNPACKED", 1_000)
    with pytest.raises(CardError, match="MB unpacked; the limit is 0 MB"):
        parse_card(charx())


# --- fuzzing --------------------------------------------------------------------------------

VALID = charx()


def _check(data: bytes) -> None:
    try:
        parsed = parse_card(data, "fuzz.charx")
    except CardError as exc:
        assert str(exc).startswith("fuzz.charx is not a character card: ")
        return
    assert parsed.persona.name.strip()
    assert parsed.avatar_png is None or len(parsed.avatar_png) <= MAX_AVATAR_BYTES


@fuzz(300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_flipped_bytes(flips: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for at, value in flips:
        data[at] = value
    _check(bytes(data))


@fuzz(150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
        st.binary(max_size=50),
        max_size=5,
    ),
    st.one_of(st.none(), st.binary(max_size=200), st.just(json.dumps(v3()).encode())),
)
def test_fuzz_archives_of_any_members(members: dict[str, bytes], card: bytes | None) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if card is not None:
            archive.writestr("card.json", card)
        for name, data in members.items():
            if name != "card.json":
                archive.writestr(name, data)
    _check(buffer.getvalue())


# --- the Personas page ------------------------------------------------------------------------


def test_the_personas_page_imports_a_charx_card(app_env: Path) -> None:
    at = new_app()
    at.switch_page("pages/personas.py").run()
    at.file_uploader(key="import_file").set_value(("juno.charx", charx(), "application/zip"))
    at = at.button(key="import_submit").click().run()
    assert not at.exception and not at.error
    library = PersonaLibrary(app_env / "personas")
    (juno,) = [p for p in library.list() if p.name == "Juno Ash"]
    with Image.open(io.BytesIO(library.avatar(juno.id))) as avatar:
        assert avatar.convert("RGB").getpixel((3, 3)) == (200, 0, 0)
    at.file_uploader(key="import_file").set_value(("evil.charx", charx(members={"../x": b"1"}), "application/zip"))
    at = at.button(key="import_submit").click().run()
    assert "which points outside it" in at.error[0].value
    assert len(library.list()) == 4  # the three samples and Juno: nothing stored for the refused one
