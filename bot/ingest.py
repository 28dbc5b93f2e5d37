"""Fetching papers from a source into storage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from bot.alerts import match_new_papers
from bot.faults import describe
from bot.models import Paper
from bot.ports.storage import Storage
from bot.sources.arxiv import ArxivSource
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


async def store_papers(storage: Storage, papers: Sequence[Paper]) -> int:
    """Upsert ``papers``, first queueing the new ones for the keyword alerts (bot/alerts.py).

    Every ingest stores through this and then calls :func:`match_alerts`, so
    the papers it brings for the first time reach the channels' alerts.
    """
    await storage.queue_alert_candidates([paper.key for paper in papers])
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
    ``enriched`` the papers completed with the export API's metadata.
    """

    announced_on: date | None
    categories: list[CategoryCounts]
    papers: int = 0
    skipped: int = 0
    incomplete: int = 0
    metadata_requests: int = 0

    @property
    def requests(self) -> int:
        """Every HTTP request of the run, feeds and metadata, retries included."""
        return self.metadata_requests + sum(c.requests for c in self.categories)

    @property
    def is_empty(self) -> bool:
        """True when no category announced anything (a weekend or a holiday)."""
        return self.papers == 0 and self.skipped == 0


async def ingest_arxiv(
    storage: Storage, source: ArxivSource, categories: Sequence[str]
) -> ArxivIngestResult:
    """Fetch the latest announcement of each category and upsert its papers.

    One feed request per category (so a category's fetch can later serve every
    subscription naming it), then the metadata of all distinct papers in shared
    batches; on a day without announcement no metadata is asked for. New,
    cross-listed and replaced papers are all stored (a replacement updates the
    stored title and abstract); upvotes stay Hugging Face's. A failing feed
    raises :class:`~bot.sources.http.SourceError`; nothing is stored then.
    """
    counts: list[CategoryCounts] = []
    announcements = []
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
    days = [a.announced_on for a in announcements if a.records and a.announced_on]
    result = ArxivIngestResult(
        announced_on=max(days, default=None),
        categories=counts,
        skipped=sum(a.skipped for a in announcements),
    )
    if not any(a.records for a in announcements):
        log.info("arXiv: no announcement for %s", ", ".join(categories))
        return result
    before = source.requests_made
    completed = await source.complete(announcements)
    result.metadata_requests = source.requests_made - before
    result.incomplete = sum(len(a.records) - a.enriched for a in completed)
    papers = {r.arxiv_id: r.to_paper() for a in completed for r in a.records}
    result.papers = await store_papers(storage, list(papers.values()))
    await match_alerts(storage)
    log.info(
        "ingested %d arXiv papers of %s in %d requests",
        result.papers,
        ", ".join(categories),
        result.requests,
    )
    return result
