"""Search quality on a labeled query set over the seed corpus (nDCG@5, must not regress)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bot.plugins import open_storage
from bot.query import parse_query
from bot.sources.seeds import load_seed_papers

JUDGMENTS = json.loads(
    (Path(__file__).resolve().parents[1] / "relevance" / "judgments.json").read_text("utf-8")
)
TOP = 5
# nDCG@5 and the number of queries, by backend (printed by the conftest's summary).
RESULTS: dict[str, tuple[float, int]] = {}
# Both backends rank by the same rules; their engines may match a little differently.
BACKEND_GAP = 0.02


def ndcg(ranked: list[str], relevant: set[str], k: int = TOP) -> float:
    """Binary-gain nDCG@k."""
    dcg = sum(1 / math.log2(i + 2) for i, key in enumerate(ranked[:k]) if key in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def test_ndcg_definition() -> None:
    assert ndcg(["a", "b"], {"a", "b"}) == 1.0
    assert ndcg(["x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert ndcg(["x", "y"], {"a"}) == 0.0


async def mean_ndcg(url: str) -> tuple[float, int]:
    """nDCG@5 over the labeled queries on the seed corpus in a new database at ``url``."""
    store = await open_storage(url)
    try:
        await store.upsert_papers(load_seed_papers())
        journey = next(p.key for p in load_seed_papers() if p.arxiv_id is None)
        scores = []
        for judged in JUDGMENTS["queries"]:
            relevant = {journey if key == "t:JOURNEY" else key for key in judged["relevant"]}
            page = await store.search(parse_query(judged["query"]), 0, TOP)
            scores.append(ndcg([p.key for p in page.papers], relevant))
    finally:
        await store.close()
    return sum(scores) / len(scores), len(scores)


async def test_labeled_queries_ndcg_does_not_regress(tmp_path: Path, postgres_url: str) -> None:
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'r.db'}"), ("postgresql", postgres_url)):
        RESULTS[name] = await mean_ndcg(url)
    for name, (mean, queries) in RESULTS.items():
        assert queries >= 20
        assert mean >= JUDGMENTS["baseline_ndcg5"], f"nDCG@5 on {name} regressed to {mean:.3f}"
    gap = abs(RESULTS["sqlite"][0] - RESULTS["postgresql"][0])
    assert gap <= BACKEND_GAP, f"the backends differ by {gap:.3f} nDCG@5: {RESULTS}"
