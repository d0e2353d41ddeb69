"""Splitting background text into chunks small enough to embed and to inject."""

from __future__ import annotations

import re

#: Characters per chunk: well under MiniLM's 256-token window, about one paragraph.
TARGET_CHARS = 600

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def chunk_text(text: str, target: int = TARGET_CHARS) -> list[str]:
    """Paragraphs, merged while they stay under ``target`` characters; long paragraphs are
    split at sentence ends (and, for run-on text, hard at ``target``)."""
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
