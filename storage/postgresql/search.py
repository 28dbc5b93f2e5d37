"""Translate a :class:`~bot.query.SearchQuery` into PostgreSQL full-text SQL.

Matching. Papers carry a weighted ``tsvector`` (title A, Hugging Face keywords
B, authors C, abstract D; migration 001) with a GIN index. The query is one
``to_tsquery('english', ...)`` built here from the parsed terms only: every
term is a quoted lexeme string (quotes and backslashes escaped), so operators
typed by a user (``&``, ``|``, ``!``, ``<->``, ``:*``) are only ever text.
Words and phrases are AND-ed, a phrase's words must be adjacent (the
``english`` configuration drops little words like "of" but keeps their
positions, so "state of the art" is 'state' <3> 'art'), ``author:`` matches
weight C only, exclusions are NOT-ed and an unfinished last word is a prefix.

Ranking follows the SQLite backend's rules exactly (storage/ranking.py): the
newest ``SEARCH_WINDOW`` matches are scored per query word 10 (title), 6
(keywords), 3 (authors) or 1 (abstract), plus a bonus when the title holds all
words in order; upvotes, then recency, break ties. Quoted phrases are checked
as typed on the candidates, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.ports.storage import SearchPage
from bot.query import SearchQuery
from storage.postgresql.connection import PgConnection, to_paper
from storage.ranking import (
    ABSTRACT,
    AUTHORS,
    KEYWORDS,
    SEARCH_WINDOW,
    TITLE,
    TITLE_PHRASE_BONUS,
    word_stem,
)

CONFIG = "'english'"
_ORDER = {
    "relevance": "{t}score DESC, {t}upvotes DESC, {t}published_at DESC NULLS LAST, {t}id DESC",
    "recent": "coalesce({t}published_at, {t}featured_on) DESC NULLS LAST, {t}upvotes DESC,"
    " {t}id DESC",
    "upvotes": "{t}upvotes DESC, coalesce({t}published_at, {t}featured_on) DESC NULLS LAST,"
    " {t}id DESC",
}


def _normalized(column: str) -> str:
    """SQL for ``column`` lower-cased with hyphens, slashes and apostrophes as spaces."""
    return f"replace(replace(replace(lower({column}), '-', ' '), '/', ' '), '''', ' ')"


def _words(column: str) -> str:
    """SQL for ``column`` normalised, with a leading space and '(' as a space.

    Field checks look for ' ' + stem, so a word only counts where it starts.
    """
    return f"' ' || replace({_normalized(column)}, '(', ' ')"


_SCORED_FIELDS = (
    f", {_words('p.title')} AS title_words,"
    f" {_words('p.keywords')} AS keyword_words,"
    f" {_words('p.authors')} AS author_words"
)
# Phrases are matched on stemmed lexemes; this re-checks the words as typed so
# "masked autoencoder" does not also match "masking autoencoders".
_TEXT = "p.title || ' ' || p.summary"
_PHRASE_CHECK = "strpos(" + _normalized(_TEXT) + ", {}) > 0"


def lexemes(term: str, weight: str = "") -> str:
    """A ``to_tsquery`` operand matching the words of ``term`` as a phrase.

    ``weight`` is a suffix such as ``:C`` (one field) or ``:*`` (prefix).
    """
    escaped = term.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'{weight}"


def _prefix(term: str) -> str:
    """``term`` whose last word may be unfinished."""
    head, _, last = term.rpartition(" ")
    return (f"{lexemes(head)} <-> " if head else "") + lexemes(last, ":*")


def tsquery_text(query: SearchQuery) -> str:
    """The ``to_tsquery`` input for ``query``: positive parts AND-ed, exclusions NOT-ed."""
    parts: list[str] = []
    last = len(query.words) - 1
    for index, word in enumerate(query.words):
        parts.append(_prefix(word) if query.prefix_last and index == last else lexemes(word))
    parts.extend(lexemes(phrase) for phrase in query.phrases)
    parts.extend(lexemes(name, ":C") for name in query.authors)
    parts.extend(f"!({lexemes(term)})" for term in query.excluded)
    return " & ".join(f"({part})" for part in parts)


class _Params:
    """Positional parameters ($1, $2...) collected while SQL is written."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def search_sql(
    query: SearchQuery, hits: Sequence[int], offset: int, limit: int
) -> tuple[str, list[Any]]:
    """The SQL statement and positional parameters that rank ``query``'s ``hits``.

    ``hits`` are the ids of the newest matches (:meth:`PgSearch._newest_matches`).
    """
    params = _Params()
    ids = params.add(list(hits))
    where: list[str] = []
    if query.since:
        where.append(f"coalesce(p.published_at, p.featured_on) >= {params.add(query.since)}")
    for phrase in query.phrases:
        # Kept ASCII-only like SQLite's check, so both backends filter alike.
        if phrase.isascii():
            where.append(_PHRASE_CHECK.format(params.add(phrase)))
    scores = []
    # Only relevance order reads the score; other orders skip the string work.
    terms = (*query.words, *query.phrases) if query.sort == "relevance" else ()
    for term in terms:
        stem = params.add(" " + word_stem(term))
        scores.append(
            f"greatest({TITLE} * (strpos(c.title_words, {stem}) > 0)::int,"
            f" {KEYWORDS} * (strpos(c.keyword_words, {stem}) > 0)::int,"
            f" {AUTHORS} * (strpos(c.author_words, {stem}) > 0)::int, {ABSTRACT})"
        )
    if len(scores) > 1:
        together = params.add(" " + word_stem(" ".join(terms)))
        scores.append(f"{TITLE_PHRASE_BONUS} * (strpos(c.title_words, {together}) > 0)::int")
    score = " + ".join(scores) or "0"
    # The same steps as on SQLite: the newest matches (found beforehand), their
    # fields normalised once each, and only the page's rows read in full.
    sql = (
        # = any(array): the planner knows how many ids there are and reads them
        # through the primary key (a join to unnest() was planned as a scan of
        # every paper).
        "WITH candidates AS MATERIALIZED (SELECT p.id, p.upvotes, p.published_at, p.featured_on"
        + (_SCORED_FIELDS if scores else "")
        + f" FROM papers p WHERE p.id = any({ids}::bigint[])"
        + "".join(f" AND {condition}" for condition in where)
        + "),"
        f" page AS (SELECT c.*, {score} AS score, count(*) OVER () AS total FROM candidates c"
        f" ORDER BY {_ORDER[query.sort].format(t='')}"
        f" LIMIT {params.add(limit)} OFFSET {params.add(offset)})"
        " SELECT p.*, page.score, page.total FROM page JOIN papers p ON p.id = page.id"
        f" ORDER BY {_ORDER[query.sort].format(t='page.')}"
    )
    return sql, params.values


# How many of the newest papers are checked one by one before the GIN index is asked.
RECENT_PAPERS = 3000
# Read before the plans are forced: under them max(id) could not use the index.
_NEWEST_ID = "SELECT coalesce(max(id), 0) FROM papers"
_RECENT_MATCHES = (
    "SELECT id FROM papers WHERE id > $2"
    f" AND document @@ to_tsquery({CONFIG}, $1) ORDER BY id DESC LIMIT $3"
)
_OLDER_MATCHES = (
    "SELECT id FROM papers WHERE id <= $2"
    f" AND document @@ to_tsquery({CONFIG}, $1) ORDER BY id DESC LIMIT $3"
)
# Plans forced for the rest of the transaction. The planner cannot tell which
# step is cheap from its estimates (a phrase of common words looks common, and
# the newest papers' id range is a subquery), so each step says how to read:
# walking the primary key from the newest paper down ...
_IN_ID_ORDER = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
# ... or through bitmap scans of the indexes (GIN), never in order.
_INDEX_ONLY = (
    "SET LOCAL enable_bitmapscan = on; SET LOCAL enable_seqscan = off;"
    " SET LOCAL enable_indexscan = off"
)


class PgSearch(PgConnection):
    """Full-text search of the storage port."""

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """Full-text search; fetches one extra row to learn whether more exist.

        The last word is expanded as a prefix only when it matches nothing as
        a whole word, as on SQLite.
        """
        if query.prefix_last and await self._matches_anything(lexemes(query.words[-1])):
            query = replace(query, prefix_last=False)
        hits = await self._newest_matches(tsquery_text(query), SEARCH_WINDOW)
        sql, params = search_sql(query, hits, offset, limit + 1)
        rows = await self._pool.fetch(sql, *params)
        # Past the last page nothing tells the total; page one without rows has none.
        total = rows[0]["total"] if rows else (0 if offset == 0 else None)
        return SearchPage(
            tuple(to_paper(row) for row in rows[:limit]),
            len(rows) > limit,
            total,
            total_capped=total is not None and total >= SEARCH_WINDOW,
        )

    async def _newest_matches(self, match: str, window: int) -> list[int]:
        """The ids of the newest ``window`` papers matching ``match``, newest first.

        In two steps, so neither a common nor a rare query reads much: the
        newest ``RECENT_PAPERS`` papers are checked in id order (a common
        word fills the window there), and only if that leaves the window short
        are the older matches found through the GIN index (a rare word or
        phrase: few matches to sort). Walking all papers in id order for a
        rare phrase, as the planner may choose, read every paper's document.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            floor = int(await conn.fetchval(_NEWEST_ID)) - RECENT_PAPERS
            await conn.execute(_IN_ID_ORDER)
            found = [row[0] for row in await conn.fetch(_RECENT_MATCHES, match, floor, window)]
            if len(found) < window:
                await conn.execute(_INDEX_ONLY)
                rows = await conn.fetch(_OLDER_MATCHES, match, floor, window - len(found))
                found += [row[0] for row in rows]
        return found

    async def _matches_anything(self, expression: str) -> bool:
        """Whether any paper matches ``expression`` (the newest match, found as above)."""
        return bool(await self._newest_matches(expression, 1))
