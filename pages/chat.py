"""Chat with a persona: its greeting, the stored conversation, messages waiting in line and the
reply being written (its thinking apart), with the memories and lorebook entries each used.

The chat service (:mod:`chat`) does the work; this page reads widgets, calls it and draws. The
message box sends through a callback, which Streamlit runs before anything else in the next
run: the message is journaled at once, whatever this page was doing (drawing, following a reply).
"""

from __future__ import annotations

import streamlit as st

from llm.errors import LLMError
from ui import chat_view, lorebooks, navigation, resources, sidebar
from ui.safe_text import plain
from ui.state import Session, session

navigation.require_app_frame()

#: Messages rendered at first; older ones on demand, so long conversations stay fast.
VISIBLE_MESSAGES = 60

app = resources.settings()
library = resources.persona_library(app.personas_path)
persona = sidebar.persona_picker(library)
if persona is None:
    st.info("No personas yet: create one on the Personas page.")
    st.stop()
st.title(plain(persona.name))
choices = session.choices  # chosen alternative per reply
# the page's parts, in the same places in every run: a run that follows a reply for seconds
# replaces what the last run drew there at once (not only when it ends)
history_area, live_area, notes_area, actions_area = st.container(), st.empty(), st.empty(), st.empty()

# a cold start reads the store for a few seconds: say so (a spinner shows after half a second only)
with resources.store_guard(app.store), st.spinner("Opening the conversation…", show_time=True):
    service = resources.chat_service(app)
    conversation_id = sidebar.conversation_picker(service.store, persona)
    lorebooks.conversation_picker(resources.lorebook_library(app.lorebooks_path), persona, conversation_id)
    chat = service.conversation(persona.id, conversation_id)
    sidebar.who_you_are(chat, resources.user_personas(app))
    sidebar.authors_note(chat)
    with st.spinner(f"Reading {plain(persona.name)}'s background into memory…"):
        service.ingest_background(persona)
    view = chat.view(choices)
    user = chat.user()
persona_avatar, user_avatar = library.avatar_path(persona.id), resources.user_personas(app).avatar_path(user.id)
speakers = chat_view.Speakers(user.name, persona.name, str(user_avatar) if user_avatar else None,
                              str(persona_avatar) if persona_avatar else None)  # fmt: skip
live = view.live

with history_area:
    shown = session.shown_messages.get(conversation_id, VISIBLE_MESSAGES)
    if len(view.groups) > shown:
        earlier = len(view.groups) - shown
        if st.button(f"Show {min(earlier, VISIBLE_MESSAGES)} earlier messages ({earlier} hidden)",
                     icon=":material/expand_less:"):  # fmt: skip
            session.shown_messages[conversation_id] = shown + VISIBLE_MESSAGES
            st.rerun()
    elif persona.first_mes:
        chat_view.message("assistant", service.greeting(persona, user.name), speakers)
    for turn, group in list(zip(view.visible, view.groups, strict=True))[-shown:]:
        if not (live and live.snapshot().continues == turn.id):  # a reply being continued is drawn below
            chat_view.stored(chat, view, turn, group, speakers, choices)
with live_area.container():
    for message in view.waiting:
        if message.answering:
            chat_view.waiting(message, speakers)
    live_slot = st.container()  # the reply being written, followed at the end of the page
    for message in view.waiting:
        if not message.answering:
            chat_view.waiting(message, speakers)

config = sidebar.chat_config(app)  # after the conversation: it may wait for a model server
settings = resources.reply_settings(config, app)
last = view.visible[-1] if view.visible else None
with notes_area.container():
    if config.note:
        st.info(config.note, icon=":material/info:")
    if config.error:
        st.error(str(config.error), icon=":material/error:")
    if live is None and view.failure and view.failure.error:
        chat_view.failure(view.failure)
    elif live is None and view.failure and view.failure.only_thinking:
        chat_view.only_thinking(view.failure, settings.sampling.max_tokens)
    if (unsent := session.take(Session.unsent)) is not None:  # a message that could not be sent, to copy
        text, why = unsent
        st.error(why, icon=":material/error:")
        with st.expander("Your message (copy it from here)"):
            st.code(text, language=None)
if live is not None or last is None:
    actions_area.empty()
else:
    unanswered = last.role == "user" or last.interrupted
    asked = last if last.role == "user" else view.visible[-2] if len(view.visible) > 1 else None
    actions = actions_area.container(horizontal=True)
    if asked is not None and asked.role == "user":
        label, icon = ("Retry", ":material/refresh:") if unanswered else ("Regenerate", ":material/autorenew:")
        actions.button(label, icon=icon, key="answer_again", on_click=chat.answer_again,
                       args=(asked, settings, choices))  # fmt: skip
        if last.role == "assistant" and last.text.strip():
            actions.button("Continue", icon=":material/keyboard_double_arrow_right:", key="continue",
                           on_click=chat.continue_reply, args=(asked, last, settings, choices))  # fmt: skip


def send() -> None:
    """The message box's callback: journal the message and put it in line, in the conversation
    on screen now (a conversation opened a moment ago may not have reached this run's box yet)."""
    text = st.session_state.composer or ""
    here = service.conversation(session.persona_id or persona.id, session.conversation_id or conversation_id)
    try:
        here.send(text, settings, choices)
    except LLMError as exc:  # too long, or the persona was deleted in another tab
        session.unsent = (text, str(exc))


st.chat_input(f"Message {persona.name}…", key="composer", on_submit=send)
# the sidebar's last parts, after the message box is on screen
usage = chat.context_usage(settings, view)
st.sidebar.progress(usage.fraction, text=f"Context: {usage.total:,} of {usage.window:,} tokens")
st.sidebar.caption(f"persona {usage.persona:,} · memories {usage.memories:,} · history {usage.history:,} · "
                   f"reply {usage.reply:,}")  # fmt: skip
chat_view.export_buttons(persona, conversation_id, user.name, service.greeting(persona, user.name), view.visible)

if live is not None:
    with live_slot:
        chat_view.follow(live, speakers, on_stop=chat.stop)
    st.rerun()  # the reply is stored: draw the conversation again from the store
