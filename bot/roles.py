"""Roles that one process at a time holds, kept as renewable leases in the database.

Several ``paperbot run`` processes may share one database. Work that must be
done once (each chat account's sender, which holds that account's whole rate
budget; ingest; index upkeep; the scheduling tick; Telegram's long poll) is a
role: every process asks for the roles it could fill, one gets each, renews
it every ``lease_seconds / 3`` and keeps it while it lives. A holder that dies
stops renewing, and another process takes the role once the lease expires.

The same loop renews the leases of the outbox rows this process is sending,
so other processes recover only rows whose sender stopped (see
:meth:`bot.ports.storage.OutboxStore.claim_deliveries`).

A holder that cannot renew (the database is down) gives its roles up on its
own before the lease runs out in the database: :meth:`Roles.holds` turns
false at ``LOCAL_SHARE`` of the lease after the last renewal was sent, so it
stops acting before anyone else may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.faults import FailureLog, describe
from bot.ports.storage import Storage

log = logging.getLogger("paperbot.roles")

DEFAULT_LEASE_SECONDS = 10.0
# The share of a lease this process trusts itself to hold it without a new
# renewal: the margin covers clock differences between hosts and the time a
# renewal takes to reach the database.
LOCAL_SHARE = 0.8

TICK = "tick"
INGEST = "ingest"
UPKEEP = "upkeep"

# Told True when this process gains a role and False when it loses it.
RoleObserver = Callable[[bool], Awaitable[None]]


def process_owner() -> str:
    """This process's owner id: ``host:pid:random``, unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class _Role:
    name: str
    observer: RoleObserver | None
    # time.monotonic() until which this process may act in the role; 0: not held.
    held_until: float = 0.0
    # What observers were last told, so each change is told once.
    announced: bool = False


class Roles:
    """Asks for, renews and gives up this process's roles; the truth about who holds what."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.owner = owner or process_owner()
        self.lease_seconds = lease_seconds
        self.renew_seconds = lease_seconds / 3
        self._monotonic = monotonic
        self._roles: dict[str, _Role] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Observers are told one change at a time, in order.
        self._announcing = asyncio.Lock()
        self._failures = FailureLog(log, "renewing role leases")
        # monotonic time of the last round that reached the database (until
        # the first one: of start-up, so a starting process is not unhealthy yet).
        self._last_renewal = monotonic()
        self.last_error: str | None = None

    def want(self, name: str, observer: RoleObserver | None = None) -> None:
        """Ask for role ``name`` from the next round on; ``observer`` hears gains and losses."""
        self._roles.setdefault(name, _Role(name, observer))

    def holds(self, name: str) -> bool:
        """Whether this process may act in role ``name`` right now."""
        role = self._roles.get(name)
        return role is not None and role.held_until > self._monotonic()

    def held(self) -> list[str]:
        """The roles this process holds now, by name."""
        return sorted(name for name in self._roles if self.holds(name))

    @property
    def renewing(self) -> bool:
        """False when the database has not taken a renewal for a whole lease (unhealthy),
        counted from start-up until the first renewal."""
        return self._monotonic() - self._last_renewal < self.lease_seconds

    async def start(self) -> None:
        """Run one round now (roles that are free are held on return), then keep renewing."""
        log.info("process owner id %s (lease %g s)", self.owner, self.lease_seconds)
        await self.renew()
        self._tasks = [
            asyncio.create_task(self._run(), name="roles"),
            asyncio.create_task(self._watch(), name="roles-expiry"),
        ]

    async def stop(self) -> None:
        """Stop renewing and give every held role up, so others take them at once."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        held = [role for role in self._roles.values() if self.holds(role.name)]
        for role in self._roles.values():
            role.held_until = 0.0
        await self._announce()
        releases = [self.storage.release_lease(role.name, self.owner) for role in held]
        # A dead database lets them expire instead; shutdown must not wait on it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*releases, return_exceptions=True), self.renew_seconds
            )
        if held:
            log.info("released roles %s", ", ".join(role.name for role in held))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            await self.renew()

    async def _watch(self) -> None:
        """Tell observers of a role that ran out while a round hangs on a dead database."""
        while True:
            await asyncio.sleep(self.renew_seconds / 4)
            await self._announce()

    async def renew(self) -> None:
        """One round: take or renew every wanted role and this process's outbox rows.

        A round never outlasts half a lease (a slow one still counts: the
        roles' local expiry is reckoned from before it); a failed one is
        logged (once per distinct error) and the roles run out locally if none
        succeeds.
        """
        try:
            await asyncio.wait_for(self._round(), self.lease_seconds / 2)
        except Exception as exc:
            self.last_error = describe(exc)
            self._failures.failed(exc)
        else:
            self.last_error = None
            self._failures.succeeded()
        await self._announce()

    async def _round(self) -> None:
        now = self.clock.now()
        until = now + timedelta(seconds=self.lease_seconds)
        for role in self._roles.values():
            # Trusted only from before the write: the database's clock of the
            # lease starts no earlier than this.
            trusted = self._monotonic() + self.lease_seconds * LOCAL_SHARE
            if await self.storage.acquire_lease(role.name, self.owner, now, until):
                role.held_until = trusted
            else:
                role.held_until = 0.0
        await self.storage.renew_deliveries(self.owner, until)
        self._last_renewal = self._monotonic()

    async def _announce(self) -> None:
        """Tell observers about roles gained or lost since they last heard."""
        async with self._announcing:
            for role in self._roles.values():
                await self._announce_one(role)

    async def _announce_one(self, role: _Role) -> None:
        now_held = self.holds(role.name)
        if now_held == role.announced:
            return
        role.announced = now_held
        log.info("%s role %s", "took" if now_held else "lost", role.name)
        if role.observer is None:
            return
        try:
            await role.observer(now_held)
        except Exception as exc:
            log.error("acting on role %s failed: %s", role.name, describe(exc))

    async def report(self) -> dict[str, Any]:
        """This process's id and roles, and every role's holder and expiry (health, status)."""
        body: dict[str, Any] = {
            "owner": self.owner,
            "held": self.held(),
            "renewing": self.renewing,
        }
        try:
            leases = await self.storage.list_leases()
        except Exception as exc:
            body["leases"] = None
            body["error"] = describe(exc)
            return body
        body["leases"] = lease_rows(leases, self.clock)
        return body


def lease_rows(leases: Any, clock: Clock) -> list[dict[str, Any]]:
    """Each lease as a JSON-ready row: name, owner, expiry and whether it still runs."""
    now = clock.now()
    return [
        {
            "name": lease.name,
            "owner": lease.owner,
            "expires_at": lease.expires_at.isoformat(),
            "expires_in_seconds": round((lease.expires_at - now).total_seconds(), 1),
            "live": lease.expires_at > now,
            "since": lease.acquired_at.isoformat(),
        }
        for lease in leases
    ]
