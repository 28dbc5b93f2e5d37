"""Choosing a subscription's papers for one digest and rendering them.

A Hugging Face digest takes the latest settled day's list in Hugging Face's
order. An arXiv digest takes the latest announcement of the subscribed
categories (replacements left out, cross-lists if the channel counts them) and
ranks it for categories that announce hundreds of papers a day: Hugging Face
upvotes where Hugging Face lists the paper, then closeness to the channel's
include keywords (by meaning when semantic search runs, else by the keywords
a paper mentions), then arXiv's own announcement order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bot.cards import paper_card
from bot.models import Paper, Reply, Subscription
from bot.ports.embedder import Vectors
from bot.ports.storage import AnnouncedPaper, Storage
from bot.semantic import Semantic, paper_text

# Why a digest has no papers; recorded on the skipped delivery and shown to users.
NO_LIST = "no daily list yet"
NO_ANNOUNCEMENT = "no arXiv announcement yet"
NOTHING_NEW = "nothing new"
ALL_FILTERED = "all filtered out"
# Announce types of papers new to arXiv; replacements are new versions of old ones.
_FIRST_ANNOUNCED = frozenset({"new", "cross"})
HF_FOOTER = "From Hugging Face Daily Papers, in Hugging Face's ranking · /settings to adjust"
ARXIV_FOOTER = (
    "Ranked by Hugging Face upvotes where known, then closeness to this channel's"
    " include keywords, then arXiv's order · /settings to adjust"
)


@dataclass(frozen=True, slots=True)
class ArxivPool:
    """Where an arXiv digest chose from: its categories, announcement days and pool size.

    ``pool`` counts the papers announced in those days (cross-lists only when
    the channel counts them, replacements never). Kept with the outbox row as
    JSON, so the message says it whenever it is sent.
    """

    categories: tuple[str, ...]
    first_day: date
    last_day: date
    pool: int

    def to_json(self) -> str:
        """The JSON kept with the delivery."""
        return json.dumps(
            {
                "source": "arxiv",
                "categories": list(self.categories),
                "first_day": self.first_day.isoformat(),
                "last_day": self.last_day.isoformat(),
                "pool": self.pool,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> ArxivPool | None:
        """The pool :meth:`to_json` wrote; None for no text or anything else."""
        if not text:
            return None
        try:
            data: Any = json.loads(text)
            return cls(
                tuple(str(code) for code in data["categories"]),
                date.fromisoformat(data["first_day"]),
                date.fromisoformat(data["last_day"]),
                int(data["pool"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def summary(self, chosen: int) -> str:
        """``cs.CL, cs.LG · top 10 of 412 new papers · announced Tue 10 Mar 2026``."""
        noun = "new paper" if self.pool == 1 else "new papers"
        when = self.first_day.strftime("%a %d %b %Y")
        if self.last_day != self.first_day:
            when += " – " + self.last_day.strftime("%a %d %b %Y")
        return (
            f"{', '.join(self.categories)} · top {chosen} of {self.pool} {noun} · announced {when}"
        )


# With ``match topic``, a paper is about an include keyword when their vectors'
# cosine similarity reaches this. Chosen on the labeled sets (bench/topic_threshold.py):
# the keyword queries of tests/relevance/judgments.json as topics, their
# relevant papers as what should pass.
TOPIC_SIMILARITY = 0.35


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """What a run of a subscription should post: papers and the days they cover.

    ``empty_reason`` says why there are no papers (one of ``NO_LIST``,
    ``NO_ANNOUNCEMENT``, ``NOTHING_NEW``, ``ALL_FILTERED``); None when there
    are some. ``arxiv`` says what an arXiv digest chose from.
    """

    papers: tuple[Paper, ...]
    first_day: date | None
    last_day: date | None
    empty_reason: str | None = None
    arxiv: ArxivPool | None = None

    @property
    def digest_info(self) -> str | None:
        """What the outbox row keeps for the message (see :class:`ArxivPool`)."""
        return self.arxiv.to_json() if self.arxiv else None


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
    """The stored Hugging Face days, arXiv announcements and their papers, read once per tick.

    Every subscription due in the same tick covers the same days (and many
    share arXiv categories); without this each of them would re-read the same
    rows. ``semantic``, when given, ranks arXiv digests by meaning.
    """

    def __init__(self, storage: Storage, semantic: Semantic | None = None) -> None:
        self._storage = storage
        self.semantic = semantic
        self._latest: dict[date, date | None] = {}
        self._papers: dict[tuple[date, date], list[Paper]] = {}
        self._latest_arxiv: dict[tuple[str, ...], date | None] = {}
        self._announced: dict[tuple[tuple[str, ...], date, date], list[AnnouncedPaper]] = {}
        self._by_key: dict[str, Paper] = {}
        self._vectors: dict[str, Vectors] = {}

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

    async def latest_arxiv_day(self, categories: tuple[str, ...]) -> date | None:
        """The latest day one of ``categories`` announced papers on."""
        if categories not in self._latest_arxiv:
            self._latest_arxiv[categories] = await self._storage.latest_arxiv_day(categories)
        return self._latest_arxiv[categories]

    async def announced(
        self, categories: tuple[str, ...], first: date, last: date
    ) -> list[AnnouncedPaper]:
        """What ``categories`` announced from ``first`` to ``last``."""
        key = (categories, first, last)
        if key not in self._announced:
            self._announced[key] = await self._storage.arxiv_announced(categories, first, last)
        return self._announced[key]

    async def papers_by_key(self, keys: Sequence[str]) -> list[Paper]:
        """The stored papers among ``keys``, in that order."""
        missing = [key for key in keys if key not in self._by_key]
        if missing:
            self._by_key.update((p.key, p) for p in await self._storage.get_papers(missing))
        return [self._by_key[key] for key in keys if key in self._by_key]

    async def vectors(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of ``texts`` (keywords, or papers not embedded yet), computed once."""
        assert self.semantic is not None
        todo = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if todo:
            self._vectors.update(zip(todo, await self.semantic.embed_texts(todo), strict=True))
        return np.stack([self._vectors[text] for text in texts])

    async def on_topic(self, topics: Sequence[str], papers: Sequence[Paper]) -> frozenset[str]:
        """Keys of ``papers`` whose vectors are close to one of ``topics``' (by meaning).

        Empty without semantic search; a paper not yet embedded is left to the
        keyword match.
        """
        semantic = self.semantic
        if semantic is None or not topics:
            return frozenset()
        found = [(paper.key, semantic.index.vector(paper.key)) for paper in papers]
        embedded = [(key, vector) for key, vector in found if vector is not None]
        if not embedded:
            return frozenset()
        rows = np.stack([vector for _, vector in embedded])
        best = (rows @ (await self.vectors(topics)).T).max(axis=1)
        return frozenset(
            key for (key, _), score in zip(embedded, best, strict=True) if score >= TOPIC_SIMILARITY
        )

    async def chosen_by_topic(self, sub: Subscription, papers: Sequence[Paper]) -> frozenset[str]:
        """The papers ``sub``'s include filter takes by meaning (``match topic``), else none."""
        return await self.on_topic(sub.include, papers) if sub.match == "topic" else frozenset()


async def received_keys(storage: Storage, channel: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the channel got, or has on its way in a digest or alert
    message not sent yet: what neither a digest nor an alert may post again."""
    return await storage.sent_paper_keys(channel, keys) | await storage.queued_paper_keys(
        channel, keys
    )


async def plan_digest(
    storage: Storage, sub: Subscription, run_at: datetime, candidates: Candidates
) -> DigestPlan:
    """The papers ``sub`` should receive for the run at ``run_at`` (may be empty)."""
    if sub.arxiv_categories:
        return await _plan_arxiv(storage, sub, run_at, candidates)
    latest = await candidates.latest_day(before=run_at.date())
    days = covered_days(sub, run_at, latest)
    if days is None:
        return DigestPlan((), None, None, NO_LIST)
    papers = await candidates.papers(*days)
    if not papers:
        return DigestPlan((), *days, NO_LIST)
    sent = await received_keys(storage, sub.channel, [p.key for p in papers])
    on_topic = await candidates.chosen_by_topic(sub, papers)
    chosen = tuple(select_papers(papers, sub, sent, on_topic))
    if chosen:
        return DigestPlan(chosen, *days)
    reason = NOTHING_NEW if all(p.key in sent for p in papers) else ALL_FILTERED
    return DigestPlan((), *days, reason)


async def _plan_arxiv(
    storage: Storage, sub: Subscription, run_at: datetime, candidates: Candidates
) -> DigestPlan:
    """An arXiv digest: the latest announcement (or the past week's), ranked and filtered.

    A day without announcement changes nothing: the latest announcement stays
    the one to choose from, minus what the channel already received, as a
    Hugging Face digest keeps the latest list across a day without one.
    """
    categories = sub.arxiv_categories
    if sub.cadence == "weekly":
        week = covered_days(sub, run_at, None)
        assert week is not None
        first, last = week
    else:
        latest = await candidates.latest_arxiv_day(categories)
        if latest is None:
            return DigestPlan((), None, None, NO_ANNOUNCEMENT)
        first = last = latest
    listings = await candidates.announced(categories, first, last)
    keys = announcement_order(listings, categories, crosslists=sub.crosslists)
    papers = await candidates.papers_by_key(keys)
    if not papers:
        return DigestPlan((), first, last, NO_ANNOUNCEMENT)
    pool = ArxivPool(categories, first, last, len(papers))
    sent = await received_keys(storage, sub.channel, [p.key for p in papers])
    ranked = await rank_arxiv(papers, sub.include, candidates)
    chosen = tuple(select_papers(ranked, sub, sent, await candidates.chosen_by_topic(sub, ranked)))
    if chosen:
        return DigestPlan(chosen, first, last, arxiv=pool)
    reason = NOTHING_NEW if all(p.key in sent for p in papers) else ALL_FILTERED
    return DigestPlan((), first, last, reason, arxiv=pool)


def announcement_order(
    listings: Iterable[AnnouncedPaper], categories: Sequence[str], *, crosslists: bool
) -> list[str]:
    """Keys of the papers first announced in ``listings``, in arXiv's order.

    Replacements are left out (a new version is never posted as new). A paper
    listed in several of ``categories`` comes once, at its earliest place: by
    day, then position in its feed (arXiv lists new papers before
    cross-lists), then the order of ``categories``. Without ``crosslists``
    only papers whose primary category is one of ``categories`` (listed
    ``new`` in one of them) count.
    """
    wanted = {"new"} if not crosslists else _FIRST_ANNOUNCED
    place: dict[str, tuple[date, int, int]] = {}
    rank = {code: index for index, code in enumerate(categories)}
    for listing in listings:
        if listing.announce_type not in wanted:
            continue
        spot = (listing.day, listing.position, rank.get(listing.category, len(rank)))
        if listing.paper_key not in place or spot < place[listing.paper_key]:
            place[listing.paper_key] = spot
    return sorted(place, key=place.__getitem__)


def hf_upvotes(paper: Paper) -> int | None:
    """The paper's Hugging Face upvotes, or None when Hugging Face has not listed it.

    Storage keeps 0 for a paper only arXiv knows; a paper Hugging Face
    featured (or gave upvotes) has a known count.
    """
    if paper.featured_on is not None or (paper.upvotes or 0) > 0:
        return paper.upvotes or 0
    return None


async def rank_arxiv(
    papers: Sequence[Paper], include: Sequence[str], candidates: Candidates
) -> list[Paper]:
    """``papers`` (in announcement order) ranked for a digest.

    Papers Hugging Face lists come first, most upvoted first; then by
    closeness to ``include`` (none: no effect); then announcement order.
    """
    closeness = await _closeness(papers, include, candidates)

    def key(item: tuple[int, Paper]) -> tuple[int, int, float, int]:
        order, paper = item
        upvotes = hf_upvotes(paper)
        return (upvotes is None, -(upvotes or 0), -closeness[order], order)

    return [paper for _, paper in sorted(enumerate(papers), key=key)]


async def _closeness(
    papers: Sequence[Paper], include: Sequence[str], candidates: Candidates
) -> list[float]:
    """How close each paper is to the nearest include keyword (higher is closer).

    By meaning (cosine of the vectors) when semantic search runs; else by the
    keywords a paper mentions, a title mention counting double.
    """
    if not include or not papers:
        return [0.0] * len(papers)
    semantic = candidates.semantic
    if semantic is None:
        return [float(_keyword_overlap(paper, include)) for paper in papers]
    words = await candidates.vectors(list(include))
    stored = [semantic.index.vector(paper.key) for paper in papers]
    texts = [paper_text(p) for p, vector in zip(papers, stored, strict=True) if vector is None]
    fresh = iter(await candidates.vectors(texts)) if texts else iter(())
    rows = np.stack([v if v is not None else next(fresh) for v in stored]).astype(np.float32)
    scores = rows @ words.astype(np.float32).T
    return [float(score) for score in scores.max(axis=1)]


def _keyword_overlap(paper: Paper, keywords: Sequence[str]) -> int:
    """Keywords ``paper`` mentions: 2 for one in the title, 1 in its abstract or keywords."""
    score = 0
    for word in keywords:
        if _mentions(Paper(title=paper.title), (word,)):
            score += 2
        elif _mentions(paper, (word,)):
            score += 1
    return score


def digest_reply(papers: Sequence[Paper], period: str, arxiv: ArxivPool | None = None) -> Reply:
    """The digest message body for ``papers`` of ``period`` (``arxiv``: an arXiv digest)."""
    cards = tuple(paper_card(paper, rank) for rank, paper in enumerate(papers, 1))
    if arxiv is None:
        return Reply(title=f"Trending papers — {period}", cards=cards, footer=HF_FOOTER)
    return Reply(
        title=f"New on arXiv — {period}",
        text=arxiv.summary(len(papers)),
        cards=cards,
        footer=ARXIV_FOOTER,
    )
