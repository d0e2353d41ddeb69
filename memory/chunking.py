"""Splitting background text into the units the store embeds and searches.

Since schema version 2 (see ``memory.store.SCHEMA``) a background is stored one sentence per
record, each knowing its paragraph and its place in it: a fact in the middle of a 250-word
paragraph is found by its own sentence (a paragraph's mean embedding blurs it), and recall gives
it back with its neighbours (:func:`passage`). :func:`chunk_text` is the version 1 cut (paragraphs
merged into chunks of up to 600 characters), kept to recognise and replace version 1 records.
"""

from __future__ import annotations

import re

#: Characters per chunk of version 1: about one paragraph.
TARGET_CHARS = 600
#: A sentence longer than this (run-on text, lists) is cut at a space.
SENTENCE_CHARS = 400
#: A fragment shorter than this ("Yes." "Ah, Venice.") stays with the sentence after it.
FRAGMENT_CHARS = 30
#: How long a recalled passage (a sentence and its neighbours) may grow.
PASSAGE_CHARS = 420

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
#: Sentence ends: ., !, ? or … with closing quotes or brackets, then space and an opening
#: character of a sentence.
_END = re.compile(r"[.!?…]+[\"'’”»)\]]*\s+(?=[\"'‘“«(\[]?[A-Z0-9À-Þ])")
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Prof|Sr|Jr|Mt|No|vs|etc|e\.g|i\.e|cf)|\b[A-Z])\.$")


def chunk_text(text: str, target: int = TARGET_CHARS) -> list[str]:
    """Version 1: paragraphs, merged while they stay under ``target`` characters; long
    paragraphs are split at sentence ends (and, for run-on text, hard at ``target``)."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= target:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            pieces.extend(sentence[i : i + target] for i in range(0, len(sentence), target))

    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= target:
            chunks[-1] = f"{chunks[-1]}\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` (separated by blank lines), whitespace made single spaces."""
    return [p for p in (" ".join(part.split()) for part in re.split(r"\n\s*\n", text)) if p]


def sentences(paragraph: str, longest: int = SENTENCE_CHARS) -> list[str]:
    """A paragraph's sentences. Not cut after "Mrs." or an initial; a fragment shorter than
    FRAGMENT_CHARS joins the next sentence; a sentence over ``longest`` is cut at a space."""
    paragraph = " ".join(paragraph.split())
    found: list[str] = []
    start = 0
    for end in _END.finditer(paragraph):
        piece = paragraph[start : end.end()].strip()
        if _ABBREVIATION.search(piece):
            continue
        found.append(piece)
        start = end.end()
    if paragraph[start:].strip():
        found.append(paragraph[start:].strip())
    merged: list[str] = []
    carry = ""
    for piece in found:
        piece = f"{carry} {piece}".strip()
        if len(piece) < FRAGMENT_CHARS:
            carry = piece
            continue
        carry = ""
        merged.append(piece)
    if carry:
        if merged:
            merged[-1] = f"{merged[-1]} {carry}"
        else:
            merged.append(carry)
    out: list[str] = []
    for piece in merged:
        while len(piece) > longest:
            cut = piece.rfind(" ", 0, longest)
            cut = cut if cut > longest // 2 else longest
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out


def passage(parts: list[str], hits: list[int], limit: int = PASSAGE_CHARS) -> tuple[int, int]:
    """The span ``[first, last]`` of ``parts`` (a paragraph's sentences) to show for the
    sentences ``hits``: from the first hit to the last, then one sentence before and one after
    while it stays within ``limit`` characters (the hits themselves are always shown)."""
    first, last = min(hits), max(hits)

    def size(a: int, b: int) -> int:
        return sum(len(p) + 1 for p in parts[a : b + 1])

    if first > 0 and size(first - 1, last) <= limit:
        first -= 1
    if last + 1 < len(parts) and size(first, last + 1) <= limit:
        last += 1
    return first, last
