"""Papers and full-text search on SQLite (FTS5)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import aiosqlite
import numpy as np

from bot.models import Paper
from bot.ports.embedder import Vectors
from bot.ports.storage import SearchPage, VectorChanges
from bot.query import SearchQuery
from storage.batches import upsert_each
from storage.ranking import SEARCH_WINDOW
from storage.sqlite.connection import SqliteConnection, _now
from storage.sqlite.fts import TEXT_COLUMNS, matching_sql, search_sql, word_group
from storage.vectors import REMOVED_SQL, WRITTEN_SQL, merge_changes

AUTHOR_SEP = "; "

_PAPER_COLUMNS = (
    "paper_key, arxiv_id, title, summary, authors, keywords, published_at, featured_on,"
    " upvotes, ai_summary, github_repo, github_stars, project_page"
)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(AUTHOR_SEP) if part)


def paper_row(paper: Paper) -> tuple[Any, ...]:
    """The column values of ``paper`` in ``_PAPER_COLUMNS`` order."""
    return (
        paper.key,
        paper.arxiv_id,
        paper.title,
        paper.summary,
        AUTHOR_SEP.join(paper.authors),
        AUTHOR_SEP.join(paper.ai_keywords),
        _iso(paper.published_at),
        _iso(paper.featured_on),
        paper.upvotes,
        paper.ai_summary,
        paper.github_repo,
        paper.github_stars,
        paper.project_page,
    )


def _paper(row: aiosqlite.Row) -> Paper:
    return Paper(
        title=row["title"],
        arxiv_id=row["arxiv_id"],
        summary=row["summary"],
        authors=_split(row["authors"]),
        published_at=_date(row["published_at"]),
        featured_on=_date(row["featured_on"]),
        upvotes=row["upvotes"],
        ai_summary=row["ai_summary"],
        ai_keywords=_split(row["keywords"]),
        github_repo=row["github_repo"],
        github_stars=row["github_stars"],
        project_page=row["project_page"],
    )


# An upsert never lets an empty incoming field erase what is stored: a Hugging
# Face item with a missing abstract must not wipe the abstract we already have.
# Upvotes are the latest count, except that unknown upvotes (NULL, an arXiv
# paper) store 0 for a new paper and keep the count of a known one; ?9 is the
# upvotes parameter as given, since excluded.upvotes is already coalesced.
_UPSERT_SQL = f"""
INSERT INTO papers ({_PAPER_COLUMNS}, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, 0), ?, ?, ?, ?, ?)
ON CONFLICT (paper_key) DO UPDATE SET
    title = excluded.title,
    summary = CASE WHEN excluded.summary <> '' THEN excluded.summary ELSE summary END,
    authors = CASE WHEN excluded.authors <> '' THEN excluded.authors ELSE authors END,
    keywords = CASE WHEN excluded.keywords <> '' THEN excluded.keywords ELSE keywords END,
    published_at = coalesce(excluded.published_at, published_at),
    featured_on = max(
        coalesce(excluded.featured_on, featured_on), coalesce(featured_on, excluded.featured_on)
    ),
    upvotes = coalesce(?9, upvotes),
    ai_summary = coalesce(excluded.ai_summary, ai_summary),
    github_repo = coalesce(excluded.github_repo, github_repo),
    github_stars = coalesce(excluded.github_stars, github_stars),
    project_page = coalesce(excluded.project_page, project_page),
    updated_at = excluded.updated_at
"""

# upsert_papers maintains the full-text index itself (migration 002 says why).
# Index rows are keyed by the negative paper id (migration 003 says why), and
# are written in ascending key order: FTS5 flushes its buffer to a new segment
# whenever a key is lower than the one before. The pairs column is computed
# from the text columns by word_pairs() (storage/sqlite/word_pairs.py).
_TEXT_COLUMNS = ", ".join(TEXT_COLUMNS.split())
_INDEXED = f"-id, {_TEXT_COLUMNS}"
_INDEXED_BY_KEYS = (
    f"SELECT {_INDEXED} FROM papers WHERE paper_key IN (SELECT value FROM json_each(?))"
)
_BY_ROWIDS = "FROM papers WHERE id IN (SELECT -value FROM json_each(?)) ORDER BY id DESC"
_INDEXED_BY_ROWIDS = f"SELECT {_INDEXED} {_BY_ROWIDS}"
_INDEX_INSERT = (
    f"INSERT INTO papers_fts (rowid, {_TEXT_COLUMNS}, pairs)"
    f" SELECT {_INDEXED}, word_pairs({_TEXT_COLUMNS})"
)
_INDEX_NEW = f"{_INDEX_INSERT} FROM papers WHERE id > ? ORDER BY id DESC"
_INDEX_ROWIDS = f"{_INDEX_INSERT} {_BY_ROWIDS}"
_MERGE_INDEX = "INSERT INTO papers_fts (papers_fts, rank) VALUES ('merge', ?)"
_INDEX_DELETE = (
    f"INSERT INTO papers_fts (papers_fts, rowid, {_TEXT_COLUMNS}, pairs)"
    " VALUES ('delete', ?1, ?2, ?3, ?4, ?5, word_pairs(?2, ?3, ?4, ?5))"
)


# Errors of one paper's values, not of the database: its batch is retried
# paper by paper so the bad one alone is skipped.
_PAPER_ERRORS = (
    UnicodeEncodeError,
    OverflowError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
)


# Every day a paper was listed on, from a JSON list of [paper_key, day] pairs.
_FEATURED_DAYS = (
    "INSERT OR IGNORE INTO featured_days (day, paper_id)"
    " SELECT json_extract(pair.value, '$[1]'), papers.id FROM json_each(?) pair"
    " JOIN papers ON papers.paper_key = json_extract(pair.value, '$[0]')"
)


class SqlitePapers(SqliteConnection):
    """The papers-and-search part of the storage port."""

    # papers -------------------------------------------------------------------
    async def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert or update papers by key in one transaction, index included.

        New papers are indexed with one statement; an updated paper is
        re-indexed only when its title, keywords, authors or abstract changed
        (an upvote refresh leaves the index alone).
        """
        now = _now()
        rows = [(*paper_row(paper), now) for paper in papers]
        # One paper's values may be refused (text SQLite cannot encode, a number
        # beyond 64 bits): the others are then stored and only that one skipped.
        return await upsert_each(rows, self._upsert_rows, _PAPER_ERRORS)

    async def _reindex_changed(self, old: list[aiosqlite.Row]) -> None:
        """Replace the index entries of updated papers whose indexed text changed."""
        if not old:
            return
        rowids = json.dumps([row[0] for row in old])
        current = {row[0]: tuple(row) for row in await self._all(_INDEXED_BY_ROWIDS, (rowids,))}
        changed = sorted(tuple(row) for row in old if current.get(row[0]) != tuple(row))
        if not changed:
            return
        await self._db.executemany(_INDEX_DELETE, changed)
        rowids = json.dumps([row[0] for row in changed])
        await self._db.execute(_INDEX_ROWIDS, (rowids,))
        # Their vectors describe the old text: embedded again by the next pass.
        await self._db.execute(
            "DELETE FROM paper_vectors WHERE paper_id IN (SELECT -value FROM json_each(?))",
            (rowids,),
        )

    async def get_paper(self, key: str) -> Paper | None:
        """A paper by key."""
        row = await self._one("SELECT * FROM papers WHERE paper_key = ?", (key,))
        return _paper(row) if row else None

    async def get_papers(self, keys: Sequence[str]) -> list[Paper]:
        """Papers by key in the order given, in one query."""
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        rows = await self._all(f"SELECT * FROM papers WHERE paper_key IN ({marks})", keys)
        found = {row["paper_key"]: _paper(row) for row in rows}
        return [found[key] for key in keys if key in found]

    async def count_papers(self) -> int:
        """How many papers are stored."""
        row = await self._one("SELECT count(*) FROM papers")
        return int(row[0]) if row else 0

    async def merge_search_index(self, pages: int) -> bool:
        """One FTS5 'merge' step of about ``pages`` pages; True while more is left.

        A positive page count only merges levels holding at least 'usermerge'
        (4) segments, the shape FTS5 itself keeps with its default automerge;
        migration 002 raised automerge so ingest merges less in line.
        """
        async with self._transaction() as db:
            before = db.total_changes
            await db.execute(_MERGE_INDEX, (pages,))
        # FTS5 documents that a step which found nothing to merge changes
        # fewer than two rows.
        return self._db.total_changes - before >= 2

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """Full-text search; fetches one extra row to learn whether more exist.

        The last word is expanded as a prefix only when it matches nothing as
        a whole word: a finished word stays precise (and fast), an unfinished
        one still finds papers.
        """
        query = await self._finished_words(query)
        sql, params = search_sql(query, offset, limit + 1)
        rows = await self._search_all(sql, params)
        # Past the last page nothing tells the total; page one without rows has none.
        total = rows[0]["total"] if rows else (0 if offset == 0 else None)
        return SearchPage(
            tuple(_paper(row) for row in rows[:limit]),
            len(rows) > limit,
            total,
            total_capped=total is not None and total >= SEARCH_WINDOW,
        )

    async def matching_keys(self, query: SearchQuery, keys: Sequence[str]) -> set[str]:
        """The papers among ``keys`` that ``query`` matches, as :meth:`search` matches."""
        if not keys:
            return set()
        sql, params = matching_sql(await self._finished_words(query), list(keys))
        return {row[0] for row in await self._search_all(sql, params)}

    async def _finished_words(self, query: SearchQuery) -> SearchQuery:
        """``query`` with its last word taken as finished when it matches anything as a
        whole word (search's rule for an unfinished last word)."""
        if query.prefix_last and await self._matches_anything(word_group(query.words[-1])):
            return replace(query, prefix_last=False)
        return query

    async def _matches_anything(self, expression: str) -> bool:
        rows = await self._search_all(
            "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? LIMIT 1", (expression,)
        )
        return bool(rows)

    async def latest_featured_day(self, before: date) -> date | None:
        """Most recent featured (or sample list) day before ``before``."""
        row = await self._one(
            "SELECT max(day) FROM (SELECT max(day) AS day FROM featured_days"
            " WHERE day < :before"
            " UNION ALL SELECT max(day) FROM sample_lists WHERE day < :before)",
            {"before": before.isoformat()},
        )
        return _date(row[0]) if row else None

    async def papers_featured_between(self, first: date, last: date) -> list[Paper]:
        """Papers featured on any day in ``[first, last]``, most upvoted first.

        Papers of sample lists follow in their lists' order (they have no
        upvotes); a paper in several lists of the range comes once.
        """
        rows = await self._all(
            "SELECT p.*, NULL AS sample_rank FROM papers p WHERE p.id IN"
            " (SELECT paper_id FROM featured_days WHERE day BETWEEN :first AND :last)"
            " UNION ALL SELECT p.*, s.rank FROM sample_lists s JOIN papers p ON p.id = s.paper_id"
            " WHERE s.day BETWEEN :first AND :last"
            " ORDER BY upvotes DESC, sample_rank, published_at DESC, id",
            {"first": first.isoformat(), "last": last.isoformat()},
        )
        papers: dict[str, Paper] = {}
        for row in rows:
            papers.setdefault(row["paper_key"], _paper(row))
        return list(papers.values())

    async def latest_papers(self, limit: int) -> list[Paper]:
        """Newest papers by publication date."""
        rows = await self._all(
            "SELECT * FROM papers ORDER BY coalesce(published_at, featured_on) DESC NULLS LAST,"
            " upvotes DESC LIMIT ?",
            (limit,),
        )
        return [_paper(row) for row in rows]

    async def _upsert_rows(self, rows: list[tuple[Any, ...]]) -> int:
        keys = json.dumps([row[0] for row in rows])
        days = json.dumps([[row[0], row[7]] for row in rows if row[7]])
        async with self._transaction() as db:
            # IMMEDIATE: the id high-water mark and the old texts read below
            # must still hold when the rows are written.
            await db.execute("BEGIN IMMEDIATE")
            before = await self._one("SELECT coalesce(max(id), 0) FROM papers")
            old = await self._all(_INDEXED_BY_KEYS, (keys,))
            await db.executemany(_UPSERT_SQL, rows)
            await db.execute(_INDEX_NEW, (before[0] if before else 0,))
            await self._reindex_changed(old)
            await db.execute(_FEATURED_DAYS, (days,))
        return len(rows)

    async def save_sample_list(self, day: date, keys: Sequence[str]) -> int:
        """Replace ``day``'s sample list with the stored papers among ``keys``, in order."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM sample_lists WHERE day = ?", (day.isoformat(),))
            await db.execute(
                "INSERT INTO sample_lists (day, rank, paper_id)"
                " SELECT ?, row_number() OVER (ORDER BY k.key), p.id"
                " FROM json_each(?) k JOIN papers p ON p.paper_key = k.value",
                (day.isoformat(), json.dumps(list(keys))),
            )
        row = await self._one("SELECT count(*) FROM sample_lists WHERE day = ?", (day.isoformat(),))
        return int(row[0]) if row else 0

    async def is_sample_day(self, day: date) -> bool:
        """Whether ``day``'s list is bundled sample data."""
        row = await self._one(
            "SELECT 1 FROM sample_lists WHERE day = ? LIMIT 1", (day.isoformat(),)
        )
        return row is not None

    # vectors -------------------------------------------------------------------
    async def save_vectors(self, model: str, keys: Sequence[str], vectors: Vectors) -> None:
        """Store each paper's vector as float16 bytes, replacing an older one."""
        blobs = np.asarray(vectors, dtype=np.float16)
        rows = [(model, blob.tobytes(), key) for key, blob in zip(keys, blobs, strict=True)]
        async with self._transaction() as db:
            await db.executemany(
                "INSERT OR REPLACE INTO paper_vectors (model, paper_id, vector)"
                " SELECT ?, id, ? FROM papers WHERE paper_key = ?",
                rows,
            )

    async def papers_without_vectors(self, model: str, limit: int) -> list[Paper]:
        """Papers lacking a vector of ``model``, by id."""
        rows = await self._all(
            "SELECT p.* FROM papers p WHERE NOT EXISTS (SELECT 1 FROM paper_vectors v"
            " WHERE v.model = ? AND v.paper_id = p.id) ORDER BY p.id LIMIT ?",
            (model, limit),
        )
        return [_paper(row) for row in rows]

    async def count_vectors(self, model: str) -> int:
        """How many papers have a vector of ``model``."""
        row = await self._one("SELECT count(*) FROM paper_vectors WHERE model = ?", (model,))
        return int(row[0]) if row else 0

    async def vector_changes(self, model: str, after: int, limit: int) -> VectorChanges:
        """Vectors written and removed after change number ``after`` (migration 011)."""
        params = (model, after, limit)
        written = await self._all(WRITTEN_SQL.format("?", "?", "?"), params)
        removed = await self._all(REMOVED_SQL.format("?", "?", "?"), params)
        return merge_changes(written, removed, after, limit)
