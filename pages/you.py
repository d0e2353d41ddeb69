"""Who you are in a chat: your personas (SillyTavern's "Personas"), each a name, a short
description and an avatar. The default one is used by new conversations; the chat's sidebar
("You are") chooses one per conversation."""

from __future__ import annotations

import streamlit as st

from personas.library import AvatarError
from personas.users import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, UserPersona, UserPersonaError
from ui import navigation, resources
from ui.safe_text import plain

navigation.require_app_frame()

app = resources.settings()
users = resources.user_personas(app)
st.title("You")
st.caption(
    "How the personas see you: your name replaces {{user}} in their cards, and your description goes "
    "into the prompt after theirs. Pick one per conversation in the chat's sidebar."
)


def form(key: str, user: UserPersona) -> tuple[UserPersona, bytes | None] | None:
    """The fields of one user persona; what was saved, if the form was sent."""
    with st.form(key, border=False):
        name = st.text_input("Name", user.name, max_chars=MAX_NAME_CHARS, key=f"{key}_name")
        description = st.text_area(
            "Description", user.description, max_chars=MAX_DESCRIPTION_CHARS, key=f"{key}_description",
            placeholder="e.g. A ship's doctor in her thirties, curious, a little shy.",
        )  # fmt: skip
        image = st.file_uploader("Avatar", type=["png", "jpg", "jpeg", "webp"], key=f"{key}_avatar")
        if not st.form_submit_button("Save", icon=":material/save:", type="primary"):
            return None
    return UserPersona(user.id, name, description), image.getvalue() if image else None


def save(user: UserPersona, image: bytes | None) -> bool:
    try:
        users.save(user)
        if image:
            users.save_avatar(user.id, image)
    except (UserPersonaError, AvatarError) as exc:
        st.error(str(exc), icon=":material/error:")
        return False
    return True


everyone = users.list()
default = users.default_id(everyone)
for user in everyone:
    label = plain(user.name) + (" (default)" if user.id == default else "")
    with st.expander(label, icon=":material/person:"):
        avatar = users.avatar_path(user.id)
        if avatar:
            st.image(str(avatar), width=96)
        sent = form(f"user_{user.id}", user)
        if sent and save(*sent):
            st.rerun()
        make_default, delete = st.columns(2)
        if user.id != default and make_default.button("Make default", key=f"default_{user.id}"):
            users.set_default(user.id)
            st.rerun()
        if len(everyone) > 1 and delete.button("Delete", key=f"delete_{user.id}", icon=":material/delete:"):
            users.delete(user.id)
            st.rerun()

with st.expander("New persona", icon=":material/person_add:", expanded=False):
    sent = form("user_new", UserPersona.new(""))
    if sent:
        created, image = sent
        if save(UserPersona.new(created.name, created.description), image):
            st.rerun()
