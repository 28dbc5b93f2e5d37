"""Prometheus metrics of one running bot, on its own registry.

A per-app :class:`~prometheus_client.CollectorRegistry` (not the global one)
lets tests build several apps in one process. The core reports through plain
callbacks (delivery outcomes, ingest runs) and a wrapper around the command
handler, so nothing else imports prometheus-client.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.delivery import DELIVERY_OUTCOMES
from bot.models import Command, Reply
from bot.ports.chat import CommandHandler
from bot.ports.storage import Storage

SEARCH_COMMANDS = frozenset({"search", "page"})
# Typed command names are user input: anything unknown shares one label so a
# user cannot grow the metric's series without bound.
OTHER_COMMAND = "other"


class Metrics:
    """The bot's counters, gauges and histograms, and their text exposition."""

    def __init__(self, commands: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "paperbot_deliveries",
            "Digest delivery attempts by platform and outcome.",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "paperbot_outbox_depth",
            "Outbox rows pending or being sent (read from storage at scrape time).",
            registry=self.registry,
        )
        self.ingest_runs = Counter(
            "paperbot_ingest_runs", "Hugging Face ingest runs.", registry=self.registry
        )
        self.ingest_failures = Counter(
            "paperbot_ingest_failures",
            "Ingest runs in which at least one day could not be fetched.",
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "paperbot_search_seconds",
            "Time to answer a search or a results page.",
            registry=self.registry,
        )
        self.commands = Counter(
            "paperbot_commands", "Commands handled, by name.", ["command"], registry=self.registry
        )
        self._command_names = frozenset(commands)
        # Known series are created up front so dashboards see zeros, not gaps.
        for name in (*self._command_names, OTHER_COMMAND):
            self.commands.labels(name)

    def add_platforms(self, platforms: Iterable[str]) -> None:
        """Create the delivery series of these platforms at zero."""
        for platform in platforms:
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(platform, outcome)

    def count_delivery(self, platform: str, outcome: str) -> None:
        """Observer for :class:`~bot.delivery.DeliveryWorker`: one delivery attempt ended."""
        self.deliveries.labels(platform, outcome).inc()

    def count_ingest(self, ok: bool) -> None:
        """Observer for :class:`~bot.jobs.Jobs`: one ingest run ended."""
        self.ingest_runs.inc()
        if not ok:
            self.ingest_failures.inc()

    def instrument(self, handler: CommandHandler) -> CommandHandler:
        """``handler`` wrapped to count every command and time searches."""

        async def counted(cmd: Command) -> Reply:
            name = cmd.name.casefold()
            self.commands.labels(name if name in self._command_names else OTHER_COMMAND).inc()
            if name not in SEARCH_COMMANDS:
                return await handler(cmd)
            with self.search_seconds.time():
                return await handler(cmd)

        return counted

    async def exposition(self, storage: Storage) -> bytes:
        """Every metric in the Prometheus text format, the outbox depth read just now."""
        self.outbox_depth.set(await storage.outbox_depth())
        return generate_latest(self.registry)
