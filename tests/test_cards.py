"""Character Card import/export: real JSON and PNG files, refusals, and fuzzing of the parser."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from personas import Persona, PersonaLibrary, cards, limits
from personas.cards import MAX_CARD_BYTES, CardError, ParsedCard, export_json, export_png, parse_card
from personas.limits import MAX_AVATAR_BYTES, MAX_CARD_JSON_BYTES, MAX_NAME_CHARS, MAX_TEXT_CHARS
from tests.fuzzing import fuzz

BOOK = {
    "name": "Reach lore",
    "scan_depth": 3,
    "token_budget": 200,
    "extensions": {"other_app": {"x": 1}},
    "entries": [
        {"keys": ["Kestrel"], "content": "The Kestrel is an airship.", "extensions": {}, "enabled": True,
         "insertion_order": 1, "use_regex": False},
    ],
}  # fmt: skip


def rich_persona() -> Persona:
    return Persona(
        id="mara-1",
        name="Mara Voss",
        description="Captain of the {{char}}-class Kestrel; meets {{user}}.",
        personality="Blunt.",
        scenario="Quarterdeck. ☁️",
        first_mes="So you're {{user}}.",
        mes_example="<START>\n{{user}}: Hi\n{{char}}: Ahoy.",
        creator_notes="notes",
        system_prompt="Be {{char}}.",
        post_history_instructions="Stay in character.",
        alternate_greetings=["Ahoy, {{user}}.", "Who goes there?"],
        tags=["fantasy", "airship"],
        creator="someone",
        character_version="1.2",
        background="Born in Port Ash.",
        extensions={"depth_prompt": {"prompt": "x", "depth": 4}, "talkativeness": "0.5"},
        character_book=BOOK,
        extra={"nickname": "Cap", "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]},
    )


def png_bytes(
    size: tuple[int, int] = (8, 8), text: dict[str, str] | None = None, ztext: dict[str, str] | None = None
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (ztext or {}).items():
        info.add_text(key, value, zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def b64_json(card: Any) -> str:
    return base64.b64encode(json.dumps(card).encode()).decode()


def v2(**data: Any) -> dict[str, Any]:
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Mara", **data}}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_chunk(png: bytes, extra: bytes) -> bytes:
    """The PNG with a raw chunk inserted before IEND (the last 12 bytes)."""
    return png[:-12] + extra + png[-12:]


def same_except_id(a: Persona, b: Persona) -> None:
    assert replace(a, id="x") == replace(b, id="x")


# --- round trips ----------------------------------------------------------------------------


def test_json_round_trip_keeps_everything() -> None:
    persona = rich_persona()
    raw = export_json(persona)
    assert json.loads(raw)["spec"] == "chara_card_v2"
    assert b"\n" not in raw and b'", "' not in raw  # compact: a card exports at about its own size
    parsed = parse_card(raw, "mara.json")
    assert parsed.avatar_png is None
    same_except_id(parsed.persona, persona)
    assert parsed.persona.id != persona.id and parsed.persona.id.startswith("mara-voss-")


def test_png_round_trip_keeps_everything_and_the_avatar(tmp_path: Path) -> None:
    persona = rich_persona()
    avatar = png_bytes((32, 48))
    path = tmp_path / "mara.png"
    path.write_bytes(export_png(persona, avatar))
    parsed = parse_card(path.read_bytes(), path.name)
    same_except_id(parsed.persona, persona)
    with Image.open(path) as img, Image.open(io.BytesIO(parsed.avatar_png)) as kept:
        assert img.size == (32, 48)
        assert set(img.text) == {"chara"}  # one copy of the card
        assert json.loads(base64.b64decode(img.text["chara"]))["spec"] == "chara_card_v2"
        assert not kept.text and kept.tobytes() == img.tobytes()  # the avatar comes without the card


def test_png_export_without_avatar_makes_a_placeholder() -> None:
    raw = export_png(Persona(id="j", name="juniper"))
    with Image.open(io.BytesIO(raw)) as img:
        assert img.size == (400, 600)
    assert parse_card(raw).persona.name == "juniper"


def test_png_export_replaces_existing_card_chunks() -> None:
    old = {"spec": "chara_card_v2", "data": {"name": "Old"}}
    avatar = png_bytes(text={"chara": b64_json(old), "Title": "kept"}, ztext={"ccv3": b64_json(old)})
    raw = export_png(Persona(id="n", name="New"), avatar)
    assert parse_card(raw).persona.name == "New"
    with Image.open(io.BytesIO(raw)) as img:
        assert img.text["Title"] == "kept"
    assert raw.count(b"tEXtchara") == 1 and b"ccv3" not in raw


def test_png_export_converts_other_formats_and_refuses_non_images() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 12), "red").save(buffer, "JPEG")
    raw = export_png(Persona(id="j", name="J"), buffer.getvalue())
    assert raw.startswith(cards.PNG_SIGNATURE)
    assert parse_card(raw).persona.name == "J"
    with pytest.raises(CardError, match="avatar is not an image"):
        export_png(Persona(id="j", name="J"), b"not an image")


def test_v3_png_with_both_chunks_prefers_ccv3() -> None:
    v3 = {"spec": "chara_card_v3", "spec_version": "3.0",
          "data": {"name": "Three", "group_only_greetings": ["hi all"], "nickname": "Tri"}}  # fmt: skip
    raw = png_bytes(text={"chara": b64_json(v2(name="Two")), "ccv3": b64_json(v3)})
    persona = parse_card(raw).persona
    assert persona.name == "Three"
    assert persona.extra == {"group_only_greetings": ["hi all"], "nickname": "Tri"}
    assert parse_card(export_json(persona)).persona.extra == persona.extra


@pytest.mark.parametrize(
    "ccv3",
    [
        chunk(b"tEXt", b"ccv3\x00not*base64!"),
        chunk(b"tEXt", b"ccv3\x00" + base64.b64encode(b"{not json")),
        chunk(b"tEXt", b"ccv3\x00" + b64_json({"spec": "chara_card_v3", "data": {"name": ""}}).encode()),
        chunk(b"zTXt", b"ccv3\x00\x00" + zlib.compress(b"A" * (MAX_CARD_BYTES + 1), 9)),
    ],
    ids=["bad base64", "bad json", "bad card", "bomb"],
)
def test_an_unusable_ccv3_chunk_falls_back_to_chara(ccv3: bytes) -> None:
    raw = with_chunk(png_bytes(text={"chara": b64_json(v2(name="Two"))}), ccv3)
    assert parse_card(raw).persona.name == "Two"


def test_when_neither_chunk_is_usable_the_ccv3_problem_is_told() -> None:
    raw = with_chunk(png_bytes(text={"chara": "not*base64!"}), chunk(b"tEXt", b"ccv3\x00" + base64.b64encode(b"{")))
    with pytest.raises(CardError, match="'ccv3' text in the PNG is not valid JSON"):
        parse_card(raw)


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_compressed_text_chunks_are_read(kind: str) -> None:
    payload = zlib.compress(b64_json(v2(description="zipped")).encode())
    body = b"chara\x00\x00" + payload if kind == "zTXt" else b"chara\x00\x01\x00en\x00\x00" + payload
    persona = parse_card(with_chunk(png_bytes(), chunk(kind.encode(), body))).persona
    assert persona.description == "zipped"


def test_v1_card_is_accepted() -> None:
    v1 = {"name": "Old", "description": "d", "personality": "p", "scenario": "s", "first_mes": "f", "mes_example": "m"}
    persona = parse_card(json.dumps(v1).encode()).persona
    assert (persona.name, persona.first_mes, persona.mes_example) == ("Old", "f", "m")


def test_placeholders_kept_nul_removed_and_null_means_empty() -> None:
    card = v2(name="Ma\x00ra", first_mes="Hi {{user}}, I am {{char}}.", creator=None, tags=None)
    persona = parse_card(json.dumps(card).encode()).persona
    assert persona.name == "Mara"
    assert persona.first_mes == "Hi {{user}}, I am {{char}}."
    assert (persona.creator, persona.tags) == ("", [])


def test_lone_surrogates_are_replaced_so_the_card_can_be_saved() -> None:
    persona = parse_card(b'{"spec": "chara_card_v2", "data": {"name": "A\\ud800B"}}').persona
    assert persona.name == "A\ufffdB"
    export_json(persona).decode("utf-8")


def test_background_of_our_own_export_is_kept() -> None:
    persona = parse_card(export_json(Persona(id="x-1", name="X", background="Long lore."))).persona
    assert persona.background == "Long lore."
    assert persona.id != "x-1"


# --- refusals -------------------------------------------------------------------------------


def _refusals() -> list[tuple[str, bytes, str]]:
    def j(card: Any) -> bytes:
        return json.dumps(card).encode()

    def png_card(text: str) -> bytes:
        return png_bytes(text={"chara": text})

    return [
        ("not utf-8", b"\xff\xfe\x00garbage", "neither a PNG image nor UTF-8"),
        ("not json", b"name: Mara", "not valid JSON"),
        ("json array", b"[1, 2]", "the JSON is a list"),
        ("missing spec", j({"data": {"name": "Mara"}}), "there is no 'spec'"),
        ("wrong spec", j({"spec": "chara_card_v9", "data": {"name": "Mara"}}), "'spec' is \"chara_card_v9\""),
        ("data not object", j({"spec": "chara_card_v2", "data": "Mara"}), "'data' is text"),
        ("missing name", j(v2(name=None)), "no 'name'"),
        ("blank name", j(v2(name="  ")), "no 'name'"),
        ("name not text", j(v2(name=42)), "'name' must be text, not a number"),
        ("description not text", j(v2(description=["a"])), "'description' must be text, not a list"),
        ("tags not list", j(v2(tags="a, b")), "'tags' must be a list of texts"),
        ("tags not texts", j(v2(tags=["a", 1])), "'tags' must be a list of texts"),
        ("greetings not texts", j(v2(alternate_greetings=[{}])), "'alternate_greetings' must be a list"),
        ("extensions not object", j(v2(extensions=[])), "'extensions' must be an object"),
        ("book not object", j(v2(character_book="lore")), "'character_book' must be an object"),
        ("our extension bad", j(v2(extensions={"persona_chat": {"background": 1}})), "persona_chat"),
        ("NaN", b'{"spec": "chara_card_v2", "data": {"name": "M", "x": NaN}}', "NaN"),
        ("deep nesting", j(v2(extensions={"x": json.loads("[" * 100 + "]" * 100)})), "nested more than"),
        ("very deep nesting", b"[" * 100_000 + b"]" * 100_000, "cannot read"),
        ("huge field", j(v2(description="x" * 500_001)), "'data.description' is 500,001 characters"),
        ("huge nested field", j(v2(extensions={"a": ["y" * 500_001]})), "'data.extensions.a[0]'"),
        ("long name", j(v2(name="n" * 201)), "the name is 201 characters long; the limit is 200"),
        ("huge number", b'{"spec": "chara_card_v2", "data": {"name": "M", "x": 1e999}}', "'data.x' is a number"),
        ("plain png", png_bytes(), "no 'chara' or 'ccv3' text chunk"),
        ("corrupt base64", png_card("not*base64!"), "not valid base64"),
        ("base64 not json", png_card(base64.b64encode(b"hello").decode()), "'chara' text in the PNG is not valid JSON"),
        ("base64 not utf-8", png_card(base64.b64encode(b"\xff\xfe").decode()), "'chara' text in the PNG is not UTF-8"),
        ("base64 bad card", png_card(b64_json({"spec": "chara_card_v2", "data": {}})), "no 'name'"),
        ("truncated png", png_card(b64_json(v2()))[:-30], "truncated or corrupt"),
        ("png no header", cards.PNG_SIGNATURE + chunk(b"IEND", b""), "IHDR"),
    ]


@pytest.mark.parametrize(("data", "message"), [r[1:] for r in _refusals()], ids=[r[0] for r in _refusals()])
def test_refusals_explain_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(CardError) as info:
        parse_card(data, "card.bin")
    assert str(info.value).startswith("card.bin is not a character card: ")
    assert message in str(info.value)


def test_message_without_filename() -> None:
    with pytest.raises(CardError, match=r"^This file is not a character card: "):
        parse_card(b"{}")


def test_21_mb_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parsed a file over the limit")

    monkeypatch.setattr(cards.json, "loads", fail)
    monkeypatch.setattr(cards, "_chunks", fail)
    padded = json.dumps(v2(description="x" * 100)).encode() + b" " * (21 * 1024 * 1024)
    assert len(padded) > MAX_CARD_BYTES
    with pytest.raises(CardError, match=r"it is 21\.0 MB and cards are limited to 20 MB"):
        parse_card(padded)
    with pytest.raises(CardError, match="limited to 20 MB"):
        parse_card(cards.PNG_SIGNATURE + bytes(21 * 1024 * 1024))


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_compressed_chunk_bomb_is_refused(kind: str) -> None:
    bomb = zlib.compress(b"A" * (MAX_CARD_BYTES + 1), 9)  # about 20 KB that inflates past the limit
    body = b"chara\x00\x00" + bomb if kind == "zTXt" else b"chara\x00\x01\x00\x00\x00" + bomb
    with pytest.raises(CardError, match="expands past"):
        parse_card(with_chunk(png_bytes(), chunk(kind.encode(), body)))


def test_corrupt_compressed_chunk_is_refused() -> None:
    with pytest.raises(CardError, match="compressed 'chara' text chunk is corrupt"):
        parse_card(with_chunk(png_bytes(), chunk(b"zTXt", b"chara\x00\x00not zlib")))


def test_export_refuses_an_avatar_import_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cards, "MAX_AVATAR_PIXELS", 63)
    with pytest.raises(CardError, match="8×8 pixels"):
        export_png(Persona(id="j", name="J"), png_bytes((8, 8)))


def test_image_bomb_is_refused_from_the_header() -> None:
    card = chunk(b"tEXt", b"chara\x00" + b64_json(v2()).encode())
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    with pytest.raises(CardError, match="100000×100000 pixels"):
        parse_card(cards.PNG_SIGNATURE + header + card + chunk(b"IEND", b""))


# --- fuzzing --------------------------------------------------------------------------------

PLAIN_PNG = png_bytes()
FUZZ = fuzz(300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
card_keys = st.sampled_from([*cards.TEXT_FIELDS, *cards.LIST_FIELDS, *cards.OBJECT_FIELDS, "x"])
card_data = st.dictionaries(card_keys, json_values, max_size=8) | st.builds(
    lambda name, rest: {**rest, "name": name}, st.text(min_size=1), st.dictionaries(card_keys, json_values, max_size=8)
)
cards_ish = st.one_of(
    st.fixed_dictionaries({"spec": st.sampled_from(["chara_card_v2", "chara_card_v3", "v1", 2]), "data": card_data}),
    card_data,
    json_values,
)


def _parses_or_refuses(data: bytes) -> None:
    try:
        result = parse_card(data)
    except CardError:
        return
    assert isinstance(result, ParsedCard)
    persona = result.persona  # whatever is accepted exports, and the export imports as it was
    same_except_id(parse_card(export_json(persona)).persona, persona)
    same_except_id(parse_card(export_png(persona, result.avatar_png)).persona, persona)


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    _parses_or_refuses(data)


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes_after_png_signature(data: bytes) -> None:
    _parses_or_refuses(cards.PNG_SIGNATURE + data)


@FUZZ
@given(cards_ish)
def test_fuzz_json_cards(card: Any) -> None:
    _parses_or_refuses(json.dumps(card).encode())


@FUZZ
@given(cards_ish, st.sampled_from(["chara", "ccv3"]))
def test_fuzz_png_cards(card: Any, keyword: str) -> None:
    _parses_or_refuses(with_chunk(PLAIN_PNG, chunk(b"tEXt", keyword.encode() + b"\x00" + b64_json(card).encode())))


def test_imported_card_survives_the_library(tmp_path: Path) -> None:
    library = PersonaLibrary(tmp_path)
    persona = parse_card(export_png(rich_persona())).persona
    library.save(persona)
    assert library.get(persona.id) == persona


# --- what we export we can import -----------------------------------------------------------


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 bytes a pixel."""
    import random

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(side).randbytes(3 * side * side)).save(buffer, "PNG")
    return buffer.getvalue()


def persona_at_the_limits() -> Persona:
    """A name and a background at their limits, and a lorebook filling the card's JSON to exactly its limit."""
    words = ("storm harbour lantern " * (MAX_TEXT_CHARS // 22 + 1))[:MAX_TEXT_CHARS]
    entry = {"keys": ["storm"], "content": "", "extensions": {}, "enabled": True, "insertion_order": 0}
    book = {"extensions": {}, "entries": [dict(entry, content="k" * 4000) for _ in range(1900)]}
    persona = Persona(id="big-1", name="N" * MAX_NAME_CHARS, description="Ünïcode ☁️ \"quoted\"\n", background=words,
                      character_book=book)  # fmt: skip
    book["entries"].append(dict(entry, content=""))
    missing = MAX_CARD_JSON_BYTES - len(export_json(persona))
    book["entries"][-1]["content"] = "p" * missing
    return persona


def test_the_limits_add_up() -> None:
    assert MAX_TEXT_CHARS >= 350_000  # a 50,000-word background
    png_card = len(cards.PNG_SIGNATURE) + MAX_AVATAR_BYTES + limits.PNG_CARD_OVERHEAD
    assert png_card <= MAX_CARD_BYTES  # the largest avatar with the largest card still imports


def test_import_of_an_export_is_the_same_persona_at_the_limits() -> None:
    persona = persona_at_the_limits()
    limits.check(persona)  # what the form allows
    raw = export_json(persona)
    assert len(raw) == MAX_CARD_JSON_BYTES
    same_except_id(parse_card(raw).persona, persona)

    avatar = noise_png(1664)
    assert 0.98 * MAX_AVATAR_BYTES < len(avatar) <= MAX_AVATAR_BYTES
    png = export_png(persona, avatar)
    assert len(png) <= MAX_CARD_BYTES
    parsed = parse_card(png)
    same_except_id(parsed.persona, persona)
    with Image.open(io.BytesIO(parsed.avatar_png)) as kept, Image.open(io.BytesIO(avatar)) as original:
        assert kept.tobytes() == original.tobytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "N" * (MAX_NAME_CHARS + 1)}, "name is 201 characters long; the limit is 200"),
        ({"background": "b" * (MAX_TEXT_CHARS + 1)}, "is 500,001 characters long; the limit is 500,000"),
        ({"creator_notes": "c"}, "takes 8,388,609 bytes as JSON; the limit is 8,388,608 (8 MB)"),
    ],
    ids=["name", "text", "card"],
)
def test_one_past_a_limit_is_refused_by_the_form_and_by_import(change: dict[str, str], message: str) -> None:
    persona = replace(persona_at_the_limits(), **change)
    with pytest.raises(limits.LimitError, match=re.escape(message)):
        limits.check(persona)
    with pytest.raises(CardError, match=re.escape(message)):
        parse_card(card_json_unchecked(persona))


def card_json_unchecked(persona: Persona) -> bytes:
    return json.dumps(persona.to_card(), ensure_ascii=False).encode()


def test_an_avatar_over_its_limit_is_scaled_down_so_that_the_card_imports() -> None:
    avatar = noise_png(1800)
    assert len(avatar) > MAX_AVATAR_BYTES
    parsed = parse_card(export_png(rich_persona(), avatar))
    same_except_id(parsed.persona, rich_persona())
    assert len(parsed.avatar_png) <= MAX_AVATAR_BYTES
    with Image.open(io.BytesIO(parsed.avatar_png)) as kept:
        assert kept.width == kept.height and 1000 < kept.width < 1800
