"""A SillyTavern user's journey in headless Chromium: import a World Info file on the Lorebooks
page, attach it to a persona, chat, and see the entry its key brought in under "Memories used".
Then choose a lorebook for the conversation in the chat's sidebar. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (
    ARTIFACTS,
    LOAD_TIMEOUT,
    new_conversation,
    open_popover,
    running_app,
    send,
    wait_for_reply,
    wait_idle,
)

FIXTURES = Path(__file__).parent / "fixtures" / "worldinfo"


@pytest.fixture
def app(tmp_path: Path, llm_server) -> Iterator[str]:
    with running_app(tmp_path, llm_server.base_url) as url:
        yield url


def import_file(page, path: Path, says: re.Pattern[str]) -> None:
    page.keyboard.press("Escape")  # a popover still open
    body = open_popover(page, page.get_by_test_id("stPopover").filter(has_text="Import").first)
    body.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    body.get_by_text(path.name).wait_for()
    body.get_by_role("button", name="Import").click()
    page.get_by_text(says).wait_for(timeout=LOAD_TIMEOUT)
    wait_idle(page)
    page.keyboard.press("Escape")


def memories_used(message) -> str:
    """The text of a reply's "Memories used" expander, opened."""
    expander = message.get_by_test_id("stExpander").filter(has_text="Memories used")
    expander.locator("summary").click()
    return expander.inner_text()


@pytest.mark.timeout(900)
def test_import_world_info_attach_it_and_see_its_entry_used(app: str, page, tmp_path: Path) -> None:
    world = tmp_path / "Saltmarsh.json"  # SillyTavern names a World Info file after its book
    shutil.copy(FIXTURES / "saltmarsh.json", world)

    tides = tmp_path / "Saltmarsh tides.json"  # a Character Card V3 lorebook
    shutil.copy(FIXTURES / "saltmarsh-v3.json", tides)

    page.goto(f"{app}/lorebooks")
    page.get_by_role("heading", name="Lorebooks").wait_for(timeout=LOAD_TIMEOUT)
    import_file(page, world, re.compile(r"Imported Saltmarsh:\W*4 entries"))  # plain(): a joiner after ":"
    used_by = page.get_by_test_id("stMultiSelect").filter(has_text="Used by")
    used_by.click()
    page.get_by_role("option", name="Captain Mara Voss").click()
    page.get_by_text(re.compile("used by Captain Mara Voss")).wait_for(timeout=LOAD_TIMEOUT)
    page.keyboard.press("Escape")
    page.mouse.click(1260, 60)  # on nothing: closes the list
    wait_idle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lorebooks.png"), full_page=True)
    import_file(page, tides, re.compile(r"Imported Saltmarsh tides:\W*2 entries"))  # attached to nobody

    page.get_by_test_id("stSidebarNavLink").filter(has_text="Chat").click()
    page.get_by_role("heading", name="Captain Mara Voss").wait_for(timeout=LOAD_TIMEOUT)
    page.get_by_test_id("stSidebar").get_by_text(re.compile(r"Captain Mara Voss also uses:\W*Saltmarsh")).wait_for()
    new_conversation(page)
    send(page, "Does Tobin still run the ferry to the mainland?")
    wait_for_reply(page, 3)
    used = memories_used(page.get_by_test_id("stChatMessage").nth(2))
    assert "Lorebook: ferry / tobin / boat" in used and "Tides" not in used

    # one conversation gets a lorebook of its own, from the sidebar
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(
        has_text="Lorebook for this conversation"
    )
    picker.get_by_role("button", name="Open").click()
    page.get_by_role("option", name="Saltmarsh tides").click()
    wait_idle(page)
    send(page, "When is the spring tide?")
    wait_for_reply(page, 5)
    assert "Lorebook: Tides" in memories_used(page.get_by_test_id("stChatMessage").nth(4))
    page.screenshot(path=str(ARTIFACTS / "chat-lorebook.png"), full_page=True)
