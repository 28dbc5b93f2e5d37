"""The arXiv announcements fetched so far, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from bot.ports.storage import AnnouncedPaper
from storage.postgresql.connection import PgConnection, affected


class PgArxiv(PgConnection):
    """The arXiv announcements part of the storage port."""

    async def record_arxiv_announcement(
        self,
        category: str,
        day: date,
        fetched_at: datetime,
        listings: Sequence[tuple[str, str]],
    ) -> None:
        """Replace ``category``'s record of ``day`` with ``listings``, in one transaction."""
        async with self._transaction() as conn:
            await conn.execute(
                "DELETE FROM arxiv_announced WHERE category = $1 AND day = $2", category, day
            )
            await conn.executemany(
                "INSERT INTO arxiv_announced (category, day, paper_key, announce_type, position)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                [
                    (category, day, key, kind, position)
                    for position, (key, kind) in enumerate(listings)
                ],
            )
            await conn.execute(
                "INSERT INTO arxiv_announcements (category, day, papers, fetched_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (category, day)"
                " DO UPDATE SET papers = excluded.papers, fetched_at = excluded.fetched_at",
                category,
                day,
                len(listings),
                fetched_at,
            )

    async def arxiv_categories_fetched(self, categories: Sequence[str], since: date) -> set[str]:
        """The categories among ``categories`` with a recorded day on or after ``since``."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT category FROM arxiv_announcements"
            " WHERE category = any($1::text[]) AND day >= $2",
            list(categories),
            since,
        )
        return {row["category"] for row in rows}

    async def latest_arxiv_day(self, categories: Sequence[str]) -> date | None:
        """The latest day with at least one paper announced in ``categories``."""
        found: date | None = await self._pool.fetchval(
            "SELECT max(day) FROM arxiv_announcements"
            " WHERE category = any($1::text[]) AND papers > 0",
            list(categories),
        )
        return found

    async def purge_arxiv_announcements(self, before: date) -> int:
        """Delete the records of days before ``before``, with their listings."""
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM arxiv_announced WHERE day < $1", before)
            status: str = await conn.execute(
                "DELETE FROM arxiv_announcements WHERE day < $1", before
            )
        return affected(status)

    async def arxiv_announced(
        self, categories: Sequence[str], first: date, last: date
    ) -> list[AnnouncedPaper]:
        """The listings of ``categories`` from ``first`` to ``last``."""
        rows = await self._pool.fetch(
            "SELECT category, day, paper_key, announce_type, position FROM arxiv_announced"
            " WHERE category = any($1::text[]) AND day BETWEEN $2 AND $3"
            ' ORDER BY day, category COLLATE "C", position',
            list(categories),
            first,
            last,
        )
        return [
            AnnouncedPaper(
                row["category"], row["day"], row["paper_key"], row["announce_type"], row["position"]
            )
            for row in rows
        ]
