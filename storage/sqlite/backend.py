"""aiosqlite implementation of the :class:`bot.ports.storage.Storage` port: opening,
migrations and lifecycle; the parts by concern live beside this module."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from contextlib import suppress
from pathlib import Path

import aiosqlite

from bot.ports.storage import DatabaseUnusable, WriteFailed
from storage.migrations import bundled_migrations
from storage.sqlite.alerts import SqliteAlerts
from storage.sqlite.arxiv import SqliteArxiv
from storage.sqlite.connection import WRITE_FAILURE_MEMORY, _cause, _now
from storage.sqlite.leases import SqliteLeases
from storage.sqlite.outbox import SqliteOutbox
from storage.sqlite.papers import SqlitePapers
from storage.sqlite.sessions import SqliteSessions
from storage.sqlite.subscriptions import SqliteSubscriptions
from storage.sqlite.word_pairs import register_on

log = logging.getLogger("paperbot.storage")

# One search-index merge step writes about this many pages: tens of
# milliseconds, so other writes wait little between steps.
MERGE_STEP_PAGES = 1000


# While opening, a database locked by another process is given up on after
# this long, so a command ends within 2 s; afterwards writers wait 5 s.
OPEN_BUSY_MS = 500


BUSY_MS = 5000


def _unusable(path: Path, exc: sqlite3.Error | WriteFailed) -> DatabaseUnusable:
    """The error for a database that failed to open, with a hint where SQLite's is vague."""
    cause = _cause(exc)
    if "full" not in cause and _disk_full(path.parent):
        cause += " (the disk is full)"
    elif cause == "unable to open database file" and _read_only(path):
        cause += " (the file or its folder is read-only)"
    return DatabaseUnusable(cause)


def _disk_full(folder: Path) -> bool:
    """Whether the file system holding ``folder`` has no block left (SQLite may say "I/O error")."""
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _read_only(path: Path) -> bool:
    """Whether ``path`` or its folder cannot be written (file modes or a read-only mount)."""
    for place in (path, path.parent):
        if not place.exists():
            continue
        if not os.access(place, os.W_OK) or os.statvfs(place).f_flag & os.ST_RDONLY:
            return True
    return False


async def _thread_stopped(conn: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to connect.

    aiosqlite queues the thread's stop itself but does not wait for it; the
    thread is not a daemon, so the process could not exit before it ends.
    """
    thread = getattr(conn, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 1.0)


async def _connect(path: Path) -> aiosqlite.Connection:
    """A new connection to ``path``; raises :class:`DatabaseUnusable` when SQLite cannot open it."""
    conn = aiosqlite.connect(str(path))
    try:
        await conn
    except sqlite3.Error as exc:
        await _thread_stopped(conn)
        raise _unusable(path, exc) from exc
    return conn


class SqliteStorage(
    SqlitePapers,
    SqliteSubscriptions,
    SqliteOutbox,
    SqliteAlerts,
    SqliteArxiv,
    SqliteSessions,
    SqliteLeases,
):
    """The storage port on an aiosqlite connection in WAL mode, and a second one for searches.

    Open it with :meth:`open`, which applies pending numbered migrations from
    ``storage/sqlite/migrations`` inside a transaction each.
    """

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStorage:
        """Connect, configure, migrate and test-write the database at ``path``.

        Raises :class:`DatabaseUnusable` when any of that fails (not a
        database, missing folder, read-only, disk full, locked); the
        connection is closed and its thread stopped by then.
        """
        path = Path(path)
        folder = path.parent
        if not folder.is_dir():
            raise DatabaseUnusable(f"folder {folder} does not exist")
        conn = await _connect(path)
        try:
            reader = await _connect(path)
        except DatabaseUnusable:
            await conn.close()
            raise
        try:
            store = await cls._configure(conn, reader)
        except BaseException as exc:
            for each in (reader, conn):
                with suppress(Exception):
                    await each.close()
            if isinstance(exc, sqlite3.Error | WriteFailed):
                raise _unusable(path, exc) from exc
            raise
        return store

    async def close(self) -> None:
        """Close the connections."""
        try:
            await self._reader.close()
        finally:
            await self._db.close()

    async def _migrate(self) -> None:
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            applied = {row[0] async for row in cur}
        for version, sql in available_migrations():
            if version in applied:
                continue
            log.info("applying migration %03d", version)
            # executescript commits first, so wrap the script and its record in
            # one explicit transaction to keep a failed migration all-or-nothing.
            await self._db.executescript(
                f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ({version}, '{_now()}');"
                "\nCOMMIT;"
            )

    async def schema_version(self) -> int:
        """The highest applied migration number."""
        async with self._db.execute("SELECT max(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def upkeep(self, budget_seconds: float | None) -> bool:
        """Merge the index left behind by ingest, step by step, for at most ``budget_seconds``.

        Returns True when nothing is left to merge. Without a budget it runs to
        the end (after a bulk load).
        """
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        while await self.merge_search_index(MERGE_STEP_PAGES):
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    async def is_writable(self) -> bool:
        """Whether writes reach the database file now (not read-only, not failing).

        A committed write of the one-row ``health`` table must succeed, and no
        other write may have failed in the last minute without one succeeding
        since: a nearly full disk can take that small rewrite yet refuse the
        bot's real writes.
        """
        try:
            await self._write_health()
        except (aiosqlite.Error, WriteFailed, ValueError) as exc:  # ValueError: closed
            log.warning("database is not writable: %s", _cause(exc))
            return False
        failure = self._write_failure
        if failure is not None:
            at, cause = failure
            if asyncio.get_running_loop().time() - at < WRITE_FAILURE_MEMORY:
                log.warning("database is not writable: a write failed: %s", cause)
                return False
        return True

    @classmethod
    async def _configure(
        cls, conn: aiosqlite.Connection, reader: aiosqlite.Connection
    ) -> SqliteStorage:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {OPEN_BUSY_MS}")
        # Only takes effect on a new database (before its first write). Pages
        # of 16 KB hold a paper row with its abstract without overflow pages
        # and cut B-tree work on bulk ingest by about a fifth.
        await conn.execute("PRAGMA page_size = 16384")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        # FTS5 index merges reread recent pages; 32 MB of cache makes bulk
        # ingest about a fifth faster and stays well inside the memory budget.
        await conn.execute("PRAGMA cache_size = -32768")
        # Writing the search index calls it (migration 012 among others).
        await register_on(conn)
        store = cls(conn, reader)
        await store._migrate()
        # A database that cannot take a write is unusable for every command:
        # better one clear line now than a failure halfway through.
        await store._write_health()
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        reader.row_factory = aiosqlite.Row
        await reader.execute("PRAGMA query_only = ON")
        await reader.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        # Searches reread the pages of common words' positions: at a million
        # papers 32 MB took a mixed query's mean from 7.5 to 7.1 ms against
        # the default 2 MB (128 MB: 6.7 ms; mmap was slower).
        await reader.execute("PRAGMA cache_size = -32768")
        return store

    async def _write_health(self) -> None:
        """Rewrite the ``health`` row and commit; raises when the database refuses the write."""
        failure = self._write_failure
        await self._write("INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?)", (_now(),))
        # The health row is no proof that the bot's own writes work again.
        self._write_failure = failure


def available_migrations() -> list[tuple[int, str]]:
    """(version, sql) of every bundled migration, in order."""
    return bundled_migrations("storage.sqlite")
