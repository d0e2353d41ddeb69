"""Streaming one reply from an OpenAI-compatible server, thinking included, and stopping it.

Why the ``openai`` client and not LangChain's ``ChatOpenAI`` here: ``ChatOpenAI`` drops the
``reasoning_content`` / ``reasoning`` fields of streamed deltas (langchain issues #34706, #35059,
#37960), so a reasoning model's thinking would be lost and the page would stay empty while the
model thinks; the raw stream keeps every field, the ``finish_reason`` (a reply cut by
``max_tokens``) and a response we can close. The prompt is still built by LangChain
(:data:`llm.prompts.CHAT_PROMPT`, see :func:`llm.chain.reply_messages`).

The response is read in a thread of its own, so the reader can give up on it at any moment:
:meth:`ReplyStream.stop` (the Stop button) ends the iteration at once and the pump closes the
HTTP response at its next chunk (a llama.cpp server stops generating when its client goes);
the wait for the first chunk (a server loading the model, LM Studio's JIT loading) is allowed
``first_timeout`` and the wait between later chunks ``stall_timeout``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

import openai

from llm.errors import EmptyReply, Timeout, explain
from llm.settings import Sampling


@dataclass(frozen=True)
class Piece:
    """What one streamed chunk added: thinking sent in a field of its own, and content (which
    may itself hold inline thinking, see :mod:`llm.thinking`)."""

    reasoning: str = ""
    content: str = ""


def _reasoning(delta: Any) -> str:
    extra = getattr(delta, "model_extra", None) or {}
    return extra.get("reasoning_content") or extra.get("reasoning") or ""


_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReplyStream:
    """One streamed chat completion. Iterate it (in one thread) for :class:`Piece` s; call
    :meth:`stop` from any thread. Errors surface as :class:`~llm.errors.LLMError`."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        messages: Sequence[dict[str, Any]],
        sampling: Sampling,
        *,
        first_timeout: float = 600.0,
        stall_timeout: float = 120.0,
        sent: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.base_url = str(client.base_url)
        self.first_timeout = first_timeout
        self.stall_timeout = stall_timeout
        #: Set when the request has been sent and answered with headers (or has failed).
        self.sent = sent or threading.Event()
        self.finish_reason: str | None = None
        self.stopped = False
        self._stop = threading.Event()
        self._queue: SimpleQueue[object] = SimpleQueue()
        request = {
            "model": model,
            "messages": list(messages),
            "stream": True,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "frequency_penalty": sampling.frequency_penalty,
            "presence_penalty": sampling.presence_penalty,
        }
        # the HTTP read timeout is the longer one: a model load sends nothing for a while;
        # a stalled stream is caught by the reader's own, shorter wait (see __iter__)
        timeout = max(first_timeout, stall_timeout)
        threading.Thread(target=self._pump, args=(client, request, timeout), name="reply-stream", daemon=True).start()

    def _pump(self, client: openai.OpenAI, request: dict[str, Any], timeout: float) -> None:
        try:
            stream = client.with_options(timeout=timeout).chat.completions.create(**request)
            self.sent.set()
            with stream:
                for chunk in stream:
                    if self._stop.is_set():
                        break  # leaving the block closes the response: the server stops
                    for choice in chunk.choices[:1]:
                        piece = Piece(_reasoning(choice.delta), choice.delta.content or "")
                        if piece.reasoning or piece.content:
                            self._queue.put(piece)
                        if choice.finish_reason:
                            self.finish_reason = choice.finish_reason
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
            self._queue.put(_Failed(exc))
        finally:
            self.sent.set()
            self._queue.put(_END)

    def stop(self) -> None:
        """End the reply now: the iteration stops, the response is closed at its next chunk."""
        self.stopped = True
        self._stop.set()
        self._queue.put(_END)

    def __iter__(self) -> Iterator[Piece]:
        received = False
        while True:
            wait = self.stall_timeout if received else self.first_timeout
            try:
                item = self._queue.get(timeout=wait)
            except Empty:
                self._stop.set()
                raise Timeout(self.base_url, wait) from None
            if self._stop.is_set() and self.stopped:
                return
            if item is _END:
                if not received and not self.stopped:
                    raise EmptyReply(self.base_url, self.model)
                return
            if isinstance(item, _Failed):
                self._stop.set()
                raise explain(item.error, self.base_url, self.model, wait) from item.error
            received = True
            yield item  # type: ignore[misc]


def make_client(base_url: str, api_key: str, connect_timeout: float = 5.0) -> openai.OpenAI:
    """An ``openai`` client for one server. Retries are off: a local server that fails once
    usually fails again, and the user should see the reason at once."""
    return openai.OpenAI(
        base_url=base_url, api_key=api_key, max_retries=0, timeout=openai.Timeout(120.0, connect=connect_timeout)
    )
