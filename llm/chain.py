"""The reply chain: ``CHAT_PROMPT | chat model | StrOutputParser``, streamed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import SimpleQueue

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from llm.assembly import PromptParts
from llm.errors import explain
from llm.prompts import CHAT_PROMPT


def build_chain(model: BaseChatModel) -> Runnable:
    return CHAT_PROMPT | model | StrOutputParser()


def stream_reply(
    chain: Runnable, parts: PromptParts, base_url: str = "", model: str | None = None, timeout: float = 0
) -> Iterator[str]:
    """Yield the reply token by token; failures surface as :class:`~llm.errors.LLMError`."""
    try:
        yield from chain.stream(parts.inputs())
    except Exception as exc:
        raise explain(exc, base_url, model, timeout) from exc


_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def ahead(tokens: Iterator[str]) -> Iterator[str]:
    """Start ``tokens`` now, in a thread, and yield them as they come (errors re-raised here).

    The chat page calls this as soon as the prompt is ready, so the request is on its way while
    the page draws the conversation above the reply. Closing the returned iterator (a page that
    stops) stops the stream after the token in flight.
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

    threading.Thread(target=pump, name="reply-stream", daemon=True).start()

    def drain() -> Iterator[str]:
        try:
            while (item := queue.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            stop.set()

    return drain()
