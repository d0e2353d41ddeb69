"""Untrusted text on the page: what a card, a message, the model or a file name says.

Streamlit parses Markdown (GitHub-flavoured, with autolinks, math and its own ``:material/…:``,
``:streamlit:``, emoji and ``:red[…]`` shortcodes) in titles, headers, captions, alerts, toasts,
widget labels, expander, popover and dialog titles, tabs, radio options, progress texts and
badges, and in ``st.markdown`` / ``st.write_stream``. Raw HTML is always shown as text, but a
Markdown image makes the browser fetch its URL: a tracking pixel in a card tells its author when
and where it is used. Select-box and multiselect options, placeholders, ``st.text``, ``st.code``
and table cells are plain text already and take the text as it is.

- :func:`plain` for labels, titles, captions and alerts: the text exactly as written, no
  Markdown, no links, no icons, and no visible backslash.
- :func:`markdown` (and :func:`markdown_stream` while a reply streams) for message bodies: the
  formatting is kept, but images and links to anything but ``http(s)`` show as the text they are
  written with. ``http(s)`` links (and bare ``http(s)://`` or ``www.`` addresses) stay links:
  following one takes a click.

Both work on the text alone (no parser), so :func:`markdown` also escapes inside code, where
the few characters it touches (``![``, a non-http ``](`` or ``]:``, ``<mailto:`` and the like)
then show a backslash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

#: Invisible, and not a character any Markdown construct is made of: put after ``:`` and ``@``
#: it stops the autolinks and shortcodes that backslash escapes do not (Streamlit finds those in
#: the text after parsing).
WORD_JOINER = "\u2060"

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every character CommonMark lets \ escape
_JOIN_AFTER = re.compile(r"(?<=\\[:@])|(?i:(?<=www)(?=\\\.))")  # after \: and \@, and in www\.


def plain(text: str) -> str:
    """``text`` for an element that renders Markdown, so that it shows exactly as written.

    Line breaks and other control characters become spaces and the ends are trimmed (labels are
    one line, and four leading spaces would make a code block). Every ASCII
    punctuation character is backslash-escaped (Markdown drops the backslash), and a word joiner
    follows each ``:`` and ``@`` and splits ``www.``, so addresses are not turned into links nor
    ``:name:`` into icons. (Not for ``st.badge``, which escapes ``[`` and ``]`` itself.)
    """
    escaped = _ASCII_PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", text).strip())
    return _JOIN_AFTER.sub(WORD_JOINER, escaped)


# --- message bodies -------------------------------------------------------------------------

_TRIGGER = re.compile(r"[!\]<@]")
_HTTP_PREFIXES = ("http://", "https://", "<http://", "<https://")
_HTTP = re.compile(r"<?https?://", re.IGNORECASE | re.ASCII)
_SPACES = re.compile(r"[ \t]{0,3}")  # before a definition's destination
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]{1,31}):")
_SCHEME_SO_FAR = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}")
_EMAIL_LOCAL = "A-Za-z0-9.!#$%&'*+/=?^_`{|}~\\-"
_EMAIL = re.compile(f"[{_EMAIL_LOCAL}]+@")
_EMAIL_SO_FAR = re.compile(f"[{_EMAIL_LOCAL}]*")
_EMAIL_BEFORE_AT = re.compile(r"[A-Za-z0-9._+\-]")

#: A trigger's verdict: () nothing to do, (offset, text) insert text at that offset from it.
_Verdict = tuple[()] | tuple[int, str]


def markdown(text: str) -> str:
    """``text`` as Markdown with its images and non-``http(s)`` links made inert.

    An image (``![…]``) loses its ``!``-``[`` pairing; an inline link or a link reference
    definition keeps working only when its destination starts with ``http://`` or ``https://``;
    ``<scheme:…>`` autolinks other than http(s) and ``<user@host>`` become text; a word joiner
    after the ``@`` of a bare e-mail address stops GitHub's ``mailto:`` autolink. Raw HTML needs
    nothing: Streamlit shows it as text.
    """
    return _inert(text, 0, final=True)[0]


def markdown_stream(tokens: Iterable[str]) -> Iterator[str]:
    """:func:`markdown` for a reply that arrives in pieces: what is yielded adds up to
    ``markdown("".join(tokens))``. The end of a piece that the next could change the meaning of
    (a ``!``, a ``](h``, a ``<mail``) is held back until that is known."""
    text, done = "", 0
    for token in tokens:
        text += token
        out, done = _inert(text, done, final=False)
        if out:
            yield out
    out, _ = _inert(text, done, final=True)
    if out:
        yield out


def _inert(text: str, start: int, final: bool) -> tuple[str, int]:
    """The safe form of ``text[start:end]``, and ``end``: the whole text when ``final``, else up
    to the first trigger whose verdict depends on text that has not arrived yet."""
    out, copied = [], start
    for match in _TRIGGER.finditer(text, start):
        at = match.start()
        verdict = _verdict(text, at, final)
        if verdict is None:
            out.append(text[copied:at])
            return "".join(out), at
        if verdict:
            offset, insert = verdict
            out += [text[copied : at + offset], insert]
            copied = at + offset
    out.append(text[copied:])
    return "".join(out), len(text)


def _verdict(text: str, at: int, final: bool) -> _Verdict | None:
    """What the trigger character at ``at`` needs; None: undecided until more text comes (never
    when ``final``)."""
    char, nxt = text[at], at + 1
    if char == "@":  # a bare e-mail address (or mailto:, xmpp:) becomes a link after parsing
        return (1, WORD_JOINER) if at and _EMAIL_BEFORE_AT.match(text, at - 1) else ()
    if nxt == len(text):
        return () if final else None
    if char == "!":
        return (1, "\\") if text[nxt] == "[" else ()
    if char == "]":
        if text[nxt] == "(":  # an inline link
            return _destination(text, nxt + 1, final)
        if text[nxt] == ":":  # a link reference definition
            return _destination(text, _SPACES.match(text, nxt + 1).end(), final)
        return ()
    return _autolink(text, at, final)


def _destination(text: str, pos: int, final: bool) -> _Verdict | None:
    """After ``](`` or ``]:``: nothing for an http(s) destination, else the ``(`` or ``:``
    escaped."""
    if _HTTP.match(text, pos):
        return ()
    head = text[pos : pos + 9].lower()
    if not final and pos + len(head) == len(text) and any(p.startswith(head) for p in _HTTP_PREFIXES):
        return None
    return (1, "\\")


def _autolink(text: str, at: int, final: bool) -> _Verdict | None:
    """A ``<`` that may open an autolink: escaped unless it is an http(s) one or plain text."""
    backslashes = 0
    while at - backslashes > 0 and text[at - backslashes - 1] == "\\":
        backslashes += 1
    if backslashes % 2:  # escaped already
        return ()
    scheme = _SCHEME.match(text, at + 1)
    if scheme:
        return () if scheme.group(1).lower() in ("http", "https") else (0, "\\")
    if _EMAIL.match(text, at + 1):
        return (0, "\\")
    if not final and (_SCHEME_SO_FAR.fullmatch(text, at + 1) or _EMAIL_SO_FAR.fullmatch(text, at + 1)):
        return None
    return ()
