"""The ranking rules both storage backends share (SQLite FTS5 and PostgreSQL).

The full-text engine of each backend decides what matches; the order is a
field score computed on the newest ``SEARCH_WINDOW`` matches: for each query
word, ``TITLE`` if the title has it, ``KEYWORDS`` if Hugging Face's keywords
do, ``AUTHORS`` if the authors do, else ``ABSTRACT``, plus
``TITLE_PHRASE_BONUS`` when the title holds all the words in order; upvotes,
then recency, break ties. storage/sqlite/fts.py explains why.
"""

from __future__ import annotations

# Scoring looks at the most recent matches only. A query with fewer matches
# than this is ranked over all of them.
SEARCH_WINDOW = 300
TITLE, KEYWORDS, AUTHORS, ABSTRACT = 10, 6, 3, 1
TITLE_PHRASE_BONUS = 20
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s")
_MIN_STEM = 4


def word_stem(term: str) -> str:
    """``term`` with a common English ending cut from its last word.

    Only used to look for a query word inside a title or keyword list, where
    "transformers" should also find "Transformer"; matching itself uses the
    word's variants.
    """
    head, _, last = term.rpartition(" ")
    for suffix in _SUFFIXES:
        if last.endswith(suffix) and len(last) - len(suffix) >= _MIN_STEM:
            last = last[: -len(suffix)]
            break
    return f"{head} {last}" if head else last
