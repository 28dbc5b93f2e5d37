"""Search quality on a labeled query set over the seed corpus (nDCG@5, must not regress)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.query import parse_query
from bot.sources.seeds import load_seed_papers
from storage.sqlite import SqliteStorage

JUDGMENTS = json.loads(
    (Path(__file__).resolve().parents[1] / "relevance" / "judgments.json").read_text("utf-8")
)
TOP = 5
RESULTS: dict[str, float] = {}


def ndcg(ranked: list[str], relevant: set[str], k: int = TOP) -> float:
    """Binary-gain nDCG@k."""
    dcg = sum(1 / math.log2(i + 2) for i, key in enumerate(ranked[:k]) if key in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def test_ndcg_definition() -> None:
    assert ndcg(["a", "b"], {"a", "b"}) == 1.0
    assert ndcg(["x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert ndcg(["x", "y"], {"a"}) == 0.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(tmp_path / "r.db")
    await storage.upsert_papers(load_seed_papers())
    yield storage
    await storage.close()


async def test_labeled_queries_ndcg_does_not_regress(store: SqliteStorage) -> None:
    journey = next(p.key for p in load_seed_papers() if p.arxiv_id is None)
    scores = []
    for judged in JUDGMENTS["queries"]:
        relevant = {journey if key == "t:JOURNEY" else key for key in judged["relevant"]}
        page = await store.search(parse_query(judged["query"]), 0, TOP)
        scores.append(ndcg([p.key for p in page.papers], relevant))
    assert len(scores) >= 20
    mean = sum(scores) / len(scores)
    RESULTS["nDCG@5"] = mean
    RESULTS["queries"] = len(scores)
    assert mean >= JUDGMENTS["baseline_ndcg5"], f"nDCG@5 regressed to {mean:.3f}"
