"""The delivery outbox on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from bot.ports.storage import Delivery, OutboxLease
from storage.sqlite.connection import SqliteConnection, _now, from_ts, to_ts

PENDING_STATES = ("pending", "sending")
# Outcome writes of a sender touch a row only while it still holds the row's
# lease: a process that lost it (another recovered the row) cannot overwrite
# the new sender's outcome. No owner given: unfenced (operators, moves).
_FENCE = " AND (? IS NULL OR (state = 'sending' AND lease_owner = ?))"


def _delivery(row: aiosqlite.Row) -> Delivery:
    due_at = from_ts(row["due_at"])
    assert due_at is not None
    return Delivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        channel=row["channel"],
        period=row["period"],
        due_at=due_at,
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=from_ts(row["next_attempt_at"]),
        paper_keys=tuple(json.loads(row["paper_keys"])),
        parts_sent=row["parts_sent"],
        error=row["error"],
        failures=row["failures"],
        digest_info=row["digest_info"],
        lease_owner=row["lease_owner"],
        lease_until=from_ts(row["lease_until"]),
    )


async def insert_delivery(
    db: aiosqlite.Connection,
    subscription_id: int,
    channel: str,
    period: str,
    due_at: datetime,
    paper_keys: Sequence[str],
    state: str = "pending",
    error: str | None = None,
    digest_info: str | None = None,
) -> int | None:
    """Insert an outbox row in the caller's transaction; None if (subscription, period) exists."""
    now = _now()
    cur = await db.execute(
        "INSERT OR IGNORE INTO deliveries (subscription_id, channel, period, due_at, state,"
        " next_attempt_at, paper_keys, error, created_at, updated_at, digest_info)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            subscription_id,
            channel,
            period,
            to_ts(due_at),
            state,
            to_ts(due_at),
            json.dumps(list(paper_keys)),
            error,
            now,
            now,
            digest_info,
        ),
    )
    return cur.lastrowid if cur.rowcount > 0 else None


class SqliteOutbox(SqliteConnection):
    """The outbox part of the storage port."""

    # deliveries ----------------------------------------------------------------
    async def create_delivery(
        self,
        subscription_id: int,
        channel: str,
        period: str,
        due_at: datetime,
        paper_keys: Sequence[str],
        state: str = "pending",
        error: str | None = None,
        digest_info: str | None = None,
    ) -> int | None:
        """Insert an outbox row unless one exists for (subscription, period)."""
        async with self._transaction() as db:
            return await insert_delivery(
                db, subscription_id, channel, period, due_at, paper_keys, state, error, digest_info
            )

    async def claim_deliveries(
        self, platform: str, now: datetime, limit: int, lease: OutboxLease
    ) -> list[Delivery]:
        """Lease ready rows of ``platform`` in one short immediate transaction.

        BEGIN IMMEDIATE takes the write lock first, so processes sharing the
        file claim one after another and never read the same rows as free.
        """
        stamp, moment, since = _now(), to_ts(now), to_ts(lease.since)
        # An exact prefix test: LIKE would fold case and read "_" as a wildcard.
        prefix = (len(platform) + 1, platform + ":")
        async with self._transaction() as db:
            await db.execute("BEGIN IMMEDIATE")
            if lease.role is not None and not await self._holds(lease.role, lease.owner, since):
                return []
            # Rows whose sender stopped renewing (it died mid-send) are ready again.
            await db.execute(
                "UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
                " updated_at = ? WHERE state = 'sending' AND substr(channel, 1, ?) = ?"
                " AND coalesce(lease_until, '') <= ?",
                (stamp, *prefix, since),
            )
            rows = await self._all(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?,"
                " lease_owner = ?, lease_until = ?"
                " WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending'"
                " AND next_attempt_at <= ? AND substr(channel, 1, ?) = ?"
                " ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                (stamp, lease.owner, to_ts(lease.until), moment, *prefix, limit),
            )
        return sorted((_delivery(row) for row in rows), key=lambda d: d.due_at)

    async def _holds(self, role: str, owner: str, moment: str) -> bool:
        row = await self._one(
            "SELECT 1 FROM leases WHERE name = ? AND owner = ? AND expires_at > ?",
            (role, owner, moment),
        )
        return row is not None

    async def renew_deliveries(self, owner: str, until: datetime) -> int:
        """Extend the leases of the rows ``owner`` is sending."""
        return await self._write(
            "UPDATE deliveries SET lease_until = ? WHERE state = 'sending' AND lease_owner = ?",
            (to_ts(until), owner),
        )

    async def release_deliveries(self, owner: str, ids: Sequence[int]) -> int:
        """Give ``owner``'s unsent rows ``ids`` back to pending."""
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return await self._write(
            "UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
            f" updated_at = ? WHERE state = 'sending' AND lease_owner = ? AND id IN ({marks})",
            (_now(), owner, *ids),
        )

    async def record_part_sent(
        self, delivery_id: int, parts_sent: int, *, owner: str | None = None
    ) -> bool:
        """Persist progress through a multi-part digest (while ``owner`` holds the row)."""
        return (
            await self._write(
                "UPDATE deliveries SET parts_sent = ?, updated_at = ? WHERE id = ?" + _FENCE,
                (parts_sent, _now(), delivery_id, owner, owner),
            )
            > 0
        )

    async def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        error: str | None = None,
        *,
        parts_sent: int | None = None,
        owner: str | None = None,
    ) -> bool:
        """Close a delivery; on 'sent' the papers join the channel's sent set."""
        now = _now()
        async with self._transaction() as db:
            cur = await db.execute(
                "UPDATE deliveries SET state = ?, error = ?, updated_at = ?,"
                " parts_sent = coalesce(?, parts_sent), lease_owner = NULL, lease_until = NULL"
                " WHERE id = ?" + _FENCE,
                (state, error, now, parts_sent, delivery_id, owner, owner),
            )
            if cur.rowcount == 0:
                return False
            if state == "sent":
                await db.execute(
                    "INSERT OR IGNORE INTO sent_papers (channel, paper_key, sent_at)"
                    " SELECT d.channel, k.value, ? FROM deliveries d, json_each(d.paper_keys) k"
                    " WHERE d.id = ?",
                    (now, delivery_id),
                )
        return True

    async def retry_delivery(
        self,
        delivery_id: int,
        at: datetime,
        error: str,
        *,
        failure: bool = False,
        owner: str | None = None,
    ) -> bool:
        """Schedule another attempt; ``failure`` counts a temporary failure toward the limit."""
        return (
            await self._write(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, error = ?,"
                " failures = failures + ?, updated_at = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ?" + _FENCE,
                (to_ts(at), error, int(failure), _now(), delivery_id, owner, owner),
            )
            > 0
        )

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One outbox row."""
        row = await self._one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return _delivery(row) if row else None

    async def last_delivery(self, channel: str) -> Delivery | None:
        """The newest outbox row of ``channel``."""
        row = await self._one(
            "SELECT * FROM deliveries WHERE channel = ? ORDER BY id DESC LIMIT 1", (channel,)
        )
        return _delivery(row) if row else None

    async def outbox_depth(self) -> int:
        """Rows not yet finished."""
        row = await self._one(
            "SELECT count(*) FROM deliveries WHERE state IN (?, ?)", PENDING_STATES
        )
        return int(row[0]) if row else 0

    async def queued_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Subset of ``keys`` in ``channel``'s unsent outbox rows."""
        if not keys:
            return set()
        rows = await self._all(
            "SELECT DISTINCT k.value FROM deliveries d, json_each(d.paper_keys) k"
            " WHERE d.channel = ? AND d.state IN (?, ?)"
            " AND k.value IN (SELECT value FROM json_each(?))",
            (channel, *PENDING_STATES, json.dumps(list(keys))),
        )
        return {row[0] for row in rows}

    async def sent_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Subset of ``keys`` already posted to ``channel``."""
        if not keys:
            return set()
        marks = ", ".join("?" * len(keys))
        rows = await self._all(
            f"SELECT paper_key FROM sent_papers WHERE channel = ? AND paper_key IN ({marks})",
            (channel, *keys),
        )
        return {row[0] for row in rows}
