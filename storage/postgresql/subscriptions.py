"""Subscriptions: one per channel, and moving a channel's data to a new id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.models import Subscription
from storage.postgresql.connection import PgConnection, affected, to_subscription, utc_now

# The row id is kept on conflict because the outbox refers to it.
_SAVE_SQL = """
INSERT INTO subscriptions (channel, post_time, timezone, weekdays, top_n, min_upvotes,
    include_kw, exclude_kw, cadence, weekly_day, paused, paused_reason, next_run_at,
    created_by, created_at, updated_at, arxiv_categories, crosslists, alert_every, match_mode)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18, $19)
ON CONFLICT (channel) DO UPDATE SET
    post_time = excluded.post_time, timezone = excluded.timezone,
    weekdays = excluded.weekdays, top_n = excluded.top_n,
    min_upvotes = excluded.min_upvotes, include_kw = excluded.include_kw,
    exclude_kw = excluded.exclude_kw, cadence = excluded.cadence,
    weekly_day = excluded.weekly_day, paused = excluded.paused,
    paused_reason = excluded.paused_reason,
    next_run_at = excluded.next_run_at, updated_at = excluded.updated_at,
    arxiv_categories = excluded.arxiv_categories, crosslists = excluded.crosslists,
    alert_every = excluded.alert_every,
    match_mode = excluded.match_mode
"""


class PgSubscriptions(PgConnection):
    """The subscriptions part of the storage port."""

    async def save_subscription(self, sub: Subscription) -> Subscription:
        """Insert or replace by channel, keeping the row id."""
        await self.save_subscriptions([sub])
        return sub

    async def save_subscriptions(self, subs: Sequence[Subscription]) -> None:
        """Create or replace each subscription by channel, all in one transaction."""
        moment = utc_now()
        rows = [
            (
                sub.channel,
                sub.post_time,
                sub.timezone,
                sorted(sub.weekdays),
                sub.top_n,
                sub.min_upvotes,
                list(sub.include),
                list(sub.exclude),
                sub.cadence,
                sub.weekly_day,
                sub.paused,
                sub.paused_reason,
                sub.next_run_at,
                sub.created_by,
                moment,
                list(sub.arxiv_categories),
                sub.crosslists,
                sub.alert_every,
                sub.match,
            )
            for sub in subs
        ]
        async with self._transaction() as conn:
            await conn.executemany(_SAVE_SQL, rows)

    async def get_subscription(self, channel: str) -> Subscription | None:
        """The subscription of ``channel``."""
        row = await self._pool.fetchrow("SELECT * FROM subscriptions WHERE channel = $1", channel)
        return to_subscription(row) if row else None

    async def subscription_id(self, channel: str) -> int | None:
        """Row id of ``channel``'s subscription."""
        found = await self._pool.fetchval(
            "SELECT id FROM subscriptions WHERE channel = $1", channel
        )
        return int(found) if found is not None else None

    async def delete_subscription(self, channel: str) -> bool:
        """Delete ``channel``'s subscription (its outbox rows go with it)."""
        status = await self._write("DELETE FROM subscriptions WHERE channel = $1", channel)
        return affected(status) > 0

    async def list_subscriptions(self) -> list[Subscription]:
        """All subscriptions by channel."""
        # COLLATE "C": the same byte order as SQLite, whatever the database's locale.
        rows = await self._pool.fetch('SELECT * FROM subscriptions ORDER BY channel COLLATE "C"')
        return [to_subscription(row) for row in rows]

    async def due_subscriptions(self, now: datetime, limit: int) -> list[tuple[int, Subscription]]:
        """Active subscriptions due at ``now``, oldest due first."""
        rows = await self._pool.fetch(
            "SELECT * FROM subscriptions WHERE NOT paused AND next_run_at <= $1"
            " ORDER BY next_run_at, id LIMIT $2",
            now,
            limit,
        )
        return [(int(row["id"]), to_subscription(row)) for row in rows]

    async def set_next_run(self, channel: str, next_run_at: datetime | None) -> None:
        """Record the next post time of ``channel``."""
        await self._write(
            "UPDATE subscriptions SET next_run_at = $1, updated_at = $2 WHERE channel = $3",
            next_run_at,
            utc_now(),
            channel,
        )

    async def pause_subscription(self, channel: str, reason: str) -> None:
        """Pause ``channel`` with ``reason``."""
        await self._write(
            "UPDATE subscriptions SET paused = true, paused_reason = $1, updated_at = $2"
            " WHERE channel = $3",
            reason,
            utc_now(),
            channel,
        )

    async def subscribed_arxiv_categories(self) -> list[str]:
        """The arXiv categories of active subscriptions, each once."""
        rows = await self._pool.fetch(
            "SELECT code FROM (SELECT DISTINCT unnest(arxiv_categories) AS code"
            ' FROM subscriptions WHERE NOT paused) used ORDER BY code COLLATE "C"'
        )
        return [row["code"] for row in rows]

    async def move_subscription(self, old_channel: str, new_channel: str) -> None:
        """Re-key ``old_channel`` to ``new_channel`` in every table, atomically.

        When ``new_channel`` already has a subscription, that one is kept and
        the old one is paused with the reason "merged into <new_channel>" (see
        :meth:`_merge_deliveries` for its digests).
        """
        async with self._transaction() as conn:
            target = await conn.fetchval(
                "SELECT id FROM subscriptions WHERE channel = $1 FOR UPDATE", new_channel
            )
            if target is None:
                tables: tuple[str, ...] = ("subscriptions", "deliveries", "search_sessions")
            else:
                await _merge_deliveries(conn, old_channel, new_channel, int(target))
                tables = ("search_sessions",)
            for table in tables:
                await conn.execute(
                    f"UPDATE {table} SET channel = $1 WHERE channel = $2", new_channel, old_channel
                )
            # A paper already recorded for the new channel stays recorded once.
            await conn.execute(
                "UPDATE sent_papers s SET channel = $1 WHERE channel = $2 AND NOT EXISTS"
                " (SELECT 1 FROM sent_papers t WHERE t.channel = $1 AND t.paper_key = s.paper_key)",
                new_channel,
                old_channel,
            )


async def _merge_deliveries(
    conn: asyncpg.Connection, old_channel: str, new_channel: str, target_id: int
) -> None:
    """Hand the old channel's unsent digests to the subscription at ``new_channel``.

    A digest whose period the target has its own row for is skipped (the chat
    gets that period's digest once); the old subscription is paused.
    """
    now = utc_now()
    merged = f"merged into {new_channel}"
    await conn.execute(
        "UPDATE deliveries SET subscription_id = $1, channel = $2, updated_at = $3"
        " WHERE channel = $4 AND state IN ('pending', 'sending')"
        " AND period NOT IN (SELECT period FROM deliveries WHERE subscription_id = $1)",
        target_id,
        new_channel,
        now,
        old_channel,
    )
    await conn.execute(
        "UPDATE deliveries SET state = 'skipped', error = $1, updated_at = $2"
        " WHERE channel = $3 AND state IN ('pending', 'sending')",
        f"{merged}, which has its own digest for this period",
        now,
        old_channel,
    )
    # The kept subscription takes the old one's alerts (a query it has already stays once).
    await conn.execute(
        "UPDATE alerts a SET subscription_id = $1"
        " WHERE subscription_id = (SELECT id FROM subscriptions WHERE channel = $2)"
        " AND NOT EXISTS (SELECT 1 FROM alerts t WHERE t.subscription_id = $1"
        " AND t.query = a.query)",
        target_id,
        old_channel,
    )
    await conn.execute(
        "UPDATE subscriptions SET paused = true, paused_reason = $1, next_run_at = NULL,"
        " updated_at = $2 WHERE channel = $3",
        merged,
        now,
        old_channel,
    )
