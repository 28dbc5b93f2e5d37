"""Papers by meaning: their vectors in memory, kept in step with storage.

:class:`VectorIndex` is a brute-force cosine index (one matrix product per
query: a few milliseconds at the bundled scale and at 100k papers; an
approximate-nearest-neighbour index takes over at millions, in a later step).
:class:`Semantic` embeds papers that have no vector yet (at ingest, and as a
resumable backfill), stores the vectors, and answers nearest-paper questions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import numpy as np

from bot.models import Paper
from bot.ports.embedder import Embedder, Vectors
from bot.ports.storage import Storage

log = logging.getLogger("paperbot.semantic")

# Papers embedded per batch: large enough for the embedder's own batching,
# small enough that a backfill saves its progress often.
EMBED_BATCH = 512
LOAD_BATCH = 20_000


def paper_text(paper: Paper) -> str:
    """What a paper's vector describes: its title, abstract and keywords.

    The title comes twice: it says what the paper is about more densely than
    the abstract (measured on tests/relevance/natural.json: +0.02 nDCG@5).
    """
    parts = (paper.title, paper.title, paper.summary, ", ".join(paper.ai_keywords))
    return "\n".join(part for part in parts if part)


class VectorIndex:
    """Unit vectors by paper key, searched by cosine similarity.

    float32 in memory (1 KB a paper at 256 dimensions): numpy multiplies
    float16 without BLAS, 30 times slower. Storage keeps float16.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((0, dimensions), np.float32)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, keys: Sequence[str], vectors: Vectors) -> None:
        """Add or replace the vectors of ``keys``."""
        fresh: list[int] = []
        for index, key in enumerate(keys):
            row = self._rows.get(key)
            if row is None:
                fresh.append(index)
            else:
                self._matrix[row] = vectors[index]
        if fresh:
            for index in fresh:
                self._rows[keys[index]] = len(self._keys)
                self._keys.append(keys[index])
            added = np.asarray(vectors[fresh], dtype=np.float32)
            self._matrix = np.concatenate([self._matrix, added])

    def vector(self, key: str) -> Vectors | None:
        """The stored vector of ``key`` as float32, or None."""
        row = self._rows.get(key)
        return None if row is None else self._matrix[row].copy()

    def nearest(self, vector: Vectors, limit: int) -> list[tuple[str, float]]:
        """Up to ``limit`` (key, cosine similarity) pairs, most similar first."""
        if not self._keys or limit <= 0:
            return []
        scores = self._matrix @ vector.astype(np.float32)
        count = min(limit, len(self._keys))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._keys[row], float(scores[row])) for row in top]


class Semantic:
    """An embedder, the stored vectors of its model, and the in-memory index over them."""

    def __init__(self, storage: Storage, embedder: Embedder) -> None:
        self.storage = storage
        self.embedder = embedder
        self.index = VectorIndex(embedder.dimensions)
        self._lock = asyncio.Lock()

    @property
    def model(self) -> str:
        """The embedder's model name, under which its vectors are stored."""
        return self.embedder.name

    async def load(self) -> int:
        """Read every stored vector of this model into the index; returns how many."""
        cursor = 0
        while True:
            page = await self.storage.vectors_after(self.model, cursor, LOAD_BATCH)
            if not page.keys:
                return len(self.index)
            self.index.add(page.keys, page.vectors)
            cursor = page.cursor

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
            while papers := await self.storage.papers_without_vectors(self.model, EMBED_BATCH):
                keys = [paper.key for paper in papers]
                vectors = await self.embed_texts([paper_text(paper) for paper in papers])
                await self.storage.save_vectors(self.model, keys, vectors)
                self.index.add(keys, vectors)
                done += len(papers)
                if progress:
                    progress(len(papers))
        if done:
            log.info("embedded %d papers with %s", done, self.model)
        return done

    async def nearest_to_text(self, text: str, limit: int) -> list[tuple[str, float]]:
        """Papers whose vectors are closest to ``text``'s."""
        vectors = await self.embed_texts([text])
        return self.index.nearest(vectors[0], limit)

    def nearest_to_paper(self, key: str, limit: int) -> list[tuple[str, float]] | None:
        """Papers closest to paper ``key`` (itself left out); None when it has no vector."""
        vector = self.index.vector(key)
        if vector is None:
            return None
        found = self.index.nearest(vector, limit + 1)
        return [(other, score) for other, score in found if other != key][:limit]
