"""Reading and changing a subscription's settings from command arguments."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time

from bot.config import check_timezone, parse_hhmm
from bot.errors import UserError
from bot.models import WEEKDAYS, Subscription
from bot.schedule import describe_days
from bot.sources.arxiv_taxonomy import (
    ARXIV_PREFIX,
    HF_SOURCE,
    InvalidSourceSpec,
    UnknownCategory,
    parse_arxiv_source,
)

MAX_TOP = 10
MAX_KEYWORDS = 20
MAX_KEYWORD_CHARS = 60
MAX_ALERT_EVERY = 1440

SETTING_KEYS = {
    "time": "local post time, HH:MM (24-hour)",
    "timezone": "IANA timezone, e.g. Europe/Berlin",
    "days": "posting days: daily, weekdays, weekends, or a list like mon,wed,fri",
    "cadence": "daily, or weekly (top papers of the past week on one day: days mon)",
    "top": f"papers per digest, 1–{MAX_TOP}",
    "min_upvotes": "only papers with at least this many upvotes",
    "include": "only papers mentioning one of these comma-separated keywords (none = all)",
    "exclude": "skip papers mentioning any of these comma-separated keywords (none = skip none)",
    "source": "hf (Hugging Face Daily Papers) or arXiv categories, e.g. arxiv:cs.CL,cs.LG",
    "crosslists": "yes or no: whether papers cross-listed into the arXiv categories count",
    "alert_every": f"minutes between two alert messages (/alert), 1–{MAX_ALERT_EVERY}",
    "match": "how include picks papers: keywords (as spelled) or topic (also by meaning)",
}
MATCH_MODES = ("keywords", "topic")
_ALIASES = {
    "tz": "timezone",
    "minupvotes": "min_upvotes",
    "min-upvotes": "min_upvotes",
    "cross-lists": "crosslists",
    "cross_lists": "crosslists",
    "alert-every": "alert_every",
}
_HF_NAMES = {HF_SOURCE, "huggingface", "hugging-face", "hugging_face"}
_YES = {"yes", "y", "on", "true", "1"}
_NO = {"no", "n", "off", "false", "0"}
SOURCE_EXAMPLE = "e.g. hf, or arxiv:cs.CL,cs.LG"


def setting_key(typed: str) -> str:
    """The canonical setting name for what was typed (``tz`` is ``timezone``)."""
    return _ALIASES.get(typed.casefold(), typed.casefold())


def _sentence(text: str) -> str:
    if text.startswith("arXiv"):  # a name keeps its own spelling
        return text + "."
    return text[:1].upper() + text[1:] + "."


def parse_time(text: str) -> time:
    """``HH:MM`` as a time, or a :class:`UserError` saying what is wrong."""
    try:
        return parse_hhmm(text)
    except ValueError as exc:
        raise UserError(_sentence(str(exc))) from None


def parse_timezone(text: str) -> str:
    """A known IANA timezone name, or a :class:`UserError`."""
    try:
        return check_timezone(text)
    except ValueError as exc:
        raise UserError(_sentence(str(exc))) from None


def parse_source(text: str) -> tuple[str, ...]:
    """A subscription's source as its arXiv categories; ``()`` is Hugging Face.

    ``hf`` is Hugging Face; ``arxiv:cs.CL,cs.LG`` (or bare codes, ``cs.CL cs.LG``)
    are arXiv categories, checked against the bundled taxonomy. An unknown code
    is refused by name with the closest real ones.
    """
    spec = text.strip()
    if spec.casefold() in _HF_NAMES:
        return ()
    try:
        if spec.casefold().startswith(ARXIV_PREFIX):
            return parse_arxiv_source(spec)
        # Bare codes are read as categories, but a refusal says what a source is.
        return parse_arxiv_source(ARXIV_PREFIX + spec)
    except UnknownCategory as exc:
        hint = "" if spec.casefold().startswith(ARXIV_PREFIX) else f" A source is {SOURCE_EXAMPLE}."
        raise UserError(_sentence(str(exc)) + hint) from None
    except InvalidSourceSpec as exc:
        raise UserError(_sentence(str(exc))) from None


def parse_flag(text: str, name: str) -> bool:
    """``yes``/``no`` (also on/off, true/false) as a bool, or a :class:`UserError`."""
    word = text.strip().casefold()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise UserError(f"{name} is yes or no.")


SUBSCRIBE_USAGE = (
    "Usage: /subscribe [HH:MM] [Area/City] [source], e.g. /subscribe 09:00 Europe/Berlin"
    " or /subscribe 08:00 arxiv:cs.CL,cs.LG"
)
# Where the source starts in /subscribe's arguments: Discord's option
# (``source:...``), an ``arxiv:`` spec or ``hf``; the rest of the text is the source.
_SOURCE_START = re.compile(r"(?:^|\s)(?:source:|(?=arxiv:)|(?=(?:hf|huggingface)(?:\s|$)))", re.I)


def parse_subscribe_args(args: str) -> tuple[time | None, str | None, tuple[str, ...] | None]:
    """``[HH:MM] [Area/City] [source]``; None for what is not given.

    Time and timezone come in either order. ``time:HH:MM`` and
    ``timezone:Area/City`` name the part explicitly (Discord's options arrive
    that way), so a time given as the timezone is refused as a timezone
    instead of being read as a second time. The source (``hf``,
    ``arxiv:cs.CL,cs.LG`` or ``source:<either>``) comes last.
    """
    found = _SOURCE_START.search(args)
    source: tuple[str, ...] | None = None
    if found is not None:
        args, spec = args[: found.start()], args[found.end() :]
        if not spec.strip():
            raise UserError(f"Name a source, {SOURCE_EXAMPLE}. {SUBSCRIBE_USAGE}")
        source = parse_source(spec)
    words = args.split()
    if len(words) > 2:
        raise UserError(SUBSCRIBE_USAGE)
    at: time | None = None
    zone: str | None = None
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.casefold() in {"time", "timezone", "tz"}:
            is_time = key.casefold() == "time"
        else:
            # Times start with a digit; timezone names never do.
            is_time, value = word[0].isdigit(), word
        if is_time:
            if at is not None:
                raise UserError(f"Give one time, not two. {SUBSCRIBE_USAGE}")
            at = parse_time(value)
        else:
            if zone is not None:
                raise UserError(f"Give one timezone, not two. {SUBSCRIBE_USAGE}")
            zone = parse_timezone(value)
    return at, zone, source


_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day_number(word: str) -> int:
    """ISO number of a day named by at least its first three letters (``tue``, ``tues``).

    Raises ``ValueError`` for anything else, so "monkey" is not a Monday.
    """
    index = WEEKDAYS.index(word[:3])
    if not _DAY_NAMES[index].startswith(word):
        raise ValueError(word)
    return index + 1


def parse_days(text: str) -> frozenset[int]:
    """``daily``, ``weekdays``, ``weekends``, ``mon-fri`` or ``mon,wed,fri``.

    Days are English names or their first three (or more) letters.
    """
    word = text.strip().casefold()
    named = {
        "daily": range(1, 8),
        "every": range(1, 8),
        "weekdays": range(1, 6),
        "weekends": range(6, 8),
    }
    if word in named:
        return frozenset(named[word])
    days: set[int] = set()
    for part in re.split(r"[,\s]+", word):
        if not part:
            continue
        ends = part.split("-")
        try:
            indexes = [_day_number(end) for end in ends if end]
        except ValueError:
            raise UserError(
                f"{part!r} is not a day; use mon, tue, wed, thu, fri, sat, sun"
            ) from None
        if len(ends) == 2 and len(indexes) == 2:
            first, last = indexes
            days.update(
                range(first, last + 1) if first <= last else [*range(first, 8), *range(1, last + 1)]
            )
        elif len(indexes) == 1 and len(ends) == 1:
            days.add(indexes[0])
        else:
            raise UserError(f"{part!r} is not a day range like mon-fri")
    if not days:
        raise UserError("Name at least one day, e.g. days mon-fri")
    return frozenset(days)


def _bounded_int(text: str, name: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,6}", text.strip()):
        raise UserError(f"{name} takes a whole number from {low} to {high}.")
    value = int(text)
    if not low <= value <= high:
        raise UserError(f"{name} takes a whole number from {low} to {high}.")
    return value


def parse_keywords(text: str) -> tuple[str, ...]:
    """Comma-separated keywords; ``none`` clears the list."""
    if text.strip().casefold() in {"none", "-", "clear", "off"}:
        return ()
    words = tuple(dict.fromkeys(w.strip().casefold() for w in text.split(",") if w.strip()))
    if len(words) > MAX_KEYWORDS:
        raise UserError(f"Use at most {MAX_KEYWORDS} keywords.")
    if any(len(word) > MAX_KEYWORD_CHARS for word in words):
        raise UserError(f"Keep each keyword to at most {MAX_KEYWORD_CHARS} characters.")
    return words


def apply_setting(sub: Subscription, key: str, value: str) -> Subscription:
    """Return ``sub`` with setting ``key`` changed to ``value``, validated."""
    key = setting_key(key)
    if key not in SETTING_KEYS:
        raise UserError(f"Unknown setting {key!r}. Settings: {', '.join(SETTING_KEYS)}.")
    if not value.strip():
        raise UserError(f"Give a value: /settings {key} <{SETTING_KEYS[key]}>")
    if key == "time":
        return replace(sub, post_time=parse_time(value))
    if key == "timezone":
        return replace(sub, timezone=parse_timezone(value.strip()))
    if key == "days":
        days = parse_days(value)
        if sub.cadence == "weekly":
            if len(days) != 1:
                raise UserError("A weekly digest goes out on one day, e.g. days mon")
            return replace(sub, weekly_day=next(iter(days)))
        return replace(sub, weekdays=days)
    if key == "cadence":
        cadence = value.strip().casefold()
        if cadence not in {"daily", "weekly"}:
            raise UserError("cadence is daily or weekly.")
        return replace(sub, cadence=cadence)
    if key == "top":
        return replace(sub, top_n=_bounded_int(value, "top", 1, MAX_TOP))
    if key == "min_upvotes":
        return replace(sub, min_upvotes=_bounded_int(value, "min_upvotes", 0, 100_000))
    if key == "include":
        return replace(sub, include=parse_keywords(value))
    if key == "source":
        return replace(sub, arxiv_categories=parse_source(value))
    if key == "crosslists":
        return replace(sub, crosslists=parse_flag(value, "crosslists"))
    if key == "alert_every":
        return replace(sub, alert_every=_bounded_int(value, "alert_every", 1, MAX_ALERT_EVERY))
    if key == "match":
        match = value.strip().casefold()
        if match not in MATCH_MODES:
            raise UserError("match is keywords (as spelled) or topic (also papers about them).")
        return replace(sub, match=match)
    return replace(sub, exclude=parse_keywords(value))


def describe_filters(sub: Subscription) -> str:
    """The settings that choose a digest's papers, on one line."""
    include = ", ".join(sub.include) or "all papers"
    if sub.include and sub.match == "topic":
        include += " (by topic)"
    exclude = ", ".join(sub.exclude) or "nothing"
    return f"top {sub.top_n}, min_upvotes {sub.min_upvotes}, include {include}, exclude {exclude}"


def describe_settings(sub: Subscription) -> list[str]:
    """One line per setting, as ``/settings`` shows them."""
    return [
        f"time: {sub.post_time.strftime('%H:%M')} ({sub.timezone})",
        f"timezone: {sub.timezone}",
        f"days: {describe_days(sub)}",
        f"cadence: {sub.cadence}",
        f"top: {sub.top_n}",
        f"min_upvotes: {sub.min_upvotes}",
        f"include: {', '.join(sub.include) or 'all papers'}",
        f"exclude: {', '.join(sub.exclude) or 'nothing'}",
        f"source: {describe_source(sub)}",
        f"crosslists: {'yes' if sub.crosslists else 'no'}",
        f"alert_every: {sub.alert_every} min",
        f"match: {sub.match}",
    ]


def describe_source(sub: Subscription) -> str:
    """``hf (Hugging Face Daily Papers)`` or ``arxiv:cs.CL,cs.LG``."""
    if not sub.arxiv_categories:
        return f"{HF_SOURCE} (Hugging Face Daily Papers)"
    return sub.source
