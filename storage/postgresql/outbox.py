"""The outbox: deliveries claimed with FOR UPDATE SKIP LOCKED, and the sent history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.ports.storage import Delivery, OutboxLease
from storage.postgresql.connection import PgConnection, affected, to_delivery, utc_now

# SKIP LOCKED: rows another transaction is claiming right now are passed over
# instead of waited for, so concurrent claimers never get the same row.
# starts_with is an exact prefix test (LIKE would read "_" as a wildcard).
_CLAIM_SQL = """
UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = $1,
    lease_owner = $5, lease_until = $6
WHERE id IN (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= $2 AND starts_with(channel, $3)
    ORDER BY next_attempt_at LIMIT $4
    FOR UPDATE SKIP LOCKED
) RETURNING *
"""
# Rows whose sender stopped renewing its lease (it died mid-send) are ready again.
_EXPIRED_SQL = """
UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL, updated_at = $1
WHERE state = 'sending' AND starts_with(channel, $2)
    AND (lease_until IS NULL OR lease_until <= $3)
"""
# FOR SHARE: a process taking the role over waits until this claim commits,
# so rows are never claimed under a role lease that has just changed hands.
_HOLDS_SQL = """
SELECT 1 FROM leases WHERE name = $1 AND owner = $2 AND expires_at > $3 FOR SHARE
"""
# Outcome writes of a sender touch a row only while it still holds the row's
# lease (see storage/sqlite/outbox.py); no owner given: unfenced.
_FENCE = " AND ($OWNER::text IS NULL OR (state = 'sending' AND lease_owner = $OWNER))"


def _fence(number: int) -> str:
    return _FENCE.replace("$OWNER", f"${number}")


async def insert_delivery(
    conn: asyncpg.Connection,
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
    created = await conn.fetchval(
        "INSERT INTO deliveries (subscription_id, channel, period, due_at, state,"
        " next_attempt_at, paper_keys, error, created_at, updated_at, digest_info)"
        " VALUES ($1, $2, $3, $4, $5, $4, $6, $7, $8, $8, $9)"
        " ON CONFLICT (subscription_id, period) DO NOTHING RETURNING id",
        subscription_id,
        channel,
        period,
        due_at,
        state,
        list(paper_keys),
        error,
        utc_now(),
        digest_info,
    )
    return int(created) if created is not None else None


class PgOutbox(PgConnection):
    """The deliveries part of the storage port."""

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
        async with self._transaction() as conn:
            return await insert_delivery(
                conn,
                subscription_id,
                channel,
                period,
                due_at,
                paper_keys,
                state,
                error,
                digest_info,
            )

    async def claim_deliveries(
        self, platform: str, now: datetime, limit: int, lease: OutboxLease
    ) -> list[Delivery]:
        """Lease ready rows of ``platform`` to ``lease.owner`` (skipping rows others lock)."""
        prefix = platform + ":"
        moment = utc_now()
        async with self._transaction() as conn:
            if lease.role is not None and not await conn.fetchval(
                _HOLDS_SQL, lease.role, lease.owner, lease.since
            ):
                return []
            await conn.execute(_EXPIRED_SQL, moment, prefix, lease.since)
            rows = await conn.fetch(
                _CLAIM_SQL, moment, now, prefix, limit, lease.owner, lease.until
            )
        return sorted((to_delivery(row) for row in rows), key=lambda d: (d.due_at, d.id))

    async def renew_deliveries(self, owner: str, until: datetime) -> int:
        """Extend the leases of the rows ``owner`` is sending."""
        status = await self._write(
            "UPDATE deliveries SET lease_until = $1 WHERE state = 'sending' AND lease_owner = $2",
            until,
            owner,
        )
        return affected(status)

    async def release_deliveries(self, owner: str, ids: Sequence[int]) -> int:
        """Give ``owner``'s unsent rows ``ids`` back to pending."""
        status = await self._write(
            "UPDATE deliveries SET state = 'pending', lease_owner = NULL, lease_until = NULL,"
            " updated_at = $1 WHERE state = 'sending' AND lease_owner = $2"
            " AND id = any($3::bigint[])",
            utc_now(),
            owner,
            list(ids),
        )
        return affected(status)

    async def record_part_sent(
        self, delivery_id: int, parts_sent: int, *, owner: str | None = None
    ) -> bool:
        """Persist progress through a multi-part digest (while ``owner`` holds the row)."""
        status = await self._write(
            "UPDATE deliveries SET parts_sent = $1, updated_at = $2 WHERE id = $3" + _fence(4),
            parts_sent,
            utc_now(),
            delivery_id,
            owner,
        )
        return affected(status) > 0

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
        moment = utc_now()
        async with self._transaction() as conn:
            status = await conn.execute(
                "UPDATE deliveries SET state = $1, error = $2, updated_at = $3,"
                " parts_sent = coalesce($4, parts_sent), lease_owner = NULL, lease_until = NULL"
                " WHERE id = $5" + _fence(6),
                state,
                error,
                moment,
                parts_sent,
                delivery_id,
                owner,
            )
            if affected(status) == 0:
                return False
            if state == "sent":
                await conn.execute(
                    "INSERT INTO sent_papers (channel, paper_key, sent_at)"
                    " SELECT d.channel, k.key, $1 FROM deliveries d,"
                    " unnest(d.paper_keys) AS k(key) WHERE d.id = $2"
                    " ON CONFLICT DO NOTHING",
                    moment,
                    delivery_id,
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
        status = await self._write(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, error = $2,"
            " failures = failures + $3, updated_at = $4, lease_owner = NULL, lease_until = NULL"
            " WHERE id = $5" + _fence(6),
            at,
            error,
            int(failure),
            utc_now(),
            delivery_id,
            owner,
        )
        return affected(status) > 0

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One outbox row."""
        row = await self._pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
        return to_delivery(row) if row else None

    async def last_delivery(self, channel: str) -> Delivery | None:
        """The newest outbox row of ``channel``."""
        row = await self._pool.fetchrow(
            "SELECT * FROM deliveries WHERE channel = $1 ORDER BY id DESC LIMIT 1", channel
        )
        return to_delivery(row) if row else None

    async def outbox_depth(self) -> int:
        """Rows not yet finished."""
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'sending')"
            )
        )

    async def queued_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Subset of ``keys`` in ``channel``'s unsent outbox rows."""
        if not keys:
            return set()
        rows = await self._pool.fetch(
            "SELECT DISTINCT k FROM deliveries d, unnest(d.paper_keys) AS k"
            " WHERE d.channel = $1 AND d.state IN ('pending', 'sending') AND k = any($2::text[])",
            channel,
            list(keys),
        )
        return {row[0] for row in rows}

    async def sent_paper_keys(self, channel: str, keys: Sequence[str]) -> set[str]:
        """Subset of ``keys`` already posted to ``channel``."""
        if not keys:
            return set()
        rows = await self._pool.fetch(
            "SELECT paper_key FROM sent_papers WHERE channel = $1 AND paper_key = any($2::text[])",
            channel,
            list(keys),
        )
        return {row[0] for row in rows}
