"""Text reduced to what word matching compares: lower-case words, punctuation as spaces."""

from __future__ import annotations

import unicodedata

# Common typographic punctuation (the rest of the non-ASCII characters
# rarely sit next to a word in an abstract) and every Unicode space, so that
# splitting on " " alone splits where str.split() would.
_OTHER_PUNCTUATION = "“”‘’–—…·•×" + "".join(chr(c) for c in range(0x80, 0x3001) if chr(c).isspace())
_ASCII_PUNCTUATION = "".join(chr(c) for c in range(128) if not chr(c).isalnum())
_ASCII_TABLE = bytes.maketrans(_ASCII_PUNCTUATION.encode(), b" " * len(_ASCII_PUNCTUATION))


def plain(text: str) -> str:
    """``text`` in NFC, lower-case, with ASCII and typographic punctuation as spaces.

    This runs on every candidate's abstract of every search: translating the
    UTF-8 bytes (other characters' bytes are all above ASCII, so untouched)
    is far faster than ``str.translate``, which looks each character up.
    """
    text = unicodedata.normalize("NFC", text).lower()
    if not text.isascii():
        for mark in _OTHER_PUNCTUATION:
            if mark in text:
                text = text.replace(mark, " ")
    return text.encode().translate(_ASCII_TABLE).decode()


def words(text: str) -> list[str]:
    """``text``'s words, as :func:`plain` reduces them."""
    return plain(text).split()
