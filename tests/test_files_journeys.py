"""Journeys in headless Chromium with files from elsewhere: import a SillyTavern chat and find
one of its turns with the recall probe; back everything up, delete the data folder, restore,
and see it all again."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from memory import MemoryStore
from memory.sillytavern import import_chat, parse_chat
from personas import Persona, PersonaLibrary
from personas.users import UserPersona, UserPersonaLibrary
from tests.harness import LOAD_TIMEOUT, open_popover, running_app, wait_idle
from tests.test_journeys import probe, sidebar_link

STORM = Path(__file__).parent / "fixtures" / "sillytavern" / "mara-the-storm.jsonl"
GREETING = (
    "*The deck of the Kestrel tilts as the wind picks up.* Hold on to something, Alex. We sail into the storm tonight."
)
RESTORE_TIMEOUT = 180_000


@contextmanager
def app_on(workdir: Path, llm_url: str) -> Iterator[str]:
    """The app with every data folder in ``workdir`` (lorebooks and user personas too: their
    default, data/, would be the repository's)."""
    folders = {"LOREBOOKS_PATH": str(workdir / "lorebooks"), "USER_PERSONAS_PATH": str(workdir / "user-personas")}
    with running_app(workdir, llm_url, **folders) as url:
        yield url


def upload(page, where, path: Path) -> None:
    where.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    where.get_by_label(path.name, exact=False).first.wait_for()  # its chip (the name shown may be shortened)


@pytest.mark.timeout(900)
def test_import_a_sillytavern_chat_and_recall_one_of_its_turns(tmp_path: Path, llm_server, page) -> None:
    with app_on(tmp_path, llm_server.base_url) as app:
        page.goto(f"{app}/personas")
        page.get_by_role("heading", name="Personas").wait_for(timeout=LOAD_TIMEOUT)
        mara = page.get_by_test_id("stExpander").filter(has_text="Captain Mara Voss")
        mara.locator("summary").click()
        body = open_popover(page, mara.get_by_test_id("stPopover").filter(has_text="Import a SillyTavern chat"))
        upload(page, body, STORM)
        body.get_by_role("button", name="Import chat").click()
        page.get_by_text("Imported “mara-the-storm” for Captain Mara Voss").wait_for(timeout=LOAD_TIMEOUT)

        sidebar_link(page, "Memories").click()
        page.get_by_role("heading", name="What Captain Mara Voss remembers").wait_for(timeout=LOAD_TIMEOUT)
        cells = probe(page, "Captain Mara Voss", "who made your brass hand, the clockmaker?")
        assert any("Tobin Reed, a clockmaker in Keld" in cell for cell in cells), cells
        assert "2024-07-12" in cells  # the turn keeps its date from the chat


def avatar() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 45), (20, 160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def files(data: Path) -> dict[Path, bytes]:
    """The persona library's, the lorebooks' and the user personas' files (the folder is also the
    app's HOME)."""
    return {p.relative_to(data): p.read_bytes() for f in ("personas", "lorebooks", "user-personas")
            for p in (data / f).rglob("*") if p.is_file()}  # fmt: skip


@pytest.mark.timeout(900)
def test_back_up_delete_the_data_folder_restore_and_see_it_all_again(tmp_path: Path, llm_server, page) -> None:
    data = tmp_path / "data"
    library = PersonaLibrary(data / "personas")
    library.seed_samples()
    library.save(Persona(id="juno-ash-1a2b3c", name="Juno Ash", description="A lamplighter.", first_mes="Evening."))
    library.save_avatar("juno-ash-1a2b3c", avatar())
    users = UserPersonaLibrary(data / "user-personas", "Alex")
    users.save(UserPersona.new("Sam", "A sailor from Keld."))
    (data / "lorebooks").mkdir()
    (data / "lorebooks" / "keld.json").write_text('{"entries": [{"keys": ["Keld"], "content": "An isle."}]}', "utf-8")
    store = MemoryStore.open(path=str(data / "chroma"))
    imported = import_chat(store, "mara-voss", parse_chat(STORM.read_bytes(), "The storm.jsonl"), greeting=GREETING)
    stored = store.count("mara-voss")

    with app_on(data, llm_server.base_url) as app:
        page.goto(f"{app}/memories?persona=mara-voss")
        page.get_by_role("heading", name="What Captain Mara Voss remembers").wait_for(timeout=LOAD_TIMEOUT)
        with page.expect_download() as info:
            page.locator(".st-key-backup_download").get_by_role("button").click()
        backup = tmp_path / info.value.suggested_filename
        info.value.save_as(backup)
    before = files(data)  # (with the user persona the app made for its empty folder)
    assert backup.name.startswith("persona-chat-backup-") and backup.suffix == ".zip"

    for folder in ("chroma", "personas", "lorebooks", "user-personas"):
        shutil.rmtree(data / folder)
    with app_on(data, llm_server.base_url) as app:
        page.goto(f"{app}/memories?persona=mara-voss")
        page.get_by_role("heading", name="What Captain Mara Voss remembers").wait_for(timeout=LOAD_TIMEOUT)
        page.get_by_text("0 memories stored").wait_for(timeout=LOAD_TIMEOUT)
        form = page.get_by_test_id("stForm").filter(has_text="Restore from a backup")
        upload(page, form, backup)
        form.get_by_text("Yes, restore it").click()
        form.get_by_role("button", name="Restore").click()
        page.get_by_text(f"and {stored:,} memories.").wait_for(timeout=RESTORE_TIMEOUT)
        wait_idle(page)
        page.get_by_text(f"{stored:,} memories stored").wait_for(timeout=LOAD_TIMEOUT)
        cells = probe(page, "Captain Mara Voss", "who made your brass hand, the clockmaker?")
        assert any("Tobin Reed, a clockmaker in Keld" in cell for cell in cells), cells

        page.goto(f"{app}/?persona=mara-voss&conversation={imported.conversation_id}")
        messages = page.get_by_test_id("stChatMessage")
        messages.first.wait_for(timeout=LOAD_TIMEOUT)
        page.get_by_text("To the floating isle of Keld").wait_for(timeout=LOAD_TIMEOUT)
        page.get_by_text("3 / 3").wait_for()  # its swipes, still the reply's alternatives
        title = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Conversation").input_value()
        assert title.startswith("The storm · ")  # the conversation's title, from the chat's file name

        page.goto(f"{app}/personas")
        page.get_by_test_id("stExpander").filter(has_text="Juno Ash").wait_for(timeout=LOAD_TIMEOUT)
    assert files(data) == before  # the cards, the avatar, the lorebook and who you are, byte for byte
