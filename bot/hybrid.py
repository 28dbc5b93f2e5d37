"""Hybrid search: the keyword matches, then papers found by meaning, fused into one ranking.

The keyword search (storage) finds papers holding every word typed; the
semantic side (:mod:`bot.semantic`) finds papers whose vectors are closest to
the query's words, and with a static model ranks them by that closeness plus
how well their own words match the query's, word by word (:mod:`bot.soft_match`).
Both lists are fused by weighted reciprocal-rank fusion (RRF):
``KEYWORD_WEIGHT / (K + keyword rank) + 1 / (K + semantic rank)``. The
keyword weight is high, so a precise keyword query keeps its own results first
and meaning only fills and reorders where keywords are silent or weak. Where
it provably cannot change the page asked for (see :func:`_keyword_decides`),
the word-by-word match is skipped.

Explicit syntax filters the semantic candidates as it filters keyword
matches: quoted phrases must appear, ``-exclusions`` must not, ``author:``
and ``since:`` must hold; ``sort:recent``/``sort:upvotes`` order the fused
results.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from datetime import date

from bot.models import Paper
from bot.plain_text import words
from bot.ports.embedder import WordEmbedder
from bot.ports.storage import SearchPage, Storage
from bot.query import LITTLE_WORDS, SearchQuery
from bot.semantic import Semantic
from bot.soft_match import soft_match
from bot.spelling import word_variants

# Semantic candidates considered per query; keyword candidates per query.
SEMANTIC_CANDIDATES = 60
KEYWORD_CANDIDATES = 30
# Papers less similar than this are not offered by meaning: on the seed
# corpus the relevant papers of tests/relevance/natural.json score 0.28 and
# up, off-topic queries ("pizza recipe") 0.1 or less. Keeps "nothing matches"
# (and the Hugging Face fallback) for what the library does not cover.
MIN_SIMILARITY = 0.2
# Tuned on tests/relevance (see bench/relevance.py): RRF's k, and keyword
# rank weighted above meaning.
K = 10
KEYWORD_WEIGHT = 5.0


def _normal(text: str) -> str:
    """Lower-case words separated by single spaces, with a space at each end."""
    return " " + " ".join(words(text)) + " "


def _has(text: str, term: str) -> bool:
    """``text`` (normalised) holds ``term`` or a spelling variant of it, as whole words."""
    return any(f" {form} " in text for form in word_variants(term))


def _day(paper: Paper) -> date:
    return paper.published_at or paper.featured_on or date.min


def _sort_key(sort: str, paper: Paper) -> tuple[int | date, ...]:
    if sort == "recent":
        return (_day(paper), paper.upvotes or 0)
    return (paper.upvotes or 0, _day(paper))


def passes_filters(paper: Paper, query: SearchQuery) -> bool:
    """Whether ``paper`` meets ``query``'s explicit syntax (phrases, exclusions, author, since)."""
    if query.since is not None and (
        (paper.published_at or paper.featured_on) is None or _day(paper) < query.since
    ):
        return False
    if not (query.authors or query.phrases or query.excluded):
        return True
    authors = _normal(" ; ".join(paper.authors))
    if not all(f" {name} " in authors for name in query.authors):
        return False
    text = _normal(" ".join((paper.title, paper.summary, *paper.ai_keywords)))
    if not all(_has(text, phrase) for phrase in query.phrases):
        return False
    return not any(_has(text + authors, term) for term in query.excluded)


class HybridSearch:
    """Keyword search fused with semantic search; keyword search alone without an embedder."""

    def __init__(self, storage: Storage, semantic: Semantic | None) -> None:
        self.storage = storage
        self.semantic = semantic
        # Checked once: a runtime protocol check costs a tenth of a millisecond.
        embedder = semantic.embedder if semantic else None
        self._word_embedder = embedder if isinstance(embedder, WordEmbedder) else None

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """One page of the fused ranking.

        Every keyword match down to the page asked for takes part, so paging
        deeper still reaches every keyword match; semantic candidates join them.
        """
        semantic = self.semantic
        terms = [w for w in (*query.words, *query.phrases) if w not in LITTLE_WORDS]
        # A static embedding averages its words: little words only blur it.
        text = " ".join(terms) or " ".join((*query.words, *query.phrases))
        if semantic is None or not text or not len(semantic.index):
            return await self.storage.search(query, offset, limit)
        depth = max(KEYWORD_CANDIDATES, offset + limit)
        # Both sides wait on other threads (the database's, the embedder's):
        # run together, a search costs the slower of the two, not their sum.
        keyword, (similarity, near) = await asyncio.gather(
            self.storage.search(query, 0, depth), self._by_meaning(semantic, text)
        )
        # Filtered first: the word-by-word match is wasted on a paper that lacks a
        # quoted phrase (most papers found by meaning, for a phrase query).
        known = {paper.key for paper in keyword.papers}
        near = [paper for paper in near if paper.key in known or passes_filters(paper, query)]
        embedder = self._word_embedder
        if (
            embedder is not None
            and near
            and query.sort == "relevance"
            and not _keyword_decides(keyword, similarity, offset + limit)
        ):
            closeness = await asyncio.to_thread(_closeness, embedder, text, near)
            near.sort(key=lambda p: similarity[p.key] + closeness[p.key], reverse=True)
        fused = _fuse(query, keyword, near)
        extra = len(fused) - len(keyword.papers)
        total = None if keyword.total is None else keyword.total + extra
        return SearchPage(
            tuple(fused[offset : offset + limit]),
            keyword.has_more or offset + limit < len(fused),
            total,
            keyword.total_capped,
        )

    async def _by_meaning(
        self, semantic: Semantic, text: str
    ) -> tuple[dict[str, float], list[Paper]]:
        """Papers similar to ``text`` (each one's cosine similarity, and the papers), closest
        first."""
        near = await semantic.nearest_to_text(text, SEMANTIC_CANDIDATES)
        similarity = {key: score for key, score in near if score >= MIN_SIMILARITY}
        return similarity, await self.storage.get_papers(list(similarity))


def _keyword_decides(keyword: SearchPage, near: Collection[str], end: int) -> bool:
    """Whether the fused ranking's first ``end`` papers are the keyword matches in their
    own order, whatever the order of the papers found by meaning (``near``).

    True when the keyword side has at least ``end`` matches, none of them was
    also found by meaning (which would add to its score), and the ``end``-th
    keyword match outscores a paper found by meaning alone even at the top of
    that list. Then the word-by-word match cannot change the page and is
    skipped: at a million papers that is most keyword queries.
    """
    return (
        len(keyword.papers) >= end
        and KEYWORD_WEIGHT / (K + end) > 1 / (K + 1)
        and not any(paper.key in near for paper in keyword.papers)
    )


def _closeness(embedder: WordEmbedder, text: str, papers: list[Paper]) -> dict[str, float]:
    documents = {
        paper.key: (" ".join((paper.title, paper.summary, *paper.ai_keywords)), paper.title)
        for paper in papers
    }
    return soft_match(embedder, text.split(), documents)


def _fuse(query: SearchQuery, keyword: SearchPage, near: list[Paper]) -> list[Paper]:
    """Keyword matches and papers by meaning (already meeting ``query``'s syntax) in one
    ranking, in ``query``'s sort order."""
    papers = {paper.key: paper for paper in (*near, *keyword.papers)}
    scores: defaultdict[str, float] = defaultdict(float)
    for rank, paper in enumerate(keyword.papers):
        scores[paper.key] += KEYWORD_WEIGHT / (K + rank + 1)
    for rank, paper in enumerate(near):
        scores[paper.key] += 1 / (K + rank + 1)
    ranked = [papers[key] for key in sorted(scores, key=scores.__getitem__, reverse=True)]
    if query.sort != "relevance":
        ranked.sort(key=lambda paper: _sort_key(query.sort, paper), reverse=True)
    return ranked
