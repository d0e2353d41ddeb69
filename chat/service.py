"""The chat as a plain service: a persona's conversation, the messages waiting in line, the reply
being written. Streamlit-free: the chat page, the tests and the benchmarks all use this.

Sending never waits for the model. :meth:`Conversation.send` journals the message (one line
appended to ``pending-turns.jsonl``, see :mod:`memory.journal`) and puts it in line; the
conversation's worker thread answers the messages one at a time, in the order they were sent:
recall and prompt assembly (:mod:`chat.prompting`), the request (:class:`llm.stream.ReplyStream`),
and, once the first piece of the reply has come, storing the message (embedding it and writing
it to Chroma would otherwise delay that first piece); the reply is stored when it ends. A
message sent while a reply is being written therefore waits for it, as in Open WebUI, and is
answered next; nothing the user sent is dropped, and a reload finds the line as it was (it
lives in this process, and every message in it is in the journal).

Readers follow a reply with :meth:`Conversation.view` and :class:`chat.live.LiveReply`.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from chat.live import LiveReply, ReplyView
from chat.prompting import PreparedReply, chosen_turns, exchanges, prepare_reply, recent_history
from llm.assembly import ContextUsage, context_usage
from llm.errors import LLMError, NoModelLoaded
from llm.prompts import chat_prompt, persona_prompt, substitute
from llm.settings import Sampling
from llm.thinking import split_thinking
from memory.models import Memory, NewTurn
from personas.users import UserPersona
from personas.worldinfo import Lorebook, card_books

if TYPE_CHECKING:
    import openai

    from llm.stream import ReplyStream
    from memory import MemoryStore
    from personas import Persona, PersonaLibrary
    from personas.lorebook_library import LorebookLibrary
    from personas.users import UserPersonaLibrary

#: Longest message accepted (about 12,000 tokens); longer pastes get a message instead.
MAX_MESSAGE_CHARS = 50_000
#: How long :meth:`Conversation.send` waits for a reply's request to leave, at most: the caller
#: (the chat page) redraws the conversation next, which would hold the GIL the request needs.
SEND_WAIT = 0.25
#: A message that waited in line is stored this long after the turn before it, at least.
AFTER = timedelta(milliseconds=1)
#: Longest author's note (a short instruction: it goes into every prompt).
MAX_NOTE_CHARS = 2_000
#: The ``source`` of the memories a persona's background is stored as.
BACKGROUND_SOURCE = "persona background"
#: At most this many of a persona's background memories are looked at when its background is
#: replaced (a background of 100,000 sentences is far beyond any card's limits).
MAX_BACKGROUND_RECORDS = 100_000


@dataclass(frozen=True)
class AuthorsNote:
    """SillyTavern's author's note: ``text`` put ``depth`` messages from the end of the prompt,
    every ``every`` messages (its defaults: depth 4, every message)."""

    text: str = ""
    depth: int = 4
    every: int = 1


class PersonaGone(LLMError):
    def __init__(self, persona_id: str) -> None:
        super().__init__(
            f"The persona {persona_id!r} no longer exists (deleted, perhaps in another tab), so nothing "
            "was sent or stored. Pick a persona in the sidebar."
        )


class MessageTooLong(LLMError):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"That message has {length:,} characters; the limit is {MAX_MESSAGE_CHARS:,}. It was not sent. "
            "Shorten it, or put long reference text in the persona's background."
        )


@dataclass(frozen=True)
class ReplySettings:
    """How to reply: the server, the model and the sampling chosen in the sidebar."""

    base_url: str
    api_key: str = field(repr=False)
    model: str | None
    sampling: Sampling = field(default_factory=Sampling)
    recall_k: int = 5
    context_window: int = 4096
    timeout: float = 120.0  # between two pieces of a reply
    load_timeout: float = 600.0  # before its first piece (the server may be loading the model)
    model_loaded: bool | None = None  # what the server said, if it said
    #: Why no reply can be asked for (no server, no model), shown instead of one.
    error: LLMError | None = None

    @property
    def budget(self) -> int:
        """Tokens the prompt may take: the window less the reply's share."""
        return self.context_window - self.sampling.max_tokens


@dataclass(frozen=True)
class Waiting:
    """A message sent but not stored yet."""

    id: str
    text: str
    sent_at: datetime
    answering: bool  # its reply is being written; else it waits in line


@dataclass(frozen=True)
class ChatView:
    """What the page draws of a conversation, at one moment."""

    turns: list[Memory]  # stored, oldest first
    groups: list[list[Memory]]  # as messages: consecutive replies together (alternatives)
    visible: list[Memory]  # the chosen alternative of each message: what the model is sent
    waiting: list[Waiting]  # sent, not stored yet, in the order sent
    live: LiveReply | None  # the reply being written
    failure: ReplyView | None  # the last reply that failed, until the next one starts
    recalled: dict[str, Memory]  # the memories the stored replies used, by id

    def used(self, turn: Memory) -> tuple[list[Memory], int]:
        """The memories a stored reply used, with the scores they had then, and how many of
        them are gone since."""
        found = [replace(self.recalled[i], score=s) for i, s in turn.recalled if i in self.recalled]
        return found, len(turn.recalled) - len(found)


@dataclass
class _Job:
    kind: Literal["answer", "again", "continue"]
    user_turn_id: str
    text: str
    settings: ReplySettings
    choices: dict[str, int]
    sent_at: datetime
    pending: bool = False  # the message is journaled, not stored yet
    reply: Memory | None = None  # Continue: the reply to go on from


ClientFactory = Callable[[str, str], "openai.OpenAI"]


class ChatService:
    """Every conversation of the app process. Build one per process (the page caches it)."""

    def __init__(
        self,
        store: MemoryStore,
        personas: PersonaLibrary,
        user_name: str = "User",
        client_factory: ClientFactory | None = None,
        users: UserPersonaLibrary | None = None,
        lorebooks: LorebookLibrary | None = None,
    ) -> None:
        self.store = store
        self.personas = personas
        self.user_name = user_name  # who the user is where no user persona is chosen
        self.users = users
        self.lorebooks = lorebooks
        self._client_factory = client_factory
        self._clients: dict[tuple[str, str], openai.OpenAI] = {}
        self._preparing: set[tuple[str, str]] = set()
        self._conversations: dict[tuple[str, str], Conversation] = {}
        self._ingested: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def conversation(self, persona_id: str, conversation_id: str) -> Conversation:
        """The one object for this conversation (shared by every tab showing it)."""
        with self._lock:
            key = (persona_id, conversation_id)
            if key not in self._conversations:
                self._conversations[key] = Conversation(self, persona_id, conversation_id)
            return self._conversations[key]

    def persona(self, persona_id: str) -> Persona:
        """The persona as it is now; :class:`PersonaGone` if it was deleted."""
        try:
            return self.personas.get(persona_id)
        except KeyError:
            raise PersonaGone(persona_id) from None

    def client(self, base_url: str, api_key: str) -> openai.OpenAI:
        """One ``openai`` client per server, kept (building one takes about 0.2 s). LangChain's
        prompt is built with the first (0.5 s more): the first message waits for neither when
        the page has prepared them (:meth:`prepare_client`)."""
        chat_prompt()
        with self._lock:
            key = (base_url, api_key)
            if key not in self._clients:
                if self._client_factory is not None:
                    self._clients[key] = self._client_factory(base_url, api_key)
                else:
                    from llm.stream import make_client

                    self._clients[key] = make_client(base_url, api_key)
            return self._clients[key]

    def prepare_client(self, base_url: str, api_key: str) -> None:
        """Build the client for this server in the background, if it is not built yet (the
        first one imports ``openai`` and sets up its HTTP client: a first message would wait)."""
        with self._lock:
            if (base_url, api_key) in self._clients or (base_url, api_key) in self._preparing:
                return
            self._preparing.add((base_url, api_key))
        threading.Thread(target=self.client, args=(base_url, api_key), name="chat-client", daemon=True).start()

    def ingest_background(
        self, persona: Persona, progress: Callable[[int, int], None] | None = None, *, replace_old: bool = False
    ) -> list[str]:
        """Store the persona's background as memories, one per sentence; returns their ids, or
        none when this process stored this text already (storing is idempotent anyway: this saves
        reading it again). With ``replace_old`` (the background was edited), what the persona's
        earlier background stored and this text no longer says is forgotten; sentences it still
        has keep their ids, so they are not embedded again. ``progress(done, total)`` as
        sentences are embedded."""
        key = (persona.id, persona.background)
        ids: list[str] = []
        if persona.background.strip() and (replace_old or key not in self._ingested):
            self.persona(persona.id)
            ids = self.store.add_background(persona.id, persona.background, source=BACKGROUND_SOURCE, progress=progress)
            with self._lock:
                self._ingested.add(key)
        if replace_old:
            stored = self.store.list(persona.id, kind="background", limit=MAX_BACKGROUND_RECORDS)
            kept = set(ids)
            self.store.delete_many(
                persona.id, [m.id for m in stored if m.source == BACKGROUND_SOURCE and m.id not in kept]
            )
        return ids

    def delete_persona(self, persona_id: str) -> None:
        """Forget a persona: its memories (background and every conversation), its card and
        avatar, and which lorebooks it uses (the lorebooks themselves stay)."""
        self.store.delete_persona(persona_id)
        self.personas.delete(persona_id)
        if self.lorebooks is not None:
            self.lorebooks.forget_persona(persona_id)
        with self._lock:  # a persona of the same id made later reads its background in again
            self._ingested = {key for key in self._ingested if key[0] != persona_id}

    def greeting(self, persona: Persona, user_name: str | None = None) -> str:
        return substitute(persona.first_mes, persona.name, user_name or self.user_name)

    def lorebooks_for(self, persona: Persona, conversation_id: str) -> list[Lorebook]:
        """The lorebooks a reply draws on, first first for the budget: the conversation's, the
        persona's, then the card's own book."""
        attached = self.lorebooks.books_for(persona.id, conversation_id) if self.lorebooks is not None else []
        return [*attached, *card_books(persona.character_book)]


class Conversation:
    """One persona's conversation: its transcript, its line of messages, its reply being written.
    Thread-safe; every method returns at once (the replies are written by a worker thread)."""

    def __init__(self, service: ChatService, persona_id: str, conversation_id: str) -> None:
        self.service = service
        self.persona_id = persona_id
        self.conversation_id = conversation_id
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._live: LiveReply | None = None
        self._stream: ReplyStream | None = None
        self._stop_requested = False
        self._failure: ReplyView | None = None
        self._worker: threading.Thread | None = None

    @property
    def _store(self) -> MemoryStore:
        return self.service.store

    # -- who the user is, the author's note, branches ------------------------------------------------

    def user(self) -> UserPersona:
        """Who the user is in this conversation (their persona: name, description)."""
        if self.service.users is None:
            return UserPersona("user", self.service.user_name)
        return self.service.users.for_conversation(self.persona_id, self.conversation_id)

    def choose_user(self, user_id: str) -> None:
        if self.service.users is not None:
            self.service.users.choose(self.persona_id, self.conversation_id, user_id)

    def settings(self) -> dict[str, Any]:
        """What is set for this conversation: its author's note and the conversation it branched from."""
        return self._store.conversation_settings(self.persona_id).get(self.conversation_id, {})

    def authors_note(self) -> AuthorsNote:
        saved = self.settings().get("note") or {}
        return AuthorsNote(str(saved.get("text", "")), int(saved.get("depth", 4)), int(saved.get("every", 1)))

    def set_authors_note(self, note: AuthorsNote) -> None:
        if len(note.text) > MAX_NOTE_CHARS:
            raise LLMError(f"An author's note is at most {MAX_NOTE_CHARS:,} characters.")
        value = {"text": note.text, "depth": max(0, note.depth), "every": max(1, note.every)} if note.text else None
        self._store.set_conversation_settings(self.persona_id, self.conversation_id, note=value)

    def branch(self, turn: Memory, choices: Mapping[str, int] | None = None) -> str:
        """A new conversation holding this one's turns up to ``turn`` (the alternatives chosen
        on screen), listed under it; this one stays as it was. Returns the new one's id."""
        visible = chosen_turns(exchanges(self._store.transcript(self.persona_id, self.conversation_id)), choices or {})
        ids = [t.id for t in visible]
        kept = visible[: ids.index(turn.id) + 1] if turn.id in ids else visible
        self.service.persona(self.persona_id)
        new_id = uuid.uuid4().hex
        self._store.add_turns(self.persona_id, new_id, [
            NewTurn(t.role or "user", t.text, t.created_at, speaker=t.speaker, recalled=tuple(t.recalled),
                    lore=tuple(t.lore), interrupted=t.interrupted, stopped=t.stopped, thinking=t.thinking,
                    thinking_seconds=t.thinking_seconds)
            for t in kept
        ])  # fmt: skip
        title = next((c.title for c in self._store.conversations(self.persona_id) if c.id == self.conversation_id), "")
        self._store.rename_conversation(self.persona_id, new_id, f"{title} (branch)" if title else "Branch")
        self._store.set_conversation_settings(
            self.persona_id, new_id, parent=self.conversation_id, forked_at=kept[-1].created_at.timestamp() if kept
            else None, note=self.settings().get("note"),
        )  # fmt: skip
        self.service.conversation(self.persona_id, new_id).choose_user(self.user().id)
        return new_id

    def _family_turns(self) -> set[str]:
        """The turns of the conversations this one is related to by branching (its parent, its
        branches, their branches…): recall leaves them out, since what this conversation shares
        with them is in it already, and what they said after the fork did not happen here."""
        settings = self._store.conversation_settings(self.persona_id)
        parents = {c: s["parent"] for c, s in settings.items() if s.get("parent")}
        if not parents:
            return set()
        parents.update({p: None for p in list(parents.values()) if p not in parents})
        parents.setdefault(self.conversation_id, None)

        def root(conversation_id: str) -> str:
            seen = set()
            while parents.get(conversation_id) and conversation_id not in seen:
                seen.add(conversation_id)
                conversation_id = parents[conversation_id] or conversation_id
            return conversation_id

        mine = root(self.conversation_id)
        family = [c for c in parents if c != self.conversation_id and root(c) == mine]
        return {t.id for c in family for t in self._store.transcript(self.persona_id, c)}

    # -- reading -------------------------------------------------------------------------------

    def view(self, choices: Mapping[str, int] | None = None) -> ChatView:
        """The conversation now: stored turns, messages in line, the reply being written."""
        with self._lock:  # first: a message the worker stores meanwhile is then in the transcript
            jobs = list(self._jobs)
            live, failure = self._live, self._failure
        turns = self._store.transcript(self.persona_id, self.conversation_id)
        groups = exchanges(turns)
        stored = {t.id for t in turns}
        waiting = [
            Waiting(job.user_turn_id, job.text, job.sent_at, answering=n == 0 and live is not None)
            for n, job in enumerate(jobs)
            if job.pending and job.user_turn_id not in stored
        ]
        recalled = {m.id: m for m in self._store.get({i for t in turns for i, _ in t.recalled}, self.persona_id)}
        return ChatView(turns, groups, chosen_turns(groups, choices or {}), waiting, live, failure, recalled)

    def busy(self) -> bool:
        """Whether a reply is being written or a message waits."""
        with self._lock:
            return bool(self._jobs)

    def context_usage(self, settings: ReplySettings, view: ChatView) -> ContextUsage:
        """How much of the window the next prompt takes (memories: as many as the last reply used)."""
        persona = self.service.persona(self.persona_id)
        user = self.user()
        last_reply = next((t for t in reversed(view.visible) if t.role == "assistant"), None)
        memories = view.used(last_reply)[0] if last_reply else []
        return context_usage(
            persona_prompt(persona, user.name, user.description),
            [m.as_prompt_line() for m in memories],
            recent_history(view.visible, self.service.greeting(persona, user.name)),
            settings.sampling.max_tokens,
            settings.context_window,
        )

    # -- sending -------------------------------------------------------------------------------

    def send(self, text: str, settings: ReplySettings, choices: Mapping[str, int] | None = None) -> str | None:
        """Take a new message: journal it and put it in line; returns its id (None for a blank
        message). Raises :class:`MessageTooLong` or :class:`PersonaGone` (nothing is kept then:
        the caller still has the text to show)."""
        text = text.strip()
        if not text:
            return None
        if len(text) > MAX_MESSAGE_CHARS:
            raise MessageTooLong(len(text))
        self.service.persona(self.persona_id)
        sent_at = datetime.now(UTC)
        turn_id = self._store.accept_turn(self.persona_id, self.conversation_id, "user", text, sent_at)
        self._enqueue(_Job("answer", turn_id, text, settings, dict(choices or {}), sent_at, pending=True))
        return turn_id

    def answer_again(
        self, user_turn: Memory, settings: ReplySettings, choices: Mapping[str, int] | None = None
    ) -> None:
        """Reply again to a stored message (Retry, Regenerate): the earlier replies stay as
        alternatives."""
        self._enqueue(_Job("again", user_turn.id, user_turn.text, settings, dict(choices or {}), user_turn.created_at))

    def continue_reply(
        self, user_turn: Memory, reply: Memory, settings: ReplySettings, choices: Mapping[str, int] | None = None
    ) -> None:
        """Ask the model to go on from the end of ``reply`` (the answer to ``user_turn``); what
        it writes is appended to the stored reply."""
        job = _Job("continue", user_turn.id, user_turn.text, settings, dict(choices or {}), user_turn.created_at)
        job.reply = reply
        self._enqueue(job)

    def stop(self) -> None:
        """End the reply being written now; it is kept (marked stopped). Messages waiting in line
        are answered next."""
        with self._lock:
            if not self._jobs:
                return
            self._stop_requested = True
            stream = self._stream
        if stream is not None:
            stream.stop()

    def edit(self, turn: Memory, text: str) -> Memory:
        """Change a stored message; its memory follows (re-embedded, recalled as edited)."""
        text = text.strip()
        if len(text) > MAX_MESSAGE_CHARS:
            raise MessageTooLong(len(text))
        self.service.persona(self.persona_id)
        return self._store.update(turn.id, text=text, persona_id=self.persona_id)

    def delete(self, turn: Memory) -> None:
        """Delete a stored message; it is forgotten as a memory too."""
        self._store.delete(turn.id, persona_id=self.persona_id)

    def _enqueue(self, job: _Job) -> None:
        # its recall's query vector is computed on another core while the worker starts and
        # reads the conversation (see MemoryStore.expect_query)
        self._store.expect_query(job.text)
        with self._lock:
            self._jobs.append(job)
            first = len(self._jobs) == 1
            if first:
                self._start(job)
            live = self._live
        if first and live is not None:  # see SEND_WAIT
            live.sent.wait(SEND_WAIT)

    def _start(self, job: _Job) -> None:
        """Begin writing the reply to ``job`` (with the lock held)."""
        self._failure = None
        self._stop_requested = False
        self._live = LiveReply(job.user_turn_id, job.reply.id if job.reply else None)
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="chat-worker", daemon=True)
            self._worker.start()

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        """Answer the jobs in line, one at a time, until there are none."""
        while True:
            with self._lock:
                job, live = self._jobs[0], self._live
            assert live is not None
            try:
                self._reply(job, live)
            except LLMError as exc:
                live.update(state="failed", error=exc)
            except Exception as exc:  # noqa: BLE001 - shown to the user; the line must go on
                live.update(state="failed", error=LLMError(f"The reply failed ({type(exc).__name__}: {exc})."))
            finally:
                live.sent.set()
            with self._lock:
                self._jobs.popleft()
                self._stream = None
                view = live.snapshot()
                if view.state == "failed":  # the server is likely down: what waits is kept, not sent
                    self._failure = view
                    self._keep_unanswered([job, *self._jobs])
                    self._jobs.clear()
                if self._jobs:
                    self._start(self._jobs[0])
                else:
                    self._live = None
                    self._worker = None
                    return

    def _keep_unanswered(self, jobs: Sequence[_Job]) -> None:
        """Store messages that will not be answered now (the reply before them failed); one
        that cannot be stored stays journaled and is stored at the next start-up."""
        with contextlib.suppress(Exception):
            self._store_message_after([job for job in jobs if job.pending])

    def _store_message_after(self, jobs: Sequence[_Job]) -> None:
        """Store journaled messages in the order sent, each after the conversation's last turn:
        a message that waited in line behind a reply comes after that reply."""
        for job in jobs:
            self.service.persona(self.persona_id)  # never re-create a deleted persona's memories
            turns = self._store.transcript(self.persona_id, self.conversation_id)
            moment = job.sent_at
            if turns and turns[-1].created_at >= moment:
                moment = turns[-1].created_at + AFTER
            self._store.store_pending(only=[job.user_turn_id], created_at=moment)
            job.pending = False

    def _history(self, job: _Job) -> list[Memory]:
        """The conversation before the message being answered, as the model sees it."""
        visible = chosen_turns(exchanges(self._store.transcript(self.persona_id, self.conversation_id)), job.choices)
        if job.kind == "answer":
            return visible
        ids = [t.id for t in visible]
        return visible[: ids.index(job.user_turn_id)] if job.user_turn_id in ids else visible

    def _reply(self, job: _Job, live: LiveReply) -> None:
        persona = self.service.persona(self.persona_id)
        settings = job.settings
        if settings.error is not None:
            raise settings.error
        if not settings.model:
            raise NoModelLoaded(settings.base_url)
        user = self.user()
        with self._store.reading(self.persona_id):  # one check of the store for these reads
            history = self._history(job)
            note = self.authors_note()
            asked = 1 + sum(t.role == "user" for t in history)  # this message is the how-manyth
            prepared = prepare_reply(
                self._store,
                persona,
                user.name,
                history,
                self.service.greeting(persona, user.name),
                job.text,
                settings.recall_k,
                settings.budget,
                exclude=[job.user_turn_id, *self._family_turns()],
                user_description=user.description,
                authors_note=note.text if asked % note.every == 0 else "",
                note_depth=note.depth,
                lorebooks=self.service.lorebooks_for(persona, self.conversation_id),
            )
        from llm.chain import reply_messages
        from llm.stream import ReplyStream

        prefix = job.reply.text if job.reply is not None else ""
        stream = ReplyStream(
            self.service.client(settings.base_url, settings.api_key),
            settings.model,
            reply_messages(prepared.parts, continuation=prefix),
            settings.sampling,
            first_timeout=settings.load_timeout,
            stall_timeout=settings.timeout,
            sent=live.sent,
        )
        with self._lock:
            self._stream = stream
            stop_now = self._stop_requested
        if stop_now:
            stream.stop()
        live.update(state="waiting", model_loading=settings.model_loaded is False, prepared_after=live.since_start())
        self._stream_into(job, live, stream, prepared, prefix)

    def _stream_into(
        self, job: _Job, live: LiveReply, stream: ReplyStream, prepared: PreparedReply, prefix: str
    ) -> None:
        """Read the stream into ``live``; store the message after the first piece and the reply
        at the end (also when it failed or was stopped: what came is kept)."""
        reasoning, content = "", ""
        first_at: float | None = None  # when the first piece came (the thinking's start)
        thinking_seconds: float | None = None
        failure: LLMError | None = None
        try:
            for piece in stream:
                reasoning += piece.reasoning
                content += piece.content
                split = split_thinking(content)
                thinking = _joined(reasoning, split.thinking)
                answering = bool(split.answer) and not split.open
                now = time.monotonic()
                if first_at is None:
                    first_at = now
                if answering and thinking and thinking_seconds is None:
                    thinking_seconds = now - first_at
                state = "answering" if answering else "thinking" if thinking else live.snapshot().state
                live.update(
                    state=state,
                    thinking=thinking,
                    answer=prefix + split.answer,
                    thinking_seconds=thinking_seconds,
                    first_piece_after=first_at - live.snapshot().started,
                )
                if job.pending:  # the first piece is out: now store the message, but first let the
                    # readers this piece woke (the page) take the interpreter: storing holds it for
                    # a few ms at a time, and they waited up to 5 ms more (bench.path: client's
                    # share 25.5-27.3 → 22.3-23.2 ms p50)
                    time.sleep(0)
                    self._store_message_after([job])
        except LLMError as exc:
            failure = exc
        if job.pending:
            self._store_message_after([job])
        split = split_thinking(content, final=True)
        thinking, answer = _joined(reasoning, split.thinking), split.answer
        if thinking and thinking_seconds is None and first_at is not None:
            thinking_seconds = time.monotonic() - first_at
        if answer or thinking:
            self.service.persona(self.persona_id)  # never re-create a deleted persona's memories
            self._store_reply(job, prepared, prefix + answer, thinking, thinking_seconds, failure, stream.stopped)
        live.update(
            state="failed" if failure else "stopped" if stream.stopped else "done",
            thinking=thinking, answer=prefix + answer, thinking_seconds=thinking_seconds, error=failure,
            only_thinking=bool(thinking) and not answer.strip() and stream.finish_reason == "length",
        )  # fmt: skip

    def _store_reply(
        self,
        job: _Job,
        prepared: PreparedReply,
        text: str,
        thinking: str,
        thinking_seconds: float | None,
        failure: LLMError | None,
        stopped: bool,
    ) -> None:
        if job.reply is not None:  # Continue: the stored reply grows
            self._store.update(
                job.reply.id, text=text, persona_id=self.persona_id, interrupted=failure is not None or stopped,
                thinking=_joined(job.reply.thinking, thinking),
            )  # fmt: skip
            return
        self._store.add_turn(
            self.persona_id, self.conversation_id, "assistant", text,
            recalled=[(m.id, m.score or 0.0) for m in prepared.memories],
            lore=[entry.label for entry in prepared.lore],
            interrupted=failure is not None, stopped=stopped and failure is None,
            thinking=thinking, thinking_seconds=thinking_seconds,
        )  # fmt: skip


def _joined(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p.strip())
