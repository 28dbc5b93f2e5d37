"""Fetching papers from a source into storage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from bot.alerts import match_new_papers
from bot.faults import describe
from bot.models import Paper
from bot.ports.storage import Storage
from bot.sources.arxiv import ArxivSource
from bot.sources.arxiv_feed import Announcement
from bot.sources.http import SourceUnreachable

log = logging.getLogger("paperbot.ingest")


class DaySource(Protocol):
    """A source that lists the papers featured on one day (Hugging Face)."""

    async def fetch_day(self, day: date) -> list[Paper]:
        """The papers of ``day``; raises when the source fails."""


@dataclass
class IngestResult:
    """What one ingest run did."""

    papers: int = 0
    days_ok: list[date] = field(default_factory=list)
    days_failed: list[tuple[date, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every day was fetched."""
        return not self.days_failed


def recent_days(today: date, count: int) -> list[date]:
    """``today`` and the ``count - 1`` days before it, oldest first."""
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


async def ingest_days(
    storage: Storage,
    source: DaySource,
    days: Sequence[date],
    progress: Callable[[date, int], None] | None = None,
) -> IngestResult:
    """Fetch each day and upsert its papers; a failing day is logged and skipped."""
    result = IngestResult()
    unreachable: str | None = None
    for day in days:
        if unreachable is not None:
            # The host did not answer at all: asking again for the next day
            # would only repeat every retry and its warning.
            result.days_failed.append((day, unreachable))
            if progress:
                progress(day, 0)
            continue
        try:
            papers = await source.fetch_day(day)
        except SourceUnreachable as exc:
            unreachable = str(exc)
            log.warning("%s; not trying the remaining days of this run", exc)
            result.days_failed.append((day, unreachable))
            papers = []
        except Exception as exc:  # the source is outside our control: never crash
            _day_failed(result, day, "", exc)
            papers = []
        else:
            try:
                result.papers += await store_papers(storage, papers)
            except Exception as exc:  # e.g. a full disk: the day is retried next run
                _day_failed(result, day, "cannot store its papers: ", exc)
            else:
                result.days_ok.append(day)
        if progress:
            progress(day, len(papers))
    log.info(
        "ingested %d papers from %d days (%d failed)",
        result.papers,
        len(result.days_ok),
        len(result.days_failed),
    )
    await match_alerts(storage)
    return result


async def store_papers(
    storage: Storage, papers: Sequence[Paper], *, new: Sequence[str] | None = None
) -> int:
    """Upsert ``papers``, first queueing the new ones for the keyword alerts (bot/alerts.py).

    Every ingest stores through this and then calls :func:`match_alerts`, so
    the papers it brings for the first time reach the channels' alerts.
    ``new`` limits the candidates to those keys (an arXiv replacement, a new
    version of an older paper, is not new even when it is not stored yet);
    by default every paper not stored yet is.
    """
    keys = [paper.key for paper in papers] if new is None else list(new)
    await storage.queue_alert_candidates(keys)
    return await storage.upsert_papers(papers)


async def match_alerts(storage: Storage) -> None:
    """Match the papers an ingest stored for the first time against every alert.

    A failure is logged, not raised: the papers stay queued in the database
    and the scheduler's next tick matches them.
    """
    try:
        await match_new_papers(storage)
    except Exception as exc:
        log.warning("matching new papers against alerts failed (retried later): %s", describe(exc))


def _day_failed(result: IngestResult, day: date, what: str, exc: Exception) -> None:
    reason = f"{what}{type(exc).__name__}: {exc}"
    log.warning("ingest of %s failed: %s", day, reason)
    result.days_failed.append((day, reason))


@dataclass
class CategoryCounts:
    """What one arXiv category's feed announced, and the requests it took (retries too)."""

    category: str
    new: int = 0
    cross: int = 0
    replaced: int = 0
    requests: int = 0


@dataclass
class ArxivIngestResult:
    """What one arXiv ingest did: per-category counts and the requests it made.

    ``papers`` counts distinct papers stored (a paper listed in two of the
    categories is stored once); ``skipped`` the malformed feed entries left out;
    ``incomplete`` the listings the export API could not complete.
    ``new_keys`` are the papers first announced (new or cross-listed, not
    replaced) in announcements this run recorded: what "an ingest brought new
    papers" means, e.g. for alerts. ``stale`` names the categories whose feed
    still showed an announcement older than the one expected.
    """

    announced_on: date | None
    categories: list[CategoryCounts]
    papers: int = 0
    skipped: int = 0
    incomplete: int = 0
    metadata_requests: int = 0
    new_keys: tuple[str, ...] = ()
    stale: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Every HTTP request of the run, feeds and metadata, retries included."""
        return self.metadata_requests + sum(c.requests for c in self.categories)

    @property
    def is_empty(self) -> bool:
        """True when no category announced anything (a weekend or a holiday)."""
        return self.papers == 0 and self.skipped == 0


async def ingest_arxiv(
    storage: Storage,
    source: ArxivSource,
    categories: Sequence[str],
    *,
    now: datetime | None = None,
    expected: date | None = None,
) -> ArxivIngestResult:
    """Fetch the latest announcement of each category, upsert its papers and record it.

    One feed request per category (so a category's fetch serves every
    subscription naming it), then the metadata of all distinct papers in shared
    batches; on a day without announcement, or when a feed still shows an
    announcement already recorded, no metadata is asked for. New, cross-listed
    and replaced papers are all stored (a replacement updates the stored title
    and abstract); upvotes stay Hugging Face's. Each announcement is recorded
    by category and day with its announce types and order (the arXiv digest's
    candidates). ``expected`` is the announcement day the caller expects
    (see :func:`bot.arxiv_schedule.announcement_day`): an empty feed then
    records that day as without announcement, and a feed of an earlier day is
    reported ``stale``. A failing feed raises
    :class:`~bot.sources.http.SourceError`; nothing is stored then.
    """
    moment = now or datetime.now(UTC)
    counts: list[CategoryCounts] = []
    announcements: list[Announcement] = []
    for category in categories:
        before = source.requests_made
        announcement = await source.fetch_announcement([category])
        tally = CategoryCounts(category, requests=source.requests_made - before)
        for record in announcement.records:
            if record.is_replacement:
                tally.replaced += 1
            elif record.is_cross_list:
                tally.cross += 1
            else:
                tally.new += 1
        counts.append(tally)
        announcements.append(announcement)
    days = [_day_of(a) for a in announcements if a.records]
    result = ArxivIngestResult(
        announced_on=max(days, default=None),
        categories=counts,
        skipped=sum(a.skipped for a in announcements),
    )
    fresh = []
    for announcement in announcements:
        day = _day_of(announcement)
        (category,) = announcement.categories
        if not announcement.records:
            if expected is not None:
                await storage.record_arxiv_announcement(category, expected, moment, [])
            continue
        if expected is not None and day < expected:
            result.stale.append(category)
        # A feed not rebuilt since it was recorded costs no metadata requests.
        if category not in await storage.arxiv_categories_fetched([category], day):
            fresh.append(announcement)
    if not fresh:
        if not days:
            log.info("arXiv: no announcement for %s", ", ".join(categories))
        return result
    before = source.requests_made
    completed = await source.complete(fresh)
    result.metadata_requests = source.requests_made - before
    result.incomplete = sum(len(a.records) - a.enriched for a in completed)
    papers = {r.arxiv_id: r.to_paper() for a in completed for r in a.records}
    new_keys = {r.arxiv_id: None for a in completed for r in a.records if not r.is_replacement}
    # A replacement is a new version of an older paper, not a new paper for the alerts.
    result.papers = await store_papers(storage, list(papers.values()), new=list(new_keys))
    for announcement in completed:
        (category,) = announcement.categories
        listings = [(r.arxiv_id, r.announce_type) for r in announcement.records]
        await storage.record_arxiv_announcement(category, _day_of(announcement), moment, listings)
    result.new_keys = tuple(new_keys)
    await match_alerts(storage)
    log.info(
        "ingested %d arXiv papers of %s in %d requests",
        result.papers,
        ", ".join(categories),
        result.requests,
    )
    return result


def _day_of(announcement: Announcement) -> date:
    """The day an announcement with records is of: the feed's, else its latest record's."""
    return announcement.announced_on or max(r.announced_on for r in announcement.records)
