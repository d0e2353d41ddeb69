"""What a question asks, read without a model: whose memories ("you" is the persona, "I" the
user), whether it asks what someone *said*, and which time it names ("three weeks ago", "last
Christmas", "the weekend before last"), resolved to a range of dates against "now".

Plain rules over English, deliberately small: each one covers a way people ask a persona about
the past, and anything they do not recognise leaves the question as it is (no range, no side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Side = Literal["user", "persona"]

_AUXILIARY = r"(?:did|do|does|didn't|don't|have|has|had|haven't|will|would|can|could|should|shall|am|are|was|were|is)"
_SUBJECT = re.compile(rf"\b{_AUXILIARY}\s+(i|you)\b|^\s*(i|you)\b|\b(?:what|where|when|who|how|which|why)\s+(i|you)\b")
#: Verbs of telling: "what did you suggest", "how did you tell me to ...".
_TELLING = (
    r"(?:tell|told|say|said|suggest|suggested|recommend|recommended|promise|promised|advise|advised|offer|"
    r"offered|mention|mentioned|explain|explained|warn|warned|call|called|describe|described|compare|"
    r"compared|teach|taught|remind|reminded|ask|asked|propose|proposed|think|thought|reckon|reckoned)"
)
_SAID = re.compile(
    rf"\b(?:i|you)\s+(?:\w+\s+)?{_TELLING}\b|\b{_AUXILIARY}\s+(?:i|you)\s+(?:\w+\s+)?{_TELLING}\b"
    r"|\baccording to (?:you|me)\b|\b(?:your|my) (?:advice|suggestion|recommendation|promise|tip|idea|story)\b",
)
_USER_WORDS = frozenset({"i", "me", "my", "mine", "myself"})
_PERSONA_WORDS = frozenset({"you", "your", "yours", "yourself"})
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Question:
    """A question to a persona, read."""

    text: str
    search: str  # the text to search with: the question without the time it names
    about: Side | None = None  # whose memories it asks about, when it says
    said: bool = False  # it asks what someone said (a turn), not what is true (background too)
    since: datetime | None = None  # the time it names, inclusive (UTC)
    until: datetime | None = None


def side(text: str) -> tuple[Side | None, bool]:
    """Whose memories a question asks about, and whether it asks what was said. The subject
    wins ("What did *you* offer to make for *my* trip?": the persona); without one, the
    possessive ("What crashed into *your* tower?"); both or neither: nobody in particular."""
    lower = text.lower().replace("’", "'")
    said = _SAID.search(lower) is not None
    subject = _SUBJECT.search(lower)
    if subject is not None:
        pronoun = next(g for g in subject.groups() if g)
        who: Side = "user" if pronoun == "i" else "persona"
        if re.search(r"\baccording to you\b", lower):
            who = "persona"
        return who, said
    words = set(_WORD.findall(lower))
    mine, yours = bool(words & _USER_WORDS), bool(words & _PERSONA_WORDS)
    if mine != yours:
        return ("user" if mine else "persona"), said
    return None, said


# -- time ----------------------------------------------------------------------------------------

_MONTHS = {
    m: n
    for n, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")],
        start=1,
    )
    for m in names
}  # fmt: skip
_WEEKDAYS = {d: n for n, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3,
            "couple of": 2, "few": 3}  # fmt: skip
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "last": -1, "final": -1}  # fmt: skip
_NUMBER = r"(\d+|a couple of|couple of|a few|few|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAY = r"(" + "|".join(_WEEKDAYS) + r")"
_APPROX = r"(?:(?:about|around|roughly|approximately|nearly|almost|some|just over|just under)\s+)?"
_LEAD = r"(?:\b(?:on|in|at|during|over|around|about|from|since|for|by|the)\s+)*"

Range = tuple[date, date]


def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's name)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _holiday(name: str, year: int) -> Range:
    if name == "christmas":
        return date(year, 12, 24), date(year, 12, 27)
    if name == "new year":
        return date(year - 1, 12, 31), date(year, 1, 2)
    if name == "easter":
        sunday = _easter(year)
        return sunday - timedelta(days=2), sunday + timedelta(days=1)
    if name == "valentine":
        return date(year, 2, 14), date(year, 2, 14)
    if name == "halloween":
        return date(year, 10, 31), date(year, 10, 31)
    return date(year, 3, 17), date(year, 3, 17)  # st patrick


def _last_holiday(name: str, today: date, recent: bool, back: int = 0) -> Range:
    """The holiday ``name`` most recently begun by ``today`` (with ``recent``: most recently
    ended, so "last Christmas" on 25 December is the one before), ``back`` more years back."""
    year = today.year
    start, end = _holiday(name, year)
    if start > today or (recent and end >= today):
        year -= 1
    return _holiday(name, year - back)


def _month(month: int, year: int | None, today: date) -> Range:
    year = year if year is not None else (today.year if month <= today.month else today.year - 1)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _week(monday: date) -> Range:
    return monday, monday + timedelta(days=6)


def _rules(today: date) -> list[tuple[re.Pattern[str], object]]:
    """(pattern, function of its match -> range), most specific first."""
    monday = today - timedelta(days=today.weekday())

    def number(text: str) -> int:
        return int(text) if text.isdigit() else _NUMBERS[text]

    def ago(m: re.Match[str]) -> Range:
        n, unit = number(m.group(1)), m.group(2)
        days = {"day": 1, "week": 7, "month": 30, "year": 365}[unit]
        centre = today - timedelta(days=n * days)
        slack = {"day": 1, "week": 4, "month": 12, "year": 120}[unit]
        return centre - timedelta(days=slack), centre + timedelta(days=slack)

    def weekend(back: int) -> Range:
        saturday = monday - timedelta(days=2) - timedelta(weeks=back - 1)
        if today.weekday() == 6 and back == 0:
            saturday = today - timedelta(days=1)
        return saturday - timedelta(days=1), saturday + timedelta(days=1)  # Friday to Sunday

    def weekday(m: re.Match[str], back: int) -> Range:
        wanted = _WEEKDAYS[m.group(1)]
        days = (today.weekday() - wanted) % 7 or 7
        day = today - timedelta(days=days + 7 * back)
        return day, day

    def part_of_month(m: re.Match[str]) -> Range:
        part, month, year = m.group(1), _MONTHS[m.group(2)], m.group(3)
        first, last = _month(month, int(year) if year else None, today)
        if part in ("early", "the start of", "the beginning of", "start of", "beginning of"):
            return first, first + timedelta(days=10)
        if part in ("mid", "mid-", "the middle of", "middle of"):
            return first + timedelta(days=9), first + timedelta(days=20)
        return last - timedelta(days=10), last  # late, the end of

    def week_of_month(m: re.Match[str]) -> Range:
        which, month, year = _ORDINALS[m.group(1)], _MONTHS[m.group(2)], m.group(3)
        first, last = _month(month, int(year) if year else None, today)
        if which == -1:
            return last - timedelta(days=6), last
        start = first + timedelta(days=7 * (which - 1))
        return start, min(last, start + timedelta(days=6))

    def holiday(m: re.Match[str], recent: bool, back: int = 0) -> Range:
        name = m.group(1).replace("'s", "").replace("’s", "")
        name = {"xmas": "christmas", "new year": "new year", "new years": "new year"}.get(name, name)
        name = "valentine" if name.startswith("valentine") else "st patrick" if "patrick" in name else name
        return _last_holiday(name, today, recent, back)

    holidays = r"(christmas|xmas|new year's|new years|new year|easter|valentine's|valentines|valentine|halloween|st\.? patrick's|saint patrick's)"  # noqa: E501
    return [
        (re.compile(rf"\b{_APPROX}{_NUMBER}\s+(day|week|month|year)s?\s+ago\b"), ago),
        (re.compile(r"\b(?:the\s+)?day before yesterday\b"), lambda m: (today - timedelta(days=2),) * 2),
        (re.compile(r"\byesterday\b|\blast night\b"), lambda m: (today - timedelta(days=1),) * 2),
        (re.compile(r"\b(?:earlier )?today\b|\btonight\b|\bthis (?:morning|afternoon|evening)\b"),
         lambda m: (today, today)),
        (re.compile(rf"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last|final)\s+week\s+(?:of|in)\s+"
                    rf"{_MONTH}(?:\s*,?\s*(\d{{4}}))?"), week_of_month),
        (re.compile(rf"\b(early|mid-?|late|the start of|the beginning of|the middle of|the end of|start of|"
                    rf"beginning of|middle of|end of)\s*{_MONTH}(?:\s*,?\s*(\d{{4}}))?"), part_of_month),
        (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*(\d{{4}}))?"),
         lambda m: (lambda d: (d, d))(_day(int(m.group(1)), _MONTHS[m.group(2)], m.group(3), today))),
        (re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:\s*,?\s*(\d{{4}}))?"),
         lambda m: (lambda d: (d, d))(_day(int(m.group(2)), _MONTHS[m.group(1)], m.group(3), today))),
        (re.compile(r"\b(?:the\s+)?weekend before last\b"), lambda m: weekend(2)),
        (re.compile(r"\blast weekend\b|\b(?:at|over) the weekend\b"), lambda m: weekend(1)),
        (re.compile(r"\bthis weekend\b"), lambda m: weekend(0)),
        (re.compile(rf"\b(?:the\s+)?{_WEEKDAY} before last\b"), lambda m: weekday(m, 1)),
        (re.compile(rf"\b(?:last|on|this past|past)\s+{_WEEKDAY}\b"), lambda m: weekday(m, 0)),
        (re.compile(r"\b(?:the\s+)?week before last\b"), lambda m: _week(monday - timedelta(weeks=2))),
        (re.compile(r"\blast week\b"), lambda m: _week(monday - timedelta(weeks=1))),
        (re.compile(r"\bthis week\b|\bearlier this week\b"), lambda m: (monday, today)),
        (re.compile(r"\b(?:the\s+)?month before last\b"),
         lambda m: _month((today.month - 3) % 12 + 1, today.year - (today.month <= 2), today)),
        (re.compile(r"\blast month\b"), lambda m: _month((today.month - 2) % 12 + 1, today.year - (today.month == 1),
                                                         today)),
        (re.compile(r"\bthis month\b|\bearlier this month\b"), lambda m: (today.replace(day=1), today)),
        (re.compile(r"\blast year\b"), lambda m: (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))),
        (re.compile(rf"\b{holidays}\s+before last\b"), lambda m: holiday(m, True, back=1)),
        (re.compile(rf"\blast\s+{holidays}"), lambda m: holiday(m, True)),
        (re.compile(rf"\b{holidays}(?:\s+(?:day|eve|weekend|night))?"), lambda m: holiday(m, False)),
        (re.compile(rf"\b(?:in|during|over|since|of|last)\s+{_MONTH}(?:\s*,?\s*(\d{{4}}))?"),
         lambda m: _month(_MONTHS[m.group(1)], int(m.group(2)) if m.group(2) else None, today)),
        (re.compile(r"\b(?:in|during)\s+((?:19|20)\d\d)\b"),
         lambda m: (date(int(m.group(1)), 1, 1), date(int(m.group(1)), 12, 31))),
    ]  # fmt: skip


def _day(day: int, month: int, year: str | None, today: date) -> date:
    try:
        found = date(int(year) if year else today.year, month, day)
    except ValueError:
        found = date(today.year, month, 1)
    return found if year or found <= today else found.replace(year=found.year - 1)


#: For each rule of :func:`_rules`: whether its words say nothing but the time ("three weeks
#: ago", "the weekend before last": taken out of the text searched, where they would match
#: "next weekend" or "three weeks") or may also be what the memory says ("Christmas", "in June",
#: "on 8 May": kept).
_ONLY_TIME = (True, True, True, True, False, False, False, False, True, True, True, True, True, True, True, True,
              True, True, True, True, False, False, False, False, False)  # fmt: skip


def when(text: str, now: datetime) -> tuple[Range | None, str]:
    """The dates (first, last; inclusive) that ``text`` names relative to ``now``, and the text
    to search with: without the words that named them when they say nothing else (see
    ``_ONLY_TIME``); ``(None, text)`` when it names none."""
    lower = text.lower().replace("’", "'")
    today = now.astimezone(UTC).date()
    rules = _rules(today)
    for (pattern, make), only_time in zip(rules, _ONLY_TIME, strict=True):
        match = pattern.search(lower)
        if match is None:
            continue
        found = make(match)  # type: ignore[operator]
        if not only_time:
            return found, text
        start, end = match.span()
        lead = re.search(rf"{_LEAD}$", lower[:start])
        start = lead.start() if lead else start
        rest = " ".join((text[:start] + " " + text[end:]).split())
        return found, rest
    return None, text


def read(text: str, now: datetime) -> Question:
    """``text`` read: its side, whether it asks what was said, the time it names."""
    about, said = side(text)
    found, rest = when(text, now)
    if found is None:
        return Question(text, text, about, said)
    since = datetime.combine(found[0], time.min, UTC)
    until = datetime.combine(found[1], time.max, UTC)
    return Question(text, rest if rest.strip(" ?.!,") else text, about, said, since, until)
