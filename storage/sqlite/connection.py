"""One aiosqlite connection shared by every part of the SQLite backend, and its time format."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.ports.storage import WriteFailed


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


def _cause(exc: BaseException) -> str:
    """SQLite's own words for why the database failed, else the exception type and text."""
    if isinstance(exc, sqlite3.Error | WriteFailed) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# A failed write keeps the database reported unhealthy for this long, unless
# a later write succeeds first.
WRITE_FAILURE_MEMORY = 60.0


class SqliteConnection:
    """The connection, its write lock and the query helpers the backend's parts share."""

    def __init__(self, conn: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._db = conn
        # Searches read on a connection (and so a thread) of their own: a slow
        # full-text query then holds up neither the bot's writes nor the
        # reads hybrid search makes meanwhile (bench/search.py at a million
        # papers: hybrid p50 20 -> 14 ms, p99 61 -> 44 ms).
        self._reader = reader
        # One connection is shared by every coroutine; the lock keeps one
        # coroutine's statement from landing inside another's transaction.
        self._lock = asyncio.Lock()
        # (loop time, cause) of the last failed write, until a write succeeds.
        self._write_failure: tuple[float, str] | None = None

    async def _one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        # One hop to the database thread (execute + fetch + close together):
        # each hop costs tens of microseconds on the search hot path.
        return list(await self._db.execute_fetchall(sql, params))

    async def _search_all(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        """Rows of a read-only statement, run on the search connection."""
        return list(await self._reader.execute_fetchall(sql, params))

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._transaction() as db:
            cur = await db.execute(sql, params)
        return cur.rowcount

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction under the lock: committed at the end, rolled back on any error.

        A failed write left open (disk full, I/O error) would keep every
        later statement on this connection failing long after the cause is
        gone. The database refusing the write raises :class:`WriteFailed`.
        """
        async with self._lock:
            try:
                yield self._db
                await self._db.commit()
            except BaseException as exc:
                with suppress(Exception):  # the connection may be closed or broken
                    await self._db.rollback()
                if isinstance(exc, sqlite3.OperationalError):
                    self._write_failure = (asyncio.get_running_loop().time(), _cause(exc))
                    raise WriteFailed(_cause(exc)) from exc
                raise
            self._write_failure = None
