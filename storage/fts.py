"""Translate a :class:`~bot.query.SearchQuery` into an SQLite FTS5 MATCH expression.

Every user term is emitted inside double quotes, so FTS5 operators typed by a
user (``AND``, ``NEAR(``, ``*``, ``^``, ``:``) are only ever text. The query
parser has already reduced terms to word characters and spaces, but quotes are
still doubled here so this function is safe on its own.
"""

from __future__ import annotations

from bot.query import SearchQuery


def quote(term: str) -> str:
    """An FTS5 string literal for ``term``."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(query: SearchQuery) -> str:
    """The MATCH string for ``query``: all positive parts AND-ed, exclusions NOT-ed."""
    parts: list[str] = []
    last = len(query.words) - 1
    for index, word in enumerate(query.words):
        star = "*" if query.prefix_last and index == last else ""
        parts.append(quote(word) + star)
    parts.extend(quote(phrase) for phrase in query.phrases)
    parts.extend(f"authors : {quote(name)}" for name in query.authors)
    expression = "(" + " AND ".join(parts) + ")"
    for term in query.excluded:
        expression += f" NOT {quote(term)}"
    return expression
