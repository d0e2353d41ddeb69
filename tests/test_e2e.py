"""The whole app in a real headless Chromium: send a message, watch the reply stream in, reload,
and find the conversation still there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ARTIFACTS, DESKTOP, conversation_shown, running_app, send


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, llm_server) -> Iterator[str]:
    with running_app(tmp_path_factory.mktemp("app"), llm_server.base_url) as url:
        yield url


def test_chat_streams_and_survives_a_reload(app_url: str, browser) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(app_url)
    messages = page.get_by_test_id("stChatMessage")
    messages.first.get_by_text("new navigator").wait_for(timeout=90_000)  # the greeting

    page.evaluate(
        """() => {
            window.__lengths = [];
            new MutationObserver(() => {
                const all = document.querySelectorAll('[data-testid="stChatMessage"]');
                if (all.length >= 3) window.__lengths.push(all[2].innerText.length);
            }).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill("Tell me about your ship, captain.")
    box.press("Enter")
    reply = messages.nth(2)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        reply.get_by_text("Memories used").wait_for(timeout=180_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "chat-failure.png"))
        raise
    reply_text = reply.get_by_test_id("stMarkdownContainer").first.inner_text().strip()
    assert reply_text
    assert "Tell me about your ship, captain." in messages.nth(1).inner_text()
    lengths = page.evaluate("window.__lengths")
    assert len({n for n in lengths if n > 0}) >= 3, f"the reply did not arrive in pieces: {lengths}"

    page.screenshot(path=str(ARTIFACTS / "chat.png"))

    page.reload()
    messages.nth(2).wait_for(timeout=90_000)
    texts = [messages.nth(i).inner_text() for i in range(messages.count())]
    assert "Tell me about your ship, captain." in texts[1]
    assert reply_text[:40] in texts[2]
    page.screenshot(path=str(ARTIFACTS / "chat-after-reload.png"))
    page.close()


def test_html_and_script_in_messages_are_shown_as_text(app_url: str, browser) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(app_url)
    messages = page.get_by_test_id("stChatMessage")
    conversation_shown(page)  # all of it: an earlier test left messages
    before = messages.count()
    attack = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> ![t](http://127.0.0.2/p.png)'
    send(page, attack)
    messages.nth(before).wait_for(timeout=90_000)
    shown = messages.nth(before).inner_text()
    assert "<script>window.__pwned = 1</script>" in shown and "onerror" in shown
    assert page.evaluate("window.__pwned") is None
    assert messages.nth(before).locator("img").count() == 0 and messages.nth(before).locator("script").count() == 0
    messages.nth(before + 1).get_by_text("Memories used").wait_for(timeout=180_000)
    page.close()


def test_two_tabs_chatting_at_once_lose_nothing(app_url: str, browser) -> None:
    contexts = [browser.new_context(viewport=DESKTOP) for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        page.goto(app_url)
        page.get_by_test_id("stChatMessage").first.wait_for(timeout=90_000)
    texts = ["First tab asks about the weather.", "Second tab asks about the cargo."]
    for page, text in zip(pages, texts, strict=True):
        send(page, text)
    for page in pages:
        page.get_by_test_id("stChatMessage").last.get_by_text("Memories used").wait_for(timeout=180_000)
    pages[0].reload()
    messages = pages[0].get_by_test_id("stChatMessage")
    messages.first.wait_for(timeout=90_000)
    pages[0].get_by_text(texts[1]).first.wait_for(timeout=30_000)
    shown = [messages.nth(i).inner_text() for i in range(messages.count())]
    for text in texts:
        assert sum(text in s for s in shown) == 1, f"{text!r} should be stored exactly once: {shown}"
    for context in contexts:
        context.close()


def test_a_deep_link_on_a_fresh_server_opens_inside_the_app(tmp_path, llm_server, browser) -> None:
    with running_app(tmp_path, llm_server.base_url) as url:
        page = browser.new_page(viewport=DESKTOP)
        page.goto(f"{url}/personas")
        page.get_by_role("heading", name="Personas").wait_for(timeout=90_000)
        links = page.get_by_test_id("stSidebarNavLink")
        labels = [links.nth(i).inner_text().splitlines()[-1].strip() for i in range(links.count())]
        assert labels == ["Chat", "Personas", "Memories", "Lorebooks", "You"]  # not the pages/ folder's file names
        page.close()


def test_reload_while_a_reply_streams_keeps_the_message(app_url: str, browser) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(app_url)
    messages = page.get_by_test_id("stChatMessage")
    conversation_shown(page)
    before = messages.count()
    send(page, "Please tell me a long story about the lighthouse at Cape Morrow.")
    messages.nth(before + 1).wait_for(timeout=90_000)  # the reply has started
    page.reload()
    page.get_by_text("Please tell me a long story about the lighthouse at Cape Morrow.").first.wait_for(timeout=90_000)
    page.get_by_role("button", name="Retry").or_(page.get_by_role("button", name="Regenerate")).first.wait_for(
        timeout=90_000
    )
    page.close()
