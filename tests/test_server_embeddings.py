"""The memory embedded by a model of the user's server (``/v1/embeddings``) instead of the
built-in MiniLM, and switching between the two: against the real built-in server made to serve
embeddings, real Chroma, and the Memories page in AppTest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from llm.errors import ServerUnavailable
from llm.local_server import EMBEDDING_ALIAS
from memory import MemoryStore
from memory.config import EmbeddingChoice
from memory.embeddings import ServerEmbeddings
from memory.models import NewTurn
from memory.reembed import reembed
from tests.harness import free_port, new_app, shown

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def served_by(server) -> ServerEmbeddings:
    return ServerEmbeddings(server.base_url, EMBEDDING_ALIAS)


def turns(*texts: str) -> list[NewTurn]:
    return [NewTurn("user" if n % 2 == 0 else "assistant", t, T0 + timedelta(minutes=n)) for n, t in enumerate(texts)]


def test_the_servers_embeddings_are_unit_vectors_of_its_own_size(embedding_server) -> None:
    embedder = ServerEmbeddings(embedding_server.base_url, EMBEDDING_ALIAS)
    vectors = embedder.encode(["My dog is called Biscuit.", "The harbour smells of tar.", ""])
    assert vectors.shape == (3, 576)  # SmolLM2's width, not MiniLM's 384
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-4)
    assert embedder.encode_query("Biscuit").shape == (576,)


def test_a_store_on_server_embeddings_keeps_its_own_collections(tmp_path: Path, embedding_server) -> None:
    path = str(tmp_path / "chroma")
    builtin = MemoryStore.open(path=path)
    builtin.add_turns("mara", "c1", turns("My dog is called Biscuit.", "A fine name."))
    served = MemoryStore.open(path=path, embedding_function=served_by(embedding_server))
    assert served.persona_ids() == [] and builtin.persona_ids() == ["mara"]  # never one collection for two models
    served.add_turns("mara", "c2", turns("The harbour smells of tar."))
    assert [t.text for t in served.transcript("mara", "c2")] == ["The harbour smells of tar."]
    assert builtin.transcript("mara", "c2") == []
    assert served.recall("mara", "what does the harbour smell of?", k=1)[0].text == "The harbour smells of tar."
    assert served.embedding_model == f"persona-chat-server-embeddings:{EMBEDDING_ALIAS}"
    assert MemoryStore.open(path=path).persona_ids() == ["mara"]  # reopened: the built-in one as it was


def test_switching_embeds_every_memory_again_and_back(tmp_path: Path, embedding_server) -> None:
    path = str(tmp_path / "chroma")
    builtin = MemoryStore.open(path=path)
    builtin.add_background("mara", "Mara commands the Kestrel. She was born in Port Ash.")
    builtin.add_turns("mara", "c1", turns("My dog is called Biscuit.", "A fine name.", "I work nights."))
    builtin.rename_conversation("mara", "c1", "About the dog")
    builtin.set_conversation_settings("mara", "c1", note={"text": "Rain.", "depth": 4, "every": 1})
    served = MemoryStore.open(path=path, embedding_function=served_by(embedding_server))
    steps: list[tuple[int, int]] = []
    assert reembed(builtin, served, lambda done, total: steps.append((done, total))) == builtin.count("mara")
    assert steps[0] == (0, builtin.count("mara")) and steps[-1][0] == steps[-1][1]  # a progress bar can follow
    assert sorted(r.id for r in served.records("mara")) == sorted(r.id for r in builtin.records("mara"))
    assert [t.text for t in served.transcript("mara", "c1")] == [t.text for t in builtin.transcript("mara", "c1")]
    assert served.conversations("mara")[0].title == "About the dog"
    assert served.conversation_settings("mara")["c1"]["note"]["text"] == "Rain."

    # chatting on with the server's model, then switching back: only what changed is embedded
    served.add_turns("mara", "c1", [NewTurn("user", "Biscuit learned to sit.", T0 + timedelta(minutes=10))])
    edited = served.list("mara", text="I work nights.")[0]
    served.update(edited.id, text="I work days now.", persona_id="mara")
    assert reembed(served, builtin) == 2  # the new turn and the edited one
    assert [t.text for t in builtin.transcript("mara", "c1")][-2:] == ["I work days now.", "Biscuit learned to sit."]


def test_a_server_that_is_down_is_a_clear_error_and_stores_nothing(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    served = MemoryStore.open(path=str(tmp_path / "chroma"), embedding_function=ServerEmbeddings(url, "nomic"))
    with pytest.raises(ServerUnavailable):
        served.add_turns("mara", "c1", turns("hello"))
    assert served.transcript("mara", "c1") == []


def test_the_memories_page_switches_and_says_which_model(app_env, embedding_server, monkeypatch) -> None:
    at = new_app()
    at.chat_input[0].set_value("My dog is called Biscuit.").run()
    at.session_state["server_url"] = embedding_server.base_url  # the server chosen in the sidebar
    at.switch_page("pages/memories.py").run()
    assert not at.exception
    assert any("all-MiniLM-L6-v2" in shown(c.value) for c in at.caption)
    picker = at.selectbox(key="embeddings_model")
    assert EMBEDDING_ALIAS in picker.options
    picker.set_value(EMBEDDING_ALIAS).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="embeddings_model").value == EMBEDDING_ALIAS, [w.value for w in at.warning]
    next(b for b in at.button if b.key == "embeddings_switch").click().run()
    assert not at.exception
    assert any(f"now embedded with {EMBEDDING_ALIAS}" in s.value for s in at.success)
    assert EmbeddingChoice.load(app_env / "chroma") == EmbeddingChoice(EMBEDDING_ALIAS, embedding_server.base_url)
    assert any(EMBEDDING_ALIAS in shown(c.value) for c in at.caption)  # the page says which model
    probe = at.text_input(key="probe").input("what is my dog called?").run()
    assert "Biscuit" in " ".join(probe.dataframe[0].value["text"])  # recalled through the server's vectors
