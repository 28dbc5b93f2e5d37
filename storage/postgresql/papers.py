"""Papers, featured days and sample lists on PostgreSQL (search is in search.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import asyncpg
import numpy as np

from bot.models import Paper
from bot.ports.embedder import Vectors
from bot.ports.storage import VectorChanges
from storage.batches import upsert_each
from storage.postgresql.connection import (
    AUTHOR_SEP,
    PAPER_COLUMNS,
    PgConnection,
    affected,
    to_paper,
    utc_now,
)
from storage.vectors import REMOVED_SQL, WRITTEN_SQL, merge_changes

# A whole batch in one statement: one array per column, unnested into rows.
# An upsert never lets an empty incoming field erase what is stored: a Hugging
# Face item with a missing abstract must not wipe the abstract we already have.
# Upvotes are the latest count (they can go down), except that unknown upvotes
# (None, an arXiv paper) store 0 for a new paper and keep a known one's count:
# such rows go in the statement that keeps them. featured_on keeps the latest
# day. The search document is a generated column, so it follows every change;
# a trigger drops the vectors of a paper whose text changed (migration 002).
_UPSERT_SQL = f"""
INSERT INTO papers ({PAPER_COLUMNS}, updated_at)
SELECT *, $14::timestamptz
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::date[], $8::date[], $9::int[], $10::text[], $11::text[], $12::int[],
            $13::text[])
ON CONFLICT (paper_key) DO UPDATE SET
    title = excluded.title,
    summary = CASE WHEN excluded.summary <> '' THEN excluded.summary ELSE papers.summary END,
    authors = CASE WHEN excluded.authors <> '' THEN excluded.authors ELSE papers.authors END,
    keywords = CASE WHEN excluded.keywords <> '' THEN excluded.keywords ELSE papers.keywords END,
    published_at = coalesce(excluded.published_at, papers.published_at),
    featured_on = greatest(excluded.featured_on, papers.featured_on),
    upvotes = {{upvotes}},
    ai_summary = coalesce(excluded.ai_summary, papers.ai_summary),
    github_repo = coalesce(excluded.github_repo, papers.github_repo),
    github_stars = coalesce(excluded.github_stars, papers.github_stars),
    project_page = coalesce(excluded.project_page, papers.project_page),
    updated_at = excluded.updated_at
"""
_UPSERT_KNOWN_UPVOTES = _UPSERT_SQL.format(upvotes="excluded.upvotes")
_UPSERT_UNKNOWN_UPVOTES = _UPSERT_SQL.format(upvotes="papers.upvotes")
_UPVOTES = 8  # the index of upvotes in a row of PAPER_COLUMNS
_FEATURED_DAYS = (
    "INSERT INTO featured_days (day, paper_id)"
    " SELECT r.day, p.id FROM unnest($1::text[], $2::date[]) AS r(key, day)"
    " JOIN papers p ON p.paper_key = r.key WHERE r.day IS NOT NULL ON CONFLICT DO NOTHING"
)

# Errors of one paper's values, not of the database: its batch is retried
# paper by paper so the bad one alone is skipped.
_PAPER_ERRORS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    OverflowError,
    UnicodeEncodeError,
)


def _column_values(paper: Paper) -> tuple[Any, ...]:
    """The column values of ``paper`` in ``PAPER_COLUMNS`` order."""
    return (
        paper.key,
        paper.arxiv_id,
        paper.title,
        paper.summary,
        AUTHOR_SEP.join(paper.authors),
        AUTHOR_SEP.join(paper.ai_keywords),
        paper.published_at,
        paper.featured_on,
        paper.upvotes,
        paper.ai_summary,
        paper.github_repo,
        paper.github_stars,
        paper.project_page,
    )


def _generations(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """``rows`` split so no key appears twice in one part, order kept.

    One INSERT ... ON CONFLICT cannot update a row twice; a key given twice in
    a batch goes in a later statement, so it ends as its last version.
    """
    parts: list[list[tuple[Any, ...]]] = []
    seen: dict[str, int] = {}
    for row in rows:
        index = seen.get(row[0], -1) + 1
        seen[row[0]] = index
        if index == len(parts):
            parts.append([])
        parts[index].append(row)
    return parts


class PgPapers(PgConnection):
    """The papers part of the storage port (without search)."""

    async def upsert_papers(self, papers: Iterable[Paper]) -> int:
        """Insert or update papers by key, a batch in one statement and one transaction.

        A paper whose values the server refuses (a NUL character, a number
        out of range) is skipped with a warning; the rest of the batch is stored.
        """
        rows = [_column_values(paper) for paper in papers]
        if not rows:
            return 0
        return await upsert_each(rows, self._upsert_rows, _PAPER_ERRORS)

    async def _upsert_rows(self, rows: list[tuple[Any, ...]]) -> int:
        moment = utc_now()
        async with self._transaction() as conn:
            for part in _generations(rows):
                known = [row for row in part if row[_UPVOTES] is not None]
                unknown = [
                    (*row[:_UPVOTES], 0, *row[_UPVOTES + 1 :])
                    for row in part
                    if row[_UPVOTES] is None
                ]
                for sql, group in (
                    (_UPSERT_KNOWN_UPVOTES, known),
                    (_UPSERT_UNKNOWN_UPVOTES, unknown),
                ):
                    if not group:
                        continue
                    columns = [list(column) for column in zip(*group, strict=True)]
                    await conn.execute(sql, *columns, moment)
                    await conn.execute(_FEATURED_DAYS, columns[0], columns[7])
        return len(rows)

    async def get_paper(self, key: str) -> Paper | None:
        """A paper by key."""
        row = await self._pool.fetchrow("SELECT * FROM papers WHERE paper_key = $1", key)
        return to_paper(row) if row else None

    async def get_papers(self, keys: Sequence[str]) -> list[Paper]:
        """Papers by key in the order given, in one query."""
        if not keys:
            return []
        rows = await self._pool.fetch(
            "SELECT * FROM papers WHERE paper_key = any($1::text[])", list(keys)
        )
        found = {row["paper_key"]: to_paper(row) for row in rows}
        return [found[key] for key in keys if key in found]

    async def count_papers(self) -> int:
        """How many papers are stored."""
        return int(await self._pool.fetchval("SELECT count(*) FROM papers"))

    async def latest_featured_day(self, before: date) -> date | None:
        """Most recent featured (or sample list) day before ``before``."""
        day: date | None = await self._pool.fetchval(
            "SELECT greatest((SELECT max(day) FROM featured_days WHERE day < $1),"
            " (SELECT max(day) FROM sample_lists WHERE day < $1))",
            before,
        )
        return day

    async def papers_featured_between(self, first: date, last: date) -> list[Paper]:
        """Papers featured on any day in ``[first, last]``, most upvoted first.

        Papers of sample lists follow in their lists' order (they have no
        upvotes); a paper in several lists of the range comes once.
        """
        rows = await self._pool.fetch(
            "SELECT p.*, NULL::integer AS sample_rank FROM papers p WHERE p.id IN"
            " (SELECT paper_id FROM featured_days WHERE day BETWEEN $1 AND $2)"
            " UNION ALL SELECT p.*, s.rank FROM sample_lists s JOIN papers p ON p.id = s.paper_id"
            " WHERE s.day BETWEEN $1 AND $2"
            " ORDER BY upvotes DESC, sample_rank NULLS FIRST, published_at DESC NULLS LAST, id",
            first,
            last,
        )
        papers: dict[str, Paper] = {}
        for row in rows:
            papers.setdefault(row["paper_key"], to_paper(row))
        return list(papers.values())

    async def latest_papers(self, limit: int) -> list[Paper]:
        """Newest papers by publication date."""
        rows = await self._pool.fetch(
            "SELECT * FROM papers ORDER BY coalesce(published_at, featured_on) DESC NULLS LAST,"
            " upvotes DESC LIMIT $1",
            limit,
        )
        return [to_paper(row) for row in rows]

    async def save_sample_list(self, day: date, keys: Sequence[str]) -> int:
        """Replace ``day``'s sample list with the stored papers among ``keys``, in order."""
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM sample_lists WHERE day = $1", day)
            status: str = await conn.execute(
                "INSERT INTO sample_lists (day, rank, paper_id)"
                " SELECT $1, row_number() OVER (ORDER BY k.n), p.id"
                " FROM unnest($2::text[]) WITH ORDINALITY AS k(key, n)"
                " JOIN papers p ON p.paper_key = k.key",
                day,
                list(keys),
            )
        return affected(status)

    async def is_sample_day(self, day: date) -> bool:
        """Whether ``day``'s list is bundled sample data."""
        found = await self._pool.fetchval("SELECT 1 FROM sample_lists WHERE day = $1 LIMIT 1", day)
        return found is not None

    # vectors -------------------------------------------------------------------
    async def save_vectors(self, model: str, keys: Sequence[str], vectors: Vectors) -> None:
        """Store each paper's vector as float16 bytes, replacing an older one."""
        blobs = np.asarray(vectors, dtype=np.float16)
        # One statement cannot write a row twice: a key given twice keeps its last vector.
        latest = {key: blob.tobytes() for key, blob in zip(keys, blobs, strict=True)}
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO paper_vectors (model, paper_id, vector)"
                " SELECT $1, p.id, r.vector FROM unnest($2::text[], $3::bytea[]) AS r(key, vector)"
                " JOIN papers p ON p.paper_key = r.key"
                " ON CONFLICT (model, paper_id) DO UPDATE SET vector = excluded.vector",
                model,
                list(latest),
                list(latest.values()),
            )

    async def papers_without_vectors(self, model: str, limit: int) -> list[Paper]:
        """Papers lacking a vector of ``model``, by id."""
        rows = await self._pool.fetch(
            "SELECT p.* FROM papers p WHERE NOT EXISTS (SELECT 1 FROM paper_vectors v"
            " WHERE v.model = $1 AND v.paper_id = p.id) ORDER BY p.id LIMIT $2",
            model,
            limit,
        )
        return [to_paper(row) for row in rows]

    async def count_vectors(self, model: str) -> int:
        """How many papers have a vector of ``model``."""
        return int(
            await self._pool.fetchval("SELECT count(*) FROM paper_vectors WHERE model = $1", model)
        )

    async def vector_changes(self, model: str, after: int, limit: int) -> VectorChanges:
        """Vectors written and removed after change number ``after`` (migration 008)."""
        params = (model, after, limit)
        written = await self._pool.fetch(WRITTEN_SQL.format("$1", "$2", "$3"), *params)
        removed = await self._pool.fetch(REMOVED_SQL.format("$1", "$2", "$3"), *params)
        return merge_changes(written, removed, after, limit)
