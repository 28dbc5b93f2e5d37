"""Wiring: storage, the command router, chat adapters and background jobs in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
from pathlib import Path

from adapters.base import ChatAdapter
from adapters.console.adapter import ConsoleAdapter
from adapters.registry import configured_adapters
from bot.clock import SystemClock
from bot.commands import CommandRouter, Defaults
from bot.config import Settings
from bot.jobs import Jobs
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage

log = logging.getLogger("paperbot.app")


def defaults_from(settings: Settings) -> Defaults:
    """Subscription defaults from the settings."""
    return Defaults(post_time=settings.post_time, timezone=settings.default_timezone)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _serve(adapters: list[ChatAdapter], jobs: Jobs | None, stop: asyncio.Event) -> None:
    """Start everything, wait for ``stop``, then shut down in reverse order."""
    started: list[ChatAdapter] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter started", adapter.platform)
        if jobs is not None:
            await jobs.start()
        await stop.wait()
    finally:
        log.info("shutting down")
        if jobs is not None:
            await jobs.stop()
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)


def _console_until_eof(console: ConsoleAdapter, stop: asyncio.Event) -> asyncio.Task[None]:
    async def watch() -> None:
        await console.finished.wait()
        stop.set()

    return asyncio.create_task(watch(), name="console-eof")


async def run_demo(settings: Settings) -> int:
    """The console adapter over the bundled seeds in a throw-away database."""
    with tempfile.TemporaryDirectory(prefix="paperbot-demo-") as folder:
        storage = await SqliteStorage.open(Path(folder) / "demo.db")
        try:
            await storage.upsert_papers(load_seed_papers())
            router = CommandRouter(storage, SystemClock(), defaults_from(settings))
            console = ConsoleAdapter(router)
            stop = asyncio.Event()
            _stop_on_signals(stop)
            watcher = _console_until_eof(console, stop)
            jobs = Jobs(settings, storage, [console], source=None, clock=SystemClock())
            await _serve([console], jobs, stop)
            watcher.cancel()
        finally:
            await storage.close()
    return 0


async def run_bot(settings: Settings) -> int:
    """Every adapter whose token is set (the console when none is), with live ingest."""
    storage = await SqliteStorage.open(settings.db)
    source = HuggingFaceSource(settings.hf_endpoint)
    try:
        clock = SystemClock()
        router = CommandRouter(storage, clock, defaults_from(settings), lookup=source)
        adapters = configured_adapters(settings, router)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        watcher = None
        if not adapters:
            log.info("no chat token set: using the console adapter")
            console = ConsoleAdapter(router)
            watcher = _console_until_eof(console, stop)
            adapters = [console]
        jobs = Jobs(settings, storage, adapters, source=source, clock=clock)
        await _serve(adapters, jobs, stop)
        if watcher:
            watcher.cancel()
    finally:
        await source.aclose()
        await storage.close()
    return 0
