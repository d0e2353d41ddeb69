"""The settings sidebar: model server, model, sampling, recall; persona and conversation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from chat.branches import tree
from llm import LLMError, NoModelLoaded, Sampling
from llm.servers import ServerInfo, context_window
from personas import Persona, PersonaLibrary
from ui import connection, resources
from ui.resources import AppSettings
from ui.state import session

if TYPE_CHECKING:
    from chat import Conversation
    from memory import MemoryStore
    from personas.users import UserPersonaLibrary


@dataclass(frozen=True)
class ChatConfig:
    """What one browser session chose in the sidebar."""

    base_url: str
    api_key: str
    model: str | None
    sampling: Sampling
    recall_k: int
    context_window: int  # what prompts are assembled for and the context meter shows
    error: LLMError | None = None  # why no model can be used, shown instead of a reply
    note: str | None = None  # e.g. "using the built-in model"
    #: Where ``context_window`` came from, e.g. "4,096 tokens, from the server (llama.cpp /props)".
    context_source: str = ""
    #: Whether the server has ``model`` in memory; ``False``: the first request loads it (a while).
    #: ``None`` when the server does not say.
    model_loaded: bool | None = None
    #: What the server said (models, context, warnings), if it answered.
    server: ServerInfo | None = None


def chat_config(app: AppSettings) -> ChatConfig:
    """Render the model settings in the sidebar and return the session's choices."""
    badge = st.sidebar.container()
    with st.sidebar.popover("Model and sampling", icon=":material/tune:", width="stretch"):
        wanted = st.session_state.get("model") or app.llm.model
        link = connection.connect(connection.server_fields(app), app, wanted)
        server = link.server
        model = None
        if link.models:
            default = server.model if server is not None and server.model in link.models else link.models[0]
            model = st.selectbox(
                "Model", link.models, index=link.models.index(default), key="model",
                format_func=lambda model_id: model_label(server, model_id),
            )  # fmt: skip
        if server is not None and server.hidden:
            st.caption(f"Not listed, they cannot chat: {', '.join(server.hidden)}")
        st.button("Refresh models", on_click=resources.server_info.clear, icon=":material/refresh:")
        if server is not None and model and server.model != model:  # the context is per model
            server = _server_for(link, model) or server
        start = app.llm.sampling
        sampling = Sampling(
            temperature=st.slider("Temperature", 0.0, 2.0, start.temperature, 0.05, key="temperature"),
            top_p=st.slider("Top p", 0.0, 1.0, start.top_p, 0.01, key="top_p"),
            max_tokens=st.number_input("Max tokens (reply)", 16, 32768, start.max_tokens, 16, key="max_tokens"),
            frequency_penalty=st.slider(
                "Frequency penalty",
                -2.0,
                2.0,
                start.frequency_penalty,
                0.1,
                key="frequency_penalty",
                help="Higher: fewer repeated words.",
            ),
            presence_penalty=st.slider(
                "Presence penalty",
                -2.0,
                2.0,
                start.presence_penalty,
                0.1,
                key="presence_penalty",
                help="Higher: more new topics.",
            ),
        )
        recall_k = st.slider("Memories to recall", 0, 20, 5, key="recall_k")
        configured = app.llm.context_window if app.llm.context_window_configured else None
        automatic = context_window(server, None, configured, app.llm.context_window)
        override = st.number_input(
            "Context window (tokens)",
            512,
            1_000_000,
            None,
            256,
            key="context_window",
            placeholder=f"Automatic: {automatic.tokens:,}",
            help="The model's context length as loaded on the server: prompts are trimmed to fit it. "
            "Leave empty to use what the server says; type a number to override it.",
        )
        window = context_window(server, override, configured, app.llm.context_window)
        st.caption(window.label)
    error = link.error or (None if model else NoModelLoaded(link.base_url))
    loaded = server.loaded(model) if server is not None else None
    with badge:
        connection.status_badge(link, model)
        for warning in server.warnings if server is not None and not error else []:
            st.caption(f":material/warning: {warning}")
    return ChatConfig(
        link.base_url, link.api_key, model, sampling, recall_k, window.tokens, error, link.note,
        context_source=window.label, model_loaded=loaded, server=server,
    )  # fmt: skip


def model_label(server: ServerInfo | None, model_id: str) -> str:
    """A model as the picker shows it: its id, and whether it is loaded (when the server says)."""
    found = server.find(model_id) if server is not None else None
    if found is None:
        return model_id
    tags = ["loaded" if found.loaded else "not loaded"] if found.loaded is not None else []
    if found.kind == "vlm":
        tags.append("vision")
    return " · ".join([model_id, *tags])


def _server_for(link: connection.Connection, model: str) -> ServerInfo | None:
    """What the server says about ``model`` (its context), when the picker changed it."""
    try:
        return resources.server_info(link.base_url, link.api_key, model)
    except LLMError:
        return None


def persona_picker(library: PersonaLibrary) -> Persona | None:
    """The persona select box; the choice is kept for the session across pages."""
    personas = {p.id: p for p in library.list()}
    if not personas:
        return None
    if session.persona_id not in personas:
        from_url = st.query_params.get("persona")
        session.persona_id = from_url if from_url in personas else next(iter(personas))
    st.session_state._persona = session.persona_id
    st.sidebar.selectbox(
        "Persona", list(personas), format_func=lambda i: personas[i].name, key="_persona", on_change=_switch_persona
    )
    return personas[session.persona_id]


def _switch_persona() -> None:
    session.persona_id = st.session_state._persona
    del session.conversation_id


def _new_conversation() -> None:
    session.conversation_id = uuid.uuid4().hex


def _switch_conversation() -> None:
    session.conversation_id = st.session_state._conversation


def conversation_picker(store: MemoryStore, persona: Persona) -> str:
    """The conversation select box and a "New conversation" button; returns the conversation id.

    Without a choice in this session, the persona's most recent conversation opens, so a reload
    or a restart shows the conversation where it was.
    """
    conversations = store.conversations(persona.id)
    if session.conversation_id is None:
        from_url = st.query_params.get("conversation")
        known = {c.id for c in conversations}
        session.conversation_id = (
            from_url if from_url in known else conversations[0].id if conversations else uuid.uuid4().hex
        )
    current = session.conversation_id
    # a branch under the conversation it came from (em spaces: HTML does not collapse them)
    titles = {c.id: "\u2003" * (depth - 1) + ("↳ " if depth else "") + f"{c.title} · {c.updated_at:%b %d}"
              for c, depth in tree(conversations)}  # fmt: skip
    if current not in titles:
        titles = {current: "New conversation", **titles}
    st.sidebar.button("New conversation", icon=":material/add:", on_click=_new_conversation, width="stretch")
    st.session_state._conversation = current
    st.sidebar.selectbox(
        "Conversation", list(titles), format_func=titles.get, key="_conversation", on_change=_switch_conversation
    )
    st.query_params.update(persona=persona.id, conversation=current)
    if current in {c.id for c in conversations}:
        _conversation_menu(store, persona, current, next(c.title for c in conversations if c.id == current))
    return current


def _conversation_menu(store: MemoryStore, persona: Persona, conversation_id: str, title: str) -> None:
    """Rename or delete the current conversation."""
    with st.sidebar.popover("Rename or delete", icon=":material/edit_note:", width="stretch"):
        name = st.text_input("Title", title, key=f"title_{conversation_id}", max_chars=120)
        if st.button("Rename", key="rename_conversation", icon=":material/edit:"):
            store.rename_conversation(persona.id, conversation_id, name)
            st.rerun()
        sure = st.checkbox("Yes, delete this conversation and forget its turns", key=f"sure_{conversation_id}")
        if st.button("Delete conversation", key="delete_conversation", icon=":material/delete:", disabled=not sure):
            store.delete_conversation(persona.id, conversation_id)
            del session.conversation_id
            st.query_params.pop("conversation", None)
            st.rerun()


def who_you_are(chat: Conversation, users: UserPersonaLibrary) -> None:
    """ "You are …" for this conversation: which user persona it uses (new ones: the default)."""
    everyone = {u.id: u for u in users.list()}
    current = chat.user().id
    key = f"user_persona_{chat.persona_id}_{chat.conversation_id}"
    st.session_state[key] = current if current in everyone else next(iter(everyone))
    st.sidebar.selectbox(
        "You are", list(everyone), format_func=lambda i: everyone[i].name, key=key,
        on_change=lambda: chat.choose_user(st.session_state[key]), help="Your personas: the You page",
    )  # fmt: skip


def authors_note(chat: Conversation) -> None:
    """The conversation's author's note: a short text put a few messages from the end of every
    prompt (or every N messages), to steer the story."""
    from chat.service import AuthorsNote

    note = chat.authors_note()
    label = "Author's note" + (" (on)" if note.text else "")
    with st.sidebar.popover(label, icon=":material/edit_square:", width="stretch"):
        key = f"note_{chat.persona_id}_{chat.conversation_id}"
        text = st.text_area("Note", note.text, key=f"{key}_text", max_chars=2_000,
                            placeholder="e.g. Write in the style of a noir novel; it is raining.")  # fmt: skip
        depth = st.number_input("Depth (messages from the end)", 0, 100, note.depth, key=f"{key}_depth")
        every = st.number_input("Every N messages", 1, 100, note.every, key=f"{key}_every")
        if st.button("Save the note", key=f"{key}_save", icon=":material/save:"):
            chat.set_authors_note(AuthorsNote(text.strip(), int(depth), int(every)))
            st.rerun()
