"""The outbox: deliveries claimed with FOR UPDATE SKIP LOCKED, and the sent history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from bot.ports.storage import Delivery
from storage.postgresql.connection import PgConnection, affected, to_delivery, utc_now

# SKIP LOCKED: rows another transaction is claiming right now are passed over
# instead of waited for, so concurrent claimers never get the same row.
# starts_with is an exact prefix test (LIKE would read "_" as a wildcard).
_CLAIM_SQL = """
UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = $1
WHERE id IN (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND next_attempt_at <= $2 AND starts_with(channel, $3)
    ORDER BY next_attempt_at LIMIT $4
    FOR UPDATE SKIP LOCKED
) RETURNING *
"""


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

    async def claim_deliveries(self, platform: str, now: datetime, limit: int) -> list[Delivery]:
        """Atomically move ready rows of ``platform`` to 'sending'."""
        async with self._transaction() as conn:
            rows = await conn.fetch(_CLAIM_SQL, utc_now(), now, platform + ":", limit)
        return sorted((to_delivery(row) for row in rows), key=lambda d: (d.due_at, d.id))

    async def recover_deliveries(self) -> int:
        """Return rows stuck in 'sending' (the process died mid-send) to 'pending'."""
        status = await self._write(
            "UPDATE deliveries SET state = 'pending', updated_at = $1 WHERE state = 'sending'",
            utc_now(),
        )
        return affected(status)

    async def record_part_sent(self, delivery_id: int, parts_sent: int) -> None:
        """Persist progress through a multi-part digest."""
        await self._write(
            "UPDATE deliveries SET parts_sent = $1, updated_at = $2 WHERE id = $3",
            parts_sent,
            utc_now(),
            delivery_id,
        )

    async def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        error: str | None = None,
        *,
        parts_sent: int | None = None,
    ) -> None:
        """Close a delivery; on 'sent' the papers join the channel's sent set."""
        moment = utc_now()
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET state = $1, error = $2, updated_at = $3,"
                " parts_sent = coalesce($4, parts_sent) WHERE id = $5",
                state,
                error,
                moment,
                parts_sent,
                delivery_id,
            )
            if state == "sent":
                await conn.execute(
                    "INSERT INTO sent_papers (channel, paper_key, sent_at)"
                    " SELECT d.channel, k.key, $1 FROM deliveries d,"
                    " unnest(d.paper_keys) AS k(key) WHERE d.id = $2"
                    " ON CONFLICT DO NOTHING",
                    moment,
                    delivery_id,
                )

    async def retry_delivery(
        self, delivery_id: int, at: datetime, error: str, *, failure: bool = False
    ) -> None:
        """Schedule another attempt; ``failure`` counts a temporary failure toward the limit."""
        await self._write(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1, error = $2,"
            " failures = failures + $3, updated_at = $4 WHERE id = $5",
            at,
            error,
            int(failure),
            utc_now(),
            delivery_id,
        )

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
