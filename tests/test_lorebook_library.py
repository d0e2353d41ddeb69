"""The lorebook library: books as files in a folder (kept in the format they came in), and which
personas and conversations use them; the chat service draws on them (real store, built-in server)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from chat import ChatService, ReplySettings
from llm import Sampling
from llm.local_server import MODEL_ALIAS
from memory import MemoryStore
from personas import PersonaLibrary
from personas.lorebook_library import ATTACHMENTS, LorebookLibrary
from personas.worldinfo import Lorebook, WorldInfoError, new_entry, parse_lorebook
from tests.test_chat_service import settle

FIXTURES = Path(__file__).parent / "fixtures" / "worldinfo"


def saltmarsh() -> Lorebook:
    return replace(parse_lorebook((FIXTURES / "saltmarsh.json").read_bytes()), name="Saltmarsh")


@pytest.fixture
def library(tmp_path: Path) -> LorebookLibrary:
    return LorebookLibrary(tmp_path / "lorebooks")


def test_a_book_is_kept_as_it_came(library: LorebookLibrary, tmp_path: Path) -> None:
    book = library.add(saltmarsh())
    assert book.id.startswith("saltmarsh-") and book.title == "Saltmarsh"
    stored = json.loads((tmp_path / "lorebooks" / f"{book.id}.json").read_text())
    assert stored["format"] == "world_info"
    original = json.loads((FIXTURES / "saltmarsh.json").read_text())
    assert stored["book"] == {**original, "name": "Saltmarsh"}
    assert LorebookLibrary(tmp_path / "lorebooks").get(book.id) == book  # a new process reads the same
    v3 = library.add(parse_lorebook((FIXTURES / "saltmarsh-v3.json").read_bytes()))
    assert library.get(v3.id).format == "character_book"
    assert [b.title for b in library.list()] == ["Saltmarsh", "Saltmarsh tides"]


def test_two_imports_are_two_books_and_saving_keeps_the_id(library: LorebookLibrary) -> None:
    first, second = library.add(saltmarsh()), library.add(saltmarsh())
    assert first.id != second.id
    edited = replace(first, entries=[*first.entries, new_entry(first, content="More.", keys=["more"])])
    assert library.save(edited).id == first.id and len(library.get(first.id).entries) == 5


def test_reads_are_cached_until_the_file_changes(library: LorebookLibrary) -> None:
    book = library.add(saltmarsh())
    assert library.get(book.id) is library.get(book.id)
    library.save(replace(book, name="Renamed"))
    assert library.get(book.id).name == "Renamed"


def test_over_the_limits_nothing_is_stored(library: LorebookLibrary) -> None:
    huge = Lorebook(entries=[new_entry(Lorebook(), content="x" * 500_001, keys=["k"])], name="Huge")
    with pytest.raises(WorldInfoError, match="the limit is 500,000"):
        library.add(huge)
    assert library.list() == []


def test_unreadable_files_are_named_not_fatal(library: LorebookLibrary, tmp_path: Path) -> None:
    library.add(saltmarsh())
    (tmp_path / "lorebooks" / "broken-1.json").write_text("{not json")
    (tmp_path / "lorebooks" / "foreign-1.json").write_text('{"entries": {}}')
    assert [b.title for b in library.list()] == ["Saltmarsh"]
    problems = library.unreadable()
    assert len(problems) == 2 and problems[0].startswith("broken-1.json: broken-1.json cannot be read")
    with pytest.raises(KeyError):
        library.get("missing-1")
    with pytest.raises(ValueError, match="invalid lorebook id"):
        library.get("../personas/mara")


def test_attachments(library: LorebookLibrary, tmp_path: Path) -> None:
    world = library.add(saltmarsh())
    tides = library.add(parse_lorebook((FIXTURES / "saltmarsh-v3.json").read_bytes()))
    library.set_personas_using(world.id, ["mara-voss", "wren-1"])
    library.set_persona_books("mara-voss", [*library.persona_books("mara-voss"), tides.id])
    assert library.persona_books("mara-voss") == [world.id, tides.id]
    assert sorted(library.personas_using(world.id)) == ["mara-voss", "wren-1"]
    library.set_conversation_book("mara-voss", "c1", tides.id)
    assert [b.id for b in library.books_for("mara-voss", "c1")] == [tides.id, world.id]  # the conversation's first
    assert [b.id for b in library.books_for("mara-voss", "c2")] == [world.id, tides.id]
    assert [b.id for b in library.books_for("nobody-1", "c1")] == []
    library.set_personas_using(world.id, ["wren-1"])
    assert library.persona_books("mara-voss") == [tides.id]
    library.delete(tides.id)
    assert library.persona_books("mara-voss") == [] and library.conversation_book("mara-voss", "c1") is None
    assert library.books_for("wren-1", "c9") == [library.get(world.id)]
    library.set_conversation_book("wren-1", "c9", world.id)
    library.forget_persona("wren-1")
    assert library.books_for("wren-1", "c9") == []
    (tmp_path / "lorebooks" / ATTACHMENTS).write_text('{"personas": {"x": "not a list"}, "conversations": 5}')
    assert library.persona_books("x") == [] and library.books_for("x", "y") == []  # a damaged file: no attachments


def test_a_reply_draws_on_the_conversations_the_personas_and_the_cards_books(tmp_path: Path, llm_server) -> None:
    personas = PersonaLibrary(tmp_path / "personas")
    personas.seed_samples()
    mara = personas.get("mara-voss")
    mara.character_book = {"entries": [{"keys": ["kestrel"], "content": "The Kestrel is an airship.",
                                        "name": "The ship", "insertion_order": 1, "enabled": True,
                                        "extensions": {}}]}  # fmt: skip
    personas.save(mara)
    books = LorebookLibrary(tmp_path / "lorebooks")
    world = books.add(saltmarsh())
    tides = books.add(parse_lorebook((FIXTURES / "saltmarsh-v3.json").read_bytes()))
    books.set_persona_books("mara-voss", [world.id])
    books.set_conversation_book("mara-voss", "c1", tides.id)
    service = ChatService(MemoryStore.open(path=str(tmp_path / "chroma")), personas, "Sam", lorebooks=books)
    settings = ReplySettings(llm_server.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 12))
    for conversation in ("c1", "c2"):
        chat = service.conversation("mara-voss", conversation)
        chat.send("The ferry, the tide and the kestrel: tell me.", settings)
        settle(chat)
        reply = chat.view().turns[-1]
        assert reply.role == "assistant" and reply.text.strip()
        # the tides book is recursive: its "Tides" entry mentions the bell, which brings "bell" in
        expected = ["The ship", "ferry / tobin / boat", *(["Tides", "bell"] if conversation == "c1" else [])]
        assert sorted(reply.lore) == sorted(expected)  # shown under the reply as "Memories used"
    used = service.lorebooks_for(mara, "c1")
    assert [(b.name, b.format) for b in used] == [
        ("Saltmarsh tides", "character_book"), ("Saltmarsh", "world_info"), ("", "character_book")
    ]  # the conversation's, the persona's, the card's own
