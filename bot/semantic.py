"""Papers by meaning: their vectors in memory, kept in step with storage.

:class:`VectorIndex` holds the vectors as int8 in a usearch HNSW index:
exact search over every vector while the library is small, the graph's
approximate search from ``EXACT_BELOW`` papers on (bench/ann.py compares
usearch, hnswlib and faiss; README's Benchmarks give the figures).
:class:`Semantic` embeds papers that have no vector yet (at ingest, and as a
resumable backfill), stores the vectors, and answers nearest-paper questions.

The index is saved to a file (:meth:`VectorIndex.save`) and loaded from it at
start, then caught up with the vectors stored since (each stored vector change
has a number: :meth:`bot.ports.storage.PaperStore.vector_changes`). Building
it from the stored vectors instead takes minutes at a million papers; a file
that is missing, damaged or not of this model is rebuilt from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
# The saved index is written again once it is this old, or this many vector
# changes behind, whichever comes first (and at a graceful stop): a restart
# then catches up with at most that much, in seconds.
SAVE_INTERVAL = 15 * 60.0
SAVE_CHANGES = 20_000

# The saved index file: usearch's own serialisation, then the paper key of
# every row (one a line, empty for a removed row), then a JSON header, then a
# fixed trailer (the three lengths and MAGIC). usearch reads its part and
# stops there. The header names the format, so a file of another layout is
# rebuilt rather than misread.
FILE_FORMAT = 1
MAGIC = b"paperbot-vectors"
TRAILER = struct.Struct("<QQQ16s")
READ_CHUNK = 1 << 22


class IndexFileError(Exception):
    """A saved index that cannot be used (missing, damaged, or of another kind)."""


def _let_others_run(done: int, total: int) -> bool:
    """usearch's progress callback while saving or loading: those hold the GIL
    throughout, so every few thousand rows this gives other threads (the event
    loop) a turn. Returns True: go on."""
    if not done & 4095:
        time.sleep(0)
    return True


# usearch checks the callback's annotations as types, not strings.
_let_others_run.__annotations__ = {"done": int, "total": int, "return": bool}


def _crc_of(path: Path, length: int) -> int:
    """CRC-32 of the first ``length`` bytes of ``path``, read in chunks."""
    crc = 0
    with path.open("rb") as file:
        while length > 0:
            chunk = file.read(min(READ_CHUNK, length))
            if not chunk:
                raise IndexFileError("it is shorter than it says")
            crc = zlib.crc32(chunk, crc)
            length -= len(chunk)
    return crc


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
    at a time so no search waits long. Changes and :meth:`save` also take a
    second lock, so a save sees no change but searches go on meanwhile.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        # The paper key of each usearch row ("" once the row is removed).
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._index = _new_index(dimensions)
        self._lock = threading.Lock()
        self._writing = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def add(self, keys: Sequence[str], vectors: Vectors) -> None:
        """Add or replace the vectors of ``keys``."""
        with self._writing:
            for start in range(0, len(keys), ADD_CHUNK):
                self._add(keys[start : start + ADD_CHUNK], vectors[start : start + ADD_CHUNK])

    def remove(self, keys: Sequence[str]) -> None:
        """Drop the vectors of ``keys`` (those it holds)."""
        with self._writing, self._lock:
            for key in keys:
                row = self._rows.pop(key, None)
                if row is not None:
                    self._index.remove(row)
                    self._keys[row] = ""

    def _add(self, keys: Sequence[str], vectors: Vectors) -> None:
        with self._lock:
            rows = []
            for key in keys:
                row = self._rows.get(key)
                if row is not None:
                    # A paper whose text changed: its old vector leaves the graph.
                    self._index.remove(row)
                    self._keys[row] = ""
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

    def save(self, path: Path, header: Mapping[str, Any]) -> None:
        """Write the index and ``header`` (JSON values) to ``path`` atomically.

        Written to a temporary file beside it, flushed to disk, then renamed
        over ``path``: a crash or a full disk leaves the old file whole. Raises
        OSError, or :class:`IndexFileError` for a key it cannot record (the
        temporary file removed), when it cannot be written.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: processes sharing the folder may save at once.
        handle, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        temporary = Path(name)
        try:
            with self._writing:
                keys = "\n".join(self._keys).encode()
                if keys.count(b"\n") != max(len(self._keys) - 1, 0):
                    raise IndexFileError("a paper key holds a line break")
                whole = {**header, "format": FILE_FORMAT, "dimensions": self.dimensions}
                whole |= {"rows": len(self._keys), "vectors": len(self._rows)}
                self._index.save(os.fspath(temporary), progress=_let_others_run)
            index_bytes = temporary.stat().st_size
            whole["crc32"] = zlib.crc32(keys, _crc_of(temporary, index_bytes))
            meta = json.dumps(whole).encode()
            with temporary.open("ab") as file:
                file.write(keys)
                file.write(meta)
                file.write(TRAILER.pack(index_bytes, len(keys), len(meta), MAGIC))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    @classmethod
    def restore(
        cls, path: Path, dimensions: int, expected: Mapping[str, Any]
    ) -> tuple[VectorIndex, dict[str, Any]]:
        """The index saved at ``path`` and its header, checked whole first.

        Raises :class:`IndexFileError` saying why when the file is missing,
        truncated or damaged (its CRC), of another format or dimensions, or
        when a header value differs from ``expected``'s.
        """
        try:
            return cls._restore(path, dimensions, expected)
        except IndexFileError:
            raise
        except FileNotFoundError:
            raise IndexFileError("there is none") from None
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise IndexFileError(f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def _restore(
        cls, path: Path, dimensions: int, expected: Mapping[str, Any]
    ) -> tuple[VectorIndex, dict[str, Any]]:
        size = path.stat().st_size
        with path.open("rb") as file:
            if size < TRAILER.size:
                raise IndexFileError("it is truncated")
            file.seek(size - TRAILER.size)
            index_bytes, keys_bytes, meta_bytes, magic = TRAILER.unpack(file.read(TRAILER.size))
            if magic != MAGIC or index_bytes + keys_bytes + meta_bytes + TRAILER.size != size:
                raise IndexFileError("it is truncated or not a saved index")
            file.seek(index_bytes)
            keys = file.read(keys_bytes)
            header = json.loads(file.read(meta_bytes))
        if not isinstance(header, dict):
            raise IndexFileError("its header is not a JSON object")
        if header.get("format") != FILE_FORMAT:
            raise IndexFileError(f"format {header.get('format')!r}, not {FILE_FORMAT}")
        for name, value in {**expected, "dimensions": dimensions}.items():
            if header.get(name) != value:
                raise IndexFileError(f"its {name} is {header.get(name)!r}, not {value!r}")
        if zlib.crc32(keys, _crc_of(path, index_bytes)) != header["crc32"]:
            raise IndexFileError("its checksum does not match (damaged)")
        loaded = cls(dimensions)
        loaded._keys = keys.decode().split("\n") if header["rows"] else []
        # In one C call (this holds the GIL): removed rows ("") dropped after.
        loaded._rows = dict(zip(loaded._keys, range(len(loaded._keys)), strict=True))
        loaded._rows.pop("", None)
        loaded._index.load(os.fspath(path), progress=_let_others_run)
        if (len(loaded._keys), len(loaded._rows)) != (header["rows"], header["vectors"]) or len(
            loaded._index
        ) != len(loaded._rows):
            raise IndexFileError("its keys do not match its vectors")
        return loaded, header


def _new_index(dimensions: int) -> Index:
    return Index(
        ndim=dimensions,
        metric="cos",
        dtype="i8",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


class Semantic:
    """An embedder, the stored vectors of its model, and the in-memory index over them.

    With ``index_file`` the index is saved there (:meth:`save`) and loaded from
    it at start, then caught up with the changes stored since.
    """

    def __init__(
        self, storage: Storage, embedder: Embedder, index_file: Path | None = None
    ) -> None:
        self.storage = storage
        self.embedder = embedder
        self.index = VectorIndex(embedder.dimensions)
        self.index_file = index_file
        self._lock = asyncio.Lock()
        self._loaded = False
        # The number of the last stored vector change the index holds.
        self._cursor = 0
        # What the saved file holds (None: no usable file), and the changes since.
        self._saved_cursor: int | None = None
        self._saved_at = time.monotonic()
        self._unsaved = 0

    @property
    def model(self) -> str:
        """The embedder's model name, under which its vectors are stored."""
        return self.embedder.name

    async def load(self) -> int:
        """Load the index (once): from the saved file and the changes stored since,
        else from every stored vector of this model; returns how many it holds.

        The work runs in worker threads, so the event loop keeps serving
        (while it is built from storage, searches see the papers loaded so far).
        """
        async with self._lock:
            await self._load()
        return len(self.index)

    async def _load(self) -> None:
        if self._loaded:
            return
        started = time.perf_counter()
        restored = await self._restore()
        changes = await self._catch_up()
        if restored and not await self._matches_storage():
            log.warning(
                "the saved vector index %s disagrees with the database (%d vectors, %d stored):"
                " rebuilding it from the database",
                self.index_file,
                len(self.index),
                await self.storage.count_vectors(self.model),
            )
            restored = False
            self.index = VectorIndex(self.embedder.dimensions)
            self._cursor = 0
            self._saved_cursor = None
            await self._catch_up()
        self._loaded = True
        log.info(
            "loaded %d vectors of %s in %.1f s (%s)",
            len(self.index),
            self.model,
            time.perf_counter() - started,
            f"saved index and {changes} changes since" if restored else "from the database",
        )
        if not restored:
            await self._save()

    async def _restore(self) -> bool:
        """Load the saved index file, if there is a usable one; True when loaded."""
        if self.index_file is None:
            return False
        if not self.index_file.exists():
            log.info("no saved vector index at %s yet: building it", self.index_file)
            return False
        try:
            index, header = await asyncio.to_thread(
                VectorIndex.restore,
                self.index_file,
                self.embedder.dimensions,
                {"model": self.model},
            )
            cursor = header.get("cursor")
            if type(cursor) is not int:
                raise IndexFileError(f"its cursor is {cursor!r}, not a change number")
        except IndexFileError as exc:
            log.warning(
                "cannot use the saved vector index %s (%s): rebuilding it from the database",
                self.index_file,
                exc,
            )
            return False
        self.index, self._cursor, self._saved_cursor = index, cursor, cursor
        return True

    async def _matches_storage(self) -> bool:
        """Whether the index holds as many vectors as storage (a file saved from
        another copy of the database would not). Caught up once more before
        disagreeing: another process may have stored vectors meanwhile."""
        for _ in range(2):
            if len(self.index) == await self.storage.count_vectors(self.model):
                return True
            await self._catch_up()
        return False

    async def _catch_up(self) -> int:
        """Apply the stored vector changes after the index's; returns how many."""
        applied = 0
        while True:
            page = await self.storage.vector_changes(self.model, self._cursor, LOAD_BATCH)
            if page.cursor == self._cursor:
                return applied
            if page.removed:
                await asyncio.to_thread(self.index.remove, page.removed)
            if page.keys:
                await asyncio.to_thread(self.index.add, page.keys, page.vectors)
            self._cursor = page.cursor
            applied += len(page.keys) + len(page.removed)
            self._unsaved += len(page.keys) + len(page.removed)

    async def save(self, *, when_due: bool = False) -> bool:
        """Save the index to its file if it changed since it was saved; True when written.

        ``when_due``: only once the file is ``SAVE_INTERVAL`` old or
        ``SAVE_CHANGES`` changes behind. A failed save (a full disk) is
        logged, and the index keeps serving.
        """
        async with self._lock:
            due = (
                time.monotonic() - self._saved_at >= SAVE_INTERVAL or self._unsaved >= SAVE_CHANGES
            )
            if not self._loaded or (when_due and not due):
                return False
            return await self._save()

    async def _save(self) -> bool:
        if self.index_file is None or self._saved_cursor == self._cursor:
            return False
        started = time.perf_counter()
        header = {"model": self.model, "cursor": self._cursor}
        try:
            await asyncio.to_thread(self.index.save, self.index_file, header)
        except (OSError, IndexFileError) as exc:
            log.warning(
                "cannot save the vector index to %s (%s): it keeps serving, and the next"
                " start rebuilds or catches up",
                self.index_file,
                exc,
            )
            return False
        self._saved_cursor, self._saved_at, self._unsaved = self._cursor, time.monotonic(), 0
        log.info(
            "saved the vector index (%d vectors) to %s in %.1f s",
            len(self.index),
            self.index_file,
            time.perf_counter() - started,
        )
        return True

    async def embed_texts(self, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts``, computed in a worker thread (the event loop keeps serving)."""
        return await asyncio.to_thread(self.embedder.embed, list(texts))

    async def embed_missing(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed and store every paper without a vector, batch by batch; returns how many.

        Resumable: each batch is saved before the next is read, so an
        interrupted run continues where it stopped. One run at a time. The
        index first catches up with the vectors stored since it last looked.
        """
        done = 0
        async with self._lock:
            await self._load()
            # Vectors other processes stored (or removed) come in by the same
            # numbered changes as this one's own, read back after each batch.
            await self._catch_up()
            # A batch's vectors enter the index while the next batch is
            # embedded: the two share the cores (a quarter more papers a second).
            catching_up: asyncio.Task[int] | None = None
            try:
                while papers := await self.storage.papers_without_vectors(self.model, EMBED_BATCH):
                    keys = [paper.key for paper in papers]
                    vectors = await self.embed_texts([paper_text(paper) for paper in papers])
                    if catching_up is not None:
                        await catching_up
                    await self.storage.save_vectors(self.model, keys, vectors)
                    catching_up = asyncio.create_task(self._catch_up())
                    done += len(papers)
                    if progress:
                        progress(len(papers))
                if catching_up is not None:
                    await catching_up
            finally:
                if catching_up is not None and not catching_up.done():
                    catching_up.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await catching_up
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
