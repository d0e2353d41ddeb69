"""Recall quality and index consistency: knowledge updates, rare words, context, duplicates, and
the lexical mirror kept in step with Chroma (own writes, another store's writes, a server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory import MemoryStore
from memory.chunking import chunk_text, paragraphs, sentences
from memory.lexical import query_terms
from memory.models import NewTurn

T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)

SMALL_TALK = [
    "Morning! The coffee machine at work broke again.",
    "I watched a documentary about octopuses last night.",
    "My sister keeps sending me photos of her garden.",
    "Traffic was terrible on the way home today.",
    "I started reading a mystery novel set in Venice.",
    "We had pizza for dinner, nothing fancy.",
    "My knee hurts a bit after the run yesterday.",
    "The neighbours are renovating their kitchen, so noisy.",
]


def chat(
    store: MemoryStore, persona: str, conversation: str, start: datetime, lines: list[tuple[str, str]]
) -> list[str]:
    turns = [NewTurn(role, text, start + timedelta(minutes=i)) for i, (role, text) in enumerate(lines)]
    return store.add_turns(persona, conversation, turns)


def test_knowledge_update_newer_fact_first(store: MemoryStore) -> None:
    chat(store, "mara", "c1", T0, [("user", "I live in Boston, near the harbour."), ("assistant", "A sailor's city!")])
    for day, line in enumerate(SMALL_TALK):
        chat(store, "mara", f"small-{day}", T0 + timedelta(days=5 + day), [("user", line), ("assistant", "I see.")])
    chat(store, "mara", "c9", T0 + timedelta(days=70), [("user", "Big news: I moved to Denver last month.")])
    recalled = store.recall("mara", "Where do I live now?", k=3, now=T0 + timedelta(days=71))
    texts = [m.text for m in recalled]
    assert "Denver" in texts[0]
    assert any("Boston" in t for t in texts)  # the old fact is still there, below the new one


def test_old_but_relevant_fact_beats_recent_noise(store: MemoryStore) -> None:
    chat(store, "mara", "c1", T0, [("user", "My daughter is allergic to peanuts, be careful with snacks.")])
    for day, line in enumerate(SMALL_TALK):
        chat(store, "mara", f"later-{day}", T0 + timedelta(days=300 + day), [("user", line)])
    recalled = store.recall("mara", "which food allergy does my daughter have?", k=1, now=T0 + timedelta(days=310))
    assert "peanuts" in recalled[0].text


def test_rare_name_and_number_are_found(store: MemoryStore) -> None:
    lines = [("user", line) for line in SMALL_TALK]
    lines += [
        ("user", "My gym locker is the one by the window."),
        ("user", "The code for my bike lock is 4471."),
        ("user", "Zbigniew from the bakery gave me extra rolls."),
        ("user", "My friend from the bakery gave me a cake recipe."),
    ]
    chat(store, "mara", "c1", T0, lines)
    assert "4471" in store.recall("mara", "4471", k=1, now=T0)[0].text
    assert "Zbigniew" in store.recall("mara", "What did Zbigniew do?", k=1, now=T0)[0].text


def test_answer_is_recalled_with_its_question(store: MemoryStore) -> None:
    lines = [("user", line) for line in SMALL_TALK[:4]]
    lines += [
        ("assistant", "That painting of yours is lovely. What inspired it?"),
        ("user", "A visit to the lighthouse at Cape Morrow during a storm."),
        ("assistant", "Stormy seas suit you."),
    ]
    ids = chat(store, "mara", "c1", T0, lines)
    question, answer = ids[4], ids[5]
    # the question is the best match, and it comes with the reply it got
    (recalled,) = store.recall("mara", "What inspired the user's painting?", k=1, now=T0)
    assert recalled.id == question and recalled.reply == "A visit to the lighthouse at Cape Morrow during a storm."
    assert recalled.as_prompt_line().endswith("(answered: A visit to the lighthouse at Cape Morrow during a storm.)")
    assert recalled.shown == f"{recalled.text}\n{recalled.reply}"
    # not when the answer is recalled itself, nor when it is in the prompt already
    both = store.recall("mara", "What inspired the user's painting? The lighthouse at Cape Morrow", k=2, now=T0)
    assert {m.id for m in both} == {question, answer} and all(m.reply is None for m in both)
    (alone,) = store.recall("mara", "What inspired the user's painting?", k=1, now=T0, exclude=[answer])
    assert alone.id == question and alone.reply is None
    (turn,) = store.get([answer], "mara")
    assert turn.text == "A visit to the lighthouse at Cape Morrow during a storm."  # own text only
    assert turn.context == "you: That painting of yours is lovely. What inspired it?"
    assert "replying to you: That painting" in turn.as_prompt_line()


def test_speaker_names_are_kept_and_searchable(store: MemoryStore) -> None:
    turns = [
        NewTurn("user", "I adopted a rescue greyhound called Pixel.", T0, speaker="Caroline"),
        NewTurn("assistant", "I adopted a kitten last spring.", T0 + timedelta(seconds=1), speaker="Melanie"),
    ]
    ids = store.add_turns("locomo", "s1", turns)
    assert [m.speaker for m in store.get(ids, "locomo")] == ["Caroline", "Melanie"]
    assert store.recall("locomo", "What did Melanie adopt?", k=1, now=T0)[0].id == ids[1]
    line = store.get(ids[:1], "locomo")[0].as_prompt_line()
    assert line.startswith("(2026-01-05) Caroline said: I adopted")


def test_add_turns_matches_add_turn(store: MemoryStore) -> None:
    one = store.add_turn("mara", "c1", "user", "Hello there", T0)
    many = store.add_turns("mara", "c1", [NewTurn("user", "Hello there", T0), NewTurn("assistant", "Hi", T0)])
    assert many[0] == one and store.count("mara") == 2


def test_duplicates_are_flagged_and_recalled_once(store: MemoryStore) -> None:
    first = store.add_turn("mara", "c1", "user", "I live in Boston.", T0)
    assert store.add_turn("mara", "c1", "user", "I live in Boston.", T0) == first  # same turn: stored once
    again = store.add_turn("mara", "c2", "user", "I live in Boston!", T0 + timedelta(days=1))
    store.add_turn("mara", "c2", "user", "I have two cats.", T0 + timedelta(days=1, seconds=1))
    changed = store.add_turn("mara", "c2", "user", "I have three cats.", T0 + timedelta(days=1, seconds=2))
    assert store.count("mara") == 4
    assert store.get([changed], "mara")[0].duplicate_of is None  # a changed number is a new fact
    (flagged,) = store.get([again], "mara")
    assert flagged.duplicate_of == first
    recalled = store.recall("mara", "Where do I live?", k=3, now=T0 + timedelta(days=2))
    assert len([m for m in recalled if "Boston" in m.text]) == 1
    assert len(store.transcript("mara", "c2")) == 3  # the transcript keeps every turn


def test_near_identical_background_is_not_stored_twice(store: MemoryStore) -> None:
    ids = store.add_background("mara", "Mara's ship is the Gull, a brass-hulled skyship.")
    assert store.add_background("mara", "Mara's ship is the Gull, a brass-hulled skyship!") == ids
    assert store.count("mara") == 1


def test_background_progress_callback(store: MemoryStore) -> None:
    text = "\n\n".join(f"Log of day {day}: " + " ".join(SMALL_TALK[day % 8 :] * 2) for day in range(30))
    chunks = len({(p, n) for p in paragraphs(text) for n, _ in enumerate(sentences(p))})
    calls: list[tuple[int, int]] = []
    store.add_background("mara", text, progress=lambda done, total: calls.append((done, total)))
    assert chunks > 2 and calls[-1] == (chunks, chunks)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_lexical_index_follows_update_and_delete(store: MemoryStore) -> None:
    memory_id = store.add_turn("mara", "c1", "user", "My cat is called Quince.", T0)
    store.add_turn("mara", "c1", "user", "I like long walks.", T0 + timedelta(seconds=1))
    store.update(memory_id, text="My cat is called Marmalade.")
    assert store.recall("mara", "Marmalade", k=1, now=T0)[0].id == memory_id
    assert all("Quince" not in m.text for m in store.recall("mara", "Quince", k=2, now=T0))
    store.delete(memory_id)
    assert memory_id not in {m.id for m in store.recall("mara", "Marmalade cat", k=5, now=T0)}
    store.delete_persona("mara")
    assert store.recall("mara", "walks", k=5, now=T0) == []
    store.add_turn("mara", "c1", "user", "Fresh start with Zanzibar.", T0)
    assert "Zanzibar" in store.recall("mara", "Zanzibar", k=1, now=T0)[0].text


def test_writes_of_another_store_are_seen(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    mine, theirs = MemoryStore.open(path=path), MemoryStore.open(path=path)
    mine.add_turn("mara", "c1", "user", "I keep bees on the roof.", T0)
    assert mine.recall("mara", "bees", k=1, now=T0)  # this store's mirror is built
    other = theirs.add_turn("mara", "c1", "user", "My uncle Thaddeus sails to Zanzibar.", T0 + timedelta(seconds=1))
    assert mine.recall("mara", "Thaddeus", k=1, now=T0)[0].id == other
    theirs.update(other, text="My uncle Thaddeus sails to Madagascar.")  # same count, new text
    assert mine.recall("mara", "Madagascar", k=1, now=T0)[0].id == other
    theirs.delete(other)
    assert other not in {m.id for m in mine.recall("mara", "Thaddeus Madagascar", k=5, now=T0)}


def test_query_terms_drop_stopwords_and_single_letters() -> None:
    assert query_terms("What did Caroline's sister say about the 2 dogs?") == ["caroline", "sister", "2", "dogs"]


def test_client_server_mode_two_clients(chroma_server: tuple[str, int]) -> None:
    host, port = chroma_server
    mine, theirs = MemoryStore.open(host=host, port=port), MemoryStore.open(host=host, port=port)
    ids = chat(mine, "server", "c1", T0, [("user", line) for line in SMALL_TALK])
    assert mine.recall("server", "octopuses", k=1, now=T0)[0].id == ids[1]
    other = theirs.add_turn("server", "c1", "user", "The code for the gate is 9312.", T0 + timedelta(hours=1))
    assert mine.recall("server", "9312", k=1, now=T0)[0].id == other
    theirs.delete(other)
    assert other not in {m.id for m in mine.recall("server", "gate code 9312", k=5, now=T0)}
    mine.delete_persona("server")


def test_score_breakdown_adds_up(store: MemoryStore) -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 6, 1, tzinfo=UTC)
    pinned = store.add_turn("p", "c", "user", "My passport number ends in 5521.", moment)
    store.add_turn("p", "c", "user", "I had soup for lunch.", moment)
    store.update(pinned, pinned=True)
    recalled = store.recall("p", "passport number", k=2, now=moment)
    for memory in recalled:
        assert memory.breakdown is not None
        assert abs(memory.breakdown.total - memory.score) < 1e-3
    assert recalled[0].id == pinned and recalled[0].breakdown.importance >= 0.3
    assert recalled[0].breakdown.relevance > recalled[1].breakdown.relevance


def test_lexical_search_leaves_out_excluded_ids_and_still_fills_the_limit(store: MemoryStore) -> None:
    ids = chat(store, "mara", "c1", T0, [("user", f"The harbour bell rang {n} times.") for n in range(6)])
    index = store._checked("mara")[1]
    found = index.search("harbour bell", 3, exclude=ids[:2])
    assert len(found) == 3 and not set(found) & set(ids[:2])


def test_the_query_vector_is_the_batch_vector() -> None:
    """recall embeds its query on one thread (another session): the same vector as ingest's."""
    import numpy as np

    from memory.embeddings import OfflineMiniLM

    model = OfflineMiniLM()
    text = "Where did the captain sail last winter?"
    assert np.allclose(model.encode_query(text), model.encode([text, "a longer text padded in the same batch"])[0],
                       atol=1e-4)  # fmt: skip


def test_adjacent_turns_follow_inserts_and_deletes(store: MemoryStore) -> None:
    first, second, third = chat(
        store, "mara", "c1", T0, [("user", "Do you sail at night?"), ("assistant", "Only by the stars."),
                                  ("user", "Fine.")],
    )  # fmt: skip
    index = store._checked("mara")[1]
    assert index.adjacent([second]) == {second: (first, third, True)}
    store.delete(second)
    assert index.adjacent([first, third]) == {first: (None, third, False), third: (first, None, True)}


def test_two_threads_opening_a_mirror_build_it_once(tmp_path: Path, monkeypatch) -> None:
    """The start-up warm-up and the chat page's first read: the second waits for the first's
    rebuild instead of making its own."""
    import threading

    from memory.lexical import LexicalIndex

    path = str(tmp_path / "shared")
    chat(MemoryStore.open(path=path), "mara", "c1", T0, [("user", f"{line} ({n})") for n in range(20)
                                                         for line in SMALL_TALK])  # fmt: skip
    builds: list[int] = []
    replace_all = LexicalIndex.replace_all

    def counted(self, entries, rev) -> None:
        builds.append(1)
        replace_all(self, entries, rev)

    monkeypatch.setattr(LexicalIndex, "replace_all", counted)
    fresh = MemoryStore.open(path=path)
    readers = [threading.Thread(target=fresh.transcript, args=("mara", "c1")) for _ in range(3)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert len(builds) == 1 and len(fresh.transcript("mara", "c1")) == 160


def test_a_rebuilt_mirror_lists_at_once_and_stems_on_the_first_search() -> None:
    """A rebuild keeps the rows (what listing a conversation needs) and leaves the stemming for
    the first search or the warm-up; what is written or deleted while the stemming runs, unlocked,
    is searched as it is after it."""
    from memory.lexical import Entry, LexicalIndex

    def turn(memory_id: str, text: str, n: int) -> Entry:
        return Entry(memory_id, "turn", text, T0.timestamp() + n, "c1", "user")

    index = LexicalIndex()
    index.replace_all([turn("a", "The lighthouse keeper is Wren.", 0), turn("b", "The ferry leaves at dawn.", 1),
                       turn("c", "Tobin mends the nets.", 2)], rev="r1")  # fmt: skip
    assert len(index) == 3 and index.conversation_ids("c1") == ["a", "b", "c"]
    words = index._bm25.words

    def stemming_while_the_chat_writes(rows):
        if len(rows) == 3:  # the rebuild's rows, stemmed outside the lock
            index.upsert([turn("d", "A brass lantern for the ferry.", 3), turn("a", "The keeper is Wren Halloway.", 0)])
            index.delete(["c"])
        return words(rows)

    index._bm25.words = stemming_while_the_chat_writes
    assert set(index.search("lighthouse ferry lantern keeper nets", 10)) == {"a", "b", "d"}
    assert set(index.search("lighthouse", 10)) == set()  # "a" was edited to say "keeper" instead
    assert next(iter(index.search("Halloway", 10))) == "a"  # (its neighbours match by their context)
    assert set(index.search("nets", 10)) == set()  # deleted
    assert len(index) == 3 and index.conversation_ids("c1") == ["a", "b", "d"]


def test_weights_switch_terms_off(store: MemoryStore) -> None:
    """The benchmark's ablation passes other weights: a retriever at 0 is not asked at all."""
    from dataclasses import replace

    from memory.ranking import WEIGHTS

    dog = store.add_turn("mara", "c1", "user", "I adopted a greyhound last week.", T0)
    store.add_turn("mara", "c1", "user", "The weather is grim.", T0 + timedelta(seconds=1))
    assert store.recall("mara", "a puppy", k=1, now=T0)[0].id == dog  # found by meaning
    assert store.recall("mara", "a puppy", k=1, now=T0, weights=replace(WEIGHTS, dense=0.0)) == []
    store.update(dog, pinned=True)
    (plain,) = store.recall("mara", "greyhound", k=1, now=T0, weights=replace(WEIGHTS, pinned=0.0))
    (pinned,) = store.recall("mara", "greyhound", k=1, now=T0)
    assert pinned.score - plain.score == pytest.approx(WEIGHTS.pinned, abs=1e-3)


LONG_PARAGRAPH = (
    "Mara grew up on the floating island of Keld, where her mother ran the ferry between the mining towns and "
    "her father repaired the great wind engines that keep the island aloft. She was a restless child who climbed "
    "the mooring towers at night to watch the cargo ships come in from the coast. At fourteen she stowed away on a "
    "tea clipper bound for Port Ash and was caught on the second day by the cook. The cook, a gruff woman named "
    "Dagny Holm, taught her to splice rope and read the clouds, and later sponsored her licence as a navigator. "
    "Mara still wears the brass compass Dagny gave her on a chain around her neck. She spent her twenties flying "
    "the southern routes, carrying mail, medicine and now and then a smuggled crate of oranges."
)


def test_a_fact_in_a_long_paragraph_comes_back_with_its_neighbours(store: MemoryStore) -> None:
    ids = store.add_background("mara", LONG_PARAGRAPH + "\n\nShe drinks black tea with salt.")
    assert len(set(ids)) == len(sentences(LONG_PARAGRAPH)) + 1  # one record per sentence
    (memory,) = store.recall("mara", "Who taught you to splice rope?", k=1, now=T0)
    assert memory.kind == "background" and "Dagny Holm, taught her to splice rope" in memory.text
    assert memory.text in " ".join(LONG_PARAGRAPH.split()) and len(memory.text) < len(LONG_PARAGRAPH) / 2
    assert memory.text != store.get([memory.id], "mara")[0].text  # the passage, not just the sentence
    # neighbouring sentences that both match make one passage, not two memories
    recalled = store.recall("mara", "Dagny the cook who sponsored the licence", k=3, now=T0)
    assert sum("Dagny" in m.text for m in recalled) == 1


def test_a_version_1_background_is_replaced_and_other_old_chunks_still_recalled(tmp_path: Path) -> None:
    """Stores written before sentence records hold background as chunks of up to 600 characters."""
    from memory.schema import _digest

    store = MemoryStore.open(path=str(tmp_path / "chroma"))
    old_text, other = LONG_PARAGRAPH, "Her ship, the Gull, has a brass hull and a crew of nine."
    collection = store._mirrors.collection("mara")
    chunks = [*chunk_text(old_text), other]
    collection.add(
        ids=[f"bg-{_digest('mara', c)}" for c in chunks],
        documents=chunks,
        metadatas=[
            {"persona_id": "mara", "kind": "background", "created_at": T0.timestamp(), "pinned": False} for _ in chunks
        ],
    )  # fmt: skip  (as version 1 wrote them: no "v", Chroma embedding the documents)
    assert "Gull" in store.recall("mara", "what is your ship called?", k=1, now=T0)[0].text  # read as they are
    ids = store.add_background("mara", old_text)
    stored = store.list("mara", kind="background")
    assert {m.id for m in stored} == {*ids, f"bg-{_digest('mara', other)}"}  # the old chunks of this text went
    (gull,) = store.recall("mara", "what is your ship called?", k=1, now=T0)
    assert gull.text == other  # a version 1 chunk of another text is still recalled, whole


def test_a_version_1_chunk_the_user_edited_or_pinned_is_kept(tmp_path: Path) -> None:
    from memory.schema import _digest

    store = MemoryStore.open(path=str(tmp_path / "chroma"))
    first, second = chunk_text(LONG_PARAGRAPH)
    ids = [f"bg-{_digest('mara', c)}" for c in (first, second)]
    store._mirrors.collection("mara").add(
        ids=ids,
        documents=[first, second],
        metadatas=[{"persona_id": "mara", "kind": "background", "created_at": T0.timestamp(), "pinned": False}] * 2,
    )  # fmt: skip  (as version 1 wrote them)
    store.update(ids[0], text=first + " She says so herself.", persona_id="mara")
    store.update(ids[1], pinned=True, persona_id="mara")
    store.add_background("mara", LONG_PARAGRAPH)
    kept = {m.id: m for m in store.get(ids, "mara")}
    assert set(kept) == set(ids), "an edited or pinned version 1 chunk is not replaced"
    assert kept[ids[0]].text.endswith("She says so herself.") and kept[ids[1]].pinned


def test_a_question_to_you_is_about_what_the_persona_said(store: MemoryStore) -> None:
    chat(store, "mara", "c1", T0, [
        ("user", "I told my brother to read a novel about the sea, he never reads."),
        ("assistant", "Then read The Outermost House yourself: a year alone on a beach, the truest shore book."),
    ])  # fmt: skip
    (memory,) = store.recall("mara", "Which book did you tell me to read?", k=1, now=T0)
    assert memory.role == "assistant" and "Outermost House" in memory.text
    (mine,) = store.recall("mara", "Which book did I tell my brother to read?", k=1, now=T0)
    assert mine.role == "user"


def test_the_time_a_question_names_picks_the_session(store: MemoryStore) -> None:
    now = datetime(2025, 3, 11, 20, tzinfo=UTC)  # a Tuesday; the weekend before last: 28 Feb - 2 Mar
    sessions = [
        (datetime(2025, 2, 17, 19, tzinfo=UTC), "On Saturday I went hiking in the hills with my cousin."),
        (datetime(2025, 3, 3, 19, tzinfo=UTC), "On Saturday I went walking by the lake with a neighbour."),
        (datetime(2025, 3, 10, 19, tzinfo=UTC), "On Saturday I went hiking up a hill with my colleague."),
    ]
    for n, (moment, line) in enumerate(sessions):
        chat(store, "mara", f"s{n}", moment, [("user", line), ("assistant", "Sounds lovely.")])
    (memory,) = store.recall("mara", "What did I get up to the weekend before last?", k=1, now=now)
    assert "lake" in memory.text


def test_a_newer_fact_about_the_same_thing_comes_first_and_the_older_says_so(store: MemoryStore) -> None:
    chat(store, "mara", "c1", T0, [("user", "I work as a nurse at St. Brigid's hospital."), ("assistant", "Noble!")])
    for day, line in enumerate(SMALL_TALK):
        chat(store, "mara", f"small-{day}", T0 + timedelta(days=5 + day), [("user", line), ("assistant", "I see.")])
    chat(store, "mara", "c9", T0 + timedelta(days=70), [("user", "I quit the hospital, I work as a paramedic.")])
    recalled = store.recall("mara", "What is my job?", k=3, now=T0 + timedelta(days=71))  # no "now" in it
    texts = [m.text for m in recalled]
    newer, older = (
        texts.index("I quit the hospital, I work as a paramedic."),
        texts.index("I work as a nurse at St. Brigid's hospital."),
    )
    assert newer < older and [m.score for m in recalled] == sorted((m.score for m in recalled), reverse=True)
    assert recalled[older].older_than == T0 + timedelta(days=70)
    assert "(2026-01-05, older than the 2026-03-16 one) The user said:" in recalled[older].as_prompt_line()


def test_an_expected_query_is_embedded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat service announces a message's recall (expect_query) as it arrives: recall then
    takes the vector computed meanwhile instead of embedding the question again, and finds the
    same memories."""
    store = MemoryStore.open(path=str(tmp_path / "chroma"))
    ids = chat(store, "mara", "c1", T0, [("user", line) for line in SMALL_TALK])
    question = "What was the documentary about?"
    before = [m.id for m in store.recall("mara", question, k=3, now=T0)]
    embedded: list[str] = []
    encode = store._embed.encode_query
    monkeypatch.setattr(store._embed, "encode_query", lambda text: embedded.append(text) or encode(text))
    store.expect_query("Which mystery novel am I reading?")
    recalled = store.recall("mara", "Which mystery novel am I reading?", k=3, now=T0)
    assert recalled[0].id == ids[4]
    assert [m.id for m in store.recall("mara", question, k=3, now=T0)] == before  # kept from the first recall
    assert embedded == ["Which mystery novel am I reading?"]


def test_reads_within_one_operation_see_one_state_of_the_store(tmp_path: Path) -> None:
    """MemoryStore.reading: the reads inside check for other processes' writes once (at the first),
    so they agree with each other; the next read after the scope sees what was written meanwhile."""
    path = str(tmp_path / "shared")
    mine, theirs = MemoryStore.open(path=path), MemoryStore.open(path=path)
    mine.add_turn("mara", "c1", "user", "I keep bees on the roof.", T0)
    with mine.reading("mara"):
        assert len(mine.transcript("mara", "c1")) == 1
        other = theirs.add_turn("mara", "c1", "user", "My uncle Thaddeus sails to Zanzibar.", T0 + timedelta(seconds=1))
        assert len(mine.transcript("mara", "c1")) == 1  # as the first read found it
        assert other not in {m.id for m in mine.recall("mara", "Thaddeus Zanzibar", k=5, now=T0)}
        own = mine.add_turn("mara", "c1", "user", "The hive swarmed today.", T0 + timedelta(seconds=2))
        assert own in {m.id for m in mine.transcript("mara", "c1")}  # after its own write it checks again
        assert other in {m.id for m in mine.transcript("mara", "c1")}
    mine.rename_conversation("mara", "c1", "Bees")
    with mine.reading("mara"):
        assert mine.conversation_titles("mara") == {"c1": "Bees"}
        theirs.rename_conversation("mara", "c1", "Uncle")
        assert mine.conversation_titles("mara") == {"c1": "Bees"}
    assert mine.conversation_titles("mara") == {"c1": "Uncle"}
    assert mine.recall("mara", "Thaddeus", k=1, now=T0)[0].id == other
