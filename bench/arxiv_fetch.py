"""Scheduled arXiv fetching against the arXiv fake: requests, papers, violations and time.

    python bench/arxiv_fetch.py [--scale 1.0] [--subscriptions 30] [--busy]

Subscriptions share the categories cs.CL, cs.LG and stat.ML; the bot's fetcher
(bot/arxiv_schedule.py, the same one ``paperbot run`` schedules) fetches the
announcement they need, then again as a restart would. ``--scale`` shrinks arXiv's
3-second rule in the fake and the client alike (1.0: the real pacing). ``--busy``
announces 250 papers in cs.LG, 50 of them cross-listed to cs.CL, instead of the
small weekday. Prints one JSON line: papers per category, requests (feeds,
metadata), the fake's rate-rule violations, the smallest gap between requests,
and the seconds the fetch took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.arxiv_schedule import ArxivFetcher, announcement_day  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.models import Subscription  # noqa: E402
from bot.sources.arxiv import ARXIV_INTERVAL, ArxivSource  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402
from tests.fakes.arxiv import FakeArxiv, FakePaper, weekday_papers  # noqa: E402

CATEGORIES = (("cs.CL", "cs.LG"), ("cs.LG", "stat.ML"), ("cs.CL", "stat.ML"))


def busy_day() -> list[FakePaper]:
    """250 new papers in cs.LG, every fifth cross-listed to cs.CL."""
    return [
        FakePaper(
            f"2603.{10000 + n:05d}",
            f"Busy paper {n}",
            ("cs.LG", "cs.CL") if n % 5 == 0 else ("cs.LG",),
        )
        for n in range(250)
    ]


async def main(scale: float, subscriptions: int, busy: bool) -> dict[str, object]:
    async with FakeArxiv(time_scale=scale) as fake:
        fake.announce(announcement_day(datetime.now(UTC)), busy_day() if busy else weekday_papers())
        source = ArxivSource(
            fake.endpoint, fake.endpoint, min_interval=ARXIV_INTERVAL * scale, backoff=5 * scale
        )
        with tempfile.TemporaryDirectory() as folder:
            store = await SqliteStorage.open(Path(folder) / "bench.db")
            try:
                await store.save_subscriptions(
                    [
                        Subscription(
                            channel=f"bench:{n}", arxiv_categories=CATEGORIES[n % len(CATEGORIES)]
                        )
                        for n in range(subscriptions)
                    ]
                )
                fetcher = ArxivFetcher(store, source, SystemClock())
                started = time.monotonic()
                result = await fetcher.fetch()
                seconds = time.monotonic() - started
                restart = ArxivFetcher(store, source, SystemClock())
                before = len(fake.requests)
                await restart.fetch()
                after_restart = len(fake.requests) - before
                announced = Counter(
                    a.category
                    for a in await store.arxiv_announced(
                        ["cs.CL", "cs.LG", "stat.ML"], fake.announced_on, fake.announced_on
                    )
                )
            finally:
                await store.close()
                await source.aclose()
        gaps = [b.at - a.at for a, b in zip(fake.requests, fake.requests[1:], strict=False)]
        assert result is not None
        return {
            "scenario": "busy" if busy else "weekday",
            "scale": scale,
            "subscriptions": subscriptions,
            "papers_per_category": dict(sorted(announced.items())),
            "papers_stored": result.papers,
            "new_papers": len(result.new_keys),
            "feed_requests": fake.count("rss"),
            "metadata_requests": fake.count("api"),
            "requests_after_restart": after_restart,
            "violations": len(fake.violations),
            "min_gap_s": round(min(gaps), 3) if gaps else None,
            "fetch_seconds": round(seconds, 2),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--subscriptions", type=int, default=30)
    parser.add_argument("--busy", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.scale, args.subscriptions, args.busy))))
