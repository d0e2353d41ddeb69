"""Who you are, the author's note and branches (SillyTavern's Personas, Author's Note and
branches), through the chat service against the real built-in server (behind a recording relay,
to read the very prompt it was sent) and a real store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.relay import Relay
from chat import ChatService, Conversation, ReplySettings
from chat.branches import tree
from chat.service import AuthorsNote
from llm import Sampling
from llm.local_server import MODEL_ALIAS
from llm.prompts import persona_prompt, with_authors_note
from memory import MemoryStore
from personas import Persona, PersonaLibrary
from personas.users import UserPersona, UserPersonaError, UserPersonaLibrary

PERSONA = "mara-voss"


@pytest.fixture
def relay(llm_server):
    relay = Relay.before(llm_server.base_url)
    yield relay
    relay.stop()


@pytest.fixture
def service(tmp_path: Path) -> ChatService:
    library = PersonaLibrary(tmp_path / "personas")
    library.seed_samples()
    users = UserPersonaLibrary(tmp_path / "users", default_name="Sam")
    return ChatService(MemoryStore.open(path=str(tmp_path / "chroma")), library, "Sam", users=users)


def settle(chat: Conversation) -> None:
    deadline = time.monotonic() + 240
    while chat.busy():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def ask(chat: Conversation, relay: Relay, text: str) -> list[dict]:
    """Send ``text``, wait for the reply; the messages of the request the server got."""
    sent = len(relay.requests)
    chat.send(text, ReplySettings(relay.base_url, "none", MODEL_ALIAS, Sampling(0.0, 1.0, 12)))
    settle(chat)
    (request,) = relay.requests[sent:]
    return json.loads(request.body)["messages"]


# -- who you are ---------------------------------------------------------------------------------


def test_user_personas_have_a_default_named_user_name_and_one_per_conversation(tmp_path: Path) -> None:
    users = UserPersonaLibrary(tmp_path / "users", default_name="Sam")
    [first] = users.list()
    assert first.name == "Sam" and users.default_id() == first.id  # USER_NAME stays the first default
    nurse = UserPersona.new("Dana", "A night-shift nurse.")
    users.save(nurse)
    assert users.for_conversation("mara", "c1").id == first.id  # new conversations: the default
    users.choose("mara", "c1", nurse.id)
    assert users.for_conversation("mara", "c1") == nurse and users.for_conversation("mara", "c2").id == first.id
    users.set_default(nurse.id)
    assert users.list()[0] == nurse and users.for_conversation("mara", "c2") == nurse
    users.delete(nurse.id)
    assert users.for_conversation("mara", "c1").id == first.id  # back to the default
    with pytest.raises(UserPersonaError):
        users.save(UserPersona.new("   "))
    with pytest.raises(UserPersonaError):
        users.save(UserPersona.new("x", "d" * 5_001))


def test_the_users_description_follows_the_characters_definition() -> None:
    prompt = persona_prompt(Persona(id="m", name="Mara", description="A captain.", scenario="At sea."), "Dana",
                            "A nurse who hates {{char}}'s coffee.")  # fmt: skip
    assert prompt.index("Scenario: At sea.") < prompt.index("About Dana:\nA nurse who hates Mara's coffee.")


def test_the_user_persona_is_who_the_persona_talks_to(service, relay) -> None:
    nurse = UserPersona.new("Dana", "A night-shift nurse with a fondness for lighthouses.")
    service.users.save(nurse)
    chat = service.conversation(PERSONA, "dana")
    chat.choose_user(nurse.id)
    system = ask(chat, relay, "Hello there.")[0]["content"]
    assert "About Dana:\nA night-shift nurse with a fondness for lighthouses." in system
    assert "talking with Dana" in system and "Sam" not in system
    other = ask(service.conversation(PERSONA, "sam"), relay, "Hello there.")[0]["content"]
    assert "talking with Sam" in other and "night-shift" not in other


# -- the author's note -----------------------------------------------------------------------------


def test_the_note_goes_depth_messages_from_the_end_into_a_user_message() -> None:
    history = [("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")]
    moved, message = with_authors_note(history, "new", "Rain.", 2)
    assert moved[2] == ("user", "[Author's note: Rain.]\n\nc") and message == "new"
    moved, message = with_authors_note(history, "new", "Rain.", 3)  # an assistant message: the next user one
    assert moved[2][1].startswith("[Author's note") and moved[1] == ("assistant", "b")
    assert with_authors_note([], "new", "Rain.", 4) == ([], "[Author's note: Rain.]\n\nnew")


def test_the_author_s_note_is_in_every_nth_prompt(service, relay) -> None:
    chat = service.conversation(PERSONA, "noted")
    chat.set_authors_note(AuthorsNote("It is raining hard.", depth=0, every=2))
    assert chat.authors_note() == AuthorsNote("It is raining hard.", 0, 2)
    notes = [any("[Author's note: It is raining hard.]" in m["content"] for m in ask(chat, relay, f"Message {n}."))
             for n in range(1, 5)]  # fmt: skip
    assert notes == [False, True, False, True]
    assert all("Author's note" not in t.text for t in chat.view().turns)  # never stored as a message


# -- branches ------------------------------------------------------------------------------------


def test_a_branch_holds_the_turns_up_to_its_message_and_recall_keeps_to_it(service, relay) -> None:
    main = service.conversation(PERSONA, "main")
    ask(main, relay, "My cat is called Juniper.")
    fork_at = main.view().turns[1]  # the reply to the first message
    ask(main, relay, "Later I adopted a parrot named Admiral Squawk.")
    branch = service.conversation(PERSONA, main.branch(fork_at))
    assert [t.text for t in branch.view().turns] == [t.text for t in main.view().turns[:2]]
    assert len(main.view().turns) == 4  # the original stays as it was
    listed = tree(service.store.conversations(PERSONA))
    assert [(c.id, depth) for c, depth in listed] == [("main", 0), (branch.conversation_id, 1)]

    sent = ask(branch, relay, "What pets do I have, Admiral Squawk the parrot or only Juniper?")
    prompt = " ".join(m["content"] for m in sent)
    assert "Juniper" in prompt  # its own history
    assert "Later I adopted a parrot" not in prompt  # said in the original only after the fork
    again = ask(main, relay, "Tell me about Admiral Squawk.")
    assert sum("My cat is called Juniper." in m["content"] for m in again) == 1  # no copy from the branch
