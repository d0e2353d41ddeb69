"""Messages sent while replies stream, in a real headless Chromium (issue: a message sent while a
reply is on its way was lost): bursts at several spacings, one sent right as a reply ends and the
page redraws, then a reload. Every message is on screen at once, and after the reload on screen
and in the store, once each, in the order sent, each with its reply.

Waits are on what the page shows (a message's text, the Queued and Stop markers, the script's run
state), never fixed; only the spacing between two sends is a sleep, since it is what is tested."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from memory import MemoryStore
from tests.harness import ARTIFACTS, LOAD_TIMEOUT, REPLY_TIMEOUT, running_app, send

PERSONA = "mara-voss"


def wait_until_shown(page, text: str) -> None:
    page.wait_for_function(
        "(text) => [...document.querySelectorAll('[data-testid=stChatMessage]')].some(m => m.innerText.includes(text))",
        arg=text,
        timeout=LOAD_TIMEOUT,
    )


def wait_until_answered(page, messages: int) -> None:
    """Until the greeting and ``messages`` exchanges are on screen, none queued, nothing writing."""
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=stChatMessage]').length === 1 + 2 * n"
        " && !document.body.innerText.includes('Queued:')"
        " && !document.querySelector('.st-key-stop')"
        " && document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state') !== 'running'",
        arg=messages,
        timeout=REPLY_TIMEOUT * 3,
    )


def wait_for_a_reply_to_end(page) -> None:
    """Until the reply being written is done (its Stop button goes as the page redraws)."""
    page.locator(".st-key-stop").wait_for(timeout=REPLY_TIMEOUT)
    page.locator(".st-key-stop").wait_for(state="detached", timeout=REPLY_TIMEOUT)


@pytest.mark.timeout(1200)
def test_bursts_of_messages_while_replies_stream_lose_nothing(tmp_path: Path, llm_server, page) -> None:
    sent: list[str] = []

    def say(text: str) -> None:
        send(page, text)
        sent.append(text)
        wait_until_shown(page, text)  # shown at once, as sent (queued when a reply is being written)

    with running_app(tmp_path, llm_server.base_url, LLM_MAX_TOKENS="96") as url:
        page.goto(url)
        page.get_by_test_id("stChatMessage").first.wait_for(timeout=LOAD_TIMEOUT)
        # the way people add "oh, and…" while the persona answers: 1-3 s apart
        for n, spacing in enumerate([1.0, 2.5, 1.5, 3.0, 1.0, 2.0]):
            say(f"Slow burst {n}: tell me about the winds over the Reach.")
            if n == 1:
                page.get_by_text("Queued: answered when the reply above is done.").first.wait_for(timeout=LOAD_TIMEOUT)
            time.sleep(spacing)
        wait_for_a_reply_to_end(page)
        say("Sent right as a reply ended.")
        for n in range(4):  # faster than anyone types
            say(f"Fast burst {n}: and the cargo?")
            time.sleep(0.3)
        wait_until_answered(page, len(sent))

        page.reload()
        page.get_by_test_id("stChatMessage").first.wait_for(timeout=LOAD_TIMEOUT)
        wait_until_answered(page, len(sent))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "burst-after-reload.png"), full_page=True)
        messages = page.get_by_test_id("stChatMessage")
        shown = [messages.nth(i).inner_text() for i in range(messages.count())][1:]
        users = shown[0::2]
        assert [next((t for t in sent if t in s), None) for s in users] == sent  # in order, once each
        assert all(s.strip() for s in shown[1::2])  # each has its reply
        conversation = re.search(r"conversation=([0-9a-f]+)", page.url).group(1)

    store = MemoryStore.open(path=str(tmp_path / "chroma"))
    turns = store.transcript(PERSONA, conversation)
    assert [t.text for t in turns if t.role == "user"] == sent
    assert [t.role for t in turns] == ["user", "assistant"] * len(sent)
    assert not store.has_pending()
