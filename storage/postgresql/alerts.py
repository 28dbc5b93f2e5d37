"""Keyword alerts on PostgreSQL: the alerts, the queue of new papers and the pending matches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.ports.storage import ALERT_PERIOD_PREFIX, Alert, AlertMatch
from storage.postgresql.connection import PgConnection, affected, utc_now
from storage.postgresql.outbox import insert_delivery

# Queued keys whose papers never got stored (the ingest failed for them) are
# dropped after this long.
STALE_CANDIDATE = timedelta(days=1)
# starts_with is an exact prefix test (LIKE would read "_" as a wildcard).
_ALERT_PERIOD = f"starts_with(period, '{ALERT_PERIOD_PREFIX}')"


class PgAlerts(PgConnection):
    """The keyword-alerts part of the storage port."""

    async def add_alert(self, channel: str, query: str, created_by: str) -> int | None:
        """Add an alert to ``channel``'s subscription unless it has this query already."""
        async with self._transaction() as conn:
            created = await conn.fetchval(
                "INSERT INTO alerts (subscription_id, query, created_by, created_at)"
                " SELECT id, $1, $2, $3 FROM subscriptions WHERE channel = $4"
                " ON CONFLICT DO NOTHING RETURNING id",
                query,
                created_by,
                utc_now(),
                channel,
            )
        return int(created) if created is not None else None

    async def list_alerts(self, channel: str | None = None) -> list[Alert]:
        """Alerts of one channel, or of all, oldest first."""
        rows = await self._pool.fetch(
            "SELECT a.*, s.channel FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id"
            " WHERE $1::text IS NULL OR s.channel = $1 ORDER BY a.id",
            channel,
        )
        return [
            Alert(
                id=row["id"],
                channel=row["channel"],
                query=row["query"],
                created_by=row["created_by"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def delete_alert(self, alert_id: int) -> bool:
        """Remove an alert (its matches go with it)."""
        return affected(await self._write("DELETE FROM alerts WHERE id = $1", alert_id)) > 0

    async def queue_alert_candidates(self, keys: Sequence[str]) -> int:
        """Queue the keys not stored yet, while any alert exists."""
        status = await self._write(
            "INSERT INTO alert_inbox (paper_key, queued_at)"
            " SELECT DISTINCT k, $2::timestamptz FROM unnest($1::text[]) AS k"
            " WHERE EXISTS (SELECT 1 FROM alerts)"
            " AND NOT EXISTS (SELECT 1 FROM papers p WHERE p.paper_key = k)"
            " ON CONFLICT DO NOTHING",
            list(keys),
            utc_now(),
        )
        return affected(status)

    async def alert_candidates(self, limit: int) -> list[str]:
        """Queued keys of stored papers, oldest queued first."""
        rows = await self._pool.fetch(
            "SELECT i.paper_key FROM alert_inbox i JOIN papers p ON p.paper_key = i.paper_key"
            " ORDER BY i.queued_at, i.paper_key LIMIT $1",
            limit,
        )
        return [row[0] for row in rows]

    async def save_alert_matches(
        self, matches: Sequence[tuple[int, str]], done: Sequence[str]
    ) -> int:
        """Record new matches (not of papers the channel has had) and unqueue ``done``."""
        now = utc_now()
        async with self._transaction() as conn:
            status = await conn.execute(
                "INSERT INTO alert_matches (alert_id, paper_key, subscription_id, matched_at)"
                " SELECT a.id, m.paper_key, a.subscription_id, $3"
                " FROM unnest($1::bigint[], $2::text[]) AS m(alert_id, paper_key)"
                " JOIN alerts a ON a.id = m.alert_id"
                " JOIN subscriptions s ON s.id = a.subscription_id"
                " WHERE NOT EXISTS (SELECT 1 FROM sent_papers t WHERE t.channel = s.channel"
                " AND t.paper_key = m.paper_key)"
                " ON CONFLICT DO NOTHING",
                [alert_id for alert_id, _ in matches],
                [key for _, key in matches],
                now,
            )
            await conn.execute(
                "DELETE FROM alert_inbox WHERE paper_key = any($1::text[]) OR queued_at < $2",
                list(done),
                now - STALE_CANDIDATE,
            )
        return affected(status)

    async def pending_alert_matches(self) -> list[AlertMatch]:
        """Pending matches of active subscriptions, oldest first."""
        rows = await self._pool.fetch(
            "SELECT m.*, s.channel FROM alert_matches m"
            " JOIN subscriptions s ON s.id = m.subscription_id"
            " WHERE m.state = 'pending' AND NOT s.paused"
            ' ORDER BY m.matched_at, m.paper_key COLLATE "C"'
        )
        return [
            AlertMatch(
                alert_id=row["alert_id"],
                subscription_id=row["subscription_id"],
                channel=row["channel"],
                paper_key=row["paper_key"],
                matched_at=row["matched_at"],
            )
            for row in rows
        ]

    async def last_alert_at(self, subscription_id: int) -> datetime | None:
        """Due time of the subscription's latest alert message."""
        found: datetime | None = await self._pool.fetchval(
            f"SELECT max(due_at) FROM deliveries WHERE subscription_id = $1 AND {_ALERT_PERIOD}",
            subscription_id,
        )
        return found

    async def queue_alert_message(
        self,
        subscription_id: int,
        channel: str,
        period: str,
        due_at: datetime,
        paper_keys: Sequence[str],
        taken: Sequence[str],
    ) -> int | None:
        """Add the outbox row (when there are papers) and close the taken matches.

        None, with nothing written, when another process (or job) took any of
        ``paper_keys`` first: its message already holds them.
        """
        delivery_id: int | None = None
        async with self._transaction() as conn:
            # Locks the matches: a concurrent caller waits here, then finds
            # them no longer pending and queues nothing.
            still = await conn.fetch(
                "SELECT DISTINCT paper_key FROM (SELECT paper_key FROM alert_matches"
                " WHERE subscription_id = $1 AND state = 'pending'"
                " AND paper_key = any($2::text[]) FOR UPDATE) AS pending",
                subscription_id,
                list(taken),
            )
            if not {row[0] for row in still} >= set(paper_keys):
                return None
            if paper_keys:
                delivery_id = await insert_delivery(
                    conn, subscription_id, channel, period, due_at, paper_keys
                )
                if delivery_id is None:
                    return None  # that period is queued already: leave the matches pending
            await conn.execute(
                "UPDATE alert_matches SET state = $1, delivery_id = $2"
                " WHERE subscription_id = $3 AND state = 'pending'"
                " AND paper_key = any($4::text[])",
                "queued" if delivery_id else "skipped",
                delivery_id,
                subscription_id,
                list(taken),
            )
        return delivery_id

    async def alert_messages_sent(self) -> dict[str, int]:
        """Sent alert messages per channel."""
        rows = await self._pool.fetch(
            f"SELECT channel, count(*) FROM deliveries WHERE state = 'sent' AND {_ALERT_PERIOD}"
            " GROUP BY channel"
        )
        return {row[0]: int(row[1]) for row in rows}
