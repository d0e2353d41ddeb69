"""A reasoning model's reply, Stop and Continue in a real headless Chromium, against the real
built-in server (made to think for the first test, see llm.local_server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import ARTIFACTS, LOAD_TIMEOUT, REPLY_TIMEOUT, running_app, send, server_stops_generating, wait_idle


@pytest.mark.timeout(600)
def test_thinking_fills_live_then_folds_away_and_comes_back_after_a_reload(tmp_path: Path, thinking_servers, page):
    with running_app(tmp_path, thinking_servers["split"].base_url, LLM_MAX_TOKENS="300") as url:
        page.goto(url)
        messages = page.get_by_test_id("stChatMessage")
        messages.first.wait_for(timeout=LOAD_TIMEOUT)
        page.evaluate(  # note what a "Thinking…" section shows while the model thinks
            """() => { window.__thoughts = [];
                new MutationObserver(() => {
                    for (const box of document.querySelectorAll('[data-testid=stExpander]')) {
                        const label = box.querySelector('summary')?.innerText || '';
                        const text = box.querySelector('[data-testid=stExpanderDetails]')?.innerText || '';
                        if (label.includes('Thinking') && text.trim()) window.__thoughts.push(text.trim());
                    }
                }).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""
        )
        send(page, "Hello! Who are you?")
        page.get_by_test_id("stExpander").filter(has_text="Thought for").wait_for(timeout=REPLY_TIMEOUT)
        page.get_by_role("button", name="Regenerate").wait_for(timeout=REPLY_TIMEOUT)  # stored, page redrawn
        wait_idle(page)
        thoughts = page.evaluate("window.__thoughts")
        assert thoughts, "the thinking was not shown while the model thought"
        reply = messages.nth(2)
        answer = outside_expanders(reply)
        folded = reply.get_by_test_id("stExpander").filter(has_text="Thought for")
        assert answer and "think>" not in reply.inner_text()
        assert not folded.get_by_test_id("stExpanderDetails").is_visible()  # folded away

        page.reload()
        messages.nth(2).wait_for(timeout=LOAD_TIMEOUT)
        folded = messages.nth(2).get_by_test_id("stExpander").filter(has_text="Thought for")
        folded.locator("summary").click()
        thought = folded.get_by_test_id("stExpanderDetails").inner_text().strip()
        assert thought and thought not in answer  # the thinking, apart from the answer
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "thinking-after-reload.png"))


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def outside_expanders(message) -> str:
    """The text a message shows outside its expanders (a reply's answer: not its thinking, not the
    memories it used)."""
    return message.evaluate(
        "(m) => [...m.querySelectorAll('[data-testid=stMarkdownContainer]')]"
        ".filter(e => !e.closest('[data-testid=stExpander], [data-testid=stCaptionContainer], button'))"
        ".map(e => e.innerText).join('\\n').trim()"
    )


@pytest.mark.timeout(600)
def test_stop_keeps_the_partial_reply_and_continue_goes_on(tmp_path: Path, llm_server, page) -> None:
    with running_app(tmp_path, llm_server.base_url, LLM_MAX_TOKENS="3000") as url:
        page.goto(url)
        messages = page.get_by_test_id("stChatMessage")
        messages.first.wait_for(timeout=LOAD_TIMEOUT)
        send(page, "Tell me a very long story about the sea, with many chapters.")
        page.wait_for_function(  # some of the reply is on screen
            "() => (document.querySelector('.st-key-live_answer')?.innerText || '').length > 80", timeout=REPLY_TIMEOUT
        )
        page.locator(".st-key-stop").get_by_role("button").click()
        page.get_by_text("Stopped. Continue or Regenerate below.").wait_for(timeout=LOAD_TIMEOUT)
        assert server_stops_generating(llm_server.base_url)  # the request was closed: the server stopped
        wait_idle(page)
        stopped = outside_expanders(messages.nth(2))
        assert len(stopped) > 80

        page.get_by_role("button", name="Continue").click()
        page.locator(".st-key-stop").wait_for(timeout=LOAD_TIMEOUT)
        page.wait_for_function(  # the reply grows on screen as it is continued (or the model ends it)
            "(n) => (document.querySelector('.st-key-live_answer')?.innerText || '').length > n + 40"
            " || !document.querySelector('.st-key-stop')",
            arg=len(stopped),
            timeout=REPLY_TIMEOUT,
        )
        if page.locator(".st-key-stop").count():
            page.locator(".st-key-stop").get_by_role("button").click()
        page.get_by_role("button", name="Continue").wait_for(timeout=LOAD_TIMEOUT)
        wait_idle(page)
        assert page.get_by_test_id("stChatMessage").count() == 3  # one reply, grown
        grown = outside_expanders(messages.nth(2))
        # (as Markdown: an italic opened by the stopped part and closed by the rest shows without its *)
        assert words(grown)[:10] == words(stopped)[:10]
        # longer, even when the model only ends the sentence it was stopped in (a "." and done)
        assert len(grown.replace("*", "")) > len(stopped.replace("*", ""))
