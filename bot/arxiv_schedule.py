"""When arXiv announces, and fetching each category's announcement once for every subscription.

arXiv announces Sunday to Thursday at 20:00 US Eastern; each announcement
fills the category feeds of the next day (Monday to Friday), and the feeds
are empty on days without one. :class:`ArxivFetcher` fetches the categories
that active subscriptions name, each once per announcement however many
subscriptions share it, and records what it fetched in storage, so a restart
does not fetch it again. All requests go through one paced
:class:`~bot.sources.arxiv.ArxivSource` (one connection, 3 s apart).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from bot.ingest import ArxivIngestResult, ingest_arxiv
from bot.ports.storage import Storage
from bot.sources.arxiv import ARXIV_INTERVAL, ArxivSource
from bot.sources.http import SourceError

log = logging.getLogger("paperbot.arxiv")

EASTERN = ZoneInfo("America/New_York")
ANNOUNCED_AT = time(20, 0)
# ISO weekdays of the evenings arXiv announces on: Sunday to Thursday.
ANNOUNCING_EVENINGS = frozenset({7, 1, 2, 3, 4})
# A feed still showing an older announcement (not rebuilt yet), or failing,
# is asked again after this long, not at every scheduling tick.
RETRY_AFTER = timedelta(minutes=15)


def announcement_day(now: datetime) -> date:
    """The feed day of arXiv's latest announcement at or before ``now``.

    An announcement made on an evening (US Eastern) is the next day's feed:
    Monday 20:00 is Tuesday's, Thursday 20:00 Friday's, and from then until
    Sunday 20:00 the latest one stays Friday's.
    """
    local = now.astimezone(EASTERN)
    evening = local.date() if local.time() >= ANNOUNCED_AT else local.date() - timedelta(days=1)
    while evening.isoweekday() not in ANNOUNCING_EVENINGS:
        evening -= timedelta(days=1)
    return evening + timedelta(days=1)


def arxiv_source(settings: Settings) -> ArxivSource:
    """The arXiv client for ``settings``: arXiv's pacing, scaled only for tests against a fake."""
    scale = settings.rate_limit_scale
    return ArxivSource(
        settings.arxiv_feed_url,
        settings.arxiv_api_url,
        min_interval=ARXIV_INTERVAL * scale,
        backoff=5.0 * scale,
        max_backoff=120.0 * scale,
    )


class ArxivFetcher:
    """Fetches the latest announcement of each subscribed arXiv category, once.

    One fetch runs at a time (a second caller waits, then finds the work
    done). A category whose feed is stale or failing is left alone for
    ``retry_after``.
    """

    def __init__(
        self,
        storage: Storage,
        source: ArxivSource,
        clock: Clock,
        *,
        retry_after: timedelta = RETRY_AFTER,
    ) -> None:
        self.storage = storage
        self.source = source
        self.clock = clock
        self._retry_after = retry_after
        self._lock = asyncio.Lock()
        self._not_before: dict[str, datetime] = {}

    async def missing(self, categories: Sequence[str]) -> list[str]:
        """Which of ``categories`` lack the latest announcement and may be asked now."""
        now = self.clock.now()
        fetched = await self.storage.arxiv_categories_fetched(categories, announcement_day(now))
        return [
            code
            for code in dict.fromkeys(categories)
            if code not in fetched and self._not_before.get(code, now) <= now
        ]

    async def fetch(self, categories: Sequence[str] | None = None) -> ArxivIngestResult | None:
        """Fetch what ``categories`` (default: every subscribed one) lack; None if nothing.

        Returns the ingest's result, whose ``new_keys`` are the papers it
        brought. Raises :class:`~bot.sources.http.SourceError` when arXiv
        keeps failing (those categories are then left alone for a while).
        """
        async with self._lock:
            wanted = categories or await self.storage.subscribed_arxiv_categories()
            todo = await self.missing(wanted) if wanted else []
            if not todo:
                log.debug("arXiv: nothing to fetch for %d subscribed categories", len(wanted))
                return None
            now = self.clock.now()
            try:
                result = await ingest_arxiv(
                    self.storage, self.source, todo, now=now, expected=announcement_day(now)
                )
            except SourceError:
                self._hold(todo, now)
                raise
            self._hold(result.stale, now)
            if result.stale:
                log.info(
                    "arXiv feeds not rebuilt yet for %s; asking again in %d min",
                    ", ".join(result.stale),
                    self._retry_after.total_seconds() // 60,
                )
            return result

    def _hold(self, categories: Sequence[str], now: datetime) -> None:
        for code in categories:
            self._not_before[code] = now + self._retry_after
