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
minutes: each is the seed papers' mean vector (every abstract shares common
words, so real paper vectors share a large common part) plus one of 200
field directions, one of the field's 25 topic directions and Gaussian noise,
normalised. Neighbours are graded (same topic, same field, the rest) and the
similarities match the seed corpus' (mean cosine 0.49 between papers);
random vectors have neither and make every index look worse than on real
papers. Queries lean more on their topic.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.semantic import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH  # noqa: E402

FIELDS = 200
TOPICS_PER_FIELD = 25
# Weights of a vector's parts (the shared direction has weight 1), chosen so
# that papers of different fields have a cosine similarity near 0.49, as the
# seed papers' vectors have on average (0.52 measured on 2,000 of these).
FIELD_WEIGHT = 0.7
TOPIC_WEIGHT = 0.8
QUERY_TOPIC_WEIGHT = 1.25
NOISE_WEIGHT = 0.75
CHUNK = 20_000
NEIGHBOURS = 60


def directions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the seed papers' mean vector, field directions, topic directions), all unit length.

    Fields and topics are means of 20 WordLlama token vectors each.
    """
    from bot.plugins import load_embedder
    from bot.semantic import paper_text
    from bot.sources.seeds import load_seed_papers

    embedder = load_embedder("wordllama")
    assert embedder is not None
    table = np.asarray(embedder._model.embedding, np.float32)  # type: ignore[attr-defined]
    common = embedder.embed([paper_text(paper) for paper in load_seed_papers()]).mean(axis=0)
    layout = np.random.default_rng(0)

    def means(count: int) -> np.ndarray:
        block = table[layout.integers(0, len(table), (count, 20))].mean(axis=1)
        return block / np.linalg.norm(block, axis=1, keepdims=True)

    return common / np.linalg.norm(common), means(FIELDS), means(FIELDS * TOPICS_PER_FIELD)


def synthetic_chunks(count: int, seed: int = 1, query: bool = False) -> Iterator[np.ndarray]:
    """``count`` unit float32 vectors shaped like the bot's paper vectors (see the module
    doc), in blocks of ``CHUNK`` rows so a million never sit in memory as float32 at once."""
    common, fields, topics = directions()
    rng = np.random.default_rng(seed)
    dims = len(common)
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        field = rng.integers(0, FIELDS, size)
        topic = field * TOPICS_PER_FIELD + rng.integers(0, TOPICS_PER_FIELD, size)
        noise = rng.standard_normal((size, dims)) / np.sqrt(dims)
        block = (
            common
            + FIELD_WEIGHT * fields[field]
            + (QUERY_TOPIC_WEIGHT if query else TOPIC_WEIGHT) * topics[topic]
            + NOISE_WEIGHT * noise
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        yield block.astype(np.float32)


def synthetic_vectors(count: int, seed: int = 1, query: bool = False) -> np.ndarray:
    """:func:`synthetic_chunks` as one matrix."""
    return np.concatenate(list(synthetic_chunks(count, seed, query)))


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
