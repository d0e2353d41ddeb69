"""Upgrades keep users' data: a data folder written by release 85de936 (tests/fixtures/, made by
build_release_fixture.py with that release's code) opens with today's code, every turn, memory,
title and persona reads back, the message it had journaled is stored, and the chat goes on."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from chat import ChatService, ReplySettings
from chat.prompting import exchanges
from llm import Sampling
from llm.local_server import MODEL_ALIAS
from memory import MemoryStore
from personas import PersonaLibrary

FIXTURE = Path(__file__).with_name("fixtures") / "release-85de936.zip"


@pytest.fixture
def old_data(tmp_path: Path) -> Path:
    with zipfile.ZipFile(FIXTURE) as archive:
        archive.extractall(tmp_path / "data")
    return tmp_path / "data"


def test_a_store_and_personas_of_the_last_release_read_back(old_data: Path) -> None:
    store = MemoryStore.open(path=str(old_data / "chroma"))
    store.warm_up()  # as the app does at start-up: the journal of that release is stored
    assert sorted(store.persona_ids()) == ["mara-voss", "wren-halloway"]
    wren = store.transcript("wren-halloway", "old-conversation")
    assert [t.text for t in wren] == [
        "My dog is called Biscuit.", "A fine name for a dog, Biscuit.",
        "I work as a nurse at St. Brigid's.", "Long nights, then. The lamp keeps me company.",
    ]  # fmt: skip
    assert [t.role for t in wren] == ["user", "assistant", "user", "assistant"]
    assert wren[0].pinned and not wren[0].thinking and not wren[0].stopped
    [conversation] = store.conversations("wren-halloway")
    assert (conversation.title, conversation.parent) == ("About Biscuit", None)
    mara = store.transcript("mara-voss", "mara-chat")
    assert [t.text for t in mara] == [
        "Tell me about your ship.", "The Kestrel is brass and stubborn.", "A message journaled, not stored yet.",
    ]
    assert mara[1].recalled == [(mara[0].id, 0.5)] and mara[1].lore == ["Ferry"] and mara[1].interrupted
    assert not store.has_pending()
    background = store.list("wren-halloway", kind="background")
    assert background and "Saltmarsh lighthouse" in background[0].text
    assert "Biscuit" in store.recall("wren-halloway", "what is my dog's name?", k=3)[0].text

    library = PersonaLibrary(old_data / "personas")
    assert {p.id for p in library.list()} >= {"wren-halloway", "mara-voss", "elias-thorne", "juniper-hale"}
    wren_card = library.get("wren-halloway")
    assert wren_card.character_book["entries"][0]["keys"] == ["ferry"]  # the card's book, as it was


def test_the_chat_goes_on_in_a_conversation_of_the_last_release(old_data: Path, llm_server) -> None:
    store = MemoryStore.open(path=str(old_data / "chroma"))
    service = ChatService(store, PersonaLibrary(old_data / "personas"), "Sam")
    chat = service.conversation("wren-halloway", "old-conversation")
    settings = ReplySettings(llm_server.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 12))
    chat.send("Do you remember my dog?", settings)
    deadline = time.monotonic() + 120
    while chat.busy():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    turns = chat.view().turns
    assert len(exchanges(turns)) == 6 and turns[-2].text == "Do you remember my dog?" and turns[-1].text.strip()
    assert chat.view().failure is None
