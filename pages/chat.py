"""Chat with a persona: its greeting, the stored conversation, and a streamed reply that uses
recalled memories and lorebook entries.

The persona's name and the message box are drawn first, from light modules only: on a fresh app
process, importing LangChain, ``openai`` and Chroma takes about two seconds, and the page is
usable (the user can type) while that happens below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial

import streamlit as st

from memory import Memory
from memory.export import conversation_markdown, conversation_sillytavern
from ui import chat_view, navigation, resources, sidebar
from ui.safe_text import plain

navigation.require_app_frame()

#: Messages rendered at first; older ones on demand, so long conversations stay fast.
VISIBLE_MESSAGES = 60
#: Longest message accepted (about 12,000 tokens); longer pastes get a message instead.
MAX_MESSAGE_CHARS = 50_000
#: CSS hiding the Retry / Regenerate button (its key is "answer_again") while a message sent from
#: the composer is answered: that rerun of the composer alone cannot remove what the last run of
#: the page drew, and the whole page is drawn again once the reply is stored.
HIDE_STALE_ACTIONS = ".st-key-answer_again { display: none; }"

app = resources.settings()
library = resources.persona_library(app.personas_path)
persona = sidebar.persona_picker(library)
if persona is None:
    st.info("No personas yet: create one on the Personas page.")
    st.stop()
st.title(plain(persona.name))

conversation = st.container()  # the page below the title, but for the newest message
reply_area = st.container()  # a message sent from the composer, and its reply
#: The message sent in this run, if any (set by the composer).
prompt: str | None = None
#: Whether this run has drawn the page (set at the end).
drawn = False


@st.fragment
def composer() -> None:
    """The message box, pinned to the bottom. Sending a message reruns only this fragment: the
    conversation is not drawn again while the model reads the prompt (on 2 cores, Chromium and
    Streamlit redrawing it slowed the model's first token by about 200 ms), the message and its
    reply go below the conversation drawn by the last run, and the page is redrawn from the store
    once the reply is stored. In a run of the whole page (AppTest, or a rerun that Streamlit
    merged), the message is handled at the end of the page instead."""
    global prompt
    prompt = st.bottom.chat_input(f"Message {persona.name}…")
    alone = resources.fragment_rerun()
    if prompt is None and not alone:
        prompt = st.session_state.pop("unsent", None)
    with reply_area:  # a fragment must write to an outside container in every whole-page run
        if prompt is not None and alone:
            if not drawn:  # the run that drew this box did not finish: send it from a whole run
                st.session_state.unsent = prompt
                st.rerun()
            st.html(f"<style>{HIDE_STALE_ACTIONS}</style>")  # the last run's Regenerate, above the new message
            send(prompt)
        else:
            st.empty()


composer()  # drawn first: the user can type while the rest loads

with st.spinner("Loading the conversation…"):  # LangChain and openai come in here (see above)
    from llm import LLMError, stream_reply
    from llm.assembly import context_usage
    from llm.chain import ahead
    from llm.prompts import persona_prompt, substitute
    from ui.reply import PreparedReply, chosen_turns, exchanges, prepare_reply, recent_history

#: A reply on its way (the prompt and the tokens to come), or why it could not start.
Started = tuple[PreparedReply, Iterator[str]] | LLMError

store = resources.memory_store(app.store)
with resources.store_guard(app.store):
    if store.has_pending():  # a message an earlier run could not store (the store was down)
        store.store_pending()
    conversation_id = sidebar.conversation_picker(store, persona)
    ingested = st.session_state.setdefault("ingested", set())
    if (persona.id, persona.background) not in ingested and persona.background.strip():
        with st.spinner(f"Reading {plain(persona.name)}'s background into memory…"):
            store.add_background(persona.id, persona.background, source="persona background")
        ingested.add((persona.id, persona.background))
    turns = store.transcript(persona.id, conversation_id)
config = sidebar.chat_config(app)
resources.chat_client_warmed(config.base_url, config.api_key, app.llm.timeout)
st.session_state.setdefault("choices", {})  # chosen alternative per reply
groups = exchanges(turns)
visible = chosen_turns(groups, st.session_state.choices)  # one turn per message: what the model sees
avatar_file = library.avatar_path(persona.id)
persona_avatar = str(avatar_file) if avatar_file else None
greeting = substitute(persona.first_mes, persona.name, app.user_name)


def used(turn: Memory) -> tuple[list[Memory], int]:
    """The memories a stored reply used, with the scores they had then."""
    found = [replace(recalled[i], score=s) for i, s in turn.recalled if i in recalled]
    return found, len(turn.recalled) - len(found)


def context_meter() -> None:
    """How much of the window the next prompt takes (memories as many as the last reply used)."""
    last_reply = next((t for t in reversed(visible) if t.role == "assistant"), None)
    memories = used(last_reply)[0] if last_reply else []
    usage = context_usage(
        persona_prompt(persona, app.user_name),
        [m.as_prompt_line() for m in memories],
        recent_history(visible, greeting),
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
        args = (persona.name, app.user_name, greeting, visible)
        # the files are built when clicked, not on every rerun
        st.download_button("Markdown", partial(conversation_markdown, *args), f"{stem}.md", "text/markdown",
                           icon=":material/description:", on_click="ignore")  # fmt: skip
        st.download_button("SillyTavern (JSONL)", partial(conversation_sillytavern, *args), f"{stem}.jsonl",
                           "application/jsonl", icon=":material/data_object:", on_click="ignore")  # fmt: skip


def take(text: str) -> tuple[str, Started]:
    """Journal a new message and start its reply, before the conversation is drawn: the request
    is on its way while the page redraws. Storing it (embedding, Chroma) waits for the first
    token, and the journal keeps it if the app stops before then (see memory.journal)."""
    user_turn = store.accept_turn(persona.id, conversation_id, "user", text)
    return user_turn, start(text, visible, user_turn)


def start(text: str, history: list[Memory], user_turn: str) -> Started:
    """Recall and assemble the prompt, and send the request; the tokens are read later."""
    if config.error or not config.model:
        return config.error or LLMError("No model is selected.")
    try:
        budget = config.context_window - config.sampling.max_tokens
        prepared = prepare_reply(
            store, persona, app.user_name, history, greeting, text, config.recall_k, budget, exclude=[user_turn]
        )
    except LLMError as exc:
        return exc
    chain = resources.reply_chain(config.base_url, config.api_key, config.model, config.sampling, app.llm.timeout)
    sent = threading.Event()
    tokens = stream_reply(chain, prepared.parts, config.base_url, config.model, app.llm.timeout, sent)
    return prepared, ahead(tokens, sent)


def reply_to(text: str, user_turn: str, started: Started, new: bool) -> None:
    """Show the message if it is ``new`` (not a retry or a regeneration), stream the reply into
    the page and store it with what it used."""
    if new:
        chat_view.message("user", text)
    avatar = chat_view.avatar("assistant", persona_avatar)
    with ThreadPoolExecutor(max_workers=1) as pool, st.chat_message("assistant", avatar=avatar):
        failure = generate(user_turn, started, pool)
    if failure is None:
        st.rerun()  # redraw from the store: the reply gets its menu, and Regenerate appears


def generate(user_turn: str, started: Started, pool: ThreadPoolExecutor) -> LLMError | None:
    """Stream the reply into the current container; returns the failure shown, if any."""
    if isinstance(started, LLMError):
        store.store_pending()
        st.error(f"{started} Your message is saved.", icon=":material/error:")
        return started
    prepared, stream = started
    chunks: list[str] = []
    saving: list[Future] = []

    def tokens():
        for token in stream:
            if not saving:  # the first token is out: now store the message, beside the stream
                saving.append(pool.submit(store.store_pending))
            chunks.append(token)
            yield token

    failure: LLMError | None = None
    try:
        st.write_stream(chat_view.safe_stream(tokens()))
    except LLMError as exc:
        failure = exc
    # the message is stored before its reply (and an error storing it surfaces here)
    if saving:
        saving[0].result()
    else:
        store.store_pending()
    lore = [entry.label for entry in prepared.lore]
    reply = "".join(chunks)
    if reply:
        store.add_turn(persona.id, conversation_id, "assistant", reply, interrupted=failure is not None,
                       recalled=[(m.id, m.score or 0.0) for m in prepared.memories], lore=lore)  # fmt: skip
        st.session_state.choices.pop(reply_group_key(user_turn), None)  # show the newest alternative
    if failure:
        st.error(f"{failure} Your message is saved; press Retry to try again.", icon=":material/error:")
        chat_view.memories_used(prepared.memories, lore=lore)
    return failure


def reply_group_key(user_turn: str) -> str:
    """The choices key of the reply to a user turn: the id of the turn after it."""
    ids = [t.id for t in turns]
    return ids[ids.index(user_turn) + 1] if user_turn in ids and ids.index(user_turn) + 1 < len(ids) else ""


def answer_again(user_turn: Memory) -> None:
    """Reply again to a stored user message (Retry / Regenerate): the earlier replies stay as
    alternatives."""
    history = visible[: visible.index(user_turn)]
    reply_to(user_turn.text, user_turn.id, start(user_turn.text, history, user_turn.id), new=False)


def message_actions(turn: Memory) -> None:
    """Copy, edit and delete, in a small menu beside each stored message."""
    with st.popover("", icon=":material/more_horiz:", help="Copy, edit or delete"):
        st.code(turn.text, language=None, wrap_lines=True)
        edit, delete = st.columns(2)
        if edit.button("Edit", key=f"edit_{turn.id}", icon=":material/edit:"):
            st.session_state.editing = turn.id
            st.rerun()
        if delete.button("Delete", key=f"delete_{turn.id}", icon=":material/delete:"):
            st.session_state.deleting = turn.id
            st.rerun()


def edit_box(turn: Memory) -> None:
    text = st.text_area("Edit the message", turn.text, key=f"editing_{turn.id}", label_visibility="collapsed")
    save, cancel = st.columns([1, 6])
    if save.button("Save", key=f"save_{turn.id}", type="primary"):
        if text.strip() and text != turn.text:
            store.update(turn.id, text=text)  # its memory follows: re-embedded, recalled as edited
        del st.session_state.editing
        st.rerun()
    if cancel.button("Cancel", key=f"cancel_{turn.id}"):
        del st.session_state.editing
        st.rerun()


def delete_box(turn: Memory) -> None:
    st.warning("Delete this message? It is also forgotten as a memory.", icon=":material/warning:")
    yes, no = st.columns([1, 6])
    if yes.button("Delete", key=f"confirm_delete_{turn.id}", type="primary"):
        store.delete(turn.id)
        del st.session_state.deleting
        st.rerun()
    if no.button("Cancel", key=f"cancel_delete_{turn.id}"):
        del st.session_state.deleting
        st.rerun()


def switcher(group: list[Memory]) -> None:
    """‹ 2/3 › between the alternatives of a reply."""
    key = group[0].id
    current = min(st.session_state.choices.get(key, len(group) - 1), len(group) - 1)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")  # ‹ 2 / 3 › side by side
    back, label, forward = (row.container(width="content") for _ in range(3))
    if back.button("", key=f"back_{key}", icon=":material/chevron_left:", disabled=current == 0):
        st.session_state.choices[key] = current - 1
        st.rerun()
    label.caption(f"{current + 1} / {len(group)}")
    if forward.button("", key=f"forward_{key}", icon=":material/chevron_right:", disabled=current == len(group) - 1):
        st.session_state.choices[key] = current + 1
        st.rerun()


def show(turn: Memory, group: list[Memory]) -> None:
    with st.chat_message(turn.role or "user", avatar=chat_view.avatar(turn.role or "user", persona_avatar)):
        if st.session_state.get("editing") == turn.id:
            edit_box(turn)
            return
        # the menu beside the text at any width (columns would stack it under the text on a phone)
        with st.container(horizontal=True, wrap=False, gap="small"):
            with st.container(width="stretch"):
                chat_view.body(turn.text, turn.interrupted)
            message_actions(turn)
        if st.session_state.get("deleting") == turn.id:
            delete_box(turn)
        if len(group) > 1:
            switcher(group)
        if turn.role == "assistant":
            chat_view.memories_used(*used(turn), lore=turn.lore)


sendable = bool(prompt and prompt.strip()) and len(prompt or "") <= MAX_MESSAGE_CHARS
if sendable:
    with resources.store_guard(app.store):
        taken = take(prompt.strip())
with resources.store_guard(app.store):  # after the request is sent: the memories shown under replies
    recalled = {m.id: m for m in store.get({i for t in turns for i, _ in t.recalled}, persona.id)}
context_meter()
export_buttons()

with conversation:
    if config.note:
        st.info(config.note, icon=":material/info:")
    if config.error:
        st.error(str(config.error), icon=":material/error:")

    shown_key = f"shown_{conversation_id}"
    shown = st.session_state.get(shown_key, VISIBLE_MESSAGES)
    if len(groups) > shown:
        earlier = len(groups) - shown
        if st.button(
            f"Show {min(earlier, VISIBLE_MESSAGES)} earlier messages ({earlier} hidden)", icon=":material/expand_less:"
        ):
            st.session_state[shown_key] = shown + VISIBLE_MESSAGES
            st.rerun()
    elif greeting:
        chat_view.message("assistant", greeting, persona_avatar=persona_avatar)
    for turn, group in list(zip(visible, groups, strict=True))[-shown:]:
        show(turn, group)

    last = visible[-1] if visible else None
    if last is not None and not prompt:
        unanswered = last.role == "user" or last.interrupted
        target = last if last.role == "user" else visible[-2] if len(visible) > 1 else None
        label, icon = ("Retry", ":material/refresh:") if unanswered else ("Regenerate", ":material/autorenew:")
        if target is not None and target.role == "user" and st.button(label, icon=icon, key="answer_again"):
            answer_again(target)


def send(text: str, taken: tuple[str, Started] | None = None) -> None:
    """Reply to a new message (``taken``: its reply already started), or say why it is not sent."""
    if not text.strip():
        return
    if len(text) > MAX_MESSAGE_CHARS:
        st.error(
            f"That message has {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "It was not sent. Shorten it, or put long reference text in the persona's background."
        )
        with st.expander("Your message (copy it from here)"):
            st.code(text, language=None)
        return
    with resources.store_guard(app.store):
        reply_to(text.strip(), *(taken or take(text.strip())), new=True)


if prompt is not None:  # a whole-page run with a new message
    with reply_area:
        send(prompt, taken if sendable else None)
drawn = True
