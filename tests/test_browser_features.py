"""Who you are and branches in a real headless Chromium, against the real built-in server seen
through a recording relay (to read the very prompt the app sent)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.relay import Relay
from tests.harness import LOAD_TIMEOUT, choose, running_app, send, wait_for_reply, wait_idle


@pytest.fixture
def relay(llm_server):
    relay = Relay.before(llm_server.base_url)
    yield relay
    relay.stop()


def meter_persona(page) -> int:
    caption = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^persona [\d,]+ ·")).inner_text()
    return int(re.match(r"persona ([\d,]+)", caption).group(1).replace(",", ""))


@pytest.mark.timeout(600)
def test_your_persona_goes_into_the_prompt(tmp_path: Path, relay, page) -> None:
    description = "A night-shift nurse who collects sea glass on the northern beaches."
    with running_app(tmp_path, relay.base_url) as url:
        page.goto(f"{url}/you")
        page.get_by_role("heading", name="You").wait_for(timeout=LOAD_TIMEOUT)
        wait_idle(page)  # a first visit may run the page again inside app.py's frame: not mid-typing
        new = page.get_by_test_id("stExpander").filter(has_text="New persona")
        new.locator("summary").click()
        form = new.get_by_test_id("stForm")
        form.get_by_label("Name").fill("Dana")
        form.get_by_label("Description").fill(description)
        assert form.get_by_label("Name").input_value() == "Dana"
        form.get_by_role("button", name="Save").click()
        page.get_by_test_id("stExpander").filter(has_text="Dana").first.wait_for(timeout=LOAD_TIMEOUT)

        page.get_by_test_id("stSidebarNavLink").filter(has_text="Chat").click()
        page.get_by_test_id("stChatMessage").first.wait_for(timeout=LOAD_TIMEOUT)
        wait_idle(page)
        before = meter_persona(page)
        choose(page, page.get_by_test_id("stSidebar").locator(".stSelectbox").filter(has_text="You are"), "Dana")
        page.wait_for_function(  # the context meter's persona part grows by the description
            "(n) => { const c = [...document.querySelectorAll('[data-testid=stSidebar] p')]"
            ".map(p => p.innerText).find(t => t.startsWith('persona '));"
            " return c && parseInt(c.slice(8).replace(/,/g, '')) > n; }",
            arg=before,
            timeout=LOAD_TIMEOUT,
        )
        sent = len(relay.requests)
        send(page, "Good evening, captain.")
        wait_for_reply(page, 3)
        assert "Dana" in page.get_by_test_id("stChatMessage").nth(1).inner_text()  # your name on your message
        system = json.loads(relay.requests[sent].body)["messages"][0]["content"]
        assert f"About Dana:\n{description}" in system


@pytest.mark.timeout(600)
def test_branch_at_a_message_and_see_both_conversations(tmp_path: Path, llm_server, page) -> None:
    with running_app(tmp_path, llm_server.base_url, LLM_MAX_TOKENS="24") as url:
        page.goto(url)
        messages = page.get_by_test_id("stChatMessage")
        messages.first.wait_for(timeout=LOAD_TIMEOUT)
        send(page, "First, where are we bound?")
        wait_for_reply(page, 3)
        send(page, "Second, who is on watch tonight?")
        wait_for_reply(page, 5)
        parent = re.search(r"conversation=([0-9a-f]+)", page.url).group(1)
        messages.nth(2).get_by_test_id("stPopover").get_by_role("button").click()
        page.get_by_role("button", name="Branch from here").click()
        page.wait_for_function(  # the branch opens: the greeting, the first question and its reply
            "(parent) => document.querySelectorAll('[data-testid=stChatMessage]').length === 3"
            " && !location.search.includes(parent)",
            arg=parent,
            timeout=LOAD_TIMEOUT,
        )
        wait_idle(page)
        picker = page.get_by_test_id("stSidebar").locator(".stSelectbox").filter(has_text="Conversation")
        picker.get_by_role("button", name="Open").click()
        options = page.get_by_role("option")
        options.first.wait_for()
        labels = [options.nth(i).inner_text() for i in range(options.count())]
        assert labels[0].startswith("First, where are we bound?") and labels[1].startswith("↳ ")
        assert "(branch)" in labels[1]  # listed under the conversation it came from
        options.first.click()  # back to the original
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=stChatMessage]').length === 5", timeout=LOAD_TIMEOUT
        )
        assert "Second, who is on watch tonight?" in messages.nth(3).inner_text()
