"""Role leases on SQLite: one row per role, taken when free or expired, renewed by its owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.ports.storage import Lease
from storage.leases import acquire_lease_sql
from storage.sqlite.connection import SqliteConnection, from_ts, to_ts

_ACQUIRE_SQL = acquire_lease_sql("?", "?", "?", "?")


class SqliteLeases(SqliteConnection):
    """The role-lease part of the storage port."""

    async def acquire_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew ``name`` for ``owner``; False while another owner's lease runs."""
        moment = to_ts(now)
        return await self._write(_ACQUIRE_SQL, (name, owner, to_ts(until), moment, moment)) > 0

    async def release_lease(self, name: str, owner: str) -> bool:
        """Drop ``owner``'s lease on ``name``."""
        deleted = await self._write(
            "DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner)
        )
        return deleted > 0

    async def list_leases(self) -> list[Lease]:
        """Every lease row, by name."""
        rows = await self._all("SELECT * FROM leases ORDER BY name")
        leases = []
        for row in rows:
            expires, renewed, acquired = (
                from_ts(row[column]) for column in ("expires_at", "renewed_at", "acquired_at")
            )
            assert expires is not None and renewed is not None and acquired is not None
            leases.append(Lease(row["name"], row["owner"], expires, renewed, acquired))
        return leases

    async def watch_outbox(
        self, wake: Callable[[str], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """SQLite has no notifications between processes: senders poll."""
        return None
