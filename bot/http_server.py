"""The optional HTTP endpoint: ``GET /healthz`` for orchestrators, ``GET /metrics`` for Prometheus.

Off unless ``PAPERBOT_HTTP_PORT`` is set; it runs in the bot's own event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.clock import Clock
from bot.jobs import Jobs
from bot.metrics import Metrics
from bot.ports.chat import ChatAdapter, ReportsConnection
from bot.ports.storage import Storage

log = logging.getLogger("paperbot.http")

# Ingest is stale once this many intervals pass without a fully successful run.
STALE_INGEST_INTERVALS = 3


def adapter_connected(adapter: ChatAdapter) -> bool:
    """The adapter's own ``is_connected()`` when it offers one; else assumed connected."""
    if not isinstance(adapter, ReportsConnection):
        return True
    try:
        return bool(adapter.is_connected())
    except Exception:
        log.exception("%s adapter: is_connected() failed", adapter.platform)
        return False


class Health:
    """Judges whether the running bot works: adapters, database, role leases, ingest freshness."""

    def __init__(
        self, adapters: Sequence[ChatAdapter], storage: Storage, jobs: Jobs, clock: Clock
    ) -> None:
        self.adapters = adapters
        self.storage = storage
        self.jobs = jobs
        self.clock = clock
        # Until the first successful ingest, staleness counts from start-up.
        self._started = clock.now()

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, body)``; the body lists every check and, when unhealthy, why."""
        problems: list[str] = []
        connected = {a.platform: adapter_connected(a) for a in self.adapters}
        problems += [f"{name} adapter is disconnected" for name, up in connected.items() if not up]
        writable = await self.storage.is_writable()
        if not writable:
            problems.append("database is not writable")
        roles = await self.jobs.roles.report()
        if not roles["renewing"]:
            why = self.jobs.roles.last_error or "no renewal has finished"
            problems.append(f"cannot renew role leases: {why}")
        last_ok = self.jobs.last_ingest_ok
        stale = self._stale_problem()
        if stale:
            problems.append(stale)
        body = {
            "status": "fail" if problems else "ok",
            "checks": {
                "adapters": connected,
                "database": writable,
                "last_ingest_age_seconds": (
                    round((self.clock.now() - last_ok).total_seconds(), 1) if last_ok else None
                ),
                "outbox_depth": await self._outbox_depth(),
                "roles": roles,
            },
            "problems": problems,
        }
        return not problems, body

    def _stale_problem(self) -> str | None:
        """Why ingest counts as stale, or None (also when there is no live source)."""
        if self.jobs.source is None:
            return None
        limit = timedelta(
            minutes=STALE_INGEST_INTERVALS * self.jobs.settings.ingest_interval_minutes
        )
        since = self.jobs.last_ingest_ok or self._started
        if self.clock.now() - since <= limit:
            return None
        minutes = limit.total_seconds() / 60
        return f"no successful ingest in the last {minutes:g} minutes"

    async def _outbox_depth(self) -> int | None:
        try:
            return await self.storage.outbox_depth()
        except Exception:
            log.exception("reading the outbox depth failed")
            return None


class HttpServer:
    """An aiohttp server for the health and metrics endpoints."""

    def __init__(
        self, host: str, port: int, health: Health, metrics: Metrics, storage: Storage
    ) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.metrics = metrics
        self.storage = storage
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind ``host:port`` (port 0: any free port, then stored in ``port``) and serve."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        # No access log: an orchestrator probing /healthz would flood it.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("health and metrics on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.health.report()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.metrics.exposition(self.storage)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
