"""The chat service against the real built-in server and a real store: messages sent while a
reply is written wait in line and are answered in order, none lost or stored twice (threads,
several spacings); Stop, Continue; a reasoning model's thinking kept apart; failures."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from bench.relay import Relay
from chat import ChatService, Conversation, MessageTooLong, PersonaGone, ReplySettings
from chat.prompting import recent_history
from llm import Sampling
from llm.local_server import MODEL_ALIAS
from memory import MemoryStore
from personas import PersonaLibrary
from tests.harness import free_port, server_stops_generating

PERSONA = "mara-voss"


@pytest.fixture
def service(tmp_path: Path) -> ChatService:
    library = PersonaLibrary(tmp_path / "personas")
    library.seed_samples()
    return ChatService(MemoryStore.open(path=str(tmp_path / "chroma")), library, "Sam")


def settings_for(server, max_tokens: int = 24, **kwargs) -> ReplySettings:
    return ReplySettings(server.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, max_tokens), **kwargs)


def settle(chat: Conversation, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while chat.busy():
        assert time.monotonic() < deadline, "the replies did not end"
        time.sleep(0.05)


def roles_and_texts(chat: Conversation) -> list[tuple[str, str]]:
    return [(t.role or "", t.text) for t in chat.view().turns]


@pytest.mark.parametrize("spacing", [0.0, 0.3, 1.2])
def test_messages_sent_while_replies_stream_are_all_answered_in_order(service, llm_server, spacing) -> None:
    chat = service.conversation(PERSONA, f"burst-{spacing}")
    settings = settings_for(llm_server)
    sent = []
    for n in range(7):
        sent.append(f"Message {n}: tell me something about the sky.")
        assert chat.send(sent[-1], settings)
        view = chat.view()
        shown = [t.text for t in view.turns if t.role == "user"] + [w.text for w in view.waiting]
        assert shown == sent  # every message is on screen at once, in the order sent
        time.sleep(spacing)
    settle(chat)
    turns = roles_and_texts(chat)
    assert [text for role, text in turns if role == "user"] == sent  # once each, in order
    assert [role for role, _ in turns] == ["user", "assistant"] * len(sent)  # each has its reply, after it
    assert all(text.strip() for _, text in turns)
    assert not service.store.has_pending()  # nothing left in the journal


def test_threads_sending_at_once_lose_nothing(service, llm_server) -> None:
    chat = service.conversation(PERSONA, "threads")
    settings = settings_for(llm_server, max_tokens=12)
    texts = [f"thread {n} says hello" for n in range(10)]
    go = threading.Barrier(len(texts))

    def send(text: str) -> None:
        go.wait()
        chat.send(text, settings)

    threads = [threading.Thread(target=send, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle(chat)
    turns = roles_and_texts(chat)
    assert sorted(text for role, text in turns if role == "user") == sorted(texts)
    assert [role for role, _ in turns] == ["user", "assistant"] * len(texts)


def test_memories_edited_while_replies_stream_keep_working(service, llm_server) -> None:
    chat = service.conversation(PERSONA, "editing")
    settings = settings_for(llm_server)
    chat.send("I keep bees on my roof.", settings)
    settle(chat)
    for n in range(3):
        chat.send(f"Question {n}: what do I keep?", settings)
    memory = chat.view().turns[0]
    for n in range(5):  # the memories page editing and pinning at the same time
        service.store.update(memory.id, text=f"I keep bees on my roof ({n}).", pinned=n % 2 == 0)
    settle(chat)
    turns = chat.view().turns
    assert turns[0].text == "I keep bees on my roof (4)." and turns[0].pinned
    assert [t.text for t in turns if t.role == "user"][1:] == [f"Question {n}: what do I keep?" for n in range(3)]


def test_stop_keeps_the_partial_reply_and_continue_goes_on_from_it(service, llm_server) -> None:
    chat = service.conversation(PERSONA, "stop")
    chat.send("Tell me a very long story about the sea.", settings_for(llm_server, max_tokens=2000))
    live = chat.view().live
    assert live is not None
    view = live.wait(-1, 60)
    while len(view.answer) < 40:
        view = live.wait(view.version, 60)
    chat.stop()
    settle(chat, timeout=20)  # at once, not after 2,000 tokens
    assert server_stops_generating(llm_server.base_url)  # long before the 2,000 tokens asked for
    user, reply = chat.view().turns
    assert reply.stopped and reply.interrupted and len(reply.text) >= 40
    assert live.snapshot().state == "stopped"

    chat.continue_reply(user, reply, settings_for(llm_server, max_tokens=16))
    settle(chat)
    turns = chat.view().turns
    assert len(turns) == 2  # appended to the same reply, not a new one
    assert turns[1].text.startswith(reply.text) and len(turns[1].text) > len(reply.text)
    assert not turns[1].stopped and not turns[1].interrupted


@pytest.mark.parametrize("mode", ["split", "inline"])
def test_thinking_is_kept_with_the_reply_but_never_stored_recalled_or_sent_back(service, thinking_servers, mode):
    relay = Relay.before(thinking_servers[mode].base_url)
    settings = ReplySettings(relay.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 300))
    chat = service.conversation(PERSONA, f"thinking-{mode}")
    chat.send("Hello! Who are you?", settings)
    states = []
    live = chat.view().live
    view = live.wait(-1, 60)
    while not view.finished:
        states.append(view.state)
        view = live.wait(view.version, 60)
    assert view.state == "done" and view.thinking and view.answer
    # thinking first, then the answer: never thinking again once the answer has started (an
    # observer woken late may see the thinking already over; the thinking's seconds say it was)
    assert "answering" in states and "thinking" not in states[states.index("answering") :]
    assert view.thinking_seconds is not None

    reply = chat.view().turns[1]
    assert reply.thinking == view.thinking and reply.thinking_seconds is not None
    assert reply.text == view.answer and "think>" not in reply.text and view.thinking not in reply.text
    probe = " ".join(view.thinking.split()[:6])
    assert all(view.thinking not in m.text for m in service.store.recall(PERSONA, probe, k=20))

    chat.send("And where do you live?", settings)
    settle(chat)
    second = json.loads(relay.requests[-1].body)["messages"]
    sent_back = [m["content"] for m in second if m["role"] == "assistant"]
    assert reply.text in sent_back  # the answer is history...
    assert not any("think>" in text or view.thinking in text for m in second for text in [m["content"]])
    relay.stop()


def test_a_reply_that_is_only_thinking_says_so_and_keeps_what_came(service, thinking_servers) -> None:
    chat = service.conversation(PERSONA, "only-thinking")
    chat.send("Hello!", ReplySettings(thinking_servers["split"].base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 8)))
    settle(chat)
    view = chat.view()
    assert view.failure is None
    _, reply = view.turns
    assert reply.thinking and not reply.text.strip()
    assert not [m for m in service.store.recall(PERSONA, "Hello", k=20) if m.id == reply.id]
    assert recent_history(view.visible, "") == [("user", "Hello!")]  # not sent back either


def test_server_down_keeps_every_message(service) -> None:
    down = ReplySettings(f"http://127.0.0.1:{free_port()}/v1", "none", "any", Sampling())
    chat = service.conversation(PERSONA, "down")
    for n in range(3):
        chat.send(f"hello {n}", down)
    settle(chat, timeout=60)
    view = chat.view()
    assert [t.text for t in view.turns] == ["hello 0", "hello 1", "hello 2"]  # stored, unanswered
    assert view.failure is not None and "No model server answers" in str(view.failure.error)
    assert not service.store.has_pending()


def test_a_deleted_persona_gets_nothing_stored(service, llm_server) -> None:
    chat = service.conversation(PERSONA, "gone")  # a tab still showing the persona
    service.store.add_turn(PERSONA, "gone", "user", "hello")
    service.personas.delete(PERSONA)  # another tab deletes it
    service.store.delete_persona(PERSONA)
    with pytest.raises(PersonaGone):
        chat.send("Are you still there?", settings_for(llm_server))
    assert PERSONA not in service.store.persona_ids()  # its memories were not re-created
    assert not service.store.has_pending()


def test_a_message_over_the_limit_is_refused_whole(service, llm_server) -> None:
    chat = service.conversation(PERSONA, "long")
    with pytest.raises(MessageTooLong, match="50,000"):
        chat.send("x" * 50_001, settings_for(llm_server))
    assert not chat.view().turns and not service.store.has_pending()
    service.store.add_turn(PERSONA, "long", "user", "short")
    with pytest.raises(MessageTooLong):
        chat.edit(chat.view().turns[0], "y" * 50_001)
    assert chat.view().turns[0].text == "short"


def test_deleting_a_persona_forgets_its_memories_card_and_attachments_and_keeps_its_lorebooks(tmp_path: Path) -> None:
    from personas import Persona
    from personas.lorebook_library import LorebookLibrary
    from personas.worldinfo import Lorebook, LoreEntry

    library = PersonaLibrary(tmp_path / "personas")
    books = LorebookLibrary(tmp_path / "lorebooks")
    service = ChatService(MemoryStore.open(path=str(tmp_path / "chroma")), library, "Sam", lorebooks=books)
    wren = Persona(id="wren", name="Wren", background="Wren keeps the Saltmarsh lighthouse.")
    library.save(wren)
    book = books.add(Lorebook(entries=[LoreEntry(keys=["lamp"], content="The lamp is brass.")], name="Saltmarsh"))
    books.set_personas_using(book.id, ["wren"])
    assert service.ingest_background(wren) and service.store.count("wren") > 0

    service.delete_persona("wren")
    assert service.store.count("wren") == 0
    with pytest.raises(KeyError):
        library.get("wren")
    assert books.personas_using(book.id) == [] and books.get(book.id).name == "Saltmarsh"

    library.save(wren)  # a persona of the same id, made again: its background is read in again
    assert service.ingest_background(wren) and service.store.count("wren") > 0


def test_an_edited_background_replaces_what_the_old_one_said_and_only_that(service) -> None:
    from personas import Persona

    keeps = "Wren keeps the Saltmarsh lighthouse on the north shore."
    old = Persona(id="wren", name="Wren", background=f"{keeps} Her old dog, a grey lurcher, is called the Admiral.")
    service.personas.save(old)
    first = service.ingest_background(old)
    assert len(first) == 2 and service.ingest_background(old) == []  # stored once per process and text
    service.store.add_background("wren", "Notes the user added.", source="notes")  # not the card's
    sentences = []
    new = Persona(id="wren", name="Wren", background=f"{keeps} She sails a red dinghy to the market on Fridays.")
    service.personas.save(new)
    ids = service.ingest_background(new, lambda done, total: sentences.append((done, total)), replace_old=True)
    background = {m.id: m.text for m in service.store.list("wren", kind="background", limit=100)}
    assert first[0] in ids and first[1] not in background  # the kept sentence is the same record
    said = sorted(background.values())
    assert said == ["Notes the user added.", "She sails a red dinghy to the market on Fridays.", keeps]
    assert sentences[-1] == (2, 2)
    service.ingest_background(Persona(id="wren", name="Wren", background=""), replace_old=True)
    left = service.store.list("wren", kind="background", limit=100)
    assert [m.text for m in left] == ["Notes the user added."]
