"""Search quality on two labeled query sets over the seed corpus (nDCG@5, must not regress).

judgments.json: precise keyword queries (binary relevance); natural.json:
questions and descriptions in a researcher's own words (graded relevance).
Both run through the bot's hybrid search with the default embedder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bot.hybrid import HybridSearch
from bot.plugins import load_embedder, open_storage
from bot.query import parse_query
from bot.semantic import Semantic
from bot.sources.seeds import load_seed_papers

FOLDER = Path(__file__).resolve().parents[1] / "relevance"
TOP = 5
FILES = {"keyword": "judgments.json", "natural": "natural.json"}
# nDCG@5 and the number of queries, by set and backend (printed by the conftest's summary).
RESULTS: dict[str, tuple[float, int]] = {}
# Both backends rank keywords by the same rules; their engines may match a little
# differently. The natural set is decided by the vectors, the same on every backend.
BACKEND_GAP = 0.02


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


async def mean_ndcg(url: str, name: str) -> tuple[float, int]:
    """nDCG@5 of the ``name`` set through hybrid search on the seed corpus at ``url``."""
    storage = await open_storage(url)
    try:
        await storage.upsert_papers(load_seed_papers())
        embedder = load_embedder("wordllama")
        assert embedder is not None
        semantic = Semantic(storage, embedder)
        await semantic.embed_missing()
        search = HybridSearch(storage, semantic)
        journey = next(p.key for p in load_seed_papers() if p.arxiv_id is None)
        labeled = json.loads((FOLDER / FILES[name]).read_text("utf-8"))
        scores = []
        for item in labeled["queries"]:
            relevant = item["relevant"]
            gains = relevant if isinstance(relevant, dict) else dict.fromkeys(relevant, 1)
            gains = {journey if key == "t:JOURNEY" else key: float(g) for key, g in gains.items()}
            page = await search.search(parse_query(item["query"]), 0, TOP)
            scores.append(ndcg([p.key for p in page.papers], gains))
    finally:
        await storage.close()
    return sum(scores) / len(scores), len(scores)


@pytest.mark.parametrize("name", ["keyword", "natural"])
async def test_labeled_queries_ndcg_does_not_regress(
    tmp_path: Path, name: str, postgres_url: str
) -> None:
    urls = {"sqlite": f"sqlite:///{tmp_path / 'r.db'}"}
    if name == "keyword":
        urls["postgresql"] = postgres_url
    baseline = json.loads((FOLDER / FILES[name]).read_text("utf-8"))["baseline_ndcg5"]
    for backend, url in urls.items():
        mean, queries = RESULTS[f"{name} set, {backend}"] = await mean_ndcg(url, name)
        assert queries >= 20
        assert mean >= baseline, f"{name} nDCG@5 on {backend} regressed to {mean:.3f}"
    if name == "keyword":
        gap = abs(RESULTS["keyword set, sqlite"][0] - RESULTS["keyword set, postgresql"][0])
        assert gap <= BACKEND_GAP, f"the backends differ by {gap:.3f} nDCG@5: {RESULTS}"
