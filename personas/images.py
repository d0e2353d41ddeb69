"""Avatars as the pages show them: fitted into a box (so that the browser is not sent an
8192-pixel image), a coloured tile with the initial when there is none; and file names for
exports. Plain Python (Pillow); the pages cache the results."""

from __future__ import annotations

import colorsys
import hashlib
import io
import re

from personas.model import Persona


def fit(png: bytes, size: int, square: bool) -> bytes:
    """The image scaled to fit ``size``×``size`` pixels (cropped to that square with ``square``), as PNG."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(png)) as img:
        if square:
            out = ImageOps.fit(img.convert("RGBA"), (size, size), centering=(0.5, 0.25))  # faces sit high
        else:
            out = img.convert("RGBA")
            out.thumbnail((size, size))
        buffer = io.BytesIO()
        out.save(buffer, "PNG")
        return buffer.getvalue()


def initial_tile(name: str, size: int) -> bytes:
    """A ``size``-pixel square in a colour of the name, with its initial."""
    from PIL import Image, ImageDraw, ImageFont

    hue = hashlib.sha256(name.encode("utf-8", "replace")).digest()[0] / 255
    colour = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.45, 0.6))
    img = Image.new("RGB", (size, size), colour)
    font = ImageFont.load_default(size=size // 2)
    anchor = "mm" if isinstance(font, ImageFont.FreeTypeFont) else None
    initial = (name.strip()[:1] or "?").upper()
    ImageDraw.Draw(img).text((size / 2, size / 2), initial, fill="white", font=font, anchor=anchor)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def export_name(persona: Persona, extension: str) -> str:
    """A file name from the persona's name (letters, digits, spaces, dashes), else its id."""
    stem = re.sub(r"[^\w\- ]+", "", persona.name).strip()[:80] or persona.id
    return f"{stem}.{extension}"
