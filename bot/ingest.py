"""Fetching papers from a source into storage."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from bot.models import Paper
from bot.ports.storage import Storage
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
                result.papers += await storage.upsert_papers(papers)
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
    return result


def _day_failed(result: IngestResult, day: date, what: str, exc: Exception) -> None:
    reason = f"{what}{type(exc).__name__}: {exc}"
    log.warning("ingest of %s failed: %s", day, reason)
    result.days_failed.append((day, reason))
