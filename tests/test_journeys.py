"""Whole journeys through the app in headless Chromium, each on its own app and its own state:
import a PNG card and chat with it, then forget a turn on the Memories page; regenerate a reply
and switch between the alternatives; export a conversation as Markdown and SillyTavern JSONL.

Screenshots of every page, at a desktop and a phone size, go to test-artifacts/."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from personas import Persona
from personas.cards import export_png
from tests.harness import (
    ARTIFACTS,
    DESKTOP,
    LOAD_TIMEOUT,
    PHONE,
    REPLY_TIMEOUT,
    choose,
    new_conversation,
    open_popover,
    reply_text,
    running_app,
    send,
    wait_for_reply,
    wait_idle,
)


@pytest.fixture
def app(tmp_path: Path, llm_server) -> Iterator[str]:
    """A fresh app for one journey: its own personas folder and memory store."""
    with running_app(tmp_path, llm_server.base_url) as url:
        yield url


# --- helpers ----------------------------------------------------------------------------------


def avatar_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 96), (40, 90, 120))
    ImageDraw.Draw(image).ellipse((12, 20, 52, 60), fill=(230, 200, 120))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def open_chat(page, url: str) -> None:
    page.goto(url)
    page.get_by_test_id("stChatMessage").first.wait_for(timeout=LOAD_TIMEOUT)


def words(text: str) -> list[str]:
    """The words of a text, whether it is Markdown or its rendering."""
    return re.findall(r"\w+", text.lower())


def sidebar_link(page, name: str):
    return page.get_by_test_id("stSidebarNavLink").filter(has_text=name)


def probe(page, persona_name: str, query: str) -> list[str]:
    """Ask the Memories page what the persona would recall; the text of every cell of the answer."""
    box = page.get_by_label(f"What would {persona_name} recall for…")
    box.fill(query)
    box.press("Enter")
    wait_idle(page)
    # The accessible table behind the canvas is filled a moment after the canvas is drawn, and a
    # rerun may redraw it: read every cell in one step, once some have text.
    cells = page.wait_for_function(
        """() => {
            const texts = [...document.querySelectorAll('.st-key-probe_results [role=gridcell]')]
                .map(cell => cell.textContent.trim());
            return texts.some(Boolean) && texts;
        }""",
        timeout=LOAD_TIMEOUT,
    ).json_value()
    return list(cells)


def memories_stored(page) -> int:
    caption = page.get_by_text(re.compile(r"[\d,]+ memories stored")).first.inner_text()
    return int(re.match(r"[\d,]+", caption).group().replace(",", ""))


# --- 1. import a card, chat, forget a turn ------------------------------------------------------


@pytest.mark.timeout(900)
def test_import_a_card_chat_and_forget_a_turn(app: str, page, tmp_path: Path) -> None:
    card = tmp_path / "wren.png"
    persona = Persona(
        id="wren",
        name="Wren Halloway",
        description="A lighthouse keeper on a windy northern island.",
        personality="Patient, dry humour.",
        first_mes="The lamp is lit. What brings you out here in this weather?",
        background="Wren has kept the Saltmarsh lighthouse for twenty years. Her brother Tobin sails the ferry.",
        tags=["lighthouse"],
    )
    card.write_bytes(export_png(persona, avatar_png()))

    page.goto(f"{app}/personas")
    page.get_by_role("heading", name="Personas").wait_for(timeout=LOAD_TIMEOUT)
    body = open_popover(page, page.get_by_test_id("stPopover").filter(has_text="Import a card"))
    body.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(card))
    body.get_by_text("wren.png").wait_for()
    body.get_by_role("button", name="Import").click()
    page.get_by_text("Imported Wren Halloway.").wait_for(timeout=LOAD_TIMEOUT)

    page.get_by_test_id("stExpander").filter(has_text="Wren Halloway").locator("summary").click()
    page.get_by_role("button", name="Chat with this persona").click()
    page.get_by_role("heading", name="Wren Halloway").wait_for(timeout=LOAD_TIMEOUT)
    messages = page.get_by_test_id("stChatMessage")
    messages.first.wait_for(timeout=LOAD_TIMEOUT)
    assert "The lamp is lit" in messages.first.inner_text()

    said = "Zanzibarite pebbles line my garden path, I collected them myself."
    send(page, said)
    wait_for_reply(page, 3)
    assert said in messages.nth(1).inner_text()
    assert reply_text(messages.nth(2))

    persona_id = re.search(r"persona=([a-z0-9-]+)", page.url).group(1)

    sidebar_link(page, "Memories").click()
    page.get_by_role("heading", name="What Wren Halloway remembers").wait_for(timeout=LOAD_TIMEOUT)
    query = "zanzibarite pebbles in the garden"
    assert said in probe(page, "Wren Halloway", query), "before: the turn is recalled"
    stored = memories_stored(page)

    page.locator(".st-key-memory_filter input").fill("zanzibarite")
    page.locator(".st-key-memory_filter input").press("Enter")
    page.get_by_text(re.compile(r"· [1-3] match ·")).wait_for(timeout=LOAD_TIMEOUT)  # the turn, maybe its reply
    wait_idle(page)
    page.get_by_test_id("stExpander").filter(has_text="Edit one memory").locator("summary").click()
    # newest first: the user's turn is the last that starts so (the reply may echo it)
    choose(page, page.locator(".st-key-edit_one"), said[:60], last=True)
    page.wait_for_function(
        "(said) => { const boxes = document.querySelectorAll(\"[class*='st-key-edit_text_'] textarea\");"
        " return boxes.length === 1 && boxes[0].value === said; }",
        arg=said,
    )  # the chosen memory is the one in the editor (and the previous one's box is gone)
    page.get_by_role("button", name="Delete this memory").click()
    page.get_by_text("Delete 1 memory? This cannot be undone.").wait_for()
    page.locator(".st-key-confirm_delete").get_by_role("button", name="Delete").click()
    page.get_by_text("Deleted 1 memory.").wait_for(timeout=LOAD_TIMEOUT)
    page.get_by_text(f"{stored - 1} memories stored").wait_for(timeout=LOAD_TIMEOUT)
    assert page.get_by_label("What would Wren Halloway recall for…").input_value() == query

    # The grid's accessible table (what a test can read; the cells are drawn on a canvas) is not
    # redrawn in place, so the probe is read again on a fresh page.
    page.goto(f"{app}/memories?persona={persona_id}")
    page.get_by_role("heading", name="What Wren Halloway remembers").wait_for(timeout=LOAD_TIMEOUT)
    recalled = probe(page, "Wren Halloway", query)
    assert recalled, "the probe still shows what is recalled (the reply, the background)"
    assert not any(said in cell for cell in recalled), f"the deleted turn is still recalled: {recalled}"


# --- 2. regenerate ------------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_regenerate_keeps_both_replies(app: str, page) -> None:
    open_chat(page, app)
    new_conversation(page)
    messages = page.get_by_test_id("stChatMessage")
    send(page, "What cargo are we carrying this voyage?")
    wait_for_reply(page, 3)
    first = reply_text(messages.nth(2))
    assert first

    page.get_by_role("button", name="Regenerate").click()
    page.get_by_text("2 / 2").wait_for(timeout=REPLY_TIMEOUT)
    wait_for_reply(page, 3)
    # the new reply replaces the old one on screen (once the last run has cleared what it redrew)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length === 3", timeout=REPLY_TIMEOUT
    )
    reply = messages.nth(2)
    second = reply_text(reply)
    assert second

    reply.locator("[class*='st-key-back_'] button").click()
    page.get_by_text("1 / 2").wait_for()
    wait_idle(page)
    assert reply_text(messages.nth(2)) == first
    assert messages.nth(2).locator("[class*='st-key-back_'] button").is_disabled()
    messages.nth(2).locator("[class*='st-key-forward_'] button").click()
    page.get_by_text("2 / 2").wait_for()
    wait_idle(page)
    assert reply_text(messages.nth(2)) == second

    # the next message: while it is answered, the last reply's Regenerate is not left above it
    send(page, "And where do we sail after that?")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= 4", timeout=REPLY_TIMEOUT
    )
    # (the model reads the prompt for a second or more: the reply is not stored yet, and once it
    # is, the page is drawn again with a Regenerate under the new reply)
    regenerate_shown = page.evaluate("() => !!document.querySelector('.st-key-answer_again')?.checkVisibility()")
    assert not regenerate_shown
    wait_for_reply(page, 5)


# --- 3. export ----------------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_export_a_conversation(app: str, page, tmp_path: Path) -> None:
    open_chat(page, app)
    new_conversation(page)
    said = "Chart a course for the Quillfeather reef at dawn."
    send(page, said)
    wait_for_reply(page, 3)
    messages = page.get_by_test_id("stChatMessage")
    greeting, reply = reply_text(messages.nth(0)), reply_text(messages.nth(2))

    body = open_popover(page, page.get_by_test_id("stSidebar").get_by_test_id("stPopover").filter(
        has_text="Export conversation"))
    files = {}
    for label in ("Markdown", "SillyTavern (JSONL)"):
        with page.expect_download() as info:
            body.get_by_role("button", name=label).click()
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        files[label] = target

    assert files["Markdown"].suffix == ".md" and files["SillyTavern (JSONL)"].suffix == ".jsonl"
    markdown = files["Markdown"].read_text(encoding="utf-8")
    assert markdown.startswith("# Captain Mara Voss and User")
    assert said in markdown
    assert markdown.index(said) < markdown.rindex("**Captain Mara Voss** ·")

    lines = files["SillyTavern (JSONL)"].read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["character_name"] == "Captain Mara Voss" and header["user_name"] == "User"
    records = [json.loads(line) for line in lines[1:]]
    assert [(r["name"], r["is_user"]) for r in records] == [
        ("Captain Mara Voss", False),
        ("User", True),
        ("Captain Mara Voss", False),
    ]
    assert words(records[0]["mes"])[:5] == words(greeting)[:5]
    assert records[1]["mes"] == said
    assert set(words(reply)[:5]) <= set(words(records[2]["mes"]))


# --- screenshots ------------------------------------------------------------------------------

SCREENS = ARTIFACTS / "screens"


@pytest.mark.timeout(900)
def drawn(png: bytes) -> bool:
    """Whether a screenshot shows something: many colours, not one flat background."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > 50


def test_screenshots_of_every_page(app: str, page) -> None:
    """Every page at a desktop and a phone size, for a person to look at (test-artifacts/screens/)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    open_chat(page, app)
    messages = page.get_by_test_id("stChatMessage")
    for count, text in ((3, "Where are we bound, captain?"), (5, "Who else is in the crew?")):
        send(page, text)
        wait_for_reply(page, count)
    last = messages.last
    last.get_by_test_id("stExpander").locator("summary").click()
    last.get_by_test_id("stExpanderDetails").get_by_text("background").first.wait_for()

    def chat() -> None:
        if page.viewport_size == PHONE:
            open_chat(page, app)
        wait_idle(page)
        page.wait_for_timeout(1_000)  # Streamlit keeps a chat scrolled to its end for a moment
        question = page.get_by_test_id("stChatMessage").nth(-2)
        question.evaluate("message => message.scrollIntoView({block: 'start'})")  # then the reply, what it used

    shots = {"chat": chat}

    def personas() -> None:
        page.goto(f"{app}/personas")
        page.get_by_role("heading", name="Personas").wait_for(timeout=LOAD_TIMEOUT)
        page.get_by_test_id("stExpander").filter(has_text="Captain Mara Voss").locator("summary").first.click()
        page.get_by_role("button", name="Chat with this persona").wait_for()

    def edit_dialog() -> None:
        personas()
        page.locator("[class*='st-key-open_editor_mara-voss']").get_by_role("button").click()
        page.get_by_role("dialog").get_by_label("Name").wait_for(timeout=LOAD_TIMEOUT)
        wait_idle(page)

    def memories() -> None:
        page.goto(f"{app}/memories")
        page.get_by_role("heading", name="What Captain Mara Voss remembers").wait_for(timeout=LOAD_TIMEOUT)
        probe(page, "Captain Mara Voss", "who is on the crew?")

    def you() -> None:
        page.goto(f"{app}/you")
        page.get_by_role("heading", name="You").wait_for(timeout=LOAD_TIMEOUT)

    def lorebooks() -> None:
        page.goto(f"{app}/lorebooks")
        page.get_by_role("heading", name="Lorebooks").wait_for(timeout=LOAD_TIMEOUT)

    shots |= {"personas": personas, "persona-edit": edit_dialog, "memories": memories, "you": you,
              "lorebooks": lorebooks}  # fmt: skip
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        for name, show in shots.items():
            show()
            wait_idle(page)
            page.wait_for_timeout(500)  # fonts and the grid's canvas settle
            assert page.get_by_test_id("stException").count() == 0, f"{name}: an exception is shown"
            assert page.locator("h1").first.inner_text().strip(), f"{name}: the page has no title"
            shot = page.screenshot(path=str(SCREENS / f"{name}-{size_name}.png"))
            assert drawn(shot), f"{name} at {size_name}: the screenshot is blank"
