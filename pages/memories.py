"""Browse, search, edit, pin, delete and export what a persona remembers, and try what it would
recall for a message; back everything up and restore it."""

from __future__ import annotations

from datetime import UTC, datetime, time
from functools import partial

import streamlit as st

from llm.errors import LLMError
from memory import Memory
from memory.backup import MAX_BACKUP_BYTES, BackupError, RestoreResult, backup_bytes, read_backup, restore
from memory.config import EmbeddingChoice
from memory.export import memories_csv, memories_json
from ui import connection, navigation, resources, sidebar
from ui.safe_text import plain
from ui.state import Session, session

navigation.require_app_frame()

PAGE_SIZE = 100
SCORE_PARTS = ("score", "relevance", "recency", "importance")
BUILTIN_EMBEDDINGS = "Built-in all-MiniLM-L6-v2 (offline)"

app = resources.settings()
store = resources.memory_store(app.store)


def backup_section() -> None:
    """Everything in one file to download, and a restore from such a file (with a confirmation)."""
    st.subheader("Backup")
    st.caption(
        "One zip file with every persona (cards and avatars), lorebooks, user personas, conversations and "
        "memories. Restoring adds what the backup holds and this app does not: nothing here is overwritten, "
        "and restoring twice adds nothing twice."
    )
    if flash := session.take(Session.backup_flash):
        st.success(flash, icon=":material/check_circle:")
    folders = resources.data_folders(app)
    st.download_button(
        "Download a backup",
        partial(backup_bytes, store, folders),  # built when clicked, not on every rerun
        file_name=f"persona-chat-backup-{datetime.now(UTC):%Y%m%d-%H%M%S}.zip",
        mime="application/zip",
        icon=":material/download:",
        key="backup_download",
        on_click="ignore",
    )
    with st.form("restore_backup", clear_on_submit=True, enter_to_submit=False):
        upload = st.file_uploader(
            "Restore from a backup", type=["zip"], key="restore_file", max_upload_size=MAX_BACKUP_BYTES // 2**20
        )
        sure = st.checkbox("Yes, restore it: add what the backup holds and this app does not", key="restore_sure")
        submitted = st.form_submit_button("Restore", icon=":material/restore:", type="primary", key="restore_submit")
    if not submitted:
        return
    if upload is None or not sure:
        st.warning("Choose a backup file and tick the box first.", icon=":material/warning:")
        return
    try:
        backup = read_backup(upload.getvalue(), upload.name)
    except BackupError as exc:
        st.error(plain(str(exc)), icon=":material/error:")
        return
    bar = st.progress(0.0, text="Restoring…")

    def step(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Restoring memories… {done:,} of {total:,}")

    with resources.store_guard(app.store):
        result = restore(backup, store, folders, progress=step)
    session.backup_flash = restored(result)
    st.rerun()


def embeddings_section() -> None:
    """Which model the memories are embedded with: the built-in MiniLM, or an embedding model of
    the model server; switching embeds every memory again (the other model's copy stays)."""
    st.subheader("Embeddings")
    current = EmbeddingChoice.load(app.store.path)
    st.caption(f"This store's vectors come from {plain(store.embedding_label)}.")
    base_url = st.session_state.get(connection.SERVER_URL) or app.llm.base_url
    try:
        listed = resources.server_info(base_url, app.llm.api_key).hidden  # the server's embedding models
    except LLMError:
        listed = []
    options = {BUILTIN_EMBEDDINGS: EmbeddingChoice()} | {m: EmbeddingChoice(m, base_url) for m in listed}
    if current.model and current.model not in options:
        options[current.model] = current
    names = list(options)
    chosen = st.selectbox("Embed memories with", names, index=names.index(current.model or BUILTIN_EMBEDDINGS),
                          key="embeddings_model", help=f"Embedding models listed by {base_url}")  # fmt: skip
    if options[chosen] == current:
        return
    st.warning(
        f"Every memory of every persona is embedded again by {chosen}: this can take a while. The vectors of "
        "the model used now are kept, so switching back only embeds what changed.",
        icon=":material/sync:",
    )
    if not st.button("Switch and embed every memory again", key="embeddings_switch", icon=":material/sync:"):
        return
    bar = st.progress(0.0, text="Embedding memories…")

    def step(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"Embedding memories… {done:,} of {total:,}")

    try:
        with resources.store_guard(app.store):
            count = resources.switch_embeddings(app, options[chosen], step)
    except LLMError as exc:
        st.error(f"{exc} Nothing was switched.", icon=":material/error:")
        return
    session.backup_flash = f"Memories are now embedded with {chosen} ({count:,} embedded)."
    st.rerun()


def restored(result: RestoreResult) -> str:
    """What a restore did, in a sentence."""
    files = len(result.files_written)
    text = (
        f"Restored {files:,} file{'s' * (files != 1)} (personas, avatars, lorebooks, user personas) and "
        f"{result.memories_added:,} memories."
    )
    if result.memories_present or result.files_kept:
        text += (
            f" Already here, so left as they are: {result.memories_present:,} memories and "
            f"{len(result.files_kept):,} files."
        )
    return text


persona = sidebar.persona_picker(resources.persona_library(app.personas_path))
if persona is None:
    st.info("No personas yet: create one on the Personas page, or restore a backup.")
    backup_section()
    st.stop()


def recall_probe() -> None:
    """Type a message, see what the persona would recall for it and why."""
    query = st.text_input(f"What would {plain(persona.name)} recall for…", placeholder="type a message", key="probe")
    if not query.strip():
        return
    found = store.recall(persona.id, query, k=10)
    if not found:
        st.caption("Nothing stored yet.")
        return
    st.container(key="probe_results").dataframe(
        [
            {
                "score": m.score,
                "relevance": m.breakdown.relevance if m.breakdown else None,
                "recency": m.breakdown.recency if m.breakdown else None,
                "importance": m.breakdown.importance if m.breakdown else None,
                "kind": m.kind,
                "who": m.role or "",
                "when": f"{m.created_at:%Y-%m-%d}",
                "pinned": m.pinned,
                "text": m.text,
            }
            for m in found
        ],
        hide_index=True,
        width="stretch",
        column_order=("score", "text", "kind", "who", "when", "pinned", *SCORE_PARTS[1:]),  # the text in view
        column_config={
            **{name: st.column_config.NumberColumn(format="%.3f") for name in SCORE_PARTS},
            "text": st.column_config.TextColumn(width="large"),
        },
    )
    st.caption(
        "relevance: meaning (embeddings) + matching words (BM25) + the turn it answers · recency: newer counts "
        "more, slowly · importance: informative statements, pinned memories, announced changes"
    )


def filters() -> dict:
    text_col, kind_col, conversation_col, dates_col = st.columns([3, 1.2, 2, 2])
    text = text_col.text_input("Text", placeholder="a word or phrase, any case", key="memory_filter")
    kind = kind_col.selectbox("Kind", ["all", "turn", "background"], key="memory_kind")
    conversations = {c.id: c.title for c in store.conversations(persona.id)}
    conversation = conversation_col.selectbox(
        "Conversation", [None, *conversations], format_func=lambda c: "all" if c is None else conversations[c],
        key="memory_conversation",
    )  # fmt: skip
    dates = dates_col.date_input("Dates", value=(), key="memory_dates", format="YYYY-MM-DD")
    since = datetime.combine(dates[0], time.min, UTC) if len(dates) >= 1 else None
    until = datetime.combine(dates[-1], time.max, UTC) if len(dates) == 2 else None
    return {"kind": None if kind == "all" else kind, "conversation_id": conversation, "text": text or None,
            "since": since, "until": until}  # fmt: skip


def confirm_delete() -> None:
    """The confirmation asked for by a Delete button (ids waiting in the session state)."""
    ids = session.pending_delete
    if not ids:
        return
    plural = "memory" if len(ids) == 1 else "memories"
    with st.container(border=True):
        st.warning(f"Delete {len(ids)} {plural}? This cannot be undone.", icon=":material/warning:")
        yes, no = st.columns(2)
        if yes.button("Delete", type="primary", icon=":material/delete:", key="confirm_delete"):
            store.delete_many(persona.id, ids)
            session.memories_flash = f"Deleted {len(ids)} {plural}."
            del session.pending_delete
            st.rerun()
        if no.button("Cancel", key="cancel_delete"):
            del session.pending_delete
            st.rerun()


def table(memories: list[Memory]) -> None:
    """The editable table: text and pinned can be changed; a tick selects rows to delete."""
    rows = [{"select": False, "pinned": m.pinned, "when": m.created_at.strftime("%Y-%m-%d %H:%M"), "kind": m.kind,
             "who": m.role or "", "text": m.text} for m in memories]  # fmt: skip
    st.data_editor(
        rows,
        key="memory_editor",
        hide_index=True,
        width="stretch",
        disabled=["when", "kind", "who"],
        column_config={
            "select": st.column_config.CheckboxColumn("", width="small"),
            "text": st.column_config.TextColumn(width="large"),
        },
    )
    edits = st.session_state.memory_editor.get("edited_rows", {})
    selected = [memories[i].id for i, change in edits.items() if change.get("select")]
    changed = {i: change for i, change in edits.items() if {"text", "pinned"} & change.keys()}
    save_col, delete_col, json_col, csv_col = st.columns(4)
    if save_col.button(f"Save changes ({len(changed)})", disabled=not changed, icon=":material/save:"):
        for i, change in changed.items():
            store.update(memories[i].id, text=change.get("text"), pinned=change.get("pinned"))
        session.memories_flash = f"Saved {len(changed)} change{'s' * (len(changed) != 1)}."
        st.rerun()
    if delete_col.button(f"Delete selected ({len(selected)})", disabled=not selected, icon=":material/delete:"):
        session.pending_delete = selected
        st.rerun()
    stem = f"{persona.id}-memories"
    json_col.download_button("Export JSON", memories_json(memories), f"{stem}.json", "application/json")
    csv_col.download_button("Export CSV", memories_csv(memories), f"{stem}.csv", "text/csv")


def edit_one(memories: list[Memory]) -> None:
    """Edit, pin or delete one memory (the table does the same for many at once)."""
    with st.expander("Edit one memory", icon=":material/edit:"):
        labels = {m.id: f"{m.created_at:%Y-%m-%d %H:%M} · {m.kind} · {m.text[:60]}" for m in memories}
        chosen = st.selectbox("Memory", list(labels), format_func=labels.get, key="edit_one")
        memory = next(m for m in memories if m.id == chosen)
        text = st.text_area("Text", memory.text, key=f"edit_text_{memory.id}")
        pinned = st.checkbox("Pinned: always favoured when recalling", memory.pinned, key=f"edit_pin_{memory.id}")
        save_col, delete_col = st.columns(2)
        if save_col.button("Save", icon=":material/save:", disabled=(text, pinned) == (memory.text, memory.pinned)):
            store.update(memory.id, text=None if text == memory.text else text, pinned=pinned)
            session.memories_flash = "Saved."
            st.rerun()
        if delete_col.button("Delete this memory", icon=":material/delete:"):
            session.pending_delete = [memory.id]
            st.rerun()


def timeline() -> None:
    days = store.turns_per_day(persona.id)
    if len(days) > 1:
        st.caption("Conversation turns per day")
        st.bar_chart({"turns": days}, height=160)


st.title(f"What {plain(persona.name)} remembers")
if flash := session.take(Session.memories_flash):
    st.success(flash, icon=":material/check_circle:")
confirm_delete()
recall_probe()
st.divider()

chosen = filters()
matching = store.count(persona.id, **chosen)
info_col, page_col = st.columns([4, 1])
pages = max(1, -(-matching // PAGE_SIZE))
if st.session_state.get("memory_page", 1) > pages:  # the filters changed under the page
    st.session_state.memory_page = pages
page = page_col.number_input("Page", 1, pages, key="memory_page", label_visibility="collapsed") - 1
info_col.caption(
    f"{store.count(persona.id):,} memories stored · {matching:,} match · newest first · page {page + 1} of {pages}"
)
shown = store.list(persona.id, limit=PAGE_SIZE, offset=page * PAGE_SIZE, **chosen)
if shown:
    table(shown)
    edit_one(shown)
else:
    st.info("Nothing matches." if any(chosen.values()) else "Nothing stored yet: chat with the persona first.")
timeline()
st.divider()
embeddings_section()
backup_section()
