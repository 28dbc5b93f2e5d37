"""Keyword alerts on SQLite: the alerts, the queue of new papers and the pending matches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.ports.storage import ALERT_PERIOD_PREFIX, Alert, AlertMatch
from storage.sqlite.connection import SqliteConnection, _now, from_ts, to_ts
from storage.sqlite.outbox import insert_delivery

# Queued keys whose papers never got stored (the ingest failed for them) are
# dropped after this long.
STALE_CANDIDATE = timedelta(days=1)
# LIKE would read "_" as a wildcard and fold case; substr is an exact prefix test.
_ALERT_PERIOD = f"substr(period, 1, {len(ALERT_PERIOD_PREFIX)}) = '{ALERT_PERIOD_PREFIX}'"


def _when(text: str) -> datetime:
    moment = from_ts(text)
    assert moment is not None
    return moment


class SqliteAlerts(SqliteConnection):
    """The keyword-alerts part of the storage port."""

    async def add_alert(self, channel: str, query: str, created_by: str) -> int | None:
        """Add an alert to ``channel``'s subscription unless it has this query already."""
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO alerts (subscription_id, query, created_by, created_at)"
                " SELECT id, ?, ?, ? FROM subscriptions WHERE channel = ?",
                (query, created_by, _now(), channel),
            )
        return cur.lastrowid if cur.rowcount > 0 else None

    async def list_alerts(self, channel: str | None = None) -> list[Alert]:
        """Alerts of one channel, or of all, oldest first."""
        rows = await self._all(
            "SELECT a.*, s.channel FROM alerts a JOIN subscriptions s ON s.id = a.subscription_id"
            " WHERE ? IS NULL OR s.channel = ? ORDER BY a.id",
            (channel, channel),
        )
        return [
            Alert(
                id=row["id"],
                channel=row["channel"],
                query=row["query"],
                created_by=row["created_by"],
                created_at=_when(row["created_at"]),
            )
            for row in rows
        ]

    async def delete_alert(self, alert_id: int) -> bool:
        """Remove an alert (its matches go with it)."""
        return await self._write("DELETE FROM alerts WHERE id = ?", (alert_id,)) > 0

    async def queue_alert_candidates(self, keys: Sequence[str]) -> int:
        """Queue the keys not stored yet, while any alert exists."""
        return await self._write(
            "INSERT OR IGNORE INTO alert_inbox (paper_key, queued_at)"
            " SELECT k.value, ? FROM json_each(?) k"
            " WHERE EXISTS (SELECT 1 FROM alerts)"
            " AND NOT EXISTS (SELECT 1 FROM papers p WHERE p.paper_key = k.value)",
            (_now(), json.dumps(list(keys))),
        )

    async def alert_candidates(self, limit: int) -> list[str]:
        """Queued keys of stored papers, oldest queued first."""
        rows = await self._all(
            "SELECT i.paper_key FROM alert_inbox i JOIN papers p ON p.paper_key = i.paper_key"
            " ORDER BY i.queued_at, i.paper_key LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    async def save_alert_matches(
        self, matches: Sequence[tuple[int, str]], done: Sequence[str]
    ) -> int:
        """Record new matches (not of papers the channel has had) and unqueue ``done``."""
        now = datetime.now(UTC)
        async with self._transaction() as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO alert_matches"
                " (alert_id, paper_key, subscription_id, matched_at)"
                " SELECT a.id, json_extract(m.value, '$[1]'), a.subscription_id, ?"
                " FROM json_each(?) m JOIN alerts a ON a.id = json_extract(m.value, '$[0]')"
                " JOIN subscriptions s ON s.id = a.subscription_id"
                " WHERE NOT EXISTS (SELECT 1 FROM sent_papers t WHERE t.channel = s.channel"
                " AND t.paper_key = json_extract(m.value, '$[1]'))",
                (to_ts(now), json.dumps([list(match) for match in matches])),
            )
            recorded = max(cur.rowcount, 0)
            await db.execute(
                "DELETE FROM alert_inbox WHERE paper_key IN (SELECT value FROM json_each(?))"
                " OR queued_at < ?",
                (json.dumps(list(done)), to_ts(now - STALE_CANDIDATE)),
            )
        return recorded

    async def pending_alert_matches(self) -> list[AlertMatch]:
        """Pending matches of active subscriptions, oldest first."""
        rows = await self._all(
            "SELECT m.*, s.channel FROM alert_matches m"
            " JOIN subscriptions s ON s.id = m.subscription_id"
            " WHERE m.state = 'pending' AND s.paused = 0 ORDER BY m.matched_at, m.paper_key"
        )
        return [
            AlertMatch(
                alert_id=row["alert_id"],
                subscription_id=row["subscription_id"],
                channel=row["channel"],
                paper_key=row["paper_key"],
                matched_at=_when(row["matched_at"]),
            )
            for row in rows
        ]

    async def last_alert_at(self, subscription_id: int) -> datetime | None:
        """Due time of the subscription's latest alert message."""
        row = await self._one(
            f"SELECT max(due_at) FROM deliveries WHERE subscription_id = ? AND {_ALERT_PERIOD}",
            (subscription_id,),
        )
        return from_ts(row[0]) if row else None

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
        taken_json = json.dumps(list(taken))
        async with self._transaction() as db:
            # A write first: it takes the database's write lock, so the check
            # below sees what any other process committed and nobody can
            # queue these matches before this transaction ends.
            await db.execute(
                "UPDATE alert_matches SET state = state WHERE subscription_id = ?"
                " AND state = 'pending' AND paper_key IN (SELECT value FROM json_each(?))",
                (subscription_id, taken_json),
            )
            still = list(
                await db.execute_fetchall(
                    "SELECT DISTINCT paper_key FROM alert_matches WHERE subscription_id = ?"
                    " AND state = 'pending' AND paper_key IN (SELECT value FROM json_each(?))",
                    (subscription_id, json.dumps(list(paper_keys))),
                )
            )
            if len(still) < len(set(paper_keys)):
                return None
            if paper_keys:
                delivery_id = await insert_delivery(
                    db, subscription_id, channel, period, due_at, paper_keys
                )
                if delivery_id is None:
                    return None  # that period is queued already: leave the matches pending
            await db.execute(
                "UPDATE alert_matches SET state = ?, delivery_id = ?"
                " WHERE subscription_id = ? AND state = 'pending'"
                " AND paper_key IN (SELECT value FROM json_each(?))",
                ("queued" if delivery_id else "skipped", delivery_id, subscription_id, taken_json),
            )
        return delivery_id

    async def alert_messages_sent(self) -> dict[str, int]:
        """Sent alert messages per channel."""
        rows = await self._all(
            f"SELECT channel, count(*) FROM deliveries WHERE state = 'sent' AND {_ALERT_PERIOD}"
            " GROUP BY channel"
        )
        return {row[0]: int(row[1]) for row in rows}
