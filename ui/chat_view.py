"""Drawing chat messages: stored ones with their menu, messages waiting in line, a reply being
written (its thinking apart), and the memories a reply used. Widgets only; the chat service
(:mod:`chat`) does the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from memory import Memory
from memory.export import conversation_markdown, conversation_sillytavern
from ui.safe_text import markdown, plain
from ui.state import session

if TYPE_CHECKING:
    from chat import ChatView, Conversation, LiveReply, ReplyView, Waiting
    from personas import Persona

USER_AVATAR = ":material/person:"
PERSONA_AVATAR = ":material/theater_comedy:"
#: How often a reply being written is redrawn when nothing new came (the seconds waited tick),
#: which is also how soon a message sent meanwhile interrupts the drawing (see :func:`follow`).
TICK = 0.1


@dataclass(frozen=True)
class Speakers:
    """Who speaks in the chat: names and avatars (image file paths, or None for an icon)."""

    user_name: str = "User"
    persona_name: str = ""
    user_avatar: str | None = None
    persona_avatar: str | None = None

    def avatar(self, role: str) -> str:
        if role == "user":
            return self.user_avatar or USER_AVATAR
        return self.persona_avatar or PERSONA_AVATAR

    def name(self, role: str) -> str:
        return self.user_name if role == "user" else self.persona_name


def bubble(role: str, speakers: Speakers):
    """A chat message with the speaker's avatar and, above the text, their name."""
    box = st.chat_message(role, avatar=speakers.avatar(role))
    box.caption(plain(speakers.name(role)))
    return box


def memories_used(memories: Sequence[Memory], missing: int = 0, lore: Sequence[str] = ()) -> None:
    """The expander under a reply: which memories (and lorebook entries) went into its prompt."""
    if not memories and not missing and not lore:
        return
    with st.expander(f"Memories used ({len(memories)})", icon=":material/psychology:"):
        if lore:
            st.caption("Lorebook: " + ", ".join(plain(label) for label in lore))
        for memory in memories:
            label = memory.kind if memory.kind == "background" else f"{memory.role} turn, {memory.created_at:%Y-%m-%d}"
            score = f"{memory.score:.2f}" if memory.score is not None else "–"
            st.markdown(f"**{score}** · *{label}*")
            st.text(memory.text)
        if missing:
            st.caption(f"{missing} more since deleted or edited away.")


def message(role: str, text: str, speakers: Speakers) -> None:
    with bubble(role, speakers):
        st.markdown(markdown(text))


def thinking(text: str, seconds: float | None) -> None:
    """A stored reply's thinking, folded away (as LM Studio and SillyTavern show it)."""
    if text:
        label = f"Thought for {seconds:.0f} s" if seconds is not None else "Thinking"
        with st.expander(label, icon=":material/lightbulb:"):
            st.markdown(markdown(text))


def body(turn: Memory) -> None:
    thinking(turn.thinking, turn.thinking_seconds)
    if turn.text.strip():
        st.markdown(markdown(turn.text))
    if turn.stopped:
        st.caption(":material/stop_circle: Stopped. Continue or Regenerate below.")
    elif turn.interrupted:
        st.caption(":material/warning: This reply was interrupted.")


# -- stored messages and their menu ------------------------------------------------------------


def _menu(chat: Conversation, turn: Memory, choices: dict[str, int]) -> None:
    """Copy, edit, delete and branch, in a small menu beside each stored message.

    The menu's contents are drawn only while it is open (opening it reruns the page): drawn for
    every message they were a quarter of a rerun of a long conversation. Each action closes it.
    """
    key = menu_key(turn.id)
    menu = st.popover("", icon=":material/more_horiz:", help="Copy, edit, delete or branch", key=key,
                      on_change="rerun")  # fmt: skip
    if not menu.open:
        return

    def edit() -> None:
        st.session_state[key] = False
        session.editing = turn.id

    def delete() -> None:
        st.session_state[key] = False
        session.deleting = turn.id

    def branch() -> None:
        st.session_state[key] = False
        session.conversation_id = chat.branch(turn, choices)

    with menu:
        st.code(turn.text, language=None, wrap_lines=True)
        left, right = st.columns(2)
        left.button("Edit", key=f"edit_{turn.id}", icon=":material/edit:", on_click=edit)
        right.button("Delete", key=f"delete_{turn.id}", icon=":material/delete:", on_click=delete)
        st.button("Branch from here", key=f"branch_{turn.id}", icon=":material/call_split:",
                  help="A new conversation with the messages up to this one; this one stays as it is",
                  on_click=branch)  # fmt: skip


def menu_key(memory_id: str) -> str:
    """The widget key of a stored message's menu: ``st.session_state[menu_key(id)] = True``
    opens it (as a click on it does)."""
    return f"menu_{memory_id}"


def _edit_box(chat: Conversation, turn: Memory) -> None:
    from chat import MessageTooLong

    text = st.text_area("Edit the message", turn.text, key=f"editing_{turn.id}", label_visibility="collapsed")
    save, cancel = st.columns([1, 6])
    if save.button("Save", key=f"save_{turn.id}", type="primary"):
        if text.strip() and text != turn.text:
            try:
                chat.edit(turn, text)
            except MessageTooLong as exc:
                st.error(str(exc), icon=":material/error:")
                return
        del session.editing
        st.rerun()
    if cancel.button("Cancel", key=f"cancel_{turn.id}"):
        del session.editing
        st.rerun()


def _delete_box(chat: Conversation, turn: Memory) -> None:
    st.warning("Delete this message? It is also forgotten as a memory.", icon=":material/warning:")
    yes, no = st.columns([1, 6])
    if yes.button("Delete", key=f"confirm_delete_{turn.id}", type="primary"):
        chat.delete(turn)
        del session.deleting
        st.rerun()
    if no.button("Cancel", key=f"cancel_delete_{turn.id}"):
        del session.deleting
        st.rerun()


def _switcher(group: Sequence[Memory], choices: dict[str, int]) -> None:
    """‹ 2/3 › between the alternatives of a reply."""
    key = group[0].id
    current = min(choices.get(key, len(group) - 1), len(group) - 1)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")  # ‹ 2 / 3 › side by side
    back, label, forward = (row.container(width="content") for _ in range(3))
    if back.button("", key=f"back_{key}", icon=":material/chevron_left:", disabled=current == 0):
        choices[key] = current - 1
        st.rerun()
    label.caption(f"{current + 1} / {len(group)}")
    if forward.button("", key=f"forward_{key}", icon=":material/chevron_right:", disabled=current == len(group) - 1):
        choices[key] = current + 1
        st.rerun()


def stored(chat: Conversation, view: ChatView, turn: Memory, group: Sequence[Memory], speakers: Speakers,
           choices: dict[str, int]) -> None:  # fmt: skip
    """A stored message with its menu (and, for a reply, its alternatives and memories)."""
    role = turn.role or "user"
    with bubble(role, speakers):
        if session.editing == turn.id:
            _edit_box(chat, turn)
            return
        # the menu beside the text at any width (columns would stack it under the text on a phone)
        with st.container(horizontal=True, wrap=False, gap="small"):
            with st.container(width="stretch"):
                body(turn)
            _menu(chat, turn, choices)
        if session.deleting == turn.id:
            _delete_box(chat, turn)
        if len(group) > 1:
            _switcher(group, choices)
        if turn.role == "assistant":
            memories_used(*view.used(turn), lore=turn.lore)


def waiting(message: Waiting, speakers: Speakers) -> None:
    """A message sent and kept, whose reply comes after the one being written."""
    with bubble("user", speakers):
        st.markdown(markdown(message.text))
        if not message.answering:
            st.caption(":material/schedule: Queued: answered when the reply above is done.")


# -- a reply being written -----------------------------------------------------------------------


def _status(view: ReplyView) -> str:
    waited = view.waited()
    if view.state == "preparing":
        return "Recalling memories…"
    if view.state == "waiting" and view.model_loading:
        return f"Loading the model on the server… {waited:.0f} s"
    if view.state == "waiting" and waited >= 2:
        return f"Waiting for the model… {waited:.0f} s (a server may be loading it)"
    return ""


def follow(live: LiveReply, speakers: Speakers, on_stop: Callable[[], None]) -> ReplyView:
    """Draw a reply as it is written, until it is finished; returns how it ended.

    The drawing is redrawn at least every :data:`TICK` seconds: each redraw is where Streamlit
    notices a newer request of the page (a message sent, Stop pressed) and starts that run at
    once, so nothing the user does waits for the reply to end.
    """
    with bubble("assistant", speakers):
        thinking_slot, answer_slot, note_slot = st.empty(), st.container(key="live_answer").empty(), st.empty()
        st.button("Stop", icon=":material/stop_circle:", key="stop", on_click=on_stop)
    shown, drawn_thinking, drawn_answer, folded = -1, "", None, False
    box = inner = None
    view = live.snapshot()
    while True:
        if view.version != shown:  # only what changed is sent: the first thinking goes out alone
            if view.thinking and box is None:
                box = thinking_slot.status("Thinking…", expanded=True)
                inner = box.empty()
            if inner is not None and box is not None:
                if view.thinking != drawn_thinking:
                    inner.markdown(markdown(view.thinking))
                    drawn_thinking = view.thinking
                if (view.answer or view.finished) and not folded:
                    label = f"Thought for {view.thinking_seconds:.0f} s" if view.thinking_seconds else "Thought"
                    box.update(label=label, state="complete", expanded=False)
                    folded = True
            if view.answer != drawn_answer:
                answer_slot.markdown(markdown(view.answer))
                drawn_answer = view.answer
            shown = view.version
        note_slot.caption(_status(view))  # every tick: the place where a newer request interrupts
        if view.finished:
            return view
        view = live.wait(shown, TICK)


def failure(view: ReplyView) -> None:
    """Why the last reply failed; the message is stored and can be sent again with Retry."""
    st.error(f"{view.error} Your message is saved; press Retry to try again.", icon=":material/error:")


def only_thinking(view: ReplyView, max_tokens: int) -> None:
    st.warning(
        f"The model used all {max_tokens:,} tokens of the reply thinking and did not answer. Raise "
        "'Max tokens (reply)' in the sidebar, then press Regenerate.",
        icon=":material/lightbulb:",
    )


def export_buttons(persona: Persona, conversation_id: str, user_name: str, greeting: str,
                   turns: Sequence[Memory]) -> None:  # fmt: skip
    with st.sidebar.popover("Export conversation", icon=":material/download:", width="stretch"):
        stem = f"{persona.id}-{conversation_id[:8]}"
        args = (persona.name, user_name, greeting, list(turns))
        # the files are built when clicked, not on every rerun
        st.download_button("Markdown", partial(conversation_markdown, *args), f"{stem}.md", "text/markdown",
                           icon=":material/description:", on_click="ignore")  # fmt: skip
        st.download_button("SillyTavern (JSONL)", partial(conversation_sillytavern, *args), f"{stem}.jsonl",
                           "application/jsonl", icon=":material/data_object:", on_click="ignore")  # fmt: skip
