"""Subscriptions on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, time

import aiosqlite

from bot.models import Subscription
from storage.sqlite.connection import SqliteConnection, _now, from_ts, to_ts
from storage.sqlite.outbox import PENDING_STATES


def _subscription(row: aiosqlite.Row) -> Subscription:
    hour, minute = (int(part) for part in row["post_time"].split(":"))
    return Subscription(
        channel=row["channel"],
        post_time=time(hour, minute),
        timezone=row["timezone"],
        weekdays=frozenset(int(day) for day in row["weekdays"]),
        top_n=row["top_n"],
        min_upvotes=row["min_upvotes"],
        include=tuple(json.loads(row["include_kw"])),
        exclude=tuple(json.loads(row["exclude_kw"])),
        cadence=row["cadence"],
        weekly_day=row["weekly_day"],
        paused=bool(row["paused"]),
        paused_reason=row["paused_reason"],
        next_run_at=from_ts(row["next_run_at"]),
        created_by=row["created_by"],
        arxiv_categories=tuple(json.loads(row["arxiv_categories"])),
        crosslists=bool(row["crosslists"]),
        alert_every=row["alert_every"],
        match=row["match_mode"],
    )


class SqliteSubscriptions(SqliteConnection):
    """The subscriptions part of the storage port."""

    # subscriptions ------------------------------------------------------------
    async def save_subscription(self, sub: Subscription) -> Subscription:
        """Insert or replace by channel, keeping the row id (the outbox refers to it)."""
        await self.save_subscriptions([sub])
        return sub

    async def get_subscription(self, channel: str) -> Subscription | None:
        """The subscription of ``channel``."""
        row = await self._one("SELECT * FROM subscriptions WHERE channel = ?", (channel,))
        return _subscription(row) if row else None

    async def subscription_id(self, channel: str) -> int | None:
        """Row id of ``channel``'s subscription."""
        row = await self._one("SELECT id FROM subscriptions WHERE channel = ?", (channel,))
        return int(row[0]) if row else None

    async def delete_subscription(self, channel: str) -> bool:
        """Delete ``channel``'s subscription (its outbox rows go with it)."""
        return await self._write("DELETE FROM subscriptions WHERE channel = ?", (channel,)) > 0

    async def list_subscriptions(self) -> list[Subscription]:
        """All subscriptions by channel."""
        rows = await self._all("SELECT * FROM subscriptions ORDER BY channel")
        return [_subscription(row) for row in rows]

    async def due_subscriptions(self, now: datetime, limit: int) -> list[tuple[int, Subscription]]:
        """Active subscriptions due at ``now``, oldest due first."""
        rows = await self._all(
            "SELECT * FROM subscriptions WHERE paused = 0 AND next_run_at <= ?"
            " ORDER BY next_run_at LIMIT ?",
            (to_ts(now), limit),
        )
        return [(int(row["id"]), _subscription(row)) for row in rows]

    async def set_next_run(self, channel: str, next_run_at: datetime | None) -> None:
        """Record the next post time of ``channel``."""
        await self._write(
            "UPDATE subscriptions SET next_run_at = ?, updated_at = ? WHERE channel = ?",
            (to_ts(next_run_at) if next_run_at else None, _now(), channel),
        )

    async def pause_subscription(self, channel: str, reason: str) -> None:
        """Pause ``channel`` with ``reason``."""
        await self._write(
            "UPDATE subscriptions SET paused = 1, paused_reason = ?, updated_at = ?"
            " WHERE channel = ?",
            (reason, _now(), channel),
        )

    async def subscribed_arxiv_categories(self) -> list[str]:
        """The arXiv categories of active subscriptions, each once."""
        rows = await self._all(
            "SELECT DISTINCT value FROM subscriptions, json_each(arxiv_categories)"
            " WHERE paused = 0 ORDER BY value"
        )
        return [row[0] for row in rows]

    async def move_subscription(self, old_channel: str, new_channel: str) -> None:
        """Re-key ``old_channel`` to ``new_channel`` in every table, atomically.

        When ``new_channel`` already has a subscription, that one is kept and
        the old one is paused with the reason "merged into <new_channel>" (see
        :meth:`_merge_deliveries` for its digests).
        """
        async with self._transaction() as db:
            target = await self._one(
                "SELECT id FROM subscriptions WHERE channel = ?", (new_channel,)
            )
            if target is None:
                tables: tuple[str, ...] = ("subscriptions", "deliveries", "search_sessions")
            else:
                await self._merge_deliveries(old_channel, new_channel, int(target[0]))
                tables = ("search_sessions",)
            for table in tables:
                await db.execute(
                    f"UPDATE {table} SET channel = ? WHERE channel = ?",
                    (new_channel, old_channel),
                )
            await db.execute(
                "UPDATE OR IGNORE sent_papers SET channel = ? WHERE channel = ?",
                (new_channel, old_channel),
            )

    # operations: export/import and health -------------------------------------
    async def save_subscriptions(self, subs: Sequence[Subscription]) -> None:
        """Create or replace each subscription by channel, all in one transaction."""
        now = _now()
        rows = [
            (
                sub.channel,
                sub.post_time.strftime("%H:%M"),
                sub.timezone,
                "".join(str(day) for day in sorted(sub.weekdays)),
                sub.top_n,
                sub.min_upvotes,
                json.dumps(list(sub.include)),
                json.dumps(list(sub.exclude)),
                sub.cadence,
                sub.weekly_day,
                int(sub.paused),
                sub.paused_reason,
                to_ts(sub.next_run_at) if sub.next_run_at else None,
                sub.created_by,
                now,
                now,
                json.dumps(list(sub.arxiv_categories)),
                int(sub.crosslists),
                sub.alert_every,
                sub.match,
            )
            for sub in subs
        ]
        # The row id is kept on conflict because the outbox refers to it.
        async with self._transaction() as db:
            await db.executemany(
                """
                INSERT INTO subscriptions (channel, post_time, timezone, weekdays, top_n,
                    min_upvotes, include_kw, exclude_kw, cadence, weekly_day, paused,
                    paused_reason, next_run_at, created_by, created_at, updated_at,
                    arxiv_categories, crosslists, alert_every, match_mode)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (channel) DO UPDATE SET
                    post_time = excluded.post_time, timezone = excluded.timezone,
                    weekdays = excluded.weekdays, top_n = excluded.top_n,
                    min_upvotes = excluded.min_upvotes, include_kw = excluded.include_kw,
                    exclude_kw = excluded.exclude_kw, cadence = excluded.cadence,
                    weekly_day = excluded.weekly_day, paused = excluded.paused,
                    paused_reason = excluded.paused_reason,
                    next_run_at = excluded.next_run_at, updated_at = excluded.updated_at,
                    arxiv_categories = excluded.arxiv_categories,
                    crosslists = excluded.crosslists,
                    alert_every = excluded.alert_every,
                    match_mode = excluded.match_mode
                """,
                rows,
            )

    async def _merge_deliveries(self, old_channel: str, new_channel: str, target_id: int) -> None:
        """Hand the old channel's unsent digests to the subscription at ``new_channel``.

        A digest whose period the target has its own row for is skipped (the
        chat gets that period's digest once); the old subscription is paused.
        """
        now = _now()
        merged = f"merged into {new_channel}"
        await self._db.execute(
            "UPDATE deliveries SET subscription_id = ?, channel = ?, updated_at = ?"
            " WHERE channel = ? AND state IN (?, ?)"
            " AND period NOT IN (SELECT period FROM deliveries WHERE subscription_id = ?)",
            (target_id, new_channel, now, old_channel, *PENDING_STATES, target_id),
        )
        await self._db.execute(
            "UPDATE deliveries SET state = 'skipped', error = ?, updated_at = ?"
            " WHERE channel = ? AND state IN (?, ?)",
            (
                f"{merged}, which has its own digest for this period",
                now,
                old_channel,
                *PENDING_STATES,
            ),
        )
        # The kept subscription takes the old one's alerts (a query it has already stays once).
        await self._db.execute(
            "UPDATE OR IGNORE alerts SET subscription_id = ?"
            " WHERE subscription_id = (SELECT id FROM subscriptions WHERE channel = ?)",
            (target_id, old_channel),
        )
        await self._db.execute(
            "UPDATE subscriptions SET paused = 1, paused_reason = ?, next_run_at = NULL,"
            " updated_at = ? WHERE channel = ?",
            (merged, now, old_channel),
        )
