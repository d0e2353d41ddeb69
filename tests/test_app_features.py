"""Your persona, the author's note and branching, through Streamlit's AppTest against the real
built-in server and a real store."""

from __future__ import annotations

from memory import MemoryStore
from personas.users import UserPersonaLibrary
from tests.harness import new_app, open_menu


def test_you_page_creates_a_persona_and_the_chat_uses_it(app_env) -> None:
    at = new_app()
    at.switch_page("pages/you.py").run()
    assert not at.exception and at.title[0].value == "You"
    at.text_input(key="user_new_name").input("Dana")
    at.text_area(key="user_new_description").input("A night-shift nurse who collects sea glass.")
    next(b for b in at.button if b.label == "Save" and b.form_id == "user_new").click().run()
    users = UserPersonaLibrary(app_env / "user-personas")
    dana = next(u for u in users.list() if u.name == "Dana")
    assert dana.description == "A night-shift nurse who collects sea glass."

    at.switch_page("pages/chat.py").run()
    you = next(s for s in at.sidebar.selectbox if s.label == "You are")
    assert you.options == ["User", "Dana"]  # USER_NAME's persona first: the default
    before = at.sidebar.get("caption")
    you.select_index(1).run()
    assert not at.exception
    meter = [c.value for c in at.sidebar.get("caption") if c.value.startswith("persona ")]
    assert meter and meter != [c.value for c in before if c.value.startswith("persona ")]  # the prompt grew
    at.chat_input[0].set_value("Hello, captain.").run()
    assert [m.caption[0].value for m in at.chat_message[1:3]] == ["Dana", "Captain Mara Voss"]


def test_author_s_note_is_saved_with_the_conversation(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("Hello, captain.").run()
    key = f"note_mara-voss_{at.session_state['conversation_id']}"
    at.text_area(key=f"{key}_text").input("It is raining.")
    at.number_input(key=f"{key}_depth").set_value(0)
    next(b for b in at.button if b.label == "Save the note").click().run()
    assert not at.exception
    store = MemoryStore.open(path=str(app_env / "chroma"))
    saved = store.conversation_settings("mara-voss")[at.session_state["conversation_id"]]["note"]
    assert saved == {"text": "It is raining.", "depth": 0, "every": 1}


def test_branch_from_here_opens_the_branch_listed_under_its_parent(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("First question.").run()
    at.chat_input[0].set_value("Second question.").run()
    parent = at.session_state["conversation_id"]
    store = MemoryStore.open(path=str(app_env / "chroma"))
    first_reply = store.transcript("mara-voss", parent)[1]
    open_menu(at, first_reply.id).button(key=f"branch_{first_reply.id}").click().run()
    assert not at.exception
    branch = at.session_state["conversation_id"]
    assert branch != parent
    assert [t.text for t in store.transcript("mara-voss", branch)] == [
        t.text for t in store.transcript("mara-voss", parent)[:2]
    ]
    picker = next(s for s in at.sidebar.selectbox if s.label == "Conversation")
    assert any("↳" in label and "(branch)" in label for label in picker.options)  # the labels shown
    assert len(at.chat_message) == 3  # greeting, the first question, its reply


def test_switching_back_to_the_parent_of_a_branch(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("First question.").run()
    at.chat_input[0].set_value("Second question.").run()
    parent = at.session_state["conversation_id"]
    store = MemoryStore.open(path=str(app_env / "chroma"))
    first_reply = store.transcript("mara-voss", parent)[1]
    open_menu(at, first_reply.id).button(key=f"branch_{first_reply.id}").click().run()
    picker = next(s for s in at.sidebar.selectbox if s.label == "Conversation")
    picker.set_value(parent).run()
    assert at.session_state["conversation_id"] == parent
    assert len(at.chat_message) == 5
