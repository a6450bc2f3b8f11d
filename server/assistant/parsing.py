"""Plain-words understanding for the booking assistant: intents, dates, times, names, choices.

Pure: no I/O. Everything here takes the clinic's local "now" (a naive wall-clock time in the
clinic's zone) so the same sentence means the same thing in tests and at the front desk.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Literal

import dateparser

__all__ = [
    "Intent",
    "When",
    "Choice",
    "detect_intent",
    "parse_when",
    "match_dentist",
    "match_type",
    "mentions_type_word",
    "parse_choice",
    "is_yes",
    "is_no",
    "wants_more",
    "normalise",
    "split_move",
    "parse_ordinal",
]

Intent = Literal[
    "book", "move", "cancel", "list", "availability", "help", "greeting", "thanks", "unknown"
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ABBREV = {
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}
_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)
_MONTH_RE = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_ORDINAL_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
}

# Words that may be close to a dentist's surname by accident; never fuzzy-matched against names.
_COMMON_WORDS = frozenset(
    """appointment appointments book booking cancel move check checkup check-up cleaning filling
    root canal please tomorrow today morning afternoon evening next week monday tuesday wednesday
    thursday friday saturday sunday earliest soonest something anything available free with after
    before about around would could there their where which when what the and for from this that
    want need have like time times slot slots dentist doctor hygienist thanks thank option number
    first second third fourth fifth last later earlier instead other another""".split()
)


def normalise(text: str) -> str:
    """Lower-case, unify quotes and dashes, collapse spaces: the form every parser below reads."""
    text = text.lower().replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"[!?,;]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9][a-z0-9'\-]*", text)


# --------------------------------------------------------------------------- intents

_INTENT_PATTERNS: list[tuple[Intent, re.Pattern[str]]] = [
    ("cancel", re.compile(r"\b(cancel+|cancl|cansel|call off|delete|remove|can'?t make|cannot make|won'?t make)")),
    ("move", re.compile(r"\b(move|moving|reschedul\w*|re-schedul\w*|postpone|push (it|my|back)|bring (it )?forward|shift|change (my|the|it|that) (appointment|booking|time|date)|rearrange|switch)")),
    ("list", re.compile(r"\b(when is my|when's my|whens my|my next|next appointment|my appointments|my bookings|what appointments|which appointments|do i have (any|an)|list|show me my|upcoming|(show|list|see|view|check)( me)?( my| all| the| all my)? (appointments|bookings|schedule|diary)|^(my )?(appointments|bookings|schedule)$|what have i (got )?booked)")),
    ("availability", re.compile(r"\b(is (dr|doctor|the)\b.*\b(free|available|busy)|are (there )?any\b.*\b(free|available)|(free|available|availability) (on|at|this|next|tomorrow|today|in)|any (free|availability|openings|gaps|space)|(free|available|open) (times|slots|appointments)|openings|what'?s free|when is dr|when'?s dr|is there (anything|any time|a slot|space))")),
    ("book", re.compile(r"\b(book|booking|make an appointment|appointment for|need (a|an|to see)|want (a|an|to see|to book)|like (a|an|to book|to see)|get (a|an|me)|schedule|see (dr|a dentist|the dentist|the hygienist)|earliest|soonest|first available|something|anything)")),
    ("help", re.compile(r"^(help|\?|what can you do|how does this work|how do i|options|menu)\b|\bhelp\b")),
    ("thanks", re.compile(r"^(thanks|thank you|cheers|ta|great thanks|thx)\b")),
    ("greeting", re.compile(r"^(hi|hello|hey|good (morning|afternoon|evening)|hiya)\b[\s.]*$")),
]


def detect_intent(text: str) -> Intent:
    """The main thing the user asks for; "unknown" when no keyword says it."""
    norm = normalise(text)
    for intent, pattern in _INTENT_PATTERNS:
        if pattern.search(norm):
            if intent == "availability" and re.search(r"\bbook\b", norm):
                return "book"
            return intent
    return "unknown"


def split_move(text: str) -> tuple[str, str]:
    """Split "move my Friday appointment to next week" into the source part and the target part."""
    norm = normalise(text)
    m = re.search(r"\b(to|until|till|for|into|onto)\b(?!\s+(?:see|book|be)\b)(.*)$", norm)
    if m is None:
        return norm, ""
    return norm[: m.start()].strip(), m.group(2).strip()


# --------------------------------------------------------------------------- dates and times


@dataclass(frozen=True)
class When:
    """A window of local dates and start times the user asked about (all bounds optional)."""

    start: date | None = None  # first local date, inclusive
    end: date | None = None  # last local date, inclusive
    after: time | None = None  # a slot must start at or after this
    before: time | None = None  # a slot must start before this
    at: time | None = None  # an exact start time was named
    alternatives: tuple[date, ...] = ()  # several readings of the date: ask which one
    words: tuple[str, ...] = field(default_factory=tuple)  # what was understood, for replies
    # The date came from a bare weekday name ("on Wednesday", 0 = Monday): for a new booking it is the
    # next such day (start/end), but pointing at an existing appointment it may mean any such day.
    weekday: int | None = None

    @property
    def has_date(self) -> bool:
        return self.start is not None

    @property
    def has_time(self) -> bool:
        return self.after is not None or self.before is not None or self.at is not None

    @property
    def is_empty(self) -> bool:
        return not self.has_date and not self.has_time and not self.alternatives

    def merged_over(self, older: When | None) -> When:
        """This window, with the date or time parts it lacks taken from an older one."""
        if older is None:
            return self
        result = self
        date_words = [w for w in self.words if not _is_time_word(w)]
        time_words = [w for w in self.words if _is_time_word(w)]
        if not self.has_date and not self.alternatives:
            result = replace(result, start=older.start, end=older.end, alternatives=older.alternatives,
                             weekday=older.weekday)
            date_words = [w for w in older.words if not _is_time_word(w)]
        if not self.has_time:
            result = replace(result, after=older.after, before=older.before, at=older.at)
            time_words = [w for w in older.words if _is_time_word(w)]
        return replace(result, words=tuple(date_words + time_words))

    def accepts(self, local_start: datetime) -> bool:
        """Whether a slot starting at this local wall-clock time fits the window."""
        d, t = local_start.date(), local_start.time()
        if self.start is not None and d < self.start:
            return False
        if self.end is not None and d > self.end:
            return False
        if self.at is not None and t != self.at:
            return False
        if self.after is not None and t < self.after:
            return False
        if self.before is not None and t >= self.before:
            return False
        return True


def _is_time_word(word: str) -> bool:
    return word in _DAY_PARTS or word.startswith(("at ", "after ", "before ", "around ", "between "))


_DAY_PARTS: dict[str, tuple[time | None, time | None]] = {
    "first thing": (None, time(10, 0)),
    "early morning": (None, time(10, 0)),
    "morning": (None, time(12, 0)),
    "lunchtime": (time(12, 0), time(14, 0)),
    "lunch time": (time(12, 0), time(14, 0)),
    "midday": (time(11, 30), time(13, 30)),
    "late afternoon": (time(15, 0), None),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(16, 0), None),
    "tonight": (time(16, 0), None),
    "after work": (time(16, 0), None),
    "after school": (time(15, 30), None),
}

_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.?|p\.m\.?)?"


def _to_time(hour_s: str, minute_s: str | None, meridiem: str | None, *, bare: bool) -> time | None:
    """A clock reading; bare hours 1-7 mean the afternoon (nobody visits a dentist at 4am)."""
    hour, minute = int(hour_s), int(minute_s or 0)
    if minute > 59:
        return None
    if meridiem:
        if hour > 12 or hour == 0:
            return None
        pm = meridiem.startswith("p")
        if pm and hour != 12:
            hour += 12
        if not pm and hour == 12:
            hour = 0
    elif bare and 1 <= hour <= 7:
        hour += 12
    if hour > 23:
        return None
    return time(hour, minute)


def _clock_at(text: str, pos: int) -> tuple[time, int] | None:
    """A clock reading starting at `pos` ("4pm", "16:00", "noon", bare "4"), and where it ends."""
    rest = text[pos:]
    if rest.startswith(("noon", "midday")):
        return time(12, 0), pos + (4 if rest.startswith("noon") else 6)
    m = re.match(_CLOCK + r"(?![\d/]|st\b|nd\b|rd\b|th\b|\s*(?:" + _MONTH_RE + r")\b|\s*(?:days?|weeks?|months?|min|minutes|hours?)\b)", rest)
    if not m:
        return None
    t = _to_time(m.group(1), m.group(2), m.group(3), bare=m.group(2) is None and m.group(3) is None)
    if t is None:
        return None
    return t, pos + m.end()


def _parse_times(text: str) -> tuple[time | None, time | None, time | None, list[str], str]:
    """(after, before, at, words, text with the time phrases removed)."""
    after: time | None = None
    before: time | None = None
    at: time | None = None
    words: list[str] = []
    spans: list[tuple[int, int]] = []

    m = re.search(r"\bbetween\s+", text)
    if m:
        first = _clock_at(text, m.end())
        if first:
            m2 = re.match(r"\s*(?:and|-|to)\s*", text[first[1]:])
            if m2:
                second = _clock_at(text, first[1] + m2.end())
                if second:
                    lo, hi = first[0], second[0]
                    if lo > hi and lo.hour < 12:
                        lo = time(lo.hour + 12, lo.minute) if lo.hour + 12 < 24 else lo
                    if lo.hour >= 12 and hi.hour >= 12 and lo > hi:
                        lo = time(lo.hour - 12, lo.minute)
                    after, before = lo, hi
                    words.append(f"between {lo:%H:%M} and {hi:%H:%M}")
                    spans.append((m.start(), second[1]))

    for m in re.finditer(r"(?:\b(after|from|later than|not before|before|by|until|till|earlier than|no later than|at|around|about)\b|(@))\s*", text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        found = _clock_at(text, m.end())
        if not found:
            continue
        t, end = found
        kw = m.group(1) or "at"
        if kw in ("after", "from", "later than", "not before"):
            after = t
            words.append(f"after {t:%H:%M}")
        elif kw in ("before", "by", "until", "till", "earlier than", "no later than"):
            before = t
            words.append(f"before {t:%H:%M}")
        elif kw in ("around", "about"):
            after = (datetime.combine(date.min, t) - timedelta(hours=1)).time() if t.hour >= 1 else time(0, 0)
            before = (datetime.combine(date.min, t) + timedelta(hours=1, minutes=1)).time() if t.hour < 23 else None
            words.append(f"around {t:%H:%M}")
        else:
            at = t
            words.append(f"at {t:%H:%M}")
        spans.append((m.start(), end))

    # Clock readings with no keyword: "4pm", "10:30".
    for m in re.finditer(r"\b(\d{1,2})(?::(\d{2})\s*(am|pm)?|(?:[:.](\d{2}))?\s*(am|pm))\b", text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        clock = _to_time(m.group(1), m.group(2) or m.group(4), m.group(3) or m.group(5), bare=False)
        if clock is not None and at is None and after is None and before is None:
            at = clock
            words.append(f"at {clock:%H:%M}")
        spans.append((m.start(), m.end()))

    for phrase, (part_from, part_to) in _DAY_PARTS.items():
        pm = re.search(r"\b" + phrase + r"s?\b", text)
        if pm and not any(s <= pm.start() < e for s, e in spans):
            if at is None:
                if part_from is not None and (after is None or after < part_from):
                    after = part_from
                if part_to is not None and (before is None or before > part_to):
                    before = part_to
            words.append(phrase)
            spans.append((pm.start(), pm.end()))
            break

    rest = text
    for s, e in sorted(spans, reverse=True):
        rest = rest[:s] + " " + rest[e:]
    return after, before, at, words, rest


def _dp(text: str, now: datetime) -> date | None:
    """Read one date phrase with dateparser, relative to the clinic's now, preferring the future."""
    settings: Any = {
        "RELATIVE_BASE": now,
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": "DMY",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    parsed = dateparser.parse(text, languages=["en"], settings=settings)
    return parsed.date() if parsed is not None else None


def _week_of(d: date) -> tuple[date, date]:
    monday = d - timedelta(days=d.weekday())
    return monday, monday + timedelta(days=6)


def _weekday_in(token: str) -> int | None:
    """A weekday named by a token, forgiving plurals, abbreviations and small typos."""
    token = token.rstrip(".")
    if token.endswith("s") and token[:-1] in WEEKDAYS:
        token = token[:-1]
    if token in WEEKDAYS:
        return WEEKDAYS.index(token)
    if token in _WEEKDAY_ABBREV:
        return _WEEKDAY_ABBREV[token]
    if len(token) >= 5 and token.isalpha():
        close = difflib.get_close_matches(token, WEEKDAYS, n=1, cutoff=0.75)
        if close:
            return WEEKDAYS.index(close[0])
    return None


def _next_day_of_month(day: int, today: date) -> date | None:
    """The next date (today or later) that falls on this day of the month."""
    y, m = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(y, m, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        m += 1
        if m > 12:
            y, m = y + 1, 1
    return None


def _fmt_day(d: date) -> str:
    return f"{WEEKDAYS[d.weekday()].capitalize()} {d.day} {_MONTHS[d.month - 1].capitalize()}"


def parse_when(text: str, now: datetime) -> When:
    """Read the dates and times in a sentence, relative to the clinic's local `now`."""
    norm = re.sub(r"\b(what|how) about\b", " ", normalise(text))  # "what about 4pm?" is not "around 4pm"
    today = now.date()
    after, before, at, words, rest = _parse_times(norm)
    start: date | None = None
    end: date | None = None
    alternatives: tuple[date, ...] = ()
    weekday: int | None = None

    def single(d: date, label: str | None = None) -> None:
        nonlocal start, end
        start = end = d
        words.insert(0, label or _fmt_day(d))

    # Explicit calendar dates first: they win over weekday names ("Tuesday the 8th").
    iso = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", rest)
    numeric = re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", rest)
    month_first = re.search(r"\b(" + _MONTH_RE + r")\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\b", rest)
    day_first = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_RE + r")\b", rest)
    ordinal = re.search(r"\b(\d{1,2})(st|nd|rd|th)\b", rest)
    if iso:
        try:
            single(date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3))))
        except ValueError:
            pass
    elif numeric:
        a, b = int(numeric.group(1)), int(numeric.group(2))
        d = _dp(numeric.group(0), now)
        if d is not None:
            if numeric.group(3) is None and a <= 12 and b <= 12 and a != b:
                other = _dp(f"{b}/{a}", now)
                if other is not None and other != d:
                    alternatives = (d, other)
                    words.insert(0, f"{_fmt_day(d)} or {_fmt_day(other)}")
            if not alternatives:
                single(d)
    elif day_first or month_first:
        m = day_first or month_first
        assert m is not None
        d = _dp(m.group(0), now)
        if d is not None:
            single(d)
    elif ordinal:
        d = _next_day_of_month(int(ordinal.group(1)), today)
        if d is not None:
            single(d)

    if start is None and not alternatives:
        toks = _tokens(rest)
        joined = " ".join(toks)
        if re.search(r"\bday after tomorrow\b", joined):
            d = _dp("in 2 days", now)
            if d:
                single(d, "the day after tomorrow")
        elif re.search(r"\b(tomorrow|tomorow|tommorow|tommorrow|tmrw|tmr)\b", joined):
            d = _dp("tomorrow", now)
            if d:
                single(d, "tomorrow")
        elif re.search(r"\b(today|tonight|this evening|this afternoon|this morning)\b", joined):
            single(today, "today")
        elif m := re.search(r"\bin (a|one|two|three|four|\d+) (day|days|week|weeks|month|months)\b", joined):
            d = _dp(m.group(0), now)
            if d is not None:
                if m.group(2).startswith("day"):
                    single(d)
                else:
                    start, end = _week_of(d)
                    start = max(start, today)
                    words.insert(0, f"the week of {_fmt_day(start)}")
        elif re.search(r"\b(week after next|the week after)\b", joined):
            start, end = _week_of(today + timedelta(days=14))
            words.insert(0, "the week after next")
        elif re.search(r"\bnext month\b", joined):
            first = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
            start, end = first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            words.insert(0, "next month")
        elif re.search(r"\bthis month\b", joined):
            start = today
            end = (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            words.insert(0, "this month")

        if start is None:
            for i, tok in enumerate(toks):
                wd = _weekday_in(tok)
                if wd is None:
                    continue
                prev = toks[i - 1] if i > 0 else ""
                following = " ".join(toks[i + 1 : i + 3])
                delta = (wd - today.weekday()) % 7
                upcoming = today + timedelta(days=delta if delta else 7)
                if prev == "this":
                    d = today + timedelta(days=delta)
                elif following.startswith("next week") or following.startswith("after next"):
                    d = _week_of(today)[0] + timedelta(days=7 + wd)
                    if following.startswith("after next"):
                        d += timedelta(days=7 if prev != "next" else 0)
                elif prev == "next":
                    if upcoming <= _week_of(today)[1]:
                        alternatives = (upcoming, upcoming + timedelta(days=7))
                        words.insert(0, f"{_fmt_day(upcoming)} or {_fmt_day(upcoming + timedelta(days=7))}")
                        break
                    d = upcoming
                else:
                    d = upcoming
                    weekday = wd
                single(d)
                break

        if start is None and not alternatives:
            if re.search(r"\bnext week\b", joined):
                start, end = _week_of(today + timedelta(days=7))
                words.insert(0, "next week")
            elif re.search(r"\b(this week|later this week)\b", joined):
                start, end = today, _week_of(today)[1]
                words.insert(0, "this week")
            elif m := re.search(r"\b(?:in|during) (" + "|".join(_MONTHS) + r")\b", joined):
                d = _dp(f"1 {m.group(1)}", now)
                if d is not None:
                    if d.month == today.month and d.year == today.year:
                        d = today
                    start = max(d, today)
                    end = (d.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
                    words.insert(0, m.group(1).capitalize())

    # "after the 3rd", "from Monday", "before Friday": an open range rather than that one day.
    if start is not None and start == end:
        day_ref = r"(?:the\s+|on\s+|next\s+|this\s+)?(?:\d|" + _MONTH_RE + r"|" + "|".join(WEEKDAYS) + r"|tomorrow)"
        bound = re.search(r"(?<!day )\b(after|from|starting(?: from| on)?|beginning|before|until|by)\s+" + day_ref, rest)
        if bound:
            weekday = None  # a range from or to that day, not "a Wednesday"
        if bound and bound.group(1) in ("before", "until", "by"):
            words[0] = f"before {words[0]}"
            start, end = today, start - timedelta(days=1) if start > today else start
        elif bound:
            first = start + timedelta(days=1) if bound.group(1) == "after" else start
            words[0] = f"from {_fmt_day(first)}"
            start, end = first, first + timedelta(days=13)
    return When(start=start, end=end, after=after, before=before, at=at,
                alternatives=alternatives, words=tuple(words), weekday=weekday)


# --------------------------------------------------------------------------- names


def _surname(name: str) -> str:
    parts = [p for p in re.split(r"[\s.]+", name.lower()) if p and p not in ("dr", "doctor", "mr", "mrs", "ms")]
    return parts[-1] if parts else name.lower()


def match_dentist(text: str, dentists: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The dentist a sentence names ("Dr. Smith", "smith", "dr smiht"), or None."""
    dentists = list(dentists)
    by_surname = {_surname(d["name"]): d for d in dentists}
    by_full = {re.sub(r"[^a-z ]", "", d["name"].lower()).strip(): d for d in dentists}
    toks = _tokens(normalise(text).replace(".", " "))
    for i, tok in enumerate(toks):
        if tok in by_surname:
            return by_surname[tok]
        if tok in by_full:
            return by_full[tok]
    for i, tok in enumerate(toks):
        prev = toks[i - 1] if i else ""
        titled = prev in ("dr", "doctor", "with", "dentist")
        if tok in _COMMON_WORDS or not tok.isalpha():
            continue
        if not titled and len(tok) < 4:
            continue
        close = difflib.get_close_matches(tok, list(by_surname), n=1, cutoff=0.6 if titled else 0.8)
        if close:
            return by_surname[close[0]]
    return None


# Canonical type words -> what people call them. Keys are compared to the directory's type names.
_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "check-up": ("check-up", "checkup", "check up", "check", "exam", "examination", "routine",
                 "assessment", "consultation", "look at", "toothache", "tooth ache", "pain"),
    "cleaning": ("cleaning", "clean", "hygienist", "hygiene", "scale and polish", "scale", "polish",
                 "descale", "teeth cleaned"),
    "filling": ("filling", "fill", "fillings", "cavity", "cavities", "hole in my tooth", "filled"),
    "root canal": ("root canal", "root-canal", "rootcanal", "root treatment", "endodontic", "endo"),
}


def _type_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def match_type(text: str, types: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The appointment type a sentence asks for ("cleaing", "the hygienist" -> Cleaning), or None."""
    types = list(types)
    norm = normalise(text)
    keyed = {_type_key(t["name"]): t for t in types}
    phrases: list[tuple[str, dict[str, Any]]] = []
    for t in types:
        phrases.append((t["name"].lower(), t))
        for canon, syns in _TYPE_SYNONYMS.items():
            if _type_key(canon) == _type_key(t["name"]):
                phrases.extend((s, t) for s in syns)
    # Longest phrase first so "root canal" beats "canal", "scale and polish" beats "polish".
    for phrase, t in sorted(phrases, key=lambda p: -len(p[0])):
        if re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", norm):
            return t
    candidates = {p.replace(" ", ""): t for p, t in phrases if len(p) >= 4}
    candidates.update(keyed)
    for tok in _tokens(norm):
        key = tok.replace("-", "")
        if len(key) < 5 or key in _COMMON_WORDS - {"checkup", "cleaning", "filling"}:
            continue
        close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.8)
        if close:
            return candidates[close[0]]
    return None


def mentions_type_word(text: str) -> str | None:
    """The canonical type a sentence names even if this user's directory lacks it ("root canal")."""
    norm = normalise(text)
    for canon, syns in _TYPE_SYNONYMS.items():
        for s in sorted(syns, key=len, reverse=True):
            if re.search(r"(?<![a-z])" + re.escape(s) + r"(?![a-z])", norm):
                return canon
    return None


# --------------------------------------------------------------------------- confirmations


_YES = re.compile(
    r"^(y|yes|yeah|yep|yup|ya|sure|ok|okay|k|fine|alright|all right|please|please do|do it|go ahead|"
    r"confirm|confirmed|book it|book that|book that one|that one|sounds good|perfect|great|correct|"
    r"that's fine|thats fine|that works|yes please|yes book it|yes please book it|absolutely|lovely)\b"
)
_NO = re.compile(r"^(n|no|nope|nah|not really|none|none of (these|those|them)|neither|no thanks|don'?t|stop|forget it|never mind|nevermind)\b")
_MORE = re.compile(r"\b(more|other (times|options|slots)|anything else|something else|later ones|others|different time)\b")


def is_yes(text: str) -> bool:
    """An explicit yes ("yes", "ok", "book it", "go ahead")."""
    return bool(_YES.match(normalise(text).rstrip(".")))


def is_no(text: str) -> bool:
    """An explicit no ("no", "none of those", "forget it")."""
    return bool(_NO.match(normalise(text).rstrip(".")))


def wants_more(text: str) -> bool:
    """The user asks for other options than the ones shown."""
    return bool(_MORE.search(normalise(text)))


def parse_ordinal(text: str, count: int) -> int | None:
    """A 1-based option number in a short answer ("2", "option 2", "the second one", "last")."""
    norm = normalise(text).rstrip(".")
    if re.search(r"\b(last|final)( one)?\b", norm) and count:
        return count
    m = re.fullmatch(
        r"(?:yes |ok |okay |please )*(?:i'?ll take |i'd like |let'?s do |go (?:with|for) |take |book |choose |pick )?"
        r"(?:it |me in |in )?(?:for )?(?:the )?(?:option |number |no\.? ?|#|slot |choice )?"
        r"(\d{1,2}|first|second|third|fourth|fifth|one|two|three|four|five|1st|2nd|3rd|4th|5th)"
        r"(?: one| option| slot| please| then)*(?: please)?",
        norm,
    )
    if not m:
        return None
    tok = m.group(1)
    n = int(tok) if tok.isdigit() else _ORDINAL_WORDS[tok]
    return n if 1 <= n <= count else None


@dataclass(frozen=True)
class Choice:
    """How a reply picks among offered options: an index, "which?" or "not a pick"."""

    index: int | None = None  # 0-based pick
    ambiguous: tuple[int, ...] = ()  # several options fit: ask which


def parse_choice(text: str, starts: list[datetime], dentist_ids: list[int],
                 dentists: Iterable[dict[str, Any]]) -> Choice | None:
    """Read a pick from offered slots (local starts): "2", "the second one", "10:30", "yes" (one option).

    Returns None when the text is not a pick at all (a new request or a refinement).
    """
    norm = normalise(text).rstrip(".")
    count = len(starts)
    n = parse_ordinal(norm, count)
    if n is not None:
        return Choice(index=n - 1)
    stripped = re.sub(r"^(yes|ok|okay|please|great|perfect)\b[ ,.]*", "", norm)
    if is_yes(norm) and (not stripped or is_yes(stripped)):
        if count == 1:
            return Choice(index=0)
        return Choice(ambiguous=tuple(range(count)))
    # A time (with an optional dentist or weekday) among the offered ones: "10:30", "the 2pm with Dr Patel".
    if len(_tokens(norm)) > 8 or re.search(r"\b(cancel|move|reschedule|instead|what about|how about|other|different)\b", norm):
        return None
    found = None
    # A clock reading needs a colon, am/pm or "at": a bare "4" could be a date ("4 December").
    m = re.search(r"(?<![\d/])(\d{1,2})(?:[:.](\d{2})\s*(am|pm)?|\s*(am|pm))(?![\d/])", stripped) \
        or re.search(r"\bat (\d{1,2})()()()(?![\d/:.]|st\b|nd\b|rd\b|th\b|\s*(?:" + _MONTH_RE + r")\b)", stripped)
    if m:
        found = _to_time(m.group(1), m.group(2) or None, m.group(3) or m.group(4) or None,
                         bare=not m.group(2) and not (m.group(3) or m.group(4)))
    elif re.search(r"\bnoon\b", stripped):
        found = time(12, 0)
    if found is None:
        return None
    dentist = match_dentist(stripped, dentists)
    weekday = next((w for w in (_weekday_in(t) for t in _tokens(stripped)) if w is not None), None)
    hits = [
        i for i, s in enumerate(starts)
        if s.time() == found
        and (dentist is None or dentist_ids[i] == dentist["id"])
        and (weekday is None or s.weekday() == weekday)
    ]
    if len(hits) == 1:
        return Choice(index=hits[0])
    if len(hits) > 1:
        return Choice(ambiguous=tuple(hits))
    return None
