"""Character Card import and export: V1, V2 and V3 cards, as JSON files, PNG images or CHARX archives.

Plain Python; never imports Streamlit. Cards come from strangers, so parsing is defensive: the size is
checked before anything is parsed, PNG chunks are read by hand (only the card's own text chunks are
inflated, with a cap), a CHARX zip is read member by member with caps (only ``card.json`` and the
main icon are unpacked; unsafe member names, encryption and bombs are refused), every field is
type-checked, and every refusal is a :class:`CardError` whose message tells the user what is wrong.
Import and export share ``personas.limits``: a card that imports exports within them, and what we
export imports again.

Spec: https://github.com/malfoyslastname/character-card-spec-v2 (V3 keeps the V2 fields and adds some;
we keep the ones we do not use in ``Persona.extra``). CHARX (github.com/kwaroran/character-card-spec-v3):
a zip with ``card.json`` at its root and the assets it names (``embeded://assets/icon/image/1.png``,
the spec's spelling); RisuAI also writes one after a JPEG, which zip readers accept.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import hashlib
import io
import json
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from personas import limits
from personas.limits import (
    MAX_AVATAR_BYTES,
    MAX_CARD_BYTES,
    ZIP_ERRORS,
    LimitError,
    card_json,
    clean_json,
)
from personas.model import CARD_SPEC, EXTENSION_KEY, Persona, make_id

MAX_AVATAR_PIXELS = 8192 * 8192  # below Pillow's own decompression-bomb limit
#: Members of a CHARX archive (a RisuAI card with 85 images has about 170, with their x_meta files).
MAX_CHARX_MEMBERS = 10_000
#: What a CHARX archive's members may add up to unpacked, by their headers (most are never unpacked).
MAX_CHARX_UNPACKED = 1 * 2**30

V3_SPEC = "chara_card_v3"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
JPEG_SIGNATURE = b"\xff\xd8\xff"
CHARX_CARD = "card.json"
EMBEDDED = "embeded://"  # sic: the V3 spec's scheme
CARD_KEYWORDS = ("ccv3", "chara")  # PNG text-chunk keywords, preferred first
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
TEXT_FIELDS = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
LIST_FIELDS = ("alternate_greetings", "tags")
OBJECT_FIELDS = ("extensions", "character_book")


class CardError(ValueError):
    """A file that is not a usable character card; the message is meant for the user."""


@dataclass(frozen=True)
class ParsedCard:
    persona: Persona  # with a new id
    #: The image without its card chunks, when the card was a PNG; a CHARX card's main icon as
    #: found (PNG, JPEG or WebP: ``PersonaLibrary.save_avatar`` converts it).
    avatar_png: bytes | None = None
    notes: tuple[str, ...] = ()  # what of the file was not kept, for the user


# --- import ---------------------------------------------------------------------------------


def parse_card(data: bytes, filename: str = "") -> ParsedCard:
    """Read a card from a PNG (``ccv3`` or ``chara`` text chunk), a CHARX archive or a JSON file;
    :class:`CardError` if it is not one.

    ``{{char}}`` and ``{{user}}`` are kept as they are: they are substituted at prompt time.
    """
    try:
        return _parse(bytes(data))
    except CardError as exc:
        raise CardError(f"{filename or 'This file'} is not a character card: {exc}") from None


def _parse(data: bytes) -> ParsedCard:
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"it is {len(data) / 2**20:.1f} MB and cards are limited to {MAX_CARD_BYTES // 2**20} MB.")
    if data.startswith(ZIP_SIGNATURE) or (data.startswith(JPEG_SIGNATURE) and zipfile.is_zipfile(io.BytesIO(data))):
        return _charx(data)
    if not data.startswith(PNG_SIGNATURE):
        return ParsedCard(_persona(_json(data, "the file", "the file is neither a PNG image nor UTF-8 JSON text.")))
    failures: list[CardError] = []
    for keyword, kind, rest in _card_chunks(data):  # ccv3 first; chara when ccv3 is unusable
        source = f"the '{keyword}' text in the PNG"
        try:
            card = _json(_unbase64(_text_payload(kind, rest, keyword), keyword), source, f"{source} is not UTF-8 text.")
            return ParsedCard(_persona(card), avatar_png=_without_card_chunks(data))
        except CardError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    raise CardError("the PNG has no 'chara' or 'ccv3' text chunk, so it is a plain image with no card in it.")


def _json(raw: bytes, source: str, not_text: str) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError(not_text) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except CardError:
        raise
    except json.JSONDecodeError as exc:
        raise CardError(f"{source} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}).") from None
    except (ValueError, RecursionError):  # a number with thousands of digits, or absurd nesting
        raise CardError(f"{source} is JSON this app cannot read (a huge number or absurd nesting).") from None


def _reject_constant(name: str) -> Any:
    raise CardError(f"it contains {name}, which is not valid JSON.")


def _persona(card: Any) -> Persona:
    data = _check_fields(_card_data(clean_json(card, CardError)))
    persona = Persona.from_card({"data": data})
    try:
        limits.check(persona)  # so that it exports, and the export imports again
    except LimitError as exc:
        raise CardError(str(exc)[0].lower() + str(exc)[1:]) from None
    return replace(persona, id=make_id(persona.name))


def _card_data(card: Any) -> dict[str, Any]:
    """The card's ``data`` object (a V1 card is its own data)."""
    if not isinstance(card, dict):
        raise CardError(f"the JSON is {_kind(card)}, not an object with a 'spec' and 'data'.")
    if "spec" not in card and "data" not in card and "name" in card:
        return card  # V1: flat fields
    spec = card.get("spec")
    if spec not in (CARD_SPEC, V3_SPEC):
        found = "there is no 'spec'" if spec is None else f"'spec' is {_short(spec)}"
        raise CardError(f"{found}; expected '{CARD_SPEC}' or '{V3_SPEC}'.")
    data = card.get("data")
    if not isinstance(data, dict):
        raise CardError(f"its 'data' is {_kind(data)}, not an object.")
    return data


def _check_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Type-check the fields the app uses (null counts as absent); unknown keys pass through."""
    data = {k: v for k, v in data.items() if not (v is None and k in (*TEXT_FIELDS, *LIST_FIELDS, "extensions"))}
    for key in TEXT_FIELDS:
        if not isinstance(data.setdefault(key, ""), str):
            raise CardError(f"'{key}' must be text, not {_kind(data[key])}.")
    if not data["name"].strip():
        raise CardError("it has no 'name'.")
    for key in LIST_FIELDS:
        value = data.setdefault(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise CardError(f"'{key}' must be a list of texts, not {_kind(value)}.")
    for key in OBJECT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise CardError(f"'{key}' must be an object, not {_kind(data[key])}.")
    ours = data.get("extensions", {}).get(EXTENSION_KEY)
    if ours is not None and not (isinstance(ours, dict) and isinstance(ours.get("background", ""), str)):
        raise CardError(f"'extensions.{EXTENSION_KEY}' must be an object with a text 'background'.")
    return data


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


# --- CHARX ----------------------------------------------------------------------------------


def _charx(data: bytes) -> ParsedCard:
    """A CHARX card: ``card.json`` and the main icon, the only members unpacked (each with a cap)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except ZIP_ERRORS:
        raise CardError("it looks like a CHARX (zip) file, but the archive is corrupt.") from None
    with archive:
        _check_members(members)
        named = {m.filename: m for m in members}
        if CHARX_CARD not in named:
            raise CardError(f"the CHARX archive has no {CHARX_CARD} at its root.")
        raw = _member(archive, named[CHARX_CARD], MAX_CARD_BYTES)
        card = _json(raw, f"its {CHARX_CARD}", f"its {CHARX_CARD} is not UTF-8 text.")
        persona = _persona(card)
        avatar, notes = _charx_icon(archive, named, card)
    return ParsedCard(persona, avatar_png=avatar, notes=notes)


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_CHARX_MEMBERS:
        raise CardError(f"the archive holds {len(members):,} files; the limit is {MAX_CHARX_MEMBERS:,}.")
    unpacked = 0
    for info in members:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or "\x00" in name or re.match(r"[A-Za-z]:", name):
            raise CardError(f"the archive holds a file named {_short(name)}, which points outside it.")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise CardError(f"the archive holds a symbolic link ({_short(name)}).")
        if info.flag_bits & 0x1:
            raise CardError(f"{_short(name)} in the archive is encrypted.")
        unpacked += info.file_size
    if unpacked > MAX_CHARX_UNPACKED:
        raise CardError(
            f"its files add up to {unpacked / 2**20:,.0f} MB unpacked; the limit is {MAX_CHARX_UNPACKED // 2**20:,} MB."
        )


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """One member unpacked, at most ``limit`` bytes (whatever its header says: a bomb is refused)."""
    if info.file_size > limit:
        raise CardError(f"{_short(info.filename)} is {info.file_size:,} bytes unpacked; the limit is {limit:,}.")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except ZIP_ERRORS:
        raise CardError(
            f"{_short(info.filename)} in the archive is corrupt or packed in a way this app cannot read."
        ) from None
    if len(data) > limit:
        raise CardError(f"{_short(info.filename)} expands past {limit:,} bytes.")
    return data


def _charx_icon(
    archive: zipfile.ZipFile, named: dict[str, zipfile.ZipInfo], card: Any
) -> tuple[bytes | None, tuple[str, ...]]:
    """The main icon (``type: icon``, ``name: main``; else the first icon asset; else the first
    image under ``assets/icon/``) and what could not be kept of it."""
    assets = (card.get("data") or {}).get("assets") if isinstance(card, dict) else None
    icons = [a for a in assets if isinstance(a, dict) and a.get("type") == "icon"] if isinstance(assets, list) else []
    icon = next((a for a in icons if a.get("name") == "main"), icons[0] if icons else None)
    if icon is None:
        path = next((n for n in named if n.startswith("assets/icon/") and not n.endswith("/")), None)
    elif not isinstance(uri := icon.get("uri"), str) or uri == "ccdefault:":
        return None, ()
    elif uri.startswith(("http://", "https://", "data:")):
        return None, ("Its icon is a link, which this app does not fetch: it has no avatar.",)
    else:
        path = uri.removeprefix(EMBEDDED)
    if path is None:
        return None, ()
    if path not in named:
        return None, (f"Its icon ({_short(path)}) is not in the archive: it has no avatar.",)
    try:
        return _member(archive, named[path], MAX_AVATAR_BYTES), ()
    except CardError as exc:
        return None, (f"Its icon was not kept: {exc}",)


# --- PNG chunks -----------------------------------------------------------------------------


def _chunks(png: bytes) -> Iterator[tuple[bytes, memoryview, memoryview]]:
    """``(type, body, whole chunk)`` for each chunk, up to IEND, without copying. CRCs are not checked."""
    view = memoryview(png)
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(view):
        length, kind = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        if end > len(view):
            break
        yield kind, view[pos + 8 : end - 4], view[pos:end]
        if kind == b"IEND":
            return
        pos = end
    raise CardError("the PNG is truncated or corrupt.")


def _card_keyword(kind: bytes, body: memoryview) -> str | None:
    """``"chara"`` or ``"ccv3"`` when the chunk is a text chunk with that keyword."""
    if kind not in TEXT_CHUNKS:
        return None
    keyword = bytes(body[:80]).partition(b"\x00")[0].decode("latin-1").lower()  # keywords are 1-79 bytes
    return keyword if keyword in CARD_KEYWORDS else None


def _card_chunks(png: bytes) -> list[tuple[str, bytes, bytes]]:
    """``(keyword, chunk type, text after the keyword)`` of the card's text chunks, the first of
    each keyword, ``ccv3`` before ``chara``; the header is checked on the way."""
    found: dict[str, tuple[bytes, bytes]] = {}
    for index, (kind, body, _) in enumerate(_chunks(png)):
        if index == 0:
            _check_header(kind, body)
        keyword = _card_keyword(kind, body)
        if keyword and keyword not in found:
            found[keyword] = (kind, bytes(body).partition(b"\x00")[2])
    return [(keyword, *found[keyword]) for keyword in CARD_KEYWORDS if keyword in found]


def _without_card_chunks(png: bytes) -> bytes:
    """The PNG without its card text chunks: the avatar, which alone must fit MAX_AVATAR_BYTES."""
    return PNG_SIGNATURE + b"".join(bytes(whole) for kind, body, whole in _chunks(png) if not _card_keyword(kind, body))


def _check_header(kind: bytes, body: memoryview) -> None:
    if kind != b"IHDR" or len(body) != 13:
        raise CardError("the PNG is corrupt (it does not start with an IHDR header).")
    width, height = struct.unpack(">II", body[:8])
    if width * height > MAX_AVATAR_PIXELS:
        raise CardError(f"the image is {width}×{height} pixels; the limit is {MAX_AVATAR_PIXELS:,} pixels.")


def _text_payload(kind: bytes, rest: bytes, keyword: str) -> bytes:
    """The text of a tEXt, zTXt or iTXt chunk (after its keyword), inflated if compressed."""
    if kind == b"tEXt":
        return rest
    if kind == b"zTXt":
        return _inflate(rest[1:], keyword)
    compressed, text = rest[:1] == b"\x01", rest[2:]
    for _ in range(2):  # skip the language tag and the translated keyword
        text = text.partition(b"\x00")[2]
    return _inflate(text, keyword) if compressed else text


def _inflate(data: bytes, keyword: str) -> bytes:
    """zlib-decompress at most MAX_CARD_BYTES: a few KB can otherwise expand to gigabytes."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, MAX_CARD_BYTES)
    except zlib.error:
        raise CardError(f"the compressed '{keyword}' text chunk is corrupt.") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise CardError(f"the compressed '{keyword}' text chunk is truncated or expands past {MAX_CARD_BYTES:,} bytes.")
    return text


def _unbase64(payload: bytes, keyword: str) -> bytes:
    compact = b"".join(payload.split())
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except binascii.Error:
        raise CardError(f"the '{keyword}' text chunk is not valid base64.") from None


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- export ---------------------------------------------------------------------------------


def export_json(persona: Persona) -> bytes:
    """The persona as a Character Card V2 JSON file (compact UTF-8, as ``personas.limits`` sizes it)."""
    return card_json(persona.to_card())


def export_png(persona: Persona, avatar_png: bytes | None = None) -> bytes:
    """A PNG card: the avatar (or a placeholder) with the card (V2) in one ``chara`` text chunk.

    Any card chunks already in the avatar are replaced; an avatar over ``MAX_AVATAR_BYTES`` is
    scaled down until it fits, so that the card imports again. SillyTavern and the other readers
    that prefer a V3 ``ccv3`` chunk fall back to ``chara``.
    """
    png = _avatar(avatar_png) if avatar_png is not None else _placeholder(persona.name)
    card = _chunk(b"tEXt", b"chara\x00" + base64.b64encode(export_json(persona)))
    out = [PNG_SIGNATURE]
    for index, (kind, body, whole) in enumerate(_chunks(png)):
        if index == 0:
            _check_header(kind, body)  # so that what we export, we import
        if kind == b"IEND":
            out.append(card)
        if not _card_keyword(kind, body):
            out.append(bytes(whole))
    return b"".join(out)


def _avatar(image: bytes) -> bytes:
    """The avatar as PNG bytes without card chunks (converted if it is another format, scaled down
    if it is over MAX_AVATAR_BYTES); refuses what Pillow cannot read safely."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # respect MAX_IMAGE_PIXELS
            if image.startswith(PNG_SIGNATURE):
                with Image.open(io.BytesIO(image)) as img:
                    img.verify()
                png = _without_card_chunks(image)
                if len(png) <= MAX_AVATAR_BYTES:
                    return png
            with Image.open(io.BytesIO(image)) as img:  # another format, or too large: re-encoded
                return _png_within(img.convert("RGBA"), MAX_AVATAR_BYTES)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CardError(f"the avatar is not an image this app can use ({exc}).") from None


def _png_within(img: Any, limit: int) -> bytes:
    """``img`` as a PNG of at most ``limit`` bytes, scaled down as far as that takes."""
    while True:
        buffer = io.BytesIO()
        img.save(buffer, "PNG")
        if buffer.tell() <= limit or min(img.size) <= 1:
            return buffer.getvalue()
        scale = max(0.1, min(0.9, (limit / buffer.tell()) ** 0.5))
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))))


def _placeholder(name: str) -> bytes:
    """A 400×600 PNG: a colour picked from the name, with the name's initial."""
    from PIL import Image, ImageDraw, ImageFont

    hue = hashlib.sha256(name.encode("utf-8", "replace")).digest()[0] / 255
    colour = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.45, 0.55))
    img = Image.new("RGB", (400, 600), colour)
    font = ImageFont.load_default(size=220)
    anchor = "mm" if isinstance(font, ImageFont.FreeTypeFont) else None  # bitmap fonts have no anchors
    ImageDraw.Draw(img).text((200, 300), (name.strip()[:1] or "?").upper(), fill="white", font=font, anchor=anchor)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()
