"""Choosing a subscription's papers for one digest and rendering them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from bot.cards import paper_card
from bot.models import Paper, Reply, Subscription
from bot.ports.embedder import Vectors
from bot.ports.storage import Storage
from bot.semantic import Semantic

# Why a digest has no papers; recorded on the skipped delivery and shown to users.
NO_LIST = "no daily list yet"
NOTHING_NEW = "nothing new"
ALL_FILTERED = "all filtered out"
# With ``match topic``, a paper is about an include keyword when their vectors'
# cosine similarity reaches this. Chosen on the labeled sets (bench/topic_threshold.py):
# the keyword queries of tests/relevance/judgments.json as topics, their
# relevant papers as what should pass.
TOPIC_SIMILARITY = 0.35


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
    candidates: Sequence[Paper],
    sub: Subscription,
    already_sent: set[str],
    on_topic: frozenset[str] = frozenset(),
) -> list[Paper]:
    """Filter by threshold and keywords, drop papers already sent, keep the top N.

    A paper in ``on_topic`` (keys of papers about an include keyword, found by
    meaning) passes the include filter without spelling a keyword.
    """
    chosen = []
    for paper in candidates:
        if paper.key in already_sent or (paper.upvotes or 0) < sub.min_upvotes:
            continue
        if sub.include and paper.key not in on_topic and not _mentions(paper, sub.include):
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

    def __init__(self, storage: Storage, semantic: Semantic | None = None) -> None:
        self._storage = storage
        self._semantic = semantic
        self._latest: dict[date, date | None] = {}
        self._papers: dict[tuple[date, date], list[Paper]] = {}
        self._topics: dict[str, Vectors] = {}

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

    async def on_topic(self, topics: Sequence[str], papers: Sequence[Paper]) -> frozenset[str]:
        """Keys of ``papers`` whose vectors are close to one of ``topics``' (by meaning).

        Empty without semantic search; a paper not yet embedded is left to the
        keyword match.
        """
        semantic = self._semantic
        if semantic is None or not topics:
            return frozenset()
        new = [topic for topic in topics if topic not in self._topics]
        if new:
            self._topics.update(zip(new, await semantic.embed_texts(new), strict=True))
        found = [(paper.key, semantic.index.vector(paper.key)) for paper in papers]
        embedded = [(key, vector) for key, vector in found if vector is not None]
        if not embedded:
            return frozenset()
        rows = np.stack([vector for _, vector in embedded])
        centres = np.stack([self._topics[topic] for topic in topics])
        best = (rows @ centres.T).max(axis=1)
        return frozenset(
            key for (key, _), score in zip(embedded, best, strict=True) if score >= TOPIC_SIMILARITY
        )


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
    sent = await storage.sent_paper_keys(sub.channel, [p.key for p in papers])
    on_topic = (
        await candidates.on_topic(sub.include, papers) if sub.match == "topic" else frozenset()
    )
    chosen = tuple(select_papers(papers, sub, sent, on_topic))
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
