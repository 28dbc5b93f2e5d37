"""Comparing approximate-nearest-neighbour libraries for the semantic index.

    python bench/ann.py [--papers 200000] [--queries 300]
                        [--libraries usearch,hnswlib,faiss-hnsw,faiss-ivf,numpy]

Each library runs in a child process of its own (so its memory is its own), on
the same synthetic vectors, and the script prints one JSON line per library:
build seconds (2 threads), the index's size saved to disk (MB: for these
libraries, what it holds in memory too), the seconds to save and load it
back, query p50/p99 ms (one query at a time, one thread, 60 neighbours: what
a hybrid search asks for, after 20 untimed queries) and recall@10 against exact
float32 brute force: ``recall_at_10`` counts the true ten nearest found among
the first ten returned; ``score_recall_at_10`` counts a returned paper as
right when it is at least as similar as the true tenth (many papers are
nearly tied at that depth, and any of them serves a search as well).

The vectors are synthetic, because embedding a million texts would take
minutes: each is the normalised mean of 16 WordLlama token vectors, 6 from
one of 200 fields (a pool of 200 tokens each), 6 from one of the field's 25
topics (40 tokens each) and 4 from the whole vocabulary, so neighbours are
graded (same topic, same field, the rest) like papers' averaged token
embeddings; random Gaussian vectors have no such structure and would make
every index look worse than on real papers. Queries are made the same way
from 2 field and 3 topic tokens, like a short query.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.semantic import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH  # noqa: E402

FIELDS = 200
FIELD_TOKENS = 200
TOPICS_PER_FIELD = 25
TOPIC_TOKENS = 40
CHUNK = 20_000
NEIGHBOURS = 60


def token_table() -> np.ndarray:
    """WordLlama's token embeddings (32,000 x 256), from the weights in its wheel."""
    from bot.plugins import load_embedder

    embedder = load_embedder("wordllama")
    assert embedder is not None
    return np.asarray(embedder._model.embedding, np.float32)  # type: ignore[attr-defined]


def synthetic_vectors(count: int, seed: int = 1, query: bool = False) -> np.ndarray:
    """``count`` unit float32 vectors shaped like averaged token embeddings (see the module doc)."""
    table = token_table()
    rng = np.random.default_rng(seed)
    layout = np.random.default_rng(0)
    field_pools = layout.integers(0, len(table), (FIELDS, FIELD_TOKENS))
    topic_pools = layout.integers(0, len(table), (FIELDS * TOPICS_PER_FIELD, TOPIC_TOKENS))
    out = np.empty((count, table.shape[1]), np.float32)
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        fields = rng.integers(0, FIELDS, size)
        topics = fields * TOPICS_PER_FIELD + rng.integers(0, TOPICS_PER_FIELD, size)
        parts = [
            field_pools[fields[:, None], rng.integers(0, FIELD_TOKENS, (size, 2 if query else 6))],
            topic_pools[topics[:, None], rng.integers(0, TOPIC_TOKENS, (size, 3 if query else 6))],
        ]
        if not query:
            parts.append(rng.integers(0, len(table), (size, 4)))
        block = table[np.concatenate(parts, axis=1)].mean(axis=1)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + size] = block
    return out


def build(library: str, data: np.ndarray) -> Any:
    """The index of ``library`` over ``data`` (rows keyed 0..n-1), built with 2 threads."""
    dims = data.shape[1]
    if library in ("usearch", "usearch-f16"):
        from usearch.index import Index

        index = Index(
            ndim=dims,
            metric="cos",
            dtype="i8" if library == "usearch" else "f16",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        index.add(np.arange(len(data)), data, threads=2)
        return index
    if library == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=dims)
        index.init_index(max_elements=len(data), M=CONNECTIVITY, ef_construction=EXPANSION_ADD)
        index.set_num_threads(2)
        index.add_items(data, np.arange(len(data)))
        index.set_ef(EXPANSION_SEARCH)
        index.set_num_threads(1)
        return index
    import faiss

    faiss.omp_set_num_threads(2)
    if library == "faiss-hnsw":
        index = faiss.IndexHNSWSQ(
            dims, faiss.ScalarQuantizer.QT_8bit, CONNECTIVITY, faiss.METRIC_INNER_PRODUCT
        )
        index.hnsw.efConstruction = EXPANSION_ADD
        index.train(data[:100_000])
        index.add(data)
        index.hnsw.efSearch = EXPANSION_SEARCH
    elif library == "faiss-ivf":
        lists = max(64, int(4 * len(data) ** 0.5))
        quantizer = faiss.IndexFlatIP(dims)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dims, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.train(data[: max(50 * lists, 100_000)])
        index.add(data)
        index.nprobe = 24
    else:
        raise ValueError(library)
    faiss.omp_set_num_threads(1)
    return index


def search(library: str, index: Any, query: np.ndarray) -> np.ndarray:
    """Row numbers of the ``NEIGHBOURS`` nearest rows to one query, nearest first."""
    if library.startswith("usearch"):
        return np.asarray(index.search(query, NEIGHBOURS, threads=1).keys)
    if library == "hnswlib":
        labels, _ = index.knn_query(query, k=NEIGHBOURS)
        return np.asarray(labels[0])
    if library == "numpy":
        scores = index @ query
        top = np.argpartition(-scores, NEIGHBOURS)[:NEIGHBOURS]
        return top[np.argsort(-scores[top])]
    _, labels = index.search(query[None, :], NEIGHBOURS)
    return np.asarray(labels[0])


def run(library: str, papers: int, queries: int, out: Any) -> None:
    """Measure one library (in a child process) and send its figures to ``out``."""
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    data = synthetic_vectors(papers)
    asked = synthetic_vectors(queries, seed=2, query=True)
    scores = asked @ data.T
    exact = np.argpartition(-scores, 10, axis=1)[:, :10]
    tenth = np.take_along_axis(scores, exact, axis=1).min(axis=1)
    started = time.perf_counter()
    index = data if library == "numpy" else build(library, data)
    built = time.perf_counter() - started
    saved, size_mb = save_and_load(library, index)
    for row in range(20):
        search(library, index, asked[row])
    times, recalls, by_score = [], [], []
    for row in range(queries):
        t0 = time.perf_counter()
        found = search(library, index, asked[row])[:10]
        times.append(time.perf_counter() - t0)
        recalls.append(len(set(found.tolist()) & set(exact[row].tolist())) / 10)
        by_score.append(float(np.mean(scores[row, found] >= tenth[row] - 1e-3)))
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    out.put(
        {
            "library": library,
            "papers": papers,
            "build_s": round(built, 1),
            "index_mb": round(size_mb),
            "save_and_load_s": saved,
            "query_ms": {"p50": round(cuts[49] * 1000, 2), "p99": round(cuts[98] * 1000, 2)},
            "recall_at_10": round(float(np.mean(recalls)), 3),
            "score_recall_at_10": round(float(np.mean(by_score)), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )


def save_and_load(library: str, index: Any) -> tuple[float | None, float]:
    """(seconds to save the index to a file and load it back, its size in MB)."""
    if library == "numpy":
        return None, index.nbytes / 2**20
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "index")
        started = time.perf_counter()
        if library.startswith("usearch"):
            from usearch.index import Index

            index.save(path)
            Index.restore(path)
        elif library == "hnswlib":
            import hnswlib

            index.save_index(path)
            hnswlib.Index(space="ip", dim=index.dim).load_index(path)
        else:
            import faiss

            faiss.write_index(index, path)
            faiss.read_index(path)
        seconds = round(time.perf_counter() - started, 1)
        return seconds, os.path.getsize(path) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--libraries", default="usearch,hnswlib,faiss-hnsw,faiss-ivf,numpy")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    for library in args.libraries.split(","):
        results = context.Queue()
        child = context.Process(target=run, args=(library, args.papers, args.queries, results))
        child.start()
        print(json.dumps(results.get()), flush=True)
        child.join()


if __name__ == "__main__":
    main()
