"""Adjacent word pairs: the index column that makes a two-word phrase a single lookup.

FTS5 matches a phrase by walking the position lists of every paper that holds
both words. For two common words that is tens of thousands of papers: at a
million papers a phrase such as "scales method" took 13 ms, twice with its
plural. So the index's ``pairs`` column (migration 012) holds one token per
pair of adjacent words of a column, both words joined by a private-use
character (a token character for the tokenizer, never in text), in the order
of the text: a two-word phrase is then one term, looked up in a tenth of a
millisecond, and a longer one a phrase of pairs, which leads FTS5 straight to
the papers worth checking.

The pairs must be the tokenizer's own words, or a phrase would silently miss:
ASCII text is split here exactly as ``unicode61`` splits it (letters and
digits, lower-cased); any other text is split by SQLite's tokenizer itself.
Pairs with a little word are left out (``of the`` is in nearly every paper):
a phrase holding one is matched by FTS5 as before.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from itertools import pairwise

import aiosqlite

from bot.query import LITTLE_WORDS

# The search index's tokenizer (migration 006), which the pairs must agree with.
TOKENIZER = "unicode61 remove_diacritics 2"
# U+E000, private use ("Co"): unicode61 keeps it inside a token.
JOINER = "\ue000"
_ASCII_WORD = re.compile(r"[a-z0-9]+")


class _SqliteTokenizer:
    """SQLite's tokenizer, run on text through a one-row in-memory FTS5 table."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            f"CREATE VIRTUAL TABLE t USING fts5 (x, content='', tokenize='{TOKENIZER}')"
        )
        self._db.execute("CREATE VIRTUAL TABLE words USING fts5vocab (t, instance)")
        # Every storage connection's thread may call it.
        self._lock = threading.Lock()

    def words(self, text: str) -> list[str]:
        with self._lock:
            self._db.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (text,))
            try:
                rows = self._db.execute("SELECT term FROM words ORDER BY offset").fetchall()
            finally:
                self._db.execute("INSERT INTO t (t) VALUES ('delete-all')")
        return [term for (term,) in rows]


_sqlite_tokenizer: _SqliteTokenizer | None = None


def index_words(text: str) -> list[str]:
    """The words of ``text`` as the search index's tokenizer makes them, in order."""
    global _sqlite_tokenizer
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    if _sqlite_tokenizer is None:
        _sqlite_tokenizer = _SqliteTokenizer()
    return _sqlite_tokenizer.words(text)


def word_pairs(*columns: str | None) -> str:
    """The ``pairs`` column of a paper: each column's adjacent word pairs, space-separated.

    Registered as the SQL function ``word_pairs`` (see :func:`register`), so
    every statement that writes the index computes it the same way.
    """
    pairs: list[str] = []
    for text in columns:
        if text:
            pairs += _pairs(index_words(text))
    return " ".join(pairs)


def _pairs(words: list[str]) -> list[str]:
    """Each two adjacent ``words`` as one token, but for those with a little word."""
    kept = [None if word in LITTLE_WORDS else word for word in words]
    return [a + JOINER + b for a, b in pairwise(kept) if a and b]


def form_pairs(form: str) -> list[str] | None:
    """The ``pairs`` tokens of the phrase ``form``, in order, or None when ``form`` is
    fewer than two words or holds a little word (its pairs are not stored)."""
    words = index_words(form)
    if len(words) < 2 or not LITTLE_WORDS.isdisjoint(words):
        return None
    return _pairs(words)


def register(db: sqlite3.Connection) -> None:
    """Make ``word_pairs`` callable in SQL on ``db``: writing or deleting indexed papers
    needs it (a script editing the database by hand, for instance)."""
    db.create_function(*_FUNCTION, deterministic=True)


async def register_on(db: aiosqlite.Connection) -> None:
    """:func:`register` for an aiosqlite connection."""
    await db.create_function(*_FUNCTION, deterministic=True)


_FUNCTION = ("word_pairs", 4, word_pairs)
