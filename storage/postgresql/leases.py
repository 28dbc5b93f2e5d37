"""Role leases on PostgreSQL, and the LISTEN connection that wakes senders on new outbox rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from bot.faults import describe
from bot.ports.storage import Lease
from storage.leases import acquire_lease_sql
from storage.postgresql.connection import PgConnection, affected

log = logging.getLogger("paperbot.storage")

# The channel migration 003's trigger notifies, with the platform as payload.
OUTBOX_CHANNEL = "paperbot_outbox"
# An idle LISTEN connection does not notice a dead server by itself: it is
# probed this often, and reopened (with backoff up to the maximum) when lost.
LISTEN_PROBE_SECONDS = 5.0
LISTEN_RETRY_SECONDS = 0.5
MAX_LISTEN_RETRY_SECONDS = 10.0

_ACQUIRE_SQL = acquire_lease_sql("$1", "$2", "$3", "$4")


class PgLeases(PgConnection):
    """The role-lease part of the storage port, and outbox notifications."""

    async def acquire_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew ``name`` for ``owner``; False while another owner's lease runs."""
        return affected(await self._write(_ACQUIRE_SQL, name, owner, until, now)) > 0

    async def release_lease(self, name: str, owner: str) -> bool:
        """Drop ``owner``'s lease on ``name``."""
        status = await self._write("DELETE FROM leases WHERE name = $1 AND owner = $2", name, owner)
        return affected(status) > 0

    async def list_leases(self) -> list[Lease]:
        """Every lease row, by name."""
        rows = await self._pool.fetch(
            "SELECT name, owner, expires_at, renewed_at, acquired_at FROM leases ORDER BY name"
        )
        return [Lease(*row) for row in rows]

    async def watch_outbox(
        self, wake: Callable[[str], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """Call ``wake(platform)`` on every outbox notification (LISTEN on its own connection)."""
        self._outbox_watchers.append(wake)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="outbox-listener")

        async def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._outbox_watchers.remove(wake)
            if not self._outbox_watchers:
                await self._stop_listening()

        return unwatch

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        for wake in self._outbox_watchers:
            wake(payload)

    def _wake_all(self) -> None:
        """Wake every watcher for every platform: notifications may have been missed."""
        for wake in self._outbox_watchers:
            wake("")

    async def _listen(self) -> None:
        """Keep one connection listening; reopen it whenever it is lost."""
        delay = LISTEN_RETRY_SECONDS
        while True:
            try:
                conn = await asyncpg.connect(self._url, timeout=LISTEN_PROBE_SECONDS)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot listen for new outbox rows: %s", describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_LISTEN_RETRY_SECONDS)
                continue
            try:
                await conn.add_listener(OUTBOX_CHANNEL, self._notified)
                delay = LISTEN_RETRY_SECONDS
                self._wake_all()
                while True:
                    await asyncio.sleep(LISTEN_PROBE_SECONDS)
                    await conn.execute("SELECT 1", timeout=LISTEN_PROBE_SECONDS)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("lost the outbox listener connection: %s", describe(exc))
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), LISTEN_PROBE_SECONDS)

    async def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
