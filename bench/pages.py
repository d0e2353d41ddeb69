"""Long conversations and big stores through Streamlit's AppTest: ``python -m bench.pages [--quick]``.

Figure 4: (a) a rerun of the chat page with a 1,000-message conversation open (the page renders
the latest 60, older ones on demand), target <= 300 ms, next to the same page with a 20-message
conversation of the same 10,000-memory store; (b) opening the memories page (a new session whose
first page is the memories page) with 10,000 and 100,000 memories stored, target <= 1 s at
100,000, and a rerun of it. The stores are the cached ones of :mod:`bench.path` (``data/bench-cache/``), copied
to a temp dir; the chat page talks to a built-in server started here. Times are of
``AppTest.run()`` after a warm-up run in the same process (shared ``st.cache_resource``), so they
include AppTest's own handling of the page's output (a few ms).

The first run builds the 100,000-memory store (about half an hour on 2 cores; cached afterwards);
``--quick`` uses the 10,000 one only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import Figure, Report, judged, table, write_section
from bench.path import LONG_CONVERSATION, LONG_TURNS, PERSONA, ROOT, cached_store, fmt, store_copy
from tests.harness import free_port

APP = str(ROOT / "app.py")


def _app(conversation_id: str | None = None, page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["temperature"] = 0.0
    if conversation_id:
        at.session_state["conversation_id"] = conversation_id
    if page:
        at.switch_page(page)
    return at


def _timed_run(at) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = (time.perf_counter() - started) * 1000
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception[0].value}")
    return elapsed


def _warmed_up() -> None:
    """Wait for the app's start-up warm-up (it begins a moment after the first page): the
    figures are of a running app, not of one warming up beside the page."""
    import threading

    from ui.resources import WARM_UP_THREAD

    for thread in threading.enumerate():
        if thread.name == WARM_UP_THREAD:
            thread.join()


def _use_store(chroma: Path) -> None:
    import streamlit as st

    os.environ["CHROMA_PATH"] = str(chroma)
    st.cache_resource.clear()  # settings() read CHROMA_PATH
    st.cache_data.clear()


def run(quick: bool = False, sizes: tuple[int, ...] = (10_000, 100_000)) -> Report:
    from llm.local_server import spawn

    reruns = 5 if quick else 20
    opens = 3 if quick else 8
    sizes = sizes[:1] if quick else sizes
    for size in sizes:
        cached_store(size)
    server = spawn(port=free_port())
    cwd = os.getcwd()
    rows: list[list[str]] = []
    open_rows: list[list[str]] = []
    figures: list[Figure] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)  # no .env of the developer's
            os.environ.update(
                HOME=tmp,
                LLM_BASE_URL=server.base_url,
                LLM_BUILTIN_FALLBACK="false",
                LLM_BUILTIN_PORT=str(free_port()),
                PERSONAS_PATH=str(Path(tmp) / "personas"),
                ANONYMIZED_TELEMETRY="False",
            )
            stores = {size: store_copy(size, Path(tmp) / str(size)) for size in sizes}

            # (a) chat page reruns, 10k store
            _use_store(stores[sizes[0]])
            _app().run()  # warm-up: imports, caches, the lexical mirror, the models list
            _warmed_up()
            from memory import MemoryStore

            recent = MemoryStore.open(path=str(stores[sizes[0]])).conversations(PERSONA)[0]
            for label, conversation_id, count in (
                (f"chat, {LONG_TURNS:,}-message conversation", LONG_CONVERSATION, LONG_TURNS),
                (f"chat, {recent.turns}-message conversation", recent.id, recent.turns),
            ):
                at = _app(conversation_id)
                first = _timed_run(at)
                shown = len(at.chat_message)
                times = [_timed_run(at) for _ in range(reruns)]
                print(f"  {label}: first {first:.0f} ms, reruns {statistics.median(times):.0f} ms", file=sys.stderr)
                met = judged(statistics.median(times), 300)
                rows.append([label + f" ({shown} shown)", f"{sizes[0]:,}", f"{first:.0f}", fmt(times),
                             "<= 300 ms: " + met if count == LONG_TURNS else "–"])  # fmt: skip
                if count == LONG_TURNS:
                    figures.append(Figure.of(f"chat page rerun, {count:,}-message conversation, ms", times,
                                             target="<= 300", met=met))  # fmt: skip

            # (b) the memories page
            for size in sizes:
                _use_store(stores[size])
                _app(page="pages/memories.py").run()  # warm-up for this store
                _warmed_up()
                opened = []
                for _ in range(opens):
                    at = _app(page="pages/memories.py")
                    opened.append(_timed_run(at))
                times = [_timed_run(at) for _ in range(max(3, reruns // 2))]
                print(f"  memories page, {size:,}: open {statistics.median(opened):.0f} ms", file=sys.stderr)
                met = judged(statistics.median(opened), 1000)
                open_rows.append([f"{size:,}", fmt(opened), f"<= 1 s: {met}", fmt(times)])
                big = size >= 100_000  # the target is set at 100,000
                name = f"memories page opens, {size:,} memories, ms"
                figures.append(Figure.of(name, opened, target="<= 1,000" if big else "–", met=met if big else "–"))
    finally:
        os.chdir(cwd)
        server.stop()
    flags = " --quick" if quick else ""
    markdown = (
        f"## Long conversations and big stores (`python -m bench.pages{flags}`)\n\n"
        f"AppTest, warm process; ms, p50 / p95 of {reruns} reruns (chat) and {opens} opens (memories).\n\n"
        + table(["chat page", "memories stored", "first run ms", "rerun p50 / p95 ms", "target"], rows)
        + "\n\n"
        + table(["memories page: memories stored", "open p50 / p95 ms", "target", "rerun p50 / p95 ms"], open_rows)
        + "\n"
    )
    return Report(markdown, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer reruns, the 10,000-memory store only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="stores for the memories page")
    args = parser.parse_args()
    markdown = run(args.quick, tuple(args.sizes)).markdown
    print(markdown)
    write_section("pages-quick" if args.quick else "pages", markdown)


if __name__ == "__main__":
    main()
