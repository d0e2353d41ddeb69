"""Chat with a persona: its greeting, the stored conversation, and a streamed reply that uses
recalled memories and lorebook entries."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from llm import LLMError, build_chain, make_chat_model, stream_reply
from llm.assembly import context_usage
from llm.prompts import persona_prompt, substitute
from memory import Memory
from memory.export import conversation_markdown, conversation_sillytavern
from ui import chat_view, navigation, resources, sidebar
from ui.reply import prepare_reply, recent_history

navigation.require_app_frame()

#: Messages rendered at first; older ones on demand, so long conversations stay fast.
VISIBLE_MESSAGES = 60
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

turns = store.transcript(persona.id, conversation_id)
avatar_file = library.avatar_path(persona.id)
persona_avatar = str(avatar_file) if avatar_file else None
greeting = substitute(persona.first_mes, persona.name, app.user_name)
recalled = {m.id: m for m in store.get({i for t in turns for i, _ in t.recalled}, persona.id)}


def used(turn: Memory) -> tuple[list[Memory], int]:
    """The memories a stored reply used, with the scores they had then."""
    found = [replace(recalled[i], score=s) for i, s in turn.recalled if i in recalled]
    return found, len(turn.recalled) - len(found)


def context_meter() -> None:
    """How much of the window the next prompt takes (memories as many as the last reply used)."""
    last_reply = next((t for t in reversed(turns) if t.role == "assistant"), None)
    memories = used(last_reply)[0] if last_reply else []
    usage = context_usage(
        persona_prompt(persona, app.user_name),
        [m.as_prompt_line() for m in memories],
        recent_history(turns, greeting),
        config.sampling.max_tokens,
        config.context_window,
    )
    st.sidebar.progress(usage.fraction, text=f"Context: {usage.total:,} of {usage.window:,} tokens")
    st.sidebar.caption(
        f"persona {usage.persona:,} · memories {usage.memories:,} · history {usage.history:,} · reply {usage.reply:,}"
    )


def export_buttons() -> None:
    with st.sidebar.popover("Export conversation", icon=":material/download:", width="stretch"):
        stem = f"{persona.id}-{conversation_id[:8]}"
        args = (persona.name, app.user_name, greeting, turns)
        st.download_button("Markdown", conversation_markdown(*args), f"{stem}.md", "text/markdown",
                           icon=":material/description:")  # fmt: skip
        st.download_button("SillyTavern (JSONL)", conversation_sillytavern(*args), f"{stem}.jsonl",
                           "application/jsonl", icon=":material/data_object:")  # fmt: skip


def reply_to(text: str) -> None:
    """Store the message, then stream the reply into the page and store it with what it used."""
    user_turn = store.add_turn(persona.id, conversation_id, "user", text)
    chat_view.message("user", text)
    with st.chat_message("assistant", avatar=chat_view.avatar("assistant", persona_avatar)):
        if config.error or not config.model:
            st.error(f"{config.error} Your message is saved.", icon=":material/error:")
            return
        try:
            budget = config.context_window - config.sampling.max_tokens
            prepared = prepare_reply(
                store, persona, app.user_name, turns, greeting, text, config.recall_k, budget, exclude=[user_turn]
            )
        except LLMError as exc:
            st.error(f"{exc} Your message is saved.", icon=":material/error:")
            return
        model = make_chat_model(config.base_url, config.api_key, config.model, config.sampling, app.llm.timeout)
        chunks: list[str] = []

        def tokens():
            chain = build_chain(model)
            for token in stream_reply(chain, prepared.parts, config.base_url, config.model, app.llm.timeout):
                chunks.append(token)
                yield token

        failure: LLMError | None = None
        try:
            st.write_stream(chat_view.safe_stream(tokens()))
        except LLMError as exc:
            failure = exc
        reply = "".join(chunks)
        if reply:
            store.add_turn(persona.id, conversation_id, "assistant", reply, interrupted=failure is not None,
                           recalled=[(m.id, m.score or 0.0) for m in prepared.memories])  # fmt: skip
        if failure:
            st.error(f"{failure} Your message is saved.", icon=":material/error:")
        chat_view.memories_used(
            prepared.memories, lore=[e.name or e.keys[0] for e in prepared.lore if e.keys or e.name]
        )


context_meter()
export_buttons()

st.title(persona.name)
if config.note:
    st.info(config.note, icon=":material/info:")
if config.error:
    st.error(str(config.error), icon=":material/error:")

shown_key = f"shown_{conversation_id}"
shown = st.session_state.get(shown_key, VISIBLE_MESSAGES)
if len(turns) > shown:
    earlier = len(turns) - shown
    if st.button(
        f"Show {min(earlier, VISIBLE_MESSAGES)} earlier messages ({earlier} hidden)", icon=":material/expand_less:"
    ):
        st.session_state[shown_key] = shown + VISIBLE_MESSAGES
        st.rerun()
elif greeting:
    chat_view.message("assistant", greeting, persona_avatar=persona_avatar)
for turn in turns[-shown:]:
    memories, missing = used(turn) if turn.role == "assistant" else ([], 0)
    chat_view.message(turn.role or "user", turn.text, memories, missing, turn.interrupted, persona_avatar)

prompt = st.chat_input(f"Message {persona.name}…")
if prompt and prompt.strip():
    if len(prompt) > MAX_MESSAGE_CHARS:
        st.error(
            f"That message has {len(prompt):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "It was not sent. Shorten it, or put long reference text in the persona's background."
        )
        with st.expander("Your message (copy it from here)"):
            st.code(prompt, language=None)
    else:
        reply_to(prompt.strip())
