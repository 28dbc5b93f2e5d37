"""One aiosqlite connection shared by every part of the SQLite backend, and its time format."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite


def to_ts(moment: datetime) -> str:
    """A sortable UTC text timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_ts(text: str | None) -> datetime | None:
    """Inverse of :func:`to_ts`."""
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _now() -> str:
    return to_ts(datetime.now(UTC))


class SqliteConnection:
    """The connection, its write lock and the query helpers the backend's parts share."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._db = conn
        # One connection is shared by every coroutine; the lock keeps one
        # coroutine's statement from landing inside another's transaction.
        self._lock = asyncio.Lock()

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        # One hop to the database thread (execute + fetch + close together):
        # each hop costs tens of microseconds on the search hot path.
        return list(await self._db.execute_fetchall(sql, params))

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            cur = await self._db.execute(sql, params)
            await self._db.commit()
            return cur.rowcount
