"""Wiring: storage, the command router, chat adapters and background jobs in one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
from collections.abc import Awaitable, Sequence
from pathlib import Path

from bot.arxiv_schedule import ArxivFetcher, arxiv_source
from bot.catalogue import metric_labels
from bot.clock import SystemClock
from bot.commands import CommandRouter
from bot.faults import describe
from bot.http_server import Health, HttpServer
from bot.jobs import Jobs
from bot.metrics import Metrics
from bot.plugins import (
    Config,
    defaults_from,
    enabled_adapters,
    fallback_adapter,
    fallback_ready,
    no_chat_message,
    open_semantic,
    open_storage,
)
from bot.ports.chat import ChatAdapter, EndsSession, SharesTerminal, StopsIntake
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import store_seeds

log = logging.getLogger("paperbot.app")

# Shutdown budget, under the 10 s that `docker stop` waits before SIGKILL:
# adapters stop taking commands, in-flight sends get a grace period, then the
# adapters disconnect. Each phase gives up at its limit; sends cut off stay
# 'sending' in the outbox and go back to pending at the next start.
INTAKE_SECONDS = 2.0
SEND_GRACE_SECONDS = 4.0
DISCONNECT_SECONDS = 2.0


class StartupError(RuntimeError):
    """An adapter could not start (token rejected, server unreachable); the text says which."""


class NoChatToken(RuntimeError):
    """No chat adapter is enabled and the fallback (console) has nobody to chat with."""


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s: shutting down", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            log.debug("cannot handle %s here", sig.name)


async def _within(seconds: float, what: str, steps: Sequence[Awaitable[None]]) -> None:
    """Run ``steps`` concurrently; log failures, and give up after ``seconds``."""
    if not steps:
        return
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*steps, return_exceptions=True), timeout=seconds
        )
    except TimeoutError:
        log.warning("%s did not finish within %g s; going on", what, seconds)
        return
    for result in results:
        if isinstance(result, BaseException):
            log.error("%s failed: %s", what, describe(result))


async def shutdown(adapters: Sequence[ChatAdapter], jobs: Jobs | None) -> None:
    """Stop in order: command intake, then the outbox (with a grace period), then adapters."""
    intake = [a.stop_intake() for a in adapters if isinstance(a, StopsIntake)]
    await _within(INTAKE_SECONDS, "stopping command intake", intake)
    if jobs is not None:
        await jobs.stop(SEND_GRACE_SECONDS)
    await _within(DISCONNECT_SECONDS, "stopping adapters", [a.stop() for a in reversed(adapters)])


async def _serve(adapters: list[ChatAdapter], jobs: Jobs | None, stop: asyncio.Event) -> None:
    """Start the adapters and jobs, wait for ``stop``, then :func:`shutdown`."""
    started: list[ChatAdapter] = []
    try:
        for adapter in adapters:
            try:
                await adapter.start()
            except Exception as exc:
                raise StartupError(f"the {adapter.platform} adapter: {exc}") from None
            started.append(adapter)
            log.info("%s adapter started", adapter.platform)
        if jobs is not None:
            await jobs.start()
        await stop.wait()
    finally:
        log.info("shutting down")
        await shutdown(started, jobs)


def _logs_around_prompt(adapters: Sequence[ChatAdapter]) -> None:
    """Send stderr log lines through a terminal adapter, so they never mix into its prompt."""
    for adapter in adapters:
        if not isinstance(adapter, SharesTerminal):
            continue
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(adapter.log_stream(sys.stderr))


def _stop_when_ended(
    adapters: Sequence[ChatAdapter], stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """Set ``stop`` once an adapter's user ends the run (the console's end of input)."""

    async def watch(adapter: EndsSession) -> None:
        await adapter.finished.wait()
        stop.set()

    return [
        asyncio.create_task(watch(adapter), name=f"{adapter.platform}-ended")
        for adapter in adapters
        if isinstance(adapter, EndsSession)
    ]


async def run_demo(config: Config) -> int:
    """The fallback (console) adapter over the bundled seeds in a throw-away database."""
    settings = config.core
    with tempfile.TemporaryDirectory(prefix="paperbot-demo-") as folder:
        storage = await open_storage(str(Path(folder) / "demo.db"))
        try:
            await store_seeds(storage)
            semantic = await open_semantic(storage, settings.embedder)
            if semantic is not None:
                await semantic.embed_missing()
            defaults = defaults_from(settings)
            router = CommandRouter(storage, SystemClock(), defaults, semantic=semantic)
            console = fallback_adapter(router, defaults)
            _logs_around_prompt([console])
            stop = asyncio.Event()
            _stop_on_signals(stop)
            watchers = _stop_when_ended([console], stop)
            jobs = Jobs(
                settings, storage, [console], source=None, clock=SystemClock(), semantic=semantic
            )
            await _serve([console], jobs, stop)
            for watcher in watchers:
                watcher.cancel()
        finally:
            await storage.close()
    return 0


async def run_bot(config: Config) -> int:
    """Every adapter whose token is set (the console when none is), with live ingest.

    With ``PAPERBOT_HTTP_PORT`` set, ``/healthz`` and ``/metrics`` are served too.
    """
    settings = config.core
    if not config.enabled() and not fallback_ready():
        # Checked first, so this is the only line such a start prints.
        raise NoChatToken(no_chat_message())
    storage = await open_storage(settings.storage_url)
    source = HuggingFaceSource(settings.hf_endpoint)
    # One arXiv client for the whole process: one connection, arXiv's pace.
    arxiv = arxiv_source(settings)
    http: HttpServer | None = None
    try:
        clock = SystemClock()
        # The vectors load in the background (the embed job starts at once):
        # from the saved index in seconds, or built from the stored vectors
        # (minutes at a million papers); keyword search serves meanwhile.
        semantic = await open_semantic(storage, settings.embedder, load=False, settings=settings)
        router = CommandRouter(
            storage, clock, defaults_from(settings), lookup=source, semantic=semantic
        )
        metrics = Metrics(commands=metric_labels())
        handler = metrics.instrument(router)
        adapters = enabled_adapters(config, handler)
        if not config.enabled():
            log.info("no chat token set: using the %s adapter", adapters[0].platform)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        _logs_around_prompt(adapters)
        watchers = _stop_when_ended(adapters, stop)
        metrics.add_platforms(a.platform for a in adapters)
        jobs = Jobs(
            settings,
            storage,
            adapters,
            source=source,
            clock=clock,
            on_delivery=metrics.count_delivery,
            on_ingest=metrics.count_ingest,
            semantic=semantic,
            arxiv=ArxivFetcher(storage, arxiv, clock),
        )
        if settings.http_port is not None:
            health = Health(adapters, storage, jobs, clock)
            http = HttpServer(settings.http_host, settings.http_port, health, metrics, storage)
            try:
                await http.start()
            except OSError as exc:
                log.error(
                    "cannot serve HTTP on %s:%d: %s", settings.http_host, http.port, describe(exc)
                )
                return 1
        await _serve(adapters, jobs, stop)
        for watcher in watchers:
            watcher.cancel()
    finally:
        if http is not None:
            await http.stop()
        await source.aclose()
        await arxiv.aclose()
        await storage.close()
    return 0
