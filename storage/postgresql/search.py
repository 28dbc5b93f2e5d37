"""Translate a :class:`~bot.query.SearchQuery` into PostgreSQL full-text SQL.

Matching. Papers carry a weighted ``tsvector`` (title A, Hugging Face keywords
B, authors C, abstract D; migration 002) with a GIN index, built with the
``simple`` configuration: words as written, no stemmer ("tokenizer" is not
"token"), as SQLite's index. The query is one ``to_tsquery('simple', ...)``
built here from the parsed terms only: every term is a quoted lexeme string
(quotes and backslashes escaped), so operators typed by a user (``&``, ``|``,
``!``, ``<->``, ``:*``) are only ever text. As on SQLite
(storage/sqlite/fts.py), each query word matches any of its spelling variants
(:func:`bot.spelling.word_variants`) as an OR group, two words that also make a
compound match apart or joined, phrases match any of their variants with
adjacent words, ``author:`` matches weight C only, exclusions NOT every variant
and an unfinished last word is a prefix or one of its variants.

Ranking follows the SQLite backend's rules exactly (storage/ranking.py): the
newest ``SEARCH_WINDOW`` matches are scored per query word 10 (title), 6
(keywords), 3 (authors) or 1 (abstract), any variant counting, plus a bonus
when the title holds all words in order; upvotes, then recency, break ties.
Quoted phrases are checked as typed (or as a variant) on the candidates, as on
SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.ports.storage import SearchPage
from bot.query import SearchQuery
from bot.spelling import compound_pairs, word_variants
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

CONFIG = "'simple'"
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
# Phrases are matched on the parser's tokens; this re-checks the words as typed
# (or a variant) across title and abstract, as SQLite does.
_TEXT = "p.title || ' ' || p.summary"
_PHRASE_CHECK = "strpos(" + _normalized(_TEXT) + ", {}) > 0"


def lexemes(term: str, weight: str = "") -> str:
    """A ``to_tsquery`` operand matching the words of ``term`` as a phrase.

    ``weight`` is a suffix such as ``:C`` (one field) or ``:*`` (prefix).
    """
    escaped = term.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'{weight}"


def _any_of(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"


def word_group(word: str) -> str:
    """The ``to_tsquery`` operand for one word: any of its spelling variants."""
    return _any_of([lexemes(form) for form in word_variants(word)])


def tsquery_text(query: SearchQuery) -> str:
    """The ``to_tsquery`` input for ``query``: positive parts AND-ed, exclusions NOT-ed.

    Each word and phrase is an OR group of its spelling variants; an
    unfinished last word is its prefix or one of its variants.
    """
    parts: list[str] = []
    groups = compound_pairs(query.required_words)
    last = len(groups) - 1
    for index, (word, joined) in enumerate(groups):
        if query.prefix_last and index == last and joined is None:
            forms = word_variants(word)
            parts.append(_any_of([_prefix(word), *(lexemes(form) for form in forms[1:])]))
        elif joined is not None:
            first, second = word.split()
            apart = f"({word_group(first)} & {word_group(second)})"
            parts.append(f"({apart} | {word_group(joined)})")
        else:
            parts.append(word_group(word))
    for phrase in query.phrases:
        parts.append(_any_of([lexemes(form) for form in word_variants(phrase)]))
    parts.extend(lexemes(name, ":C") for name in query.authors)
    parts.extend(f"!{word_group(term)}" for term in query.excluded)
    return " & ".join(f"({part})" for part in parts)


def _prefix(term: str) -> str:
    """``term`` whose last word may be unfinished."""
    head, _, last = term.rpartition(" ")
    return (f"{lexemes(head)} <-> " if head else "") + lexemes(last, ":*")


def _contains_any(column: str, marks: list[str]) -> str:
    """SQL: ``column`` holds any of the parameters ``marks``."""
    return " OR ".join(f"strpos({column}, {mark}) > 0" for mark in marks)


class _Params:
    """Positional parameters ($1, $2...) collected while SQL is written."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _filters(query: SearchQuery, params: _Params) -> list[str]:
    """The conditions on papers ``p`` beyond the tsquery (since:, phrases as typed)."""
    where: list[str] = []
    if query.since:
        where.append(f"coalesce(p.published_at, p.featured_on) >= {params.add(query.since)}")
    for phrase in query.phrases:
        # Kept ASCII-only like SQLite's check, so both backends filter alike.
        if phrase.isascii():
            forms = word_variants(phrase)
            checks = " OR ".join(_PHRASE_CHECK.format(params.add(form)) for form in forms)
            where.append(f"({checks})")
    return where


def matching_sql(query: SearchQuery, keys: Sequence[str]) -> tuple[str, list[Any]]:
    """The SQL statement and parameters that pick the papers among ``keys`` matching
    ``query``: the same tsquery and conditions as search, no ranking."""
    params = _Params()
    wanted = params.add(list(keys))
    match = params.add(tsquery_text(query))
    where = _filters(query, params)
    sql = (
        f"SELECT p.paper_key FROM papers p WHERE p.paper_key = any({wanted}::text[])"
        f" AND p.document @@ to_tsquery({CONFIG}, {match})"
        + "".join(f" AND {condition}" for condition in where)
    )
    return sql, params.values


def search_sql(
    query: SearchQuery, hits: Sequence[int], offset: int, limit: int
) -> tuple[str, list[Any]]:
    """The SQL statement and positional parameters that rank ``query``'s ``hits``.

    ``hits`` are the ids of the newest matches (:meth:`PgSearch._newest_matches`).
    """
    params = _Params()
    ids = params.add(list(hits))
    where = _filters(query, params)
    scores = []
    # Only relevance order reads the score; other orders skip the string work.
    terms = (*query.words, *query.phrases) if query.sort == "relevance" else ()
    for term in terms:
        stems = [
            params.add(stem)
            for stem in dict.fromkeys(" " + word_stem(form) for form in word_variants(term))
        ]
        scores.append(
            f"greatest({TITLE} * ({_contains_any('c.title_words', stems)})::int,"
            f" {KEYWORDS} * ({_contains_any('c.keyword_words', stems)})::int,"
            f" {AUTHORS} * ({_contains_any('c.author_words', stems)})::int, {ABSTRACT})"
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
# Older papers are searched in id ranges this many times longer each step
# (30,000 ids below the recent ones, then 300,000, ...).
RANGE_GROWTH = 10
# How many of the newest papers the prefix check reads before the GIN index is asked.
PREFIX_CHECK_PAPERS = 300
# Read before the plans are forced: under them max(id) could not use the index.
_NEWEST_ID = "SELECT coalesce(max(id), 0) FROM papers"
_RECENT_MATCHES = (
    "SELECT id FROM papers WHERE id > $2"
    f" AND document @@ to_tsquery({CONFIG}, $1) ORDER BY id DESC LIMIT $3"
)
_OLDER_MATCHES = (
    "SELECT id FROM papers WHERE id > $2 AND id <= $3"
    f" AND document @@ to_tsquery({CONFIG}, $1) ORDER BY id DESC LIMIT $4"
)
_ANY_MATCH = f"SELECT EXISTS (SELECT FROM papers WHERE document @@ to_tsquery({CONFIG}, $1))"
# Plans forced for the rest of the transaction. The planner cannot tell which
# step is cheap from its estimates (a phrase of common words looks common, and
# the newest papers' id range is a subquery), so each step says how to read:
# walking the primary key from the newest paper down ...
_IN_ID_ORDER = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
# ... or through bitmap scans of the indexes, never in order: the GIN index's
# matches AND-ed with the primary key's id range (BitmapAnd), so only the
# matches inside the range are read from the table. A common word's bitmap
# outgrows the default 4 MB work_mem at a million papers and turns lossy: then
# every paper on its pages is re-checked, its whole document read.
_INDEX_ONLY = (
    "SET LOCAL enable_bitmapscan = on; SET LOCAL enable_seqscan = off;"
    " SET LOCAL enable_indexscan = off; SET LOCAL work_mem = '32MB'"
)


class PgSearch(PgConnection):
    """Full-text search of the storage port."""

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """Full-text search; fetches one extra row to learn whether more exist.

        The last word is expanded as a prefix only when it matches nothing as
        a whole word, as on SQLite.
        """
        query = await self._finished_words(query)
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

    async def matching_keys(self, query: SearchQuery, keys: Sequence[str]) -> set[str]:
        """The papers among ``keys`` that ``query`` matches, as :meth:`search` matches."""
        if not keys:
            return set()
        sql, params = matching_sql(await self._finished_words(query), keys)
        return {row[0] for row in await self._pool.fetch(sql, *params)}

    async def _finished_words(self, query: SearchQuery) -> SearchQuery:
        """``query`` with its last word taken as finished when it matches anything as a
        whole word (search's rule for an unfinished last word)."""
        if query.prefix_last and await self._matches_anything(word_group(query.words[-1])):
            return replace(query, prefix_last=False)
        return query

    async def _newest_matches(self, match: str, window: int) -> list[int]:
        """The ids of the newest ``window`` papers matching ``match``, newest first.

        In steps, so neither a common nor a rare query reads much: the newest
        ``RECENT_PAPERS`` papers are checked in id order (a common word fills
        the window there); the older ones through the GIN index, in id ranges
        growing ``RANGE_GROWTH`` times each step (the first one shorter when
        the recent papers held matches), until the window is full. A
        word matching a few percent of papers stops after a short range
        instead of reading and sorting every older match (seconds at a million
        papers); a rare word or phrase costs a few small index lookups.
        Walking all papers in id order for a rare phrase, as the planner may
        choose, read every paper's document.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            upper = int(await conn.fetchval(_NEWEST_ID)) - RECENT_PAPERS
            await conn.execute(_IN_ID_ORDER)
            found = [row[0] for row in await conn.fetch(_RECENT_MATCHES, match, upper, window)]
            span = RECENT_PAPERS * RANGE_GROWTH
            if found:
                # The recent papers' share of matches tells how far down the
                # missing ones lie: twice that is read first (fewer rows).
                span = min(span, 2 * RECENT_PAPERS * (window - len(found)) // len(found) + 1)
            if len(found) < window and upper > 0:
                await conn.execute(_INDEX_ONLY)
            while len(found) < window and upper > 0:
                lower = max(upper - span, 0)
                rows = await conn.fetch(_OLDER_MATCHES, match, lower, upper, window - len(found))
                found += [row[0] for row in rows]
                upper, span = lower, span * RANGE_GROWTH
        return found

    async def _matches_anything(self, expression: str) -> bool:
        """Whether any paper matches ``expression``.

        The newest ``PREFIX_CHECK_PAPERS`` papers in id order hold a common
        word; otherwise one GIN lookup answers, which is cheap for a rare word
        and stops at the first match (unlike :meth:`_newest_matches`, nothing
        needs sorting). Walking all ``RECENT_PAPERS`` first cost a word found
        nowhere as much as the search itself.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            floor = int(await conn.fetchval(_NEWEST_ID)) - PREFIX_CHECK_PAPERS
            await conn.execute(_IN_ID_ORDER)
            if await conn.fetch(_RECENT_MATCHES, expression, floor, 1):
                return True
            await conn.execute(_INDEX_ONLY)
            return bool(await conn.fetchval(_ANY_MATCH, expression))
