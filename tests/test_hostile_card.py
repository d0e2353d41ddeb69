"""A hostile card in a real browser: Markdown images, links, HTML, math and shortcodes in every
field of a card, imported, chatted with, every page opened and reloaded, while every request the
pages make is recorded. None may leave 127.0.0.1, and none may go to a URL the card names (a decoy
server on another loopback port counts what reaches it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from personas import Persona
from personas.cards import export_json
from tests.harness import (
    ARTIFACTS,
    LOAD_TIMEOUT,
    free_port,
    open_popover,
    running_app,
    send,
    wait_for_reply,
    wait_idle,
)
from ui.safe_text import WORD_JOINER

EXTERNAL = "http://tracker.invalid"  # never resolves; a request to it would still be recorded


@pytest.fixture
def decoy() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on a loopback port of its own: the URL the card names, and the paths asked of it."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()


def hostile_card(url: str) -> Persona:
    def image(name: str) -> str:
        return f"![{name}]({url}/{name}.png)"

    book = {
        "extensions": {},
        "entries": [
            {"name": f"Ship {image('lorename')} [l]({url}/lorename-link)", "keys": ["ship"], "enabled": True,
             "content": f"The ship {image('lorecontent')} <img src={url}/lorecontent-html.png> is old.",
             "insertion_order": 1, "extensions": {}},
            {"comment": f"{url}/lorecomment :streamlit:", "keys": [], "constant": True, "enabled": True,
             "content": f"Always: ![x]({EXTERNAL}/lore.png)", "insertion_order": 2, "extensions": {}},
        ],
    }  # fmt: skip
    return Persona(
        id="evil-1",
        name=f"Evil {image('name')} [home]({url}/name-link) {url}/bare www.tracker.invalid :material/forum:",
        description=f"{image('description')} <img src={url}/description-html.png> <svg onload=alert(1)>",
        personality=f"Sly {image('personality')}",
        scenario=f"A ship at sea. {image('scenario')}",
        first_mes=(
            f"Welcome aboard the ship. {image('greeting')} ![r][ref] [site]({url}/greeting-link) <mailto:x@y.z>\n\n"
            f"[ref]: {url}/greeting-ref.png\n\n$\\includegraphics{{{url}/greeting-tex.png}}$ :streamlit:"
        ),
        alternate_greetings=[image("alternate")],
        creator_notes=f"{image('notes')} <script>window.__pwned = 1</script>",
        tags=[image("tag"), f"[t]({url}/tag-link)"],
        creator=f"{url}/creator",
        background=f"The ship's log {image('background')} says the storm came at dawn. {EXTERNAL}/log.png",
        character_book=book,
    )


def no_fetched_images(page, url: str) -> None:
    """No image on the page points where the card said (or anywhere off the app)."""
    sources = page.evaluate("() => [...document.images].map(i => i.src)")
    assert not [s for s in sources if url in s or EXTERNAL in s], sources


@pytest.mark.timeout(900)
def test_a_hostile_card_makes_the_browser_fetch_nothing(tmp_path: Path, llm_server, browser, decoy) -> None:
    url, hits = decoy
    card = tmp_path / "evil.json"
    card.write_bytes(export_json(hostile_card(url)))
    (tmp_path / "app").mkdir()
    with running_app(tmp_path / "app", llm_server.base_url) as app:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        context.on("request", lambda request: requests.append(request.url))
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            journey(page, app, card, url)
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "hostile-card.png"), full_page=True)
            (ARTIFACTS / "hostile-card-requests.json").write_text(json.dumps(requests, indent=1), encoding="utf-8")
            context.close()

    origin = urlsplit(app).netloc
    elsewhere = [r for r in requests if urlsplit(r).scheme not in ("data", "blob") and urlsplit(r).netloc != origin]
    assert not elsewhere, f"requests that left the app: {elsewhere}"
    assert not hits, f"the card's URLs were fetched: {hits}"
    assert len(requests) > 20  # the log did record the pages' requests


def journey(page, app: str, card: Path, url: str) -> None:
    """Import the card, read every page about it, chat with it, reload."""
    page.goto(f"{app}/personas")
    page.get_by_role("heading", name="Personas").wait_for(timeout=LOAD_TIMEOUT)
    body = open_popover(page, page.get_by_test_id("stPopover").filter(has_text="Import a card"))
    body.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(card))
    body.get_by_text("evil.json").wait_for()
    body.get_by_role("button", name="Import").click()
    page.get_by_test_id("stAlertContentSuccess").filter(has_text="Imported Evil").wait_for(timeout=LOAD_TIMEOUT)

    entry = page.get_by_test_id("stExpander").filter(has_text="Evil")
    entry.locator("summary").click()
    entry.get_by_text("Tags: ").wait_for()
    label = entry.locator("summary").inner_text().replace(WORD_JOINER, "")
    assert f"Evil ![name]({url}/name.png) [home]({url}/name-link)" in label  # shown as text, not rendered
    assert entry.locator("summary a").count() == 0  # no links in the label, bare URLs included
    no_fetched_images(page, url)
    entry.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("tab", name="Lorebook (2)").click()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    wait_idle(page)
    chat = entry.get_by_role("button", name="Chat with this persona")
    if not chat.is_visible():  # the rerun closed the expander
        entry.locator("summary").click()
    chat.click()

    heading = page.get_by_role("heading").filter(has_text="Evil")
    heading.wait_for(timeout=LOAD_TIMEOUT)
    assert f"![name]({url}/name.png)" in heading.inner_text().replace(WORD_JOINER, "")
    assert heading.locator(f"a[href*='{url}']").count() == 0
    messages = page.get_by_test_id("stChatMessage")
    messages.first.get_by_text("Welcome aboard the ship").wait_for(timeout=LOAD_TIMEOUT)
    greeting_images = messages.first.locator("img").evaluate_all("images => images.map(i => i.src)")
    assert all(src.startswith("data:image/svg+xml") for src in greeting_images), greeting_images  # :streamlit:
    assert messages.first.locator(f"a[href='{url}/greeting-link']").count() == 1  # an http link stays a link
    assert messages.first.locator("a[href^='mailto:']").count() == 0

    send(page, "Tell me about the ship and the storm.")
    wait_for_reply(page, 3)
    reply = messages.nth(2)
    reply.get_by_test_id("stExpander").locator("summary").click()
    lore = reply.get_by_text("Lorebook: ")
    lore.wait_for()
    assert "![lorename]" in lore.inner_text() and lore.locator("img, a").count() == 0
    no_fetched_images(page, url)
    chat_url = page.url
    page.reload()
    page.get_by_role("heading").filter(has_text="Evil").wait_for(timeout=LOAD_TIMEOUT)
    messages.nth(2).wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    no_fetched_images(page, url)
    icons = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icons and all(i.startswith(("data:", app)) for i in icons), icons  # the favicon is not fetched from outside

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Memories").click()
    page.get_by_role("heading").filter(has_text="remembers").wait_for(timeout=LOAD_TIMEOUT)
    probe = page.get_by_label("What would Evil", exact=False)
    probe.fill("storm")
    probe.press("Enter")
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    no_fetched_images(page, url)
    page.reload()
    page.get_by_role("heading").filter(has_text="remembers").wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    no_fetched_images(page, url)

    page.goto(chat_url)
    messages.nth(2).wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    page.goto(f"{app}/personas")
    page.get_by_test_id("stExpander").filter(has_text="Evil").wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    no_fetched_images(page, url)
