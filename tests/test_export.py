from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from memory import Memory
from memory.export import conversation_markdown, conversation_sillytavern, memories_csv, memories_json
from tests.fuzzing import fuzz

T0 = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
TURNS = [
    Memory("t1", "mara", "turn", "Hello, captain! <b>bold</b>", T0, role="user", conversation_id="c1"),
    Memory("t2", "mara", "turn", "Ahoy.\nWelcome aboard, \"navigator\".", T0 + timedelta(seconds=5), role="assistant",
           conversation_id="c1"),
]  # fmt: skip


def test_markdown_has_every_message_in_order() -> None:
    text = conversation_markdown("Mara", "Sam", "So you're the new navigator.", TURNS)
    assert text.startswith("# Mara and Sam")
    order = [text.index(s) for s in ("So you're the new navigator.", "Hello, captain!", "Welcome aboard")]
    assert order == sorted(order)
    assert "**Sam** · 2026-05-01 09:30" in text


def test_sillytavern_jsonl_reads_back() -> None:
    lines = conversation_sillytavern("Mara", "Sam", "Greetings.", TURNS).splitlines()
    header, *messages = (json.loads(line) for line in lines)
    assert header["character_name"] == "Mara" and header["user_name"] == "Sam"
    assert [(m["name"], m["is_user"], m["mes"]) for m in messages] == [
        ("Mara", False, "Greetings."),
        ("Sam", True, "Hello, captain! <b>bold</b>"),
        ("Mara", False, 'Ahoy.\nWelcome aboard, "navigator".'),
    ]
    assert messages[2]["swipes"] == [messages[2]["mes"]] and messages[1]["send_date"] == "2026-05-01@09h30m00s"


def test_memories_json_and_csv_round_trip() -> None:
    assert [m["text"] for m in json.loads(memories_json(TURNS))] == [t.text for t in TURNS]
    rows = list(csv.DictReader(io.StringIO(memories_csv(TURNS))))
    assert [r["text"] for r in rows] == [t.text for t in TURNS]
    assert rows[0]["created_at"] == T0.isoformat() and rows[1]["role"] == "assistant"


# --- exports that are safe to open -------------------------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://127.0.0.1:9977/csv","Click me")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def memory(text: str, **fields: object) -> Memory:
    return Memory("m1", "mara", "turn", text, T0, role="user", conversation_id="c1", **fields)


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_cells_a_spreadsheet_would_evaluate_start_with_a_quote(text: str) -> None:
    (row,) = csv.DictReader(io.StringIO(memories_csv([memory(text, source="=cmd")])))
    assert row["text"] == "'" + text and row["source"] == "'=cmd"


def test_csv_leaves_other_cells_as_they_are() -> None:
    texts = ["Hello = world", "a-b", "", "'quoted", "42", "élan"]
    rows = list(csv.DictReader(io.StringIO(memories_csv([memory(t) for t in texts]))))
    assert [r["text"] for r in rows] == texts
    assert rows[0]["created_at"] == T0.isoformat() and rows[0]["id"] == "m1"


#: What Markdown itself makes (a viewer that renders raw HTML would show any other tag).
MARKDOWN_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "a", "ul", "ol", "li",
                 "blockquote", "br", "hr"}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def viewed(markdown: str) -> _Tags:
    """The export as a Markdown viewer that renders raw HTML shows it (CommonMark, HTML on)."""
    parser = _Tags()
    parser.feed(MarkdownIt("commonmark", {"html": True}).render(markdown))
    return parser


def test_markdown_export_has_no_live_html_and_no_images() -> None:
    attack = [
        '<img src="http://127.0.0.1:9977/md.png"> <script>alert(1)</script>',
        "![pixel](http://127.0.0.1:9977/p.png) <svg onload=alert(1)>",
        "<div>\n\n![x](http://127.0.0.1:9977/d.png)\n\n</div>",
        "```\n<iframe src=x>\n```",
    ]
    turns = [memory(text) for text in attack]
    shown = viewed(conversation_markdown("Evil <b>![n](http://127.0.0.1:9977/n.png)", "Sam *", "<img src=x>", turns))
    assert set(shown.tags) <= MARKDOWN_TAGS, shown.tags
    text = "".join(shown.text)
    assert "Evil <b>![n](http://127.0.0.1:9977/n.png)" in text and "Sam *" in text
    assert "<script>alert(1)</script>" in text and "![pixel](http://127.0.0.1:9977/p.png)" in text


MD_FRAGMENTS = st.sampled_from(
    ["<", ">", "img src=x", "<script>", "![a](http://t/p.png)", "![", "](", "```", "~~~", "$$", "    ", "\n", "\n\n",
     "<div>", "`", "\\", "&", "&lt;", "x", " ", "-", "> "]
)  # fmt: skip


@fuzz(500, deadline=None)
@given(st.lists(st.lists(MD_FRAGMENTS, max_size=12).map("".join), max_size=4))
def test_fuzz_markdown_export_never_carries_html(texts: list[str]) -> None:
    shown = viewed(conversation_markdown("Mara", "Sam", "Hi", [memory(t) for t in texts]))
    assert set(shown.tags) <= MARKDOWN_TAGS, shown.tags
