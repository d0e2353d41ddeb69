"""The pages through Streamlit's AppTest, against the real built-in server and a real store."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from memory import MemoryStore
from tests.harness import APP, free_port, new_app, open_menu, shown, texts
from ui.chat_view import menu_key


def test_chat_opens_with_the_persona_greeting(app_env) -> None:
    at = new_app()
    assert not at.exception
    assert at.title[0].value == "Captain Mara Voss"  # first sample persona, alphabetically
    assert len(at.chat_message) == 1 and at.chat_message[0].name == "assistant"
    assert "new navigator" in texts(at.chat_message[0])[0]
    assert not at.error


def test_send_a_message_get_a_reply_with_its_memories(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("Who made your brass hand?").run()
    assert not at.exception and not at.error
    roles = [m.name for m in at.chat_message]
    assert roles == ["assistant", "user", "assistant"]
    assert texts(at.chat_message[1]) == ["Who made your brass hand?"]
    reply = texts(at.chat_message[2])[0]
    assert reply.strip()
    memories = at.chat_message[2].expander[0]
    assert memories.label.startswith("Memories used (")
    assert any("Tobin Reed" in t.value for t in memories.text)  # background recalled for this question

    store = MemoryStore.open(path=str(app_env / "chroma"))
    conversation_id = at.session_state["conversation_id"]
    transcript = store.transcript("mara-voss", conversation_id)
    assert (transcript[0].role, transcript[0].text) == ("user", "Who made your brass hand?")
    assert transcript[1].role == "assistant" and transcript[1].text == reply
    assert transcript[1].recalled  # the memories it used are stored with it

    again = new_app()  # a reload: a new session shows the same conversation from the store
    assert [texts(m)[0] for m in again.chat_message[1:]] == ["Who made your brass hand?", reply]
    assert again.chat_message[2].expander[0].label == memories.label


def test_whitespace_message_is_ignored(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("   \n ").run()
    assert len(at.chat_message) == 1 and not at.exception


def test_new_conversation_and_switch_back(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("First conversation here").run()
    first = at.session_state["conversation_id"]
    at.sidebar.button[0].click().run()  # New conversation
    assert at.session_state["conversation_id"] != first
    assert len(at.chat_message) == 1  # only the greeting
    selector = at.sidebar.selectbox(key="_conversation")
    assert selector.value == at.session_state["conversation_id"]
    selector.set_value(first).run()
    assert [texts(m)[0] for m in at.chat_message][1] == "First conversation here"


def test_switching_persona_shows_its_greeting(app_env) -> None:
    at = new_app()
    at.sidebar.selectbox(key="_persona").set_value("juniper-hale").run()
    assert at.title[0].value == "Juniper Hale"
    assert "cardamom" in texts(at.chat_message[0])[0]


def test_server_down_keeps_the_message(app_env, monkeypatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = new_app()
    assert "No model server answers" in at.error[0].value
    at.chat_input[0].set_value("Are you there?").run()
    assert not at.exception
    assert texts(at.chat_message[1]) == ["Are you there?"]
    assert any("Your message is saved" in e.value for e in at.error)
    store = MemoryStore.open(path=str(app_env / "chroma"))
    assert store.transcript("mara-voss", at.session_state["conversation_id"])[0].text == "Are you there?"


def test_huge_paste_gets_a_limit_message_and_stays_copyable(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("x" * 200_000).run()
    assert "limit is 50,000" in at.error[0].value
    assert at.code[0].value == "x" * 200_000
    assert len(at.chat_message) == 1


def test_sidebar_lists_models_and_sampling(app_env, llm_server) -> None:
    at = new_app()
    assert at.sidebar.selectbox(key="model").value == "smollm2-135m-instruct"
    assert at.sidebar.text_input(key="base_url").value == llm_server.base_url
    assert at.sidebar.slider(key="temperature").value == 0.0
    assert at.sidebar.slider(key="recall_k").value == 5


def test_preset_switches_the_server_and_the_badge_says_so(app_env) -> None:
    at = new_app()
    assert any("Connected · smollm2-135m-instruct" in m.value for m in at.sidebar.markdown)
    at.sidebar.selectbox(key="preset").set_value("Ollama").run()
    assert at.sidebar.text_input(key="base_url").value == "http://localhost:11434/v1"
    assert any("Model server offline" in m.value for m in at.sidebar.markdown)
    assert "No model server answers at http://localhost:11434/v1" in at.error[0].value


def test_memories_page_lists_newest_first_with_filter(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("My cat is called Biscuit.").run()
    at.switch_page("pages/memories.py").run()
    assert not at.exception
    assert at.title[0].value == "What Captain Mara Voss remembers"
    table = at.dataframe[0].value
    assert list(table["when"]) == sorted(table["when"], reverse=True)  # newest first
    assert table["who"].iloc[0] == "assistant"  # the reply, then the message it answered
    assert table["text"].iloc[1] == "My cat is called Biscuit."
    assert "My cat is called Biscuit." in set(table["text"])
    assert set(table["kind"]) == {"turn", "background"}
    at.text_input(key="memory_filter").input("BISCUIT").run()
    table = at.dataframe[0].value
    assert list(table["text"])[-1] == "My cat is called Biscuit."
    assert all("biscuit" in t.lower() for t in table["text"])


def test_personas_page_lists_samples_and_creates_one(app_env) -> None:
    at = new_app()
    at.switch_page("pages/personas.py").run()
    assert not at.exception
    assert [shown(e.label) for e in at.expander] == ["Captain Mara Voss", "Dr. Elias Thorne", "Juniper Hale"]
    at.text_input[0].input("Zoë the Bard")
    at.text_area[0].input("A wandering bard.")
    at.text_area[2].input("Zoë learned the lute from her grandmother in Vell.\n\nShe fears owls.")
    at.button[-1].click().run()
    assert not at.exception
    assert "Created Zoë the Bard." in shown(at.success[0].value)
    assert "Zoë the Bard" in [e.label for e in at.expander]
    store = MemoryStore.open(path=str(app_env / "chroma"))
    owl = [m for pid in store.persona_ids() for m in store.list(pid, text="owls")]
    assert owl and owl[0].kind == "background"


def test_context_meter_and_exports(app_env) -> None:
    at = new_app()
    assert at.sidebar.get("progress")[0].proto.text.startswith("Context: ")
    at.chat_input[0].set_value("Hello there, captain").run()
    downloads = at.sidebar.get("download_button")
    assert [d.proto.label for d in downloads] == ["Markdown", "SillyTavern (JSONL)"]


def test_lorebook_entry_is_listed_with_the_memories(app_env) -> None:
    from personas import PersonaLibrary

    library = PersonaLibrary(app_env / "personas")
    library.seed_samples()
    mara = library.get("mara-voss")
    mara.character_book = {"entries": [{"keys": ["maelstrom"], "content": "The Maelstrom Gate is a storm wall.",
                                        "name": "Maelstrom Gate"}]}  # fmt: skip
    library.save(mara)
    at = new_app()
    at.chat_input[0].set_value("Tell me about the Maelstrom").run()
    expander = at.chat_message[2].expander[0]
    assert any("Lorebook: Maelstrom Gate" in c.value for c in expander.caption)
    later = new_app()  # another session (a reload, another day): the reply still says what it used
    assert any("Lorebook: Maelstrom Gate" in c.value for c in later.chat_message[2].expander[0].caption)


def chat_then_memories(app_env, message: str) -> AppTest:
    at = new_app()
    at.chat_input[0].set_value(message).run()
    at.switch_page("pages/memories.py").run()
    assert not at.exception
    return at


def test_memories_page_edit_pin_and_delete_one(app_env) -> None:
    at = chat_then_memories(app_env, "My cat is called Biscuit.")
    store = MemoryStore.open(path=str(app_env / "chroma"))
    (turn,) = [m for m in store.list("mara-voss", text="Biscuit") if m.role == "user"]
    at.selectbox(key="edit_one").set_value(turn.id).run()
    at.text_area(key=f"edit_text_{turn.id}").input("My cat is called Pudding.")
    at.checkbox(key=f"edit_pin_{turn.id}").check().run()
    next(b for b in at.button if b.label == "Save").click().run()
    assert at.success[0].value == "Saved."
    (edited,) = store.get([turn.id], "mara-voss")
    assert edited.text == "My cat is called Pudding." and edited.pinned
    probe = at.text_input(key="probe").input("what is my cat called?").run()
    ranked = probe.dataframe[0].value
    assert "Pudding" in ranked["text"].iloc[0]
    parts = ranked["relevance"] + ranked["recency"] + ranked["importance"]
    assert (abs(parts - ranked["score"]) < 1e-3).all() and ranked["importance"].iloc[0] >= 0.3  # pinned
    at.selectbox(key="edit_one").set_value(turn.id).run()
    next(b for b in at.button if b.label == "Delete this memory").click().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert at.success[0].value == "Deleted 1 memory."
    assert store.get([turn.id], "mara-voss") == []
    probe = at.text_input(key="probe").input("what is my cat called?").run()
    assert all("Pudding" not in t for t in probe.dataframe[0].value["text"])


def test_memories_page_filters_by_kind_and_conversation(app_env) -> None:
    at = chat_then_memories(app_env, "The harbour smells of tar.")
    at.selectbox(key="memory_kind").set_value("background").run()
    assert set(at.dataframe[0].value["kind"]) == {"background"}
    at.selectbox(key="memory_kind").set_value("turn").run()
    conversation = at.session_state["conversation_id"]
    at.selectbox(key="memory_conversation").set_value(conversation).run()
    assert set(at.dataframe[0].value["kind"]) == {"turn"}
    assert "The harbour smells of tar." in set(at.dataframe[0].value["text"])
    assert [d.proto.label for d in at.get("download_button")] == ["Export JSON", "Export CSV", "Download a backup"]


def test_long_conversation_shows_the_latest_messages_first(app_env) -> None:
    from datetime import UTC, datetime, timedelta

    store = MemoryStore.open(path=str(app_env / "chroma"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(130):
        store.add_turn(
            "mara-voss", "long", "user" if i % 2 == 0 else "assistant", f"message {i}", start + timedelta(minutes=i)
        )
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["conversation"] = "long"
    at.run()
    assert [texts(m)[0] for m in at.chat_message][-1] == "message 129"
    assert len(at.chat_message) == 60 and texts(at.chat_message[0])[0] == "message 70"
    next(b for b in at.button if "earlier messages" in b.label).click().run()
    assert len(at.chat_message) == 120
    next(b for b in at.button if "earlier messages" in b.label).click().run()
    assert len(at.chat_message) == 131 and "new navigator" in texts(at.chat_message[0])[0]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_regenerate_keeps_the_earlier_reply_reachable(app_env) -> None:
    at = new_app()
    at.session_state["temperature"] = 1.5  # a different second reply
    at.chat_input[0].set_value("Describe the Kestrel in one sentence.").run()
    first = texts(at.chat_message[2])[0]
    button(at, "Regenerate").click().run()
    assert not at.exception
    store = MemoryStore.open(path=str(app_env / "chroma"))
    turns = store.transcript("mara-voss", at.session_state["conversation_id"])
    assert [t.role for t in turns] == ["user", "assistant", "assistant"] and turns[1].text == first
    at.run()
    assert len(at.chat_message) == 3 and texts(at.chat_message[2])[0] == turns[2].text
    assert any(c.value == "2 / 2" for c in at.chat_message[2].caption)
    at.button(key=f"back_{turns[1].id}").click().run()  # ‹ : back to the first reply
    assert texts(at.chat_message[2])[0] == first
    assert any(c.value == "1 / 2" for c in at.chat_message[2].caption)


def test_retry_after_the_server_was_down(app_env, monkeypatch, llm_server) -> None:
    monkeypatch.setenv("LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    at = new_app()
    at.chat_input[0].set_value("Are you there, captain?").run()
    assert any("press Retry" in e.value or "Your message is saved" in e.value for e in at.error)
    at.sidebar.text_input(key="base_url").set_value(llm_server.base_url).run()
    button(at, "Retry").click().run()
    assert not at.exception
    store = MemoryStore.open(path=str(app_env / "chroma"))
    turns = store.transcript("mara-voss", at.session_state["conversation_id"])
    assert (turns[0].role, turns[0].text) == ("user", "Are you there, captain?")
    assert [t.role for t in turns] == ["user", "assistant"]  # the message was not stored twice


def test_edit_and_delete_a_message_and_its_memory(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("My sister lives in Lyon.").run()
    at.run()
    store = MemoryStore.open(path=str(app_env / "chroma"))
    user_turn, reply = store.transcript("mara-voss", at.session_state["conversation_id"])
    assert not [b for b in at.button if b.key == f"edit_{user_turn.id}"]  # drawn once the menu opens
    open_menu(at, user_turn.id).button(key=f"edit_{user_turn.id}").click().run()
    assert not at.session_state[menu_key(user_turn.id)]  # the menu closed
    at.text_area(key=f"editing_{user_turn.id}").input("My sister lives in Marseille.")
    at.button(key=f"save_{user_turn.id}").click().run()
    assert texts(at.chat_message[1])[0] == "My sister lives in Marseille."
    assert store.recall("mara-voss", "Where does my sister live?", k=1)[0].text == "My sister lives in Marseille."
    open_menu(at, reply.id).button(key=f"delete_{reply.id}").click().run()
    at.button(key=f"confirm_delete_{reply.id}").click().run()
    assert [t.id for t in store.transcript("mara-voss", at.session_state["conversation_id"])] == [user_turn.id]
    assert len(at.chat_message) == 2
    assert any(b.label == "Retry" for b in at.button)  # the message has no reply now


def test_rename_and_delete_a_conversation(app_env) -> None:
    at = new_app()
    at.chat_input[0].set_value("Let us plan the voyage to Oru.").run()
    conversation = at.session_state["conversation_id"]
    at.sidebar.text_input(key=f"title_{conversation}").input("Voyage to Oru")
    at.sidebar.button(key="rename_conversation").click().run()
    selector = at.sidebar.selectbox(key="_conversation")
    assert selector.format_func(selector.value).startswith("Voyage to Oru · ")
    at.sidebar.checkbox(key=f"sure_{conversation}").check().run()
    at.sidebar.button(key="delete_conversation").click().run()
    assert not at.exception
    assert at.session_state["conversation_id"] != conversation
    store = MemoryStore.open(path=str(app_env / "chroma"))
    assert store.transcript("mara-voss", conversation) == [] and store.conversations("mara-voss") == []
    assert len(at.chat_message) == 1  # a fresh conversation: the greeting only
