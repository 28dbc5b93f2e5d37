"""The arXiv announcements fetched so far, on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from bot.ports.storage import AnnouncedPaper
from storage.sqlite.connection import SqliteConnection, to_ts


class SqliteArxiv(SqliteConnection):
    """The arXiv announcements part of the storage port."""

    async def record_arxiv_announcement(
        self,
        category: str,
        day: date,
        fetched_at: datetime,
        listings: Sequence[tuple[str, str]],
    ) -> None:
        """Replace ``category``'s record of ``day`` with ``listings``, in one transaction."""
        iso = day.isoformat()
        async with self._transaction() as db:
            await db.execute(
                "DELETE FROM arxiv_announced WHERE category = ? AND day = ?", (category, iso)
            )
            await db.executemany(
                "INSERT OR IGNORE INTO arxiv_announced"
                " (category, day, paper_key, announce_type, position) VALUES (?, ?, ?, ?, ?)",
                [
                    (category, iso, key, kind, position)
                    for position, (key, kind) in enumerate(listings)
                ],
            )
            await db.execute(
                "INSERT OR REPLACE INTO arxiv_announcements (category, day, papers, fetched_at)"
                " VALUES (?, ?, ?, ?)",
                (category, iso, len(listings), to_ts(fetched_at)),
            )

    async def arxiv_categories_fetched(self, categories: Sequence[str], since: date) -> set[str]:
        """The categories among ``categories`` with a recorded day on or after ``since``."""
        rows = await self._all(
            "SELECT DISTINCT category FROM arxiv_announcements"
            " WHERE category IN (SELECT value FROM json_each(?)) AND day >= ?",
            (json.dumps(list(categories)), since.isoformat()),
        )
        return {row[0] for row in rows}

    async def latest_arxiv_day(self, categories: Sequence[str]) -> date | None:
        """The latest day with at least one paper announced in ``categories``."""
        row = await self._one(
            "SELECT max(day) FROM arxiv_announcements"
            " WHERE category IN (SELECT value FROM json_each(?)) AND papers > 0",
            (json.dumps(list(categories)),),
        )
        return date.fromisoformat(row[0]) if row and row[0] else None

    async def purge_arxiv_announcements(self, before: date) -> int:
        """Delete the records of days before ``before``, with their listings."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM arxiv_announced WHERE day < ?", (before.isoformat(),))
            cur = await db.execute(
                "DELETE FROM arxiv_announcements WHERE day < ?", (before.isoformat(),)
            )
        return cur.rowcount

    async def arxiv_announced(
        self, categories: Sequence[str], first: date, last: date
    ) -> list[AnnouncedPaper]:
        """The listings of ``categories`` from ``first`` to ``last``."""
        rows = await self._all(
            "SELECT category, day, paper_key, announce_type, position FROM arxiv_announced"
            " WHERE category IN (SELECT value FROM json_each(?)) AND day BETWEEN ? AND ?"
            " ORDER BY day, category, position",
            (json.dumps(list(categories)), first.isoformat(), last.isoformat()),
        )
        return [
            AnnouncedPaper(
                row["category"],
                date.fromisoformat(row["day"]),
                row["paper_key"],
                row["announce_type"],
                row["position"],
            )
            for row in rows
        ]
