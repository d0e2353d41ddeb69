"""Untrusted text on the page (ui.safe_text), checked against a real CommonMark parser
(markdown-it-py); what Streamlit itself makes of it is checked in the browser
(tests/test_hostile_card.py)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.fuzzing import fuzz
from ui.safe_text import WORD_JOINER, markdown, markdown_stream, plain


def render(text: str) -> str:
    """CommonMark to HTML, with raw HTML off (as Streamlit) and every link destination let through,
    so that nothing but our own escaping keeps a link out."""
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = lambda url: True
    return md.render(text)


def hrefs(rendered: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', rendered)]


# --- plain ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Dr. Elias Thorne", "Dr. Elias Thorne"),
        ("Evil ![n](http://127.0.0.1:9977/name.png)", "Evil ![n](http://127.0.0.1:9977/name.png)"),
        ("**Bold** <b>x</b> `code` # no heading", "**Bold** <b>x</b> `code` # no heading"),
        ("1. not a list", "1. not a list"),
        ("&amp; stays &amp;", "&amp; stays &amp;"),
        ("two\nlines\tand a tab", "two lines and a tab"),
        ("    not code", "not code"),
    ],
)
def test_plain_renders_as_exactly_the_text(text: str, shown: str) -> None:
    assert render(plain(text)).replace(WORD_JOINER, "") == f"<p>{html.escape(shown, quote=False)}</p>\n"


def test_plain_stops_autolinks_and_shortcodes_without_a_visible_character() -> None:
    safe = plain("see http://x.org/a www.example.com a@b.com :material/forum: :streamlit:")
    # GitHub's autolinks and Streamlit's shortcodes are found in the parsed text: a word joiner
    # (invisible) after every colon and at-sign and inside "www." breaks them; no backslash remains
    shown = render(safe)
    assert "http:\u2060//x.org" in shown and "www\u2060.example" in shown and "a@\u2060b.com" in shown
    assert ":\u2060material/forum:\u2060" in shown and "\\" not in shown


@fuzz(400, deadline=None)
@given(st.text())
def test_plain_is_never_markdown(text: str) -> None:
    shown = re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]+", " ", text).strip()
    rendered = render(plain(text)).replace(WORD_JOINER, "")
    body = html.escape(shown.replace(WORD_JOINER, ""), quote=False).replace('"', "&quot;")
    assert rendered == (f"<p>{body}</p>\n" if shown else "")


# --- markdown (message bodies) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*waves* ![pixel](http://t/p.png) **bold**", "*waves* !\\[pixel](http://t/p.png) **bold**"),
        ("![ref][r]\n\n[r]: http://t/p.png", "!\\[ref][r]\n\n[r]: http://t/p.png"),
        ("[ok](http://x) [OK](HTTPS://x) [ok](<https://x y>)", "[ok](http://x) [OK](HTTPS://x) [ok](<https://x y>)"),
        ("[js](javascript:alert(1)) [rel](/personas) [m](mailto:a@b.c)",
         "[js]\\(javascript:alert(1)) [rel]\\(/personas) [m]\\(mailto:a@\u2060b.c)"),
        ("[r]: javascript:x\n[h]:  http://y", "[r]\\: javascript:x\n[h]:  http://y"),
        ("<mailto:a@b.c> <javascript:x> <a@b.c> <http://ok>",
         "\\<mailto:a@\u2060b.c> \\<javascript:x> \\<a@\u2060b.c> <http://ok>"),
        ("Vec<T>, a < b, <div>, @decorator, Wow!", "Vec<T>, a < b, <div>, @decorator, Wow!"),
        ("already \\<mailto:x> escaped, \\\\<mailto:y> not", "already \\<mailto:x> escaped, \\\\\\<mailto:y> not"),
        ("ends with ! and ]", "ends with ! and ]"),
    ],
)  # fmt: skip
def test_markdown_makes_images_and_other_links_inert(text: str, expected: str) -> None:
    assert markdown(text) == expected


def test_markdown_keeps_the_formatting() -> None:
    text = "# Title\n\n- *one*\n- **two**\n\n> quote with [a link](https://example.org)\n\n```python\nprint(1)\n```"
    assert markdown(text) == text


FRAGMENTS = st.sampled_from(
    ["![", "[", "]", "](", "]:", "(", ")", "<", ">", "\\", "!", "@", ":", "http://", "HTTPS://", "javascript:",
     "mailto:", "data:", "/", "x", "a.b", " ", "\n", "`", "*", "[x]", "[x]:", "\n[x]: ", "a@b.c",
     "![a](http://t/p.png)", "[a](/rel)", "(http://t/p.png)", "<mailto:a@b>", "<x:y>"]
)  # fmt: skip


@fuzz(1500, deadline=None)
@given(st.lists(FRAGMENTS, max_size=20).map("".join))
def test_fuzz_no_image_and_only_http_links(text: str) -> None:
    rendered = render(markdown(text))
    assert "<img" not in rendered
    for href in hrefs(rendered):
        assert href.lower().startswith(("http://", "https://")), (text, href)


@fuzz(800, deadline=None)
@given(st.lists(st.lists(FRAGMENTS, max_size=4).map("".join), max_size=10))
def test_stream_adds_up_to_the_whole_text_made_safe(tokens: list[str]) -> None:
    assert "".join(markdown_stream(tokens)) == markdown("".join(tokens))


def test_stream_holds_back_only_what_the_next_piece_can_change() -> None:
    pieces = list(markdown_stream(["look ", "!", "[x](http://t/p.png)", " and ](", "ht", "tps://x) <ma", "il"]))
    assert pieces == ["look ", "!\\[x](http://t/p.png)", " and ", "](https://x) ", "<mail"]
