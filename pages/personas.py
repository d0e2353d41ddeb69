"""The personas: list, create, edit, delete; import and export Character Cards; avatars, lorebooks and
backgrounds. The form and its helpers are in ``ui.persona_form``."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from memory.sillytavern import MAX_CHAT_BYTES, ChatFormatError, ImportResult, import_chat, parse_chat
from personas import Persona, limits
from personas.cards import CardError
from personas.images import export_name
from personas.library import AvatarError
from personas.model import make_id
from ui import navigation, resources
from ui.persona_form import (
    CARD_TYPES,
    MAX_CARD_MB,
    apply_form,
    avatar_preview,
    card_json,
    card_png,
    ingest_background,
    persona_form,
    thumbnail,
)
from ui.safe_text import plain
from ui.state import Key, Session, session

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile  # st.file_uploader's files

navigation.require_app_frame()

#: How much of a long text the list shows; the editor shows all of it.
SUMMARY_CHARS = 600
MAX_CHAT_MB = MAX_CHAT_BYTES // 2**20
NEW = "new_persona"  # the creation form's key, and the prefix of its widgets' keys

app = resources.settings()
store = resources.memory_store(app.store)
library = resources.persona_library(app.personas_path)


def main() -> None:
    personas = {p.id: p for p in library.list()}
    st.title("Personas")
    flash("top")
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption("Character Cards of SillyTavern, chub.ai and others: import V1–V3 (PNG, JSON or CHARX), export V2.")
        with st.popover("Import a card", icon=":material/upload_file:"):
            if (upload := import_form()) is not None:
                import_card(upload)  # its messages show in the popover, which stays open
    if not personas:
        st.info("No personas yet: import a card above or create one below.", icon=":material/info:")
    for persona in personas.values():
        persona_entry(persona)
    if (editing := personas.get(session.personas_editing or "")) is not None:
        edit_dialog(editing)
    elif (deleting := personas.get(session.personas_deleting or "")) is not None:
        confirm_delete(deleting)
    else:  # nothing open, or the persona is gone (deleted in another tab)
        del session.personas_editing, session.personas_deleting
    st.subheader("New persona")
    flash("create")
    create_form()


def flash(place: str) -> None:
    """Show the message the last action left for this place ("top", "create"), or as a toast ("toast"),
    with its warnings."""
    message = session.personas_flash
    if not message or message[0] not in (place, "toast"):
        return
    del session.personas_flash
    where, text, warnings = message
    if where == "toast":
        st.toast(text, icon=":material/check_circle:")
    else:
        st.success(text, icon=":material/check_circle:")
    for warning in warnings:
        st.warning(warning, icon=":material/warning:")


def _flash(place: str, message: str, warnings: list[str] | None = None) -> None:
    session.personas_flash = (place, plain(message), [plain(w) for w in warnings or []])


def misfits(persona: Persona) -> list[str]:
    """What of the card will not fit in the model's context window (as set in this session)."""
    from chat.prompting import fit_warnings  # LangChain: loaded when a card is saved, not with the page

    window = st.session_state.get("context_window", app.llm.context_window)
    reply = st.session_state.get("max_tokens", app.llm.sampling.max_tokens)
    return fit_warnings(persona, app.user_name, int(window), int(reply))


# --- the list ---------------------------------------------------------------------------------


def persona_entry(persona: Persona) -> None:
    """One persona: the avatar beside an expander with the actions and the card's summary."""
    with st.container(horizontal=True, vertical_alignment="top", gap="small"):
        st.image(thumbnail(library, persona, 80), width=40)
        with st.expander(plain(persona.name)):
            actions(persona)
            summary(persona)


def summary(persona: Persona) -> None:
    with st.container(horizontal=True, gap="medium"):
        if avatar := avatar_preview(library, persona.id, 240):
            st.image(avatar, width=120)
        with st.container():
            if persona.tags:
                st.caption("Tags: " + plain(", ".join(persona.tags)))
            for label, text in (
                ("Description", persona.description),
                ("Personality", persona.personality),
                ("Scenario", persona.scenario),
                ("First message", persona.first_mes),
                ("Creator notes", persona.creator_notes),
            ):
                if text.strip():
                    with st.container(gap="xxsmall"):
                        st.markdown(f"**{label}**")
                        st.text(shorten(text))
            st.caption(facts(persona))


def facts(persona: Persona) -> str:
    """Counts: greetings, lorebook entries, background words and memories."""
    parts = []
    if persona.alternate_greetings:
        parts.append(plural(len(persona.alternate_greetings), "alternate greeting", "alternate greetings"))
    entries = (persona.character_book or {}).get("entries")
    if isinstance(entries, list) and entries:
        parts.append(f"lorebook of {plural(len(entries), 'entry', 'entries')}")
    if persona.background:
        parts.append(f"background of {len(persona.background.split()):,} words")
    parts.append(f"{plural(store.count(persona.id), 'memory', 'memories')} (background and conversations)")
    return " · ".join(parts)


def plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS].rstrip() + " …"


def actions(persona: Persona) -> None:
    with st.container(horizontal=True, gap="small"):
        if st.button("Chat with this persona", key=f"chat_{persona.id}", icon=":material/chat:", type="primary"):
            session.persona_id = persona.id
            del session.conversation_id
            st.switch_page("pages/chat.py")
        st.button(
            "Edit",
            key=f"open_editor_{persona.id}",
            icon=":material/edit:",
            on_click=_open,
            args=(Session.personas_editing, persona.id),
        )
        st.download_button(
            "JSON card",
            partial(card_json, persona),
            file_name=export_name(persona, "json"),
            mime="application/json",
            key=f"export_json_{persona.id}",
            icon=":material/download:",
            help="Character Card V2, for SillyTavern and other apps.",
            on_click="ignore",
        )
        st.download_button(
            "PNG card",
            partial(card_png, library, persona),
            file_name=export_name(persona, "png"),
            mime="image/png",
            key=f"export_png_{persona.id}",
            icon=":material/image:",
            help="The avatar with the card (V2) inside, for SillyTavern and other apps.",
            on_click="ignore",
        )
        st.button(
            "Delete",
            key=f"delete_{persona.id}",
            icon=":material/delete:",
            on_click=_open,
            args=(Session.personas_deleting, persona.id),
        )
        with st.popover("Import a SillyTavern chat", icon=":material/history:"):
            chat_import(persona)


def _open(dialog: Key[str | None], persona_id: str) -> None:
    """Open the edit or delete dialog for a persona (one dialog at a time)."""
    del session.personas_editing, session.personas_deleting
    session.put(dialog, persona_id)


def _cancel_delete() -> None:
    del session.personas_deleting


@st.dialog("Delete this persona?", on_dismiss=_cancel_delete)
def confirm_delete(persona: Persona) -> None:
    count = store.count(persona.id)
    st.markdown(
        f"**{plain(persona.name)}** will be deleted with everything they remember: "
        f"**{plural(count, 'memory', 'memories')}** "
        "(the background and every conversation), and the avatar. This cannot be undone."
    )
    st.caption("To keep a copy, export the card first (the background travels in it; conversations do not).")
    with st.container(horizontal=True):
        if st.button(
            "Delete persona and memories", type="primary", icon=":material/delete_forever:", key="confirm_delete"
        ):
            resources.chat_service(app).delete_persona(persona.id)  # its lorebooks stay
            if session.persona_id == persona.id:
                del session.persona_id
                del session.conversation_id
            _cancel_delete()
            _flash("toast", f"Deleted {persona.name} and {plural(count, 'memory', 'memories')}.")
            st.rerun()
        if st.button("Cancel", key="cancel_delete"):
            _cancel_delete()
            st.rerun()


# --- import, create, edit ---------------------------------------------------------------------


def import_form() -> UploadedFile | None:
    """The card upload; returns the file when the form is submitted with one."""
    with st.form("import_card", clear_on_submit=True, enter_to_submit=False, border=False):
        upload = st.file_uploader(
            "Character card",
            type=list(CARD_TYPES),
            key="import_file",
            max_upload_size=MAX_CARD_MB,
            help="A Character Card V1, V2 or V3 (SillyTavern, chub.ai, RisuAI…) as a PNG image, a JSON file or a "
            "CHARX archive (its main icon becomes the avatar).",
        )
        submitted = st.form_submit_button("Import", icon=":material/upload_file:", type="primary", key="import_submit")
    if submitted and upload is None:
        st.warning("Choose a PNG, JSON or CHARX card first.", icon=":material/warning:")
    return upload if submitted else None


def import_card(upload: UploadedFile) -> None:
    """Import a Character Card (V1, V2 or V3; PNG, JSON or CHARX): nothing is stored when it is refused."""
    try:
        persona, notes = library.import_card(upload.getvalue(), upload.name)
    except CardError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
        return
    ingest_background(resources.chat_service(app), persona)
    _flash("top", " ".join([f"Imported {persona.name}.", *notes]), misfits(persona))
    st.rerun()


def chat_import(persona: Persona) -> None:
    """Bring a SillyTavern chat in as a new conversation of this persona, every turn a memory."""
    with st.form(f"import_chat_{persona.id}", clear_on_submit=True, enter_to_submit=False, border=False):
        upload = st.file_uploader(
            "SillyTavern chat",
            type=["jsonl"],
            key=f"chat_file_{persona.id}",
            max_upload_size=MAX_CHAT_MB,
            help="A SillyTavern chat (.jsonl: exported from Manage chat files, or from data/<user>/chats/). "
            "Its swipes become the reply's alternatives; its dates are kept.",
        )
        submitted = st.form_submit_button(
            "Import chat", icon=":material/upload_file:", type="primary", key=f"chat_submit_{persona.id}"
        )
    if not submitted:
        return
    if upload is None:
        st.warning("Choose a .jsonl chat file first.", icon=":material/warning:")
        return
    try:
        chat = parse_chat(upload.getvalue(), upload.name)
    except ChatFormatError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
        return
    from llm.prompts import substitute  # LangChain: loaded on import, not with the page

    bar = st.progress(0.0, text="Storing the chat as memories…")

    def step(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Storing the chat as memories… {done:,} of {total:,} turns")

    greeting = substitute(persona.first_mes, persona.name, app.user_name)
    with resources.store_guard(app.store):
        result = import_chat(store, persona.id, chat, greeting=greeting, progress=step)
    session.persona_id = persona.id  # the chat page opens it
    session.conversation_id = result.conversation_id
    if result.already_imported:
        _flash("top", f"“{result.title}” was already imported for {persona.name}: nothing was stored twice.")
    else:
        _flash("top", f"Imported “{result.title}” for {persona.name}: {import_summary(result)}. Open Chat to read it.")
    st.rerun()


def import_summary(result: ImportResult) -> str:
    """What an import stored and what it left out (see memory.sillytavern)."""
    plan = result.plan
    parts = [f"{plural(plan.messages, 'message', 'messages')} as {plural(len(plan.turns), 'turn', 'turns')}"]
    if plan.skipped_system:
        parts.append(f"{plural(plan.skipped_system, 'system note', 'system notes')} left out")
    if plan.skipped_greeting:
        parts.append("the greeting shown anyway")
    if plan.merged:
        parts.append(f"{plural(plan.merged, 'message', 'messages')} in a row joined to the reply before")
    if plan.dropped_swipes:
        parts.append(f"{plural(plan.dropped_swipes, 'swipe', 'swipes')} of joined messages not kept")
    return ", ".join(parts)


def create_form() -> None:
    with st.form(NEW, enter_to_submit=False):
        form = persona_form(NEW, Persona(id="new", name=""))
        submitted = st.form_submit_button(
            "Create persona", icon=":material/person_add:", type="primary", key="create_persona"
        )
    if not submitted:
        return
    persona = apply_form(Persona(id="new", name=""), form)
    if not persona.name:
        st.error("A persona needs a name (on the Card tab).", icon=":material/error:")
        return
    persona = replace(persona, id=make_id(persona.name))
    if not save(persona, form.avatar, remove_avatar=False):
        return
    ingest_background(resources.chat_service(app), persona)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{NEW}_")]:
        del st.session_state[key]  # an empty form for the next one
    _flash("create", f"Created {persona.name}.", misfits(persona))
    st.rerun()


@st.dialog("Edit persona", width="large", dismissible=False)
def edit_dialog(persona: Persona) -> None:
    """The whole card in a dialog (not dismissible by a click outside, which would lose the edits)."""
    key = f"edit_{persona.id}"
    with st.form(key, enter_to_submit=False):
        form = persona_form(key, persona, avatar_preview(library, persona.id, 160), lorebook=True)
        with st.container(horizontal=True):
            saved = st.form_submit_button("Save changes", icon=":material/save:", type="primary", key="save_persona")
            cancelled = st.form_submit_button("Cancel", key="cancel_edit")
    if cancelled:
        _stop_editing()
        st.rerun()
    if not saved:
        return
    changed = apply_form(persona, form)
    if not changed.name:
        st.error("A persona needs a name (on the Card tab).", icon=":material/error:")
        return
    if not save(changed, form.avatar, form.remove_avatar):
        return
    if changed.background != persona.background:
        ingest_background(resources.chat_service(app), changed, replace_old=True)
    _stop_editing()
    _flash("top" if (warnings := misfits(changed)) else "toast", f"Saved {changed.name}.", warnings)
    st.rerun()


def _stop_editing() -> None:
    del session.personas_editing


def save(persona: Persona, avatar: bytes | None, remove_avatar: bool) -> bool:
    """Store the card and its avatar; False (with a message, nothing stored) when the card is over a
    limit (it could not be exported and imported again) or the avatar is refused."""
    try:
        limits.check(persona)
    except limits.LimitError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
        return False
    if avatar is not None:
        try:
            library.save_avatar(persona.id, avatar)
        except AvatarError as exc:
            st.error(plain(str(exc)), icon=":material/error:")
            return False
    elif remove_avatar:
        library.delete_avatar(persona.id)
    library.save(persona)
    return True


main()
