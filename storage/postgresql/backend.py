"""asyncpg implementation of the :class:`bot.ports.storage.Storage` port: opening,
migrations, health and upkeep; the parts by concern live beside this module."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from bot.ports.storage import DatabaseUnusable, WriteFailed
from storage.migrations import bundled_migrations
from storage.postgresql.alerts import PgAlerts
from storage.postgresql.arxiv import PgArxiv
from storage.postgresql.connection import WRITE_FAILURE_MEMORY, cause, utc_now
from storage.postgresql.leases import PgLeases
from storage.postgresql.outbox import PgOutbox
from storage.postgresql.papers import PgPapers
from storage.postgresql.search import PgSearch
from storage.postgresql.sessions import PgSessions
from storage.postgresql.subscriptions import PgSubscriptions

log = logging.getLogger("paperbot.storage")

POOL_SIZE = 10
# Connecting (and each health check) gives up after this long, so a command
# against an unreachable server ends with one clear line instead of hanging.
CONNECT_TIMEOUT_SECONDS = 10.0
HEALTH_TIMEOUT_SECONDS = 5.0
# Any fixed number works: every paperbot process takes the same advisory lock
# around migrating, so two starting at once cannot both apply a migration.
MIGRATION_LOCK = 0x70617065  # "pape"
# The planner's statistics of papers are refreshed by upkeep once the number
# of papers moved this far from the last ANALYZE's (and by at least a tenth):
# after a bulk load, stale estimates make search pick slow plans until
# autovacuum gets to it.
ANALYZE_AFTER_ROWS = 1000

_OPEN_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, WriteFailed)


class PostgresStorage(
    PgPapers, PgSearch, PgSubscriptions, PgOutbox, PgAlerts, PgArxiv, PgSessions, PgLeases
):
    """The storage port on an asyncpg connection pool.

    Open it with :meth:`open`, which applies pending numbered migrations from
    ``storage/postgresql/migrations`` inside a transaction each, under an
    advisory lock so several processes can start against one database.
    """

    @classmethod
    async def open(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresStorage:
        """Connect a pool to ``url`` (``postgresql://...``), migrate and test-write.

        Raises :class:`DatabaseUnusable` when any of that fails (server
        unreachable, login refused, read-only, disk full); the pool is closed
        by then.
        """
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=pool_size, timeout=CONNECT_TIMEOUT_SECONDS
            )
        except _OPEN_ERRORS as exc:
            raise DatabaseUnusable(cause(exc)) from exc
        store = cls(pool, url)
        try:
            await store._migrate()
            # A database that cannot take a write is unusable for every
            # command: better one clear line now than a failure halfway through.
            await store._write_health()
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, _OPEN_ERRORS):
                raise DatabaseUnusable(cause(exc)) from exc
            raise
        return store

    async def close(self) -> None:
        """Stop listening and close every pooled connection."""
        await self._stop_listening()
        await self._pool.close()

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                # Only created when missing: CREATE ... IF NOT EXISTS still needs
                # the right to create, which a role that only uses the tables lacks.
                if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
                    await conn.execute(
                        "CREATE TABLE schema_migrations"
                        " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
                    )
                applied = {
                    row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")
                }
                for version, sql in available_migrations():
                    if version in applied:
                        continue
                    log.info("applying PostgreSQL migration %03d", version)
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations VALUES ($1, now())", version
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def schema_version(self) -> int:
        """The highest applied migration number."""
        version = await self._pool.fetchval("SELECT max(version) FROM schema_migrations")
        return int(version) if version is not None else 0

    async def upkeep(self, budget_seconds: float | None) -> bool:
        """Flush the search index's pending entries, then refresh stale planner statistics.

        GIN buffers new entries in a pending list that every search scans
        until it is merged; after a bulk load ANALYZE gives the planner the
        real size of papers. Each step is one statement; a step started is
        finished, the next is skipped once ``budget_seconds`` is spent.
        Returns True when nothing is left to do.
        """
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        async with self._transaction() as conn:
            await conn.execute("SELECT gin_clean_pending_list('papers_document'::regclass)")
        if deadline is not None and time.monotonic() >= deadline:
            return not await self._statistics_stale()
        if await self._statistics_stale():
            log.info("refreshing the planner statistics of papers")
            await self._write("ANALYZE papers")
        return True

    async def _statistics_stale(self) -> bool:
        """Whether the papers counted at the last ANALYZE are far from today's number.

        Compared with a count, not the statistics collector's change counters,
        which a pooled connection may report seconds late.
        """
        row = await self._pool.fetchrow(
            "SELECT greatest(reltuples, 0)::bigint AS estimated,"
            " (SELECT count(*) FROM papers) AS actual"
            " FROM pg_class WHERE oid = 'papers'::regclass"
        )
        if row is None:
            return False
        estimated, actual = int(row["estimated"]), int(row["actual"])
        changed = abs(actual - estimated)
        return changed >= ANALYZE_AFTER_ROWS and changed * 10 >= estimated

    async def is_writable(self) -> bool:
        """Whether writes reach the database now (server up, not read-only, not failing).

        A committed write of the one-row ``health`` table must succeed, and no
        other write may have been refused in the last minute without one
        succeeding since.
        """
        try:
            await asyncio.wait_for(self._write_health(), HEALTH_TIMEOUT_SECONDS)
        except (*_OPEN_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("database is not writable: %s", cause(exc))
            return False
        failure = self._write_failure
        if failure is not None:
            at, reason = failure
            if asyncio.get_running_loop().time() - at < WRITE_FAILURE_MEMORY:
                log.warning("database is not writable: a write failed: %s", reason)
                return False
        return True

    async def _write_health(self) -> None:
        """Rewrite the ``health`` row and commit; raises when the database refuses the write."""
        failure = self._write_failure
        await self._write(
            "INSERT INTO health (id, checked_at) VALUES (1, $1)"
            " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            utc_now(),
        )
        # The health row is no proof that the bot's own writes work again.
        self._write_failure = failure


def available_migrations() -> list[tuple[int, str]]:
    """(version, sql) of every bundled PostgreSQL migration, in order."""
    return bundled_migrations("storage.postgresql")
