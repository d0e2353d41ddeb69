"""Telling a reasoning model's thinking from its answer (pure functions, no I/O).

Servers send the thinking in one of three ways (see the README, "Models that think"):

- in a field of its own, ``delta.reasoning_content`` (LM Studio with "separate reasoning_content",
  llama.cpp, vLLM, DeepSeek) or ``delta.reasoning`` (Ollama, LM Studio's gpt-oss): the stream
  reader (:mod:`llm.stream`) keeps it apart, nothing to do here;
- inline in the content, ``<think>…</think>`` before the answer (many GGUF chat templates, LM
  Studio with that setting off, older Ollama);
- inline without the opening tag: templates such as Qwen3's put ``<think>`` in the prompt, so the
  reply starts inside the thinking and only ``</think>`` shows where the answer begins.

:func:`split_thinking` is called on the whole content received so far (it is cheap: one search
for the tags), so a tag split across two streamed chunks is handled like any other, and text
that turns out to be thinking when ``</think>`` arrives moves to the thinking then.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Opening and closing tags of inline thinking, by the models that use them.
TAGS = (("<think>", "</think>"), ("<thinking>", "</thinking>"), ("[THINK]", "[/THINK]"))


@dataclass(frozen=True)
class Split:
    thinking: str
    answer: str
    #: The thinking has started but not ended: what follows is still thinking.
    open: bool = False


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_thinking(content: str, final: bool = False) -> Split:
    """Split the content received so far into thinking and answer.

    While streaming (``final`` false) a trailing fragment that may become a tag (``"<thi"``) is
    held back from both parts, so a tag never flashes on screen.
    """
    stripped = content.lstrip()
    for opening, closing in TAGS:
        if stripped.startswith(opening):
            body = stripped[len(opening) :]
            end = body.find(closing)
            if end < 0:
                held = 0 if final else _partial_suffix(body, closing)
                return Split(body[: len(body) - held].strip(), "", open=not final)
            return Split(body[:end].strip(), body[end + len(closing) :].lstrip())
        if not final and len(stripped) < len(opening) and opening.startswith(stripped) and stripped:
            return Split("", "", open=False)  # maybe the start of an opening tag: wait for more
    for _, closing in TAGS:
        end = content.find(closing)
        if end >= 0:  # the prompt opened the thinking (Qwen3-style): only its end is in the reply
            return Split(content[:end].strip(), content[end + len(closing) :].lstrip())
    held = 0 if final else max(_partial_suffix(content, closing) for _, closing in TAGS)
    return Split("", content[: len(content) - held])


def strip_thinking(text: str) -> str:
    """The answer alone, for text that may carry its thinking inline (a reply written by an
    older version, an imported chat): what is stored, recalled and sent back as history."""
    return split_thinking(text, final=True).answer
