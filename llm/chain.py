"""The reply chain: ``CHAT_PROMPT | chat model | StrOutputParser``, streamed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import SimpleQueue

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from llm.assembly import PromptParts
from llm.errors import explain
from llm.prompts import CHAT_PROMPT


def build_chain(model: BaseChatModel) -> Runnable:
    return CHAT_PROMPT | model | StrOutputParser()


class _ModelCalled(BaseCallbackHandler):
    """Sets ``event`` when the chat model is called: the prompt is formatted and the request is
    being sent."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_chat_model_start(self, *args: object, **kwargs: object) -> None:
        self.event.set()


def stream_reply(
    chain: Runnable,
    parts: PromptParts,
    base_url: str = "",
    model: str | None = None,
    timeout: float = 0,
    sent: threading.Event | None = None,
) -> Iterator[str]:
    """Yield the reply token by token; failures surface as :class:`~llm.errors.LLMError`.
    ``sent`` is set when the request goes out (see :func:`ahead`)."""
    config = {"callbacks": [_ModelCalled(sent)]} if sent is not None else None
    try:
        yield from chain.stream(parts.inputs(), config=config)
    except Exception as exc:
        raise explain(exc, base_url, model, timeout) from exc


_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def ahead(tokens: Iterator[str], sent: threading.Event | None = None, wait: float = 0.25) -> Iterator[str]:
    """Start ``tokens`` now, in a thread, and yield them as they come (errors re-raised here).

    The chat page calls this as soon as the prompt is ready, so the request is on its way while
    the page draws the conversation above the reply. With ``sent`` (see :func:`stream_reply`),
    return only once it is set, the stream has ended, or ``wait`` seconds have passed: drawing
    the page at once would hold the GIL the request needs (in the browser, 11-41 ms from here to
    the request's first byte, against 5 ms for the request alone). Closing the returned iterator
    (a page that stops) stops the stream after the token in flight.
    """
    queue: SimpleQueue[object] = SimpleQueue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for token in tokens:
                queue.put(token)
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who re-raises it
            queue.put(_Failed(exc))
        finally:
            getattr(tokens, "close", lambda: None)()
            queue.put(_END)
            if sent is not None:
                sent.set()

    threading.Thread(target=pump, name="reply-stream", daemon=True).start()
    if sent is not None:
        sent.wait(wait)

    def drain() -> Iterator[str]:
        try:
            while (item := queue.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            stop.set()

    return drain()
