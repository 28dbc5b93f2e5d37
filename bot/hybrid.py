"""Hybrid search: the keyword matches, then papers found by meaning, fused into one ranking.

The keyword search (storage) finds papers holding every word typed; the
semantic side (:mod:`bot.semantic`) finds papers whose vectors are closest to
the query's words. Both lists are fused by weighted reciprocal-rank fusion
(RRF): ``KEYWORD_WEIGHT / (K + keyword rank) + 1 / (K + semantic rank)``, plus a
lexical bonus for semantic candidates that share the query's rarer words. The
keyword weight is high, so a precise keyword query keeps its own results first
and meaning only fills and reorders where keywords are silent or weak.

Explicit syntax filters the semantic candidates as it filters keyword
matches: quoted phrases must appear, ``-exclusions`` must not, ``author:``
and ``since:`` must hold; ``sort:recent``/``sort:upvotes`` order the fused
results.
"""

from __future__ import annotations

import asyncio
import math
import unicodedata
from collections import defaultdict
from datetime import date

from bot.models import Paper
from bot.ports.storage import SearchPage, Storage
from bot.query import SearchQuery
from bot.semantic import Semantic
from bot.spelling import word_variants

# Semantic candidates considered per query; keyword candidates per query.
SEMANTIC_CANDIDATES = 60
KEYWORD_CANDIDATES = 30
# Papers less similar than this are not offered by meaning: on the seed
# corpus the relevant papers of tests/relevance/natural.json score 0.28 and
# up, off-topic queries ("pizza recipe") 0.1 or less. Keeps "nothing matches"
# (and the Hugging Face fallback) for what the library does not cover.
MIN_SIMILARITY = 0.2
# Tuned on tests/relevance (see bench/relevance.py): RRF's usual k, keyword
# rank weighted above meaning, and the weight of shared rare words.
K = 10
KEYWORD_WEIGHT = 5.0
LEXICAL_WEIGHT = 0.08
# ASCII and common typographic punctuation (the rest of a word's non-letters
# rarely sit next to a query word in an abstract).
_PUNCTUATION = str.maketrans(
    dict.fromkeys([chr(c) for c in range(128) if not chr(c).isalnum()] + list("“”‘’–—…·•×"), " ")
)
# Little words of questions ("how do we ..."), left out of the embedded text.
# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "how", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "this", "to", "was", "we", "were", "what", "when", "which", "while", "who", "why",
    "with", "without",
})
# fmt: on


def _normal(text: str) -> str:
    """Lower-case words separated by single spaces, with a space at each end.

    ``str.translate`` rather than a regular expression: this runs on every
    candidate's abstract of every search, and is several times faster.
    """
    words = unicodedata.normalize("NFC", text).lower().translate(_PUNCTUATION).split()
    return " " + " ".join(words) + " "


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


def _lexical(query_words: list[str], papers: list[Paper]) -> dict[str, float]:
    """Each paper's share of the query's words it holds, rarer words (among these) counting more."""
    texts = {paper.key: _normal(f"{paper.title} {paper.title} {paper.summary}") for paper in papers}
    held = {word: {key for key, text in texts.items() if _has(text, word)} for word in query_words}
    weights = {word: math.log((1 + len(texts)) / (1 + len(keys))) for word, keys in held.items()}
    total = sum(weights.values()) or 1.0
    scores: defaultdict[str, float] = defaultdict(float)
    for word, keys in held.items():
        for key in keys:
            scores[key] += weights[word] / total
    return scores


class HybridSearch:
    """Keyword search fused with semantic search; keyword search alone without an embedder."""

    def __init__(self, storage: Storage, semantic: Semantic | None) -> None:
        self.storage = storage
        self.semantic = semantic

    async def search(self, query: SearchQuery, offset: int, limit: int) -> SearchPage:
        """One page of the fused ranking.

        Every keyword match down to the page asked for takes part, so paging
        deeper still reaches every keyword match; semantic candidates join them.
        """
        semantic = self.semantic
        words = [w for w in (*query.words, *query.phrases) if w not in _STOPWORDS]
        # A static embedding averages its words: little words only blur it.
        text = " ".join(words) or " ".join((*query.words, *query.phrases))
        if semantic is None or not text or not len(semantic.index):
            return await self.storage.search(query, offset, limit)
        depth = max(KEYWORD_CANDIDATES, offset + limit)
        # Both sides wait on other threads (the database's, the embedder's):
        # run together, a search costs the slower of the two, not their sum.
        keyword, near = await asyncio.gather(
            self.storage.search(query, 0, depth),
            semantic.nearest_to_text(text, SEMANTIC_CANDIDATES),
        )
        fused = await self._fuse(query, text, keyword, near)
        extra = len(fused) - len(keyword.papers)
        total = None if keyword.total is None else keyword.total + extra
        return SearchPage(
            tuple(fused[offset : offset + limit]),
            keyword.has_more or offset + limit < len(fused),
            total,
            keyword.total_capped,
        )

    async def _fuse(
        self, query: SearchQuery, text: str, keyword: SearchPage, near: list[tuple[str, float]]
    ) -> list[Paper]:
        known = {paper.key: paper for paper in keyword.papers}
        fetched = await self.storage.get_papers([key for key, _ in near if key not in known])
        papers = {**known, **{paper.key: paper for paper in fetched}}
        near_papers = [papers[key] for key, _ in near if key in papers]
        near_papers = [p for p in near_papers if p.key in known or passes_filters(p, query)]
        # Word rarity is judged over every candidate; only similar ones are offered.
        lexical = _lexical(text.split(), near_papers)
        similar = {key for key, score in near if score >= MIN_SIMILARITY}
        near_papers = [paper for paper in near_papers if paper.key in similar]
        scores: defaultdict[str, float] = defaultdict(float)
        for rank, paper in enumerate(keyword.papers):
            scores[paper.key] += KEYWORD_WEIGHT / (K + rank + 1)
        for rank, paper in enumerate(near_papers):
            scores[paper.key] += 1 / (K + rank + 1) + LEXICAL_WEIGHT * lexical.get(paper.key, 0)
        ranked = [papers[key] for key in sorted(scores, key=scores.__getitem__, reverse=True)]
        if query.sort != "relevance":
            ranked.sort(key=lambda paper: _sort_key(query.sort, paper), reverse=True)
        return ranked
