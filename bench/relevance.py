"""Search quality and embedding speed on the bundled corpus.

    python bench/relevance.py [--embedder wordllama]

Prints one JSON line: nDCG@5 of the keyword set (tests/relevance/judgments.json)
and of the natural-language set (tests/relevance/natural.json) through the
bot's hybrid search, the same for keyword search alone, and the embedder's
speed (papers/s: title + abstract + keywords, 2,000 texts in batches of 512), and
the whole ingest step's (``ingest_embed_papers_per_s``: Semantic.embed_missing
over ``--ingest`` synthetic papers of bench/search.py in a new SQLite database,
reading them, embedding, storing the vectors and adding them to the index).
Latency: p50/p95 ms of a hybrid search over the labeled queries at the bundled
scale, and of one nearest-neighbour lookup in the in-memory index holding
``--index-size`` random unit vectors (brute force; default 100,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search import Vocabulary, synthetic_papers  # noqa: E402
from bot.hybrid import HybridSearch  # noqa: E402
from bot.plugins import load_embedder  # noqa: E402
from bot.ports.embedder import Embedder  # noqa: E402
from bot.query import parse_query  # noqa: E402
from bot.semantic import EMBED_BATCH, Semantic, VectorIndex, paper_text  # noqa: E402
from bot.sources.seeds import load_seed_papers  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402
from tests.unit.test_relevance import ndcg  # noqa: E402

TOP = 5
SPEED_TEXTS = 2_000
SETS = ("judgments", "natural")


def load_set(name: str, journey: str) -> list[tuple[str, dict[str, float]]]:
    """(query, gains by paper key) of one labeled set."""
    data = json.loads((ROOT / "tests" / "relevance" / f"{name}.json").read_text("utf-8"))
    judged = []
    for item in data["queries"]:
        relevant = item["relevant"]
        gains = relevant if isinstance(relevant, dict) else dict.fromkeys(relevant, 1)
        judged.append(
            (
                item["query"],
                {journey if k == "t:JOURNEY" else k: float(g) for k, g in gains.items()},
            )
        )
    return judged


async def mean_ndcg(
    search: HybridSearch, judged: list[tuple[str, dict[str, float]]], times: list[float]
) -> float:
    """Mean nDCG@5 of ``search`` over ``judged``; each search's seconds go to ``times``."""
    scores = []
    for text, gains in judged:
        started = time.perf_counter()
        page = await search.search(parse_query(text), 0, TOP)
        times.append(time.perf_counter() - started)
        scores.append(ndcg([paper.key for paper in page.papers], gains))
    return sum(scores) / len(scores)


def percentiles_ms(times: list[float]) -> dict[str, float]:
    """p50 and p95 of ``times`` (seconds) in milliseconds."""
    ordered = sorted(times)

    def pick(quantile: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))], 2)

    return {"p50": pick(0.5), "p95": pick(0.95)}


async def ingest_speed(db: Path, embedder: Embedder, count: int) -> float:
    """Papers per second through :meth:`Semantic.embed_missing` for ``count`` new papers."""
    storage = await SqliteStorage.open(db)
    try:
        papers = list(synthetic_papers(Vocabulary(load_seed_papers()), count, random.Random(1)))
        await storage.upsert_papers(papers)
        started = time.perf_counter()
        done = await Semantic(storage, embedder).embed_missing()
        assert done == count, f"embedded {done} of {count}"
        return count / (time.perf_counter() - started)
    finally:
        await storage.close()


def index_latency(size: int, dimensions: int, rng: np.random.Generator) -> dict[str, float]:
    """Nearest-neighbour lookup times in a :class:`VectorIndex` of ``size`` random vectors."""
    index = VectorIndex(dimensions)
    vectors = rng.standard_normal((size, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.add([str(i) for i in range(size)], vectors)
    times = []
    for row in rng.integers(0, size, 200):
        started = time.perf_counter()
        index.nearest(vectors[row], 60)
        times.append(time.perf_counter() - started)
    return percentiles_ms(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder", default="wordllama")
    parser.add_argument("--index-size", type=int, default=100_000)
    parser.add_argument("--ingest", type=int, default=20_000)
    args = parser.parse_args()
    papers = load_seed_papers()
    journey = next(paper.key for paper in papers if paper.arxiv_id is None)
    embedder = load_embedder(args.embedder)
    assert embedder is not None, "an embedder is needed"
    # Speed over 2,000 texts (the seed papers repeated), after one warm-up call.
    texts = [paper_text(papers[i % len(papers)]) for i in range(SPEED_TEXTS)]
    embedder.embed(texts[:10])
    started = time.perf_counter()
    for start in range(0, len(texts), EMBED_BATCH):
        embedder.embed(texts[start : start + EMBED_BATCH])
    speed = len(texts) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as folder:
        storage = await SqliteStorage.open(Path(folder) / "r.db")
        try:
            await storage.upsert_papers(papers)
            semantic = Semantic(storage, embedder)
            await semantic.embed_missing()
            figures: dict[str, object] = {"papers": len(papers), "embedder": embedder.name}
            hybrid_times: list[float] = []
            keyword_times: list[float] = []
            for name in SETS:
                judged = load_set(name, journey)
                figures[f"{name}_ndcg5"] = round(
                    await mean_ndcg(HybridSearch(storage, semantic), judged, hybrid_times), 3
                )
                figures[f"{name}_keyword_only_ndcg5"] = round(
                    await mean_ndcg(HybridSearch(storage, None), judged, keyword_times), 3
                )
            figures["embed_papers_per_s"] = round(speed)
            figures["ingest_embed_papers_per_s"] = round(
                await ingest_speed(Path(folder) / "ingest.db", embedder, args.ingest)
            )
            figures["hybrid_search_ms"] = percentiles_ms(hybrid_times)
            figures["keyword_search_ms"] = percentiles_ms(keyword_times)
            figures["index_size"] = args.index_size
            figures["index_nearest_ms"] = index_latency(
                args.index_size, embedder.dimensions, np.random.default_rng(1)
            )
        finally:
            await storage.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
