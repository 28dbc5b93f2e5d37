"""arXiv client: category announcements from the RSS feeds, metadata from the export API.

arXiv's terms of use are built in, not left to callers: at most one request every
``min_interval`` seconds (3 by default) across both hosts, one connection at a time
(an ``httpx`` pool of one, and a lock that serialises every request), and a
User-Agent naming the bot with a contact URL. Transient faults (timeouts, 429, 5xx,
a body that is not the expected XML) are retried a bounded number of times with
backoff; every attempt has a hard deadline, so nothing here can hang.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TypeVar

import httpx

from bot.sources.arxiv_feed import (
    Announcement,
    ArxivMetadata,
    MalformedDocument,
    UnknownFeedQuery,
    parse_announcement,
    parse_metadata,
)
from bot.sources.http import (
    Retry,
    RetryPolicy,
    Sleep,
    SourceError,
    check_status,
    require_http_url,
    send,
)

__all__ = [
    "DEFAULT_API_ENDPOINT",
    "DEFAULT_FEED_ENDPOINT",
    "USER_AGENT",
    "ArxivSource",
    "UnknownArxivQuery",
]

log = logging.getLogger("paperbot.sources.arxiv")

DEFAULT_FEED_ENDPOINT = "https://rss.arxiv.org"
DEFAULT_API_ENDPOINT = "https://export.arxiv.org"
USER_AGENT = "paperbot/0.1 (research-paper digests for chat; +https://github.com/paperbot)"
ARXIV_INTERVAL = 3.0  # seconds between requests, from arXiv's terms of use
BATCH_SIZE = 100

_CATEGORY_RE = re.compile(r"[a-z][a-z-]*(?:\.[A-Za-z][A-Za-z-]*)?")
_ID_RE = re.compile(r"\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7}")

_T = TypeVar("_T")


class UnknownArxivQuery(SourceError):
    """arXiv answered a feed request with "Feed error for query": a category it lacks."""


class _Pacer:
    """Serialises requests and keeps ``interval`` seconds between the end of one and
    the start of the next (stricter than start-to-start, so slow answers are safe)."""

    def __init__(self, interval: float, clock: Callable[[], float], sleep: Sleep) -> None:
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last_end: float | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the only request slot, after waiting out the interval."""
        async with self._lock:
            if self._last_end is not None:
                wait = self._last_end + self._interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            try:
                yield
            finally:
                self._last_end = self._clock()


class ArxivSource:
    """Async client for arXiv's category feeds and export API.

    ``feed_endpoint`` and ``api_endpoint`` default to arXiv's hosts; tests and
    mirrors point them elsewhere. ``min_interval`` is the pause between requests
    (arXiv asks for 3 s; tests shrink it together with their fake's clock).
    ``requests_made`` counts every HTTP attempt, for the ingest's figures.
    """

    def __init__(
        self,
        feed_endpoint: str = DEFAULT_FEED_ENDPOINT,
        api_endpoint: str = DEFAULT_API_ENDPOINT,
        *,
        min_interval: float = ARXIV_INTERVAL,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 5.0,
        max_backoff: float = 120.0,
        batch_size: int = BATCH_SIZE,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        require_http_url(feed_endpoint, "the arXiv feed endpoint")
        require_http_url(api_endpoint, "the arXiv API endpoint")
        if min_interval < 0 or timeout <= 0 or not 1 <= batch_size <= 2000:
            raise ValueError("need min_interval >= 0, timeout > 0, 1 <= batch_size <= 2000")
        self._feed = feed_endpoint.rstrip("/")
        self._api = api_endpoint.rstrip("/")
        self._timeout = timeout
        self._retry = RetryPolicy("arXiv", max_attempts, backoff, max_backoff, sleep)
        self._batch_size = batch_size
        self._pacer = _Pacer(min_interval, clock, sleep)
        self.requests_made = 0
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": user_agent},
            # One connection at a time, as arXiv's terms ask.
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def aclose(self) -> None:
        """Close the HTTP connection (``contextlib.aclosing`` calls this)."""
        await self._client.aclose()

    async def complete(self, announcements: Sequence[Announcement]) -> list[Announcement]:
        """``announcements`` with their records completed from the export API.

        The metadata of every distinct paper is asked for once, in batches, however
        many of the announcements list it (a paper cross-listed in two requested
        categories costs one id). Empty announcements cost nothing. If the API keeps
        failing, the batches fetched so far are used and the other records keep the
        feed's own data (``enriched`` tells how many were completed) rather than
        losing the announcement.
        """
        ids = list(dict.fromkeys(r.arxiv_id for a in announcements for r in a.records))
        metadata: dict[str, ArxivMetadata] = {}
        for start in range(0, len(ids), self._batch_size):
            try:
                metadata.update(await self.fetch_metadata(ids[start : start + self._batch_size]))
            except SourceError as exc:
                # Batches already fetched are kept; the rest keep the feed's data.
                log.warning("arXiv metadata unavailable, keeping the feed's data: %s", exc)
                break
        completed = []
        for announcement in announcements:
            records = tuple(
                r.with_metadata(metadata[r.arxiv_id]) if r.arxiv_id in metadata else r
                for r in announcement.records
            )
            enriched = sum(1 for r in announcement.records if r.arxiv_id in metadata)
            completed.append(replace(announcement, records=records, enriched=enriched))
        return completed

    async def fetch_announcement(self, categories: Sequence[str]) -> Announcement:
        """One request to the RSS feed of ``categories`` (joined with ``+``).

        Raises :class:`UnknownArxivQuery` if arXiv does not know a category,
        :class:`SourceUnavailable` if the feed keeps failing.
        """
        cats = tuple(dict.fromkeys(c.strip() for c in categories))
        bad = [c for c in cats if not _CATEGORY_RE.fullmatch(c)]
        if not cats or bad:
            raise ValueError(f"not arXiv category codes: {bad or 'none given'}")
        query = "+".join(cats)

        def parse(body: bytes) -> Announcement:
            try:
                return parse_announcement(body, cats)
            except UnknownFeedQuery as exc:
                raise UnknownArxivQuery(f"arXiv has no feed for {query}: {exc}") from exc

        return await self._get(self._feed, f"/rss/{query}", None, parse, f"feed {query}")

    async def fetch_metadata(self, arxiv_ids: Sequence[str]) -> dict[str, ArxivMetadata]:
        """Export API metadata of ``arxiv_ids`` (bare ids), keyed by bare id.

        Requests ``batch_size`` ids at a time. Ids arXiv does not return are
        absent from the result (logged once per batch).
        """
        ids = list(dict.fromkeys(i.strip() for i in arxiv_ids))
        bad = [i for i in ids if not _ID_RE.fullmatch(i)]
        if bad:
            raise ValueError(f"not bare arXiv ids: {bad[:5]}")
        found: dict[str, ArxivMetadata] = {}
        for start in range(0, len(ids), self._batch_size):
            batch = ids[start : start + self._batch_size]
            params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
            what = f"metadata batch {start // self._batch_size + 1} ({len(batch)} ids)"
            entries = await self._get(self._api, "/api/query", params, parse_metadata, what)
            wanted = set(batch)
            found.update((e.arxiv_id, e) for e in entries if e.arxiv_id in wanted)
            missing = [i for i in batch if i not in found]
            if missing:
                log.warning("arXiv API did not return %d of %d ids", len(missing), len(batch))
        return found

    async def _get(
        self,
        host: str,
        path: str,
        params: Mapping[str, str] | None,
        parse: Callable[[bytes], _T],
        what: str,
    ) -> _T:
        """GET ``host + path`` and parse the body, retrying transient faults with backoff."""

        async def attempt() -> _T:
            body = await self._fetch(host + path, params, what)
            try:
                # A busy day's feed (2000 entries, ~3 MB) takes a second or more to
                # parse; off the event loop, chats keep being answered meanwhile.
                return await asyncio.to_thread(parse, body)
            except MalformedDocument as exc:
                raise Retry(f"unreadable answer ({exc})") from exc

        return await self._retry.run(attempt, what, host, log)

    async def _fetch(self, url: str, params: Mapping[str, str] | None, what: str) -> bytes:
        """One paced GET with a hard deadline; raises :class:`Retry` for transient faults."""
        async with self._pacer.turn():
            self.requests_made += 1
            response = await send(
                self._client, url, params, wait=self._timeout, deadline=self._timeout
            )
        check_status(response, "arXiv", what)
        return response.content
