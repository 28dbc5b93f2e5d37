"""The asyncpg pool shared by every part of the PostgreSQL backend, its record conversions
and its handling of refused writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bot.models import Paper, Subscription
from bot.ports.storage import Delivery, WriteFailed

PAPER_COLUMNS = (
    "paper_key, arxiv_id, title, summary, authors, keywords, published_at, featured_on,"
    " upvotes, ai_summary, github_repo, github_stars, project_page"
)

# Authors and keywords are stored joined by this, as on SQLite (migration 001 says why).
AUTHOR_SEP = "; "

# A failed write keeps the database reported unhealthy for this long, unless
# a later write succeeds first (as on SQLite).
WRITE_FAILURE_MEMORY = 60.0

# SQLSTATE classes of a server that refuses writes as such, not one statement's
# values: 53 insufficient resources (disk full, out of memory), 58 system
# errors (I/O), 25006 a read-only transaction (a standby, or
# default_transaction_read_only), 42501 a role without write privileges,
# 57P0x an administrator shutting it down.
_REFUSED_WRITE_STATES = ("53", "58", "25006", "42501", "57P")


def utc_now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.now(UTC)


def cause(exc: BaseException) -> str:
    """The server's own words for a failure, else the exception type and text."""
    if isinstance(exc, asyncpg.PostgresError | WriteFailed) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def refused_write(exc: BaseException) -> bool:
    """Whether ``exc`` says the server refuses writes (rather than one statement's values)."""
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state.startswith(_REFUSED_WRITE_STATES)
    return isinstance(exc, OSError | asyncpg.InterfaceError)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(AUTHOR_SEP) if part)


def to_paper(row: Any) -> Paper:
    """A :class:`Paper` from a ``papers`` record."""
    return Paper(
        title=row["title"],
        arxiv_id=row["arxiv_id"],
        summary=row["summary"],
        authors=_split(row["authors"]),
        published_at=row["published_at"],
        featured_on=row["featured_on"],
        upvotes=row["upvotes"],
        ai_summary=row["ai_summary"],
        ai_keywords=_split(row["keywords"]),
        github_repo=row["github_repo"],
        github_stars=row["github_stars"],
        project_page=row["project_page"],
    )


def to_subscription(row: Any) -> Subscription:
    """A :class:`Subscription` from a ``subscriptions`` record."""
    return Subscription(
        channel=row["channel"],
        post_time=row["post_time"],
        timezone=row["timezone"],
        weekdays=frozenset(row["weekdays"]),
        top_n=row["top_n"],
        min_upvotes=row["min_upvotes"],
        include=tuple(row["include_kw"]),
        exclude=tuple(row["exclude_kw"]),
        cadence=row["cadence"],
        weekly_day=row["weekly_day"],
        paused=row["paused"],
        paused_reason=row["paused_reason"],
        next_run_at=row["next_run_at"],
        created_by=row["created_by"],
        arxiv_categories=tuple(row["arxiv_categories"]),
        crosslists=row["crosslists"],
        alert_every=row["alert_every"],
        match=row["match_mode"],
    )


def to_delivery(row: Any) -> Delivery:
    """A :class:`Delivery` from a ``deliveries`` record."""
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        channel=row["channel"],
        period=row["period"],
        due_at=row["due_at"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        paper_keys=tuple(row["paper_keys"]),
        parts_sent=row["parts_sent"],
        error=row["error"],
        failures=row["failures"],
        digest_info=row["digest_info"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
    )


class PgConnection:
    """The pool and the write helpers every part of the backend shares."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        # For connections of their own beside the pool (LISTEN).
        self._url = url
        self._outbox_watchers: list[Callable[[str], None]] = []
        self._listener: asyncio.Task[None] | None = None
        # (loop time, cause) of the last refused write, until a write succeeds.
        self._write_failure: tuple[float, str] | None = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection in a transaction: committed at the end, rolled back on error.

        The server refusing the write (disk full, read-only, I/O error, gone)
        raises :class:`WriteFailed` and marks the database unhealthy for a while.
        """
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn
        except Exception as exc:
            if refused_write(exc):
                self._write_failure = (asyncio.get_running_loop().time(), cause(exc))
                raise WriteFailed(cause(exc)) from exc
            raise
        self._write_failure = None

    async def _write(self, sql: str, *params: Any) -> str:
        """Run one writing statement in its own transaction; its status ("UPDATE 3")."""
        async with self._transaction() as conn:
            status: str = await conn.execute(sql, *params)
        return status


def affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    return int(status.rsplit(" ", 1)[-1])
