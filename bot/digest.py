"""Choosing a subscription's papers for one digest and rendering them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.cards import paper_card
from bot.models import Paper, Reply, Subscription
from bot.ports.storage import Storage

# Why a digest has no papers; recorded on the skipped delivery and shown to users.
NO_LIST = "no daily list yet"
NOTHING_NEW = "nothing new"
ALL_FILTERED = "all filtered out"


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """What a run of a subscription should post: papers and the days they cover.

    ``empty_reason`` says why there are no papers (one of ``NO_LIST``,
    ``NOTHING_NEW``, ``ALL_FILTERED``); None when there are some.
    """

    papers: tuple[Paper, ...]
    first_day: date | None
    last_day: date | None
    empty_reason: str | None = None


def _mentions(paper: Paper, keywords: Sequence[str]) -> bool:
    haystack = " ".join((paper.title, paper.summary, " ".join(paper.ai_keywords))).casefold()
    return any(re.search(r"\b" + re.escape(word) + r"\b", haystack) for word in keywords)


def select_papers(
    candidates: Sequence[Paper], sub: Subscription, already_sent: set[str]
) -> list[Paper]:
    """Filter by threshold and keywords, drop papers already sent, keep the top N."""
    chosen = []
    for paper in candidates:
        if paper.key in already_sent or (paper.upvotes or 0) < sub.min_upvotes:
            continue
        if sub.include and not _mentions(paper, sub.include):
            continue
        if sub.exclude and _mentions(paper, sub.exclude):
            continue
        chosen.append(paper)
        if len(chosen) >= sub.top_n:
            break
    return chosen


def covered_days(
    sub: Subscription, run_at: datetime, latest: date | None
) -> tuple[date, date] | None:
    """The Hugging Face days a run covers: the latest settled day, or the past ISO week."""
    if sub.cadence == "weekly":
        local = run_at.astimezone(ZoneInfo(sub.timezone)).date()
        this_monday = local - timedelta(days=local.isoweekday() - 1)
        return this_monday - timedelta(days=7), this_monday - timedelta(days=1)
    return (latest, latest) if latest else None


class Candidates:
    """The stored Hugging Face days and their papers, read once per scheduling tick.

    Every subscription due in the same tick covers the same days; without this
    each of them would re-read the same rows.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._latest: dict[date, date | None] = {}
        self._papers: dict[tuple[date, date], list[Paper]] = {}

    async def latest_day(self, before: date) -> date | None:
        """The most recent featured day before ``before``."""
        if before not in self._latest:
            self._latest[before] = await self._storage.latest_featured_day(before=before)
        return self._latest[before]

    async def papers(self, first: date, last: date) -> list[Paper]:
        """Papers featured from ``first`` to ``last``, most upvoted first."""
        if (first, last) not in self._papers:
            self._papers[first, last] = await self._storage.papers_featured_between(first, last)
        return self._papers[first, last]


async def plan_digest(
    storage: Storage, sub: Subscription, run_at: datetime, candidates: Candidates
) -> DigestPlan:
    """The papers ``sub`` should receive for the run at ``run_at`` (may be empty)."""
    latest = await candidates.latest_day(before=run_at.date())
    days = covered_days(sub, run_at, latest)
    if days is None:
        return DigestPlan((), None, None, NO_LIST)
    papers = await candidates.papers(*days)
    if not papers:
        return DigestPlan((), *days, NO_LIST)
    keys = [p.key for p in papers]
    # Papers on their way in an alert message not sent yet count as sent.
    sent = await storage.sent_paper_keys(sub.channel, keys)
    sent |= await storage.queued_paper_keys(sub.channel, keys)
    chosen = tuple(select_papers(papers, sub, sent))
    if chosen:
        return DigestPlan(chosen, *days)
    reason = NOTHING_NEW if all(p.key in sent for p in papers) else ALL_FILTERED
    return DigestPlan((), *days, reason)


def digest_reply(papers: Sequence[Paper], period: str) -> Reply:
    """The digest message body for ``papers`` of ``period``."""
    return Reply(
        title=f"Trending papers — {period}",
        cards=tuple(paper_card(paper, rank) for rank, paper in enumerate(papers, 1)),
        footer="From Hugging Face Daily Papers, in Hugging Face's ranking · /settings to adjust",
    )
