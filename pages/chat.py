"""Chat with a persona: its greeting, the stored conversation, and a streamed reply that uses
recalled memories."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from llm import LLMError, assemble, build_chain, make_chat_model, stream_reply
from llm.prompts import persona_prompt, substitute
from memory import Memory
from ui import chat_view, resources, sidebar

#: Turns of the current conversation sent as history; older ones can come back as memories.
HISTORY_WINDOW = 20
#: Longest message accepted (about 12,000 tokens); longer pastes get a message instead.
MAX_MESSAGE_CHARS = 50_000

app = resources.settings()
store = resources.memory_store(app.store)
library = resources.persona_library(app.personas_path)

persona = sidebar.persona_picker(library)
if persona is None:
    st.info("No personas yet: create one on the Personas page.")
    st.stop()
conversation_id = sidebar.conversation_picker(store, persona)
config = sidebar.chat_config(app)

ingested = st.session_state.setdefault("ingested", set())
if (persona.id, persona.background) not in ingested and persona.background.strip():
    with st.spinner(f"Reading {persona.name}'s background into memory…"):
        store.add_background(persona.id, persona.background, source="persona background")
    ingested.add((persona.id, persona.background))

st.title(persona.name)
if config.note:
    st.info(config.note, icon=":material/info:")
if config.error:
    st.error(str(config.error), icon=":material/error:")

turns = store.transcript(persona.id, conversation_id)
recalled = {m.id: m for m in store.get({i for t in turns for i, _ in t.recalled}, persona.id)}


def used(turn: Memory) -> tuple[list[Memory], int]:
    """The memories a stored reply used, with the scores they had then."""
    found = [replace(recalled[i], score=s) for i, s in turn.recalled if i in recalled]
    return found, len(turn.recalled) - len(found)


greeting = substitute(persona.first_mes, persona.name, app.user_name)
if greeting:
    chat_view.message("assistant", greeting)
for turn in turns:
    memories, missing = used(turn) if turn.role == "assistant" else ([], 0)
    chat_view.message(turn.role or "user", turn.text, memories, missing, turn.interrupted)

prompt = st.chat_input(f"Message {persona.name}…")
if prompt and prompt.strip():
    text = prompt.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        st.error(
            f"That message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "It was not sent. Shorten it, or put long reference text in the persona's background."
        )
        with st.expander("Your message (copy it from here)"):
            st.code(text[: MAX_MESSAGE_CHARS * 2], language=None)
        st.stop()
    user_turn = store.add_turn(persona.id, conversation_id, "user", text)
    chat_view.message("user", text)

    with st.chat_message("assistant", avatar=chat_view.avatar("assistant")):
        if config.error or not config.model:
            st.error(f"{config.error} Your message is saved.", icon=":material/error:")
            st.stop()
        window = turns[-HISTORY_WINDOW:]
        history = ([("assistant", greeting)] if greeting and len(turns) < HISTORY_WINDOW else []) + [
            ("assistant" if t.role == "assistant" else "user", t.text) for t in window
        ]
        memories = store.recall(persona.id, text, k=config.recall_k, exclude={t.id for t in window} | {user_turn})
        try:
            parts = assemble(
                persona_prompt(persona, app.user_name),
                [m.as_prompt_line() for m in memories],
                history,
                text,
                budget=config.context_window - config.sampling.max_tokens,
            )
        except LLMError as exc:
            st.error(f"{exc} Your message is saved.", icon=":material/error:")
            st.stop()
        memories = memories[: len(parts.memories)]
        model = make_chat_model(config.base_url, config.api_key, config.model, config.sampling, app.llm.timeout)
        chunks: list[str] = []

        def tokens():
            for token in stream_reply(build_chain(model), parts, config.base_url, config.model, app.llm.timeout):
                chunks.append(token)
                yield token

        failure: LLMError | None = None
        try:
            st.write_stream(tokens())
        except LLMError as exc:
            failure = exc
        reply = "".join(chunks)
        if reply:
            store.add_turn(
                persona.id,
                conversation_id,
                "assistant",
                reply,
                recalled=[(m.id, m.score or 0.0) for m in memories],
                interrupted=failure is not None,
            )
        if failure:
            st.error(f"{failure} Your message is saved.", icon=":material/error:")
        chat_view.memories_used(memories)
