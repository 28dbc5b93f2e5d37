"""Digest fan-out speed: one digest to N Telegram channels through the bot's delivery path.

    python bench/fanout.py [--channels 3000] [--time-scale 0.1]
    python bench/fanout.py --unlimited [--channels 3000]

The fake Bot API server runs in a child process and enforces Telegram's
documented limits (30 messages/s overall, 1/s per chat, 20/min per group),
with every window multiplied by ``--time-scale`` so the run stays short; the
bot's limiter uses the same scale. In this process: a real SQLite outbox, the
DeliveryWorker, the RateLimiter and the TelegramAdapter (python-telegram-bot).

Prints one JSON line: channels, seconds, achieved rate / ceiling rate, 429s
the server answered, CPU milliseconds per message, peak RSS in MB.
``--unlimited`` turns limits off on both sides and measures the bot's own
maximum messages per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.telegram.adapter import TelegramAdapter  # noqa: E402
from adapters.telegram.settings import TelegramSettings  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.delivery import DeliveryWorker  # noqa: E402
from bot.models import Paper, Reply, Subscription  # noqa: E402
from bot.ports.chat import RateWindow  # noqa: E402
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


async def stop_fake(process: asyncio.subprocess.Process) -> dict[str, int]:
    """Stop the fake and read its counters."""
    process.terminate()
    assert process.stdout is not None
    out = await asyncio.wait_for(process.stdout.read(), 30)
    await process.wait()
    counters: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return counters


async def fill_outbox(store: SqliteStorage, channels: int) -> None:
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
        await store.save_subscription(Subscription(channel=channel))
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


def main() -> None:
    """Parse options, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3000)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--unlimited", action="store_true")
    args = parser.parse_args()
    scale = 1.0 if args.unlimited else args.time_scale
    print(json.dumps(asyncio.run(run(args.channels, scale, args.unlimited))))


if __name__ == "__main__":
    main()
