"""aiosqlite implementation of the :class:`bot.ports.storage.Storage` port: opening,
migrations and lifecycle; the parts by concern live beside this module."""

from __future__ import annotations

import logging
import time
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.sqlite.connection import _now
from storage.sqlite.outbox import SqliteOutbox
from storage.sqlite.papers import SqlitePapers
from storage.sqlite.sessions import SqliteSessions
from storage.sqlite.subscriptions import SqliteSubscriptions

log = logging.getLogger("paperbot.storage")

# One search-index merge step writes about this many pages: tens of
# milliseconds, so other writes wait little between steps.
MERGE_STEP_PAGES = 1000


class SqliteStorage(SqlitePapers, SqliteSubscriptions, SqliteOutbox, SqliteSessions):
    """The storage port on one aiosqlite connection in WAL mode.

    Open it with :meth:`open`, which applies pending numbered migrations from
    ``storage/sqlite/migrations`` inside a transaction each.
    """

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStorage:
        """Connect, configure and migrate the database at ``path``."""
        conn = await aiosqlite.connect(str(path))
        conn.row_factory = aiosqlite.Row
        # Only takes effect on a new database (before its first write). Pages
        # of 16 KB hold a paper row with its abstract without overflow pages
        # and cut B-tree work on bulk ingest by about a fifth.
        await conn.execute("PRAGMA page_size = 16384")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA busy_timeout = 5000")
        # FTS5 index merges reread recent pages; 32 MB of cache makes bulk
        # ingest about a fifth faster and stays well inside the memory budget.
        await conn.execute("PRAGMA cache_size = -32768")
        store = cls(conn)
        await store._migrate()
        return store

    async def close(self) -> None:
        """Close the connection."""
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
        """Whether a write reaches the database file now (not read-only, not failing)."""
        async with self._lock:
            try:
                # Rewriting the unused user_version header field is a real, harmless
                # write: it fails on a read-only file, full disk or broken connection.
                row = await self._one("PRAGMA user_version")
                await self._db.execute(f"PRAGMA user_version = {int(row[0]) if row else 0}")
            except (aiosqlite.Error, ValueError) as exc:  # ValueError: connection closed
                log.warning("database is not writable: %s", exc)
                return False
        return True


def available_migrations() -> list[tuple[int, str]]:
    """(version, sql) of every bundled migration, in order."""
    folder = resources.files("storage.sqlite") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)
