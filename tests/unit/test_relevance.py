"""Search quality on two labeled query sets over the seed corpus (nDCG@5, must not regress).

judgments.json: precise keyword queries (binary relevance); natural.json:
questions and descriptions in a researcher's own words (graded relevance).
Both run through the bot's hybrid search with the default embedder.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.hybrid import HybridSearch
from bot.plugins import load_embedder
from bot.query import parse_query
from bot.semantic import Semantic
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage

FOLDER = Path(__file__).resolve().parents[1] / "relevance"
TOP = 5
FILES = {"keyword": "judgments.json", "natural": "natural.json"}
RESULTS: dict[str, float] = {}


def ndcg(ranked: list[str], gains: dict[str, float], k: int = TOP) -> float:
    """Graded nDCG@k; a binary set gives every relevant paper gain 1."""
    dcg = sum(gains.get(key, 0.0) / math.log2(i + 2) for i, key in enumerate(ranked[:k]))
    best = sorted(gains.values(), reverse=True)[:k]
    return dcg / sum(gain / math.log2(i + 2) for i, gain in enumerate(best))


def test_ndcg_definition() -> None:
    assert ndcg(["a", "b"], {"a": 1, "b": 1}) == 1.0
    assert ndcg(["x", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert ndcg(["x", "y"], {"a": 1}) == 0.0
    assert ndcg(["b", "a"], {"a": 2, "b": 1}) < ndcg(["a", "b"], {"a": 2, "b": 1}) == 1.0


@pytest.fixture
async def search(tmp_path: Path) -> AsyncIterator[HybridSearch]:
    storage = await SqliteStorage.open(tmp_path / "r.db")
    await storage.upsert_papers(load_seed_papers())
    embedder = load_embedder("wordllama")
    assert embedder is not None
    semantic = Semantic(storage, embedder)
    await semantic.embed_missing()
    yield HybridSearch(storage, semantic)
    await storage.close()


@pytest.mark.parametrize("name", ["keyword", "natural"])
async def test_labeled_queries_ndcg_does_not_regress(search: HybridSearch, name: str) -> None:
    journey = next(p.key for p in load_seed_papers() if p.arxiv_id is None)
    labeled = json.loads((FOLDER / FILES[name]).read_text("utf-8"))
    scores = []
    for item in labeled["queries"]:
        relevant = item["relevant"]
        gains = relevant if isinstance(relevant, dict) else dict.fromkeys(relevant, 1)
        gains = {journey if key == "t:JOURNEY" else key: float(g) for key, g in gains.items()}
        page = await search.search(parse_query(item["query"]), 0, TOP)
        scores.append(ndcg([p.key for p in page.papers], gains))
    assert len(scores) >= 20
    mean = sum(scores) / len(scores)
    RESULTS[name] = mean
    RESULTS[f"{name} queries"] = len(scores)
    assert mean >= labeled["baseline_ndcg5"], f"{name} nDCG@5 regressed to {mean:.3f}"
