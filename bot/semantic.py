"""Papers by meaning: their vectors in memory, kept in step with storage.

:class:`VectorIndex` holds the vectors as int8 in a usearch HNSW index:
exact search over every vector while the library is small, the graph's
approximate search from ``EXACT_BELOW`` papers on (bench/ann.py compares
usearch, hnswlib and faiss; README's Benchmarks give the figures).
:class:`Semantic` embeds papers that have no vector yet (at ingest, and as a
resumable backfill), stores the vectors, and answers nearest-paper questions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from usearch.index import Index

from bot.models import Paper
from bot.ports.embedder import Embedder, Vectors
from bot.ports.storage import Storage

log = logging.getLogger("paperbot.semantic")

# Papers embedded per batch: large enough for the embedder's own batching,
# small enough that a backfill saves its progress often.
EMBED_BATCH = 512
LOAD_BATCH = 20_000
# The vector index (bench/ann.py measured the choice): HNSW links per node,
# candidates kept while adding and while searching, and the size below which
# a search scans every vector (exact; as fast as the graph up to there).
CONNECTIVITY = 16
EXPANSION_ADD = 40
EXPANSION_SEARCH = 128
EXACT_BELOW = 20_000
ADD_CHUNK = 256
THREADS = 2


def paper_text(paper: Paper) -> str:
    """What a paper's vector describes: its title, abstract and keywords.

    The title comes twice: it says what the paper is about more densely than
    the abstract (measured on tests/relevance/natural.json: +0.02 nDCG@5).
    """
    parts = (paper.title, paper.title, paper.summary, ", ".join(paper.ai_keywords))
    return "\n".join(part for part in parts if part)


class VectorIndex:
    """Unit vectors by paper key, searched by cosine similarity.

    The vectors live in a usearch index as int8 (256 bytes a paper at 256
    dimensions: 256 MB at a million papers, a quarter of float32; cosine
    similarities move by under 0.01), with its HNSW graph for approximate
    search. Below ``EXACT_BELOW`` papers a search scans every vector instead
    (exact, and as fast there). Thread-safe: the loader adds from a worker
    thread while searches run, so both take a lock, and adds take it a chunk
    at a time so no search waits long.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._index = Index(
            ndim=dimensions,
            metric="cos",
            dtype="i8",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, keys: Sequence[str], vectors: Vectors) -> None:
        """Add or replace the vectors of ``keys``."""
        for start in range(0, len(keys), ADD_CHUNK):
            self._add(keys[start : start + ADD_CHUNK], vectors[start : start + ADD_CHUNK])

    def _add(self, keys: Sequence[str], vectors: Vectors) -> None:
        with self._lock:
            rows = []
            for key in keys:
                row = self._rows.get(key)
                if row is not None:
                    # A paper whose text changed: its old vector leaves the graph.
                    self._index.remove(row)
                # Row ids are never reused, so a removed row cannot come back.
                row = len(self._keys)
                self._keys.append(key)
                self._rows[key] = row
                rows.append(row)
            self._index.add(
                np.asarray(rows, np.uint64), np.asarray(vectors, np.float32), threads=THREADS
            )

    def vector(self, key: str) -> Vectors | None:
        """The stored vector of ``key`` as unit float32, or None."""
        row = self._rows.get(key)
        if row is None:
            return None
        with self._lock:
            found = self._index.get(row, dtype="f32")
        vector: Vectors = np.asarray(found, np.float32).reshape(self.dimensions)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def nearest(self, vector: Vectors, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` (key, cosine similarity) pairs, most similar first."""
        if not self._rows or limit <= 0:
            return []
        with self._lock:
            found = self._index.search(
                np.asarray(vector, np.float32),
                min(limit, len(self._rows)),
                exact=len(self._rows) < EXACT_BELOW,
                threads=1,
            )
            keys = [self._keys[int(row)] for row in found.keys]
        distances = found.distances
        return [(key, 1.0 - float(gap)) for key, gap in zip(keys, distances, strict=True)]


class Semantic:
    """An embedder, the stored vectors of its model, and the in-memory index over them."""

    def __init__(self, storage: Storage, embedder: Embedder) -> None:
        self.storage = storage
        self.embedder = embedder
        self.index = VectorIndex(embedder.dimensions)
        self._lock = asyncio.Lock()
        self._loaded = False

    @property
    def model(self) -> str:
        """The embedder's model name, under which its vectors are stored."""
        return self.embedder.name

    async def load(self) -> int:
        """Read every stored vector of this model into the index (once); returns how many.

        The graph is built in a worker thread, so the event loop keeps serving
        (searches meanwhile see the papers loaded so far).
        """
        async with self._lock:
            await self._load()
        return len(self.index)

    async def _load(self) -> None:
        if self._loaded:
            return
        started = time.perf_counter()
        cursor = 0
        while True:
            page = await self.storage.vector_changes(self.model, cursor, LOAD_BATCH)
            if not page.keys:
                break
            await asyncio.to_thread(self.index.add, page.keys, page.vectors)
            cursor = page.cursor
        self._loaded = True
        log.info(
            "loaded %d vectors of %s in %.1f s",
            len(self.index),
            self.model,
            time.perf_counter() - started,
        )

    async def embed_texts(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, computed in a worker thread (the event loop keeps serving)."""
        return await asyncio.to_thread(self.embedder.embed, list(texts))

    async def embed_missing(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed and store every paper without a vector, batch by batch; returns how many.

        Resumable: each batch is saved before the next is read, so an
        interrupted run continues where it stopped. One run at a time.
        """
        done = 0
        async with self._lock:
            await self._load()
            while papers := await self.storage.papers_without_vectors(self.model, EMBED_BATCH):
                keys = [paper.key for paper in papers]
                vectors = await self.embed_texts([paper_text(paper) for paper in papers])
                await self.storage.save_vectors(self.model, keys, vectors)
                await asyncio.to_thread(self.index.add, keys, vectors)
                done += len(papers)
                if progress:
                    progress(len(papers))
        if done:
            log.info("embedded %d papers with %s", done, self.model)
        return done

    async def nearest_to_text(self, text: str, limit: int) -> list[tuple[str, float]]:
        """Papers whose vectors are closest to ``text``'s."""
        return await asyncio.to_thread(self._nearest_to_text, text, limit)

    def _nearest_to_text(self, text: str, limit: int) -> list[tuple[str, float]]:
        return self.index.nearest(self.embedder.embed([text])[0], limit)

    def nearest_to_paper(self, key: str, limit: int) -> list[tuple[str, float]] | None:
        """Papers closest to paper ``key`` (itself left out); None when it has no vector."""
        vector = self.index.vector(key)
        if vector is None:
            return None
        found = self.index.nearest(vector, limit + 1)
        return [(other, score) for other, score in found if other != key][:limit]
