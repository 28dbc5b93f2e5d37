"""Translate a :class:`~bot.query.SearchQuery` into an SQLite FTS5 MATCH expression.

Every user term is emitted inside double quotes, so FTS5 operators typed by a
user (``AND``, ``NEAR(``, ``*``, ``^``, ``:``) are only ever text. The query
parser has already reduced terms to word characters and spaces, but quotes are
still doubled here so this function is safe on its own.
"""

from __future__ import annotations

from typing import Any

from bot.query import SearchQuery

# Title counts most, then Hugging Face's keywords, then authors, then the abstract.
BM25_WEIGHTS = (10.0, 6.0, 3.0, 1.0)

# Scoring every match of a very common word at a million papers costs seconds,
# so bm25 is computed over the most recent matches only (rowids grow with
# ingest, so the highest rowids are the newest papers). Any query with fewer
# matches than this is ranked exactly.
SEARCH_WINDOW = 2000

_ORDER = {
    "relevance": "{title_first}hits.score, p.upvotes DESC, p.published_at DESC",
    "recent": "coalesce(p.published_at, p.featured_on) DESC, p.upvotes DESC",
    "upvotes": "p.upvotes DESC, coalesce(p.published_at, p.featured_on) DESC",
}


def _normalized(column: str) -> str:
    """SQL for ``column`` lower-cased with hyphens, slashes and apostrophes as spaces."""
    return f"replace(replace(replace(lower({column}), '-', ' '), '/', ' '), char(39), ' ')"


# Phrases are matched by FTS5 on stemmed tokens; this re-checks the words as
# typed so "masked autoencoder" does not also match "masking autoencoders".
_TEXT = "p.title || ' ' || p.summary"
_PHRASE_CHECK = f"instr({_normalized(_TEXT)}, ?) > 0"
# A title holding the query's words as typed, in order, is the strongest
# signal there is; bm25 alone undervalues it when a word is in every paper
# (its inverse document frequency is then zero).
_TITLE_FIRST = f"(instr({_normalized('p.title')}, ?) = 0), "


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


def search_sql(
    query: SearchQuery, offset: int, limit: int, window: int = SEARCH_WINDOW
) -> tuple[str, list[Any]]:
    """The SQL statement and parameters that run ``query`` against ``papers_fts``."""
    weights = ", ".join(map(str, BM25_WEIGHTS))
    where: list[str] = []
    params: list[Any] = [match_expression(query), window]
    if query.since:
        where.append("coalesce(p.published_at, p.featured_on) >= ?")
        params.append(query.since.isoformat())
    for phrase in query.phrases:
        where.append(_PHRASE_CHECK)
        params.append(phrase)
    title_first = ""
    if query.sort == "relevance" and query.words:
        title_first = _TITLE_FIRST
        params.append(" ".join(query.words))
    sql = (
        f"WITH hits AS (SELECT rowid AS id, bm25(papers_fts, {weights}) AS score"
        " FROM papers_fts WHERE papers_fts MATCH ? ORDER BY rowid DESC LIMIT ?)"
        " SELECT p.* FROM hits JOIN papers p ON p.id = hits.id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {_ORDER[query.sort].format(title_first=title_first)} LIMIT ? OFFSET ?"
    )
    params.extend([limit, offset])
    return sql, params
