"""Normalising one source item's values before they become a Paper.

A source is outside our control: a lone UTF-16 surrogate cannot be stored as
UTF-8, a count beyond 64 bits cannot be stored at all, and a title made of
zero-width characters shows as nothing. Each value is cleaned here on its
own, so one bad item is skipped (or one bad field dropped) without touching
the rest of the day.
"""

from __future__ import annotations

import re

from bot.cards import clean_text as visible_text

# Counts outside this range are not believable for one paper or repository
# (the most upvoted paper has a few thousand, the most starred repository a
# few hundred thousand); such an item is refused rather than clamped, since a
# clamped 10 000 000 would still rank first every day.
MAX_COUNT = 10_000_000
_DIGITS = re.compile(r"\s*[0-9]{1,15}\s*")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadValue(ValueError):
    """A value that cannot be used; the message says which and why (for the log)."""


def clean_text(value: object) -> str:
    """Display-safe text (:func:`bot.cards.clean_text`) with lone surrogates replaced by
    U+FFFD; ``""`` for anything that is not a string."""
    if not isinstance(value, str):
        return ""
    # Lone surrogates (JSON "\\ud800" escapes) cannot be encoded as UTF-8.
    return visible_text(_SURROGATE.sub("\ufffd", value))


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (text that cannot be stored as UTF-8)."""
    return _SURROGATE.search(text) is not None


def bounded_count(value: object, name: str) -> int | None:
    """A count in ``0..MAX_COUNT`` from an int, a whole float or a digit string.

    ``None`` (absent) stays ``None``; any other type, a fraction or a number
    out of range raises :class:`BadValue` naming ``name``.
    """
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int subclass but never a count
        raise BadValue(f"{name} is a boolean, not a count")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadValue(f"{name} {value!r} is not a whole number")
        value = int(value)
    elif isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise BadValue(f"{name} {value[:20]!r} is not a number")
        value = int(value)
    if not isinstance(value, int):
        raise BadValue(f"{name} is a {type(value).__name__}, not a count")
    if not 0 <= value <= MAX_COUNT:
        shown = (
            str(value)
            if len(str(value)) <= 20
            else f"{str(value)[:12]}... ({len(str(value))} digits)"
        )
        raise BadValue(f"{name} {shown} is outside 0..{MAX_COUNT}")
    return value
