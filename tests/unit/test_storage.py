"""One suite for the storage port (bot/ports/storage.py), run against every backend.

The ``backend`` and ``store`` fixtures (tests/conftest.py) run each test on
SQLite and on PostgreSQL. Tests that look at one engine's internals (SQLite's
WAL, its migration table) say so with ``sqlite_only``; PostgreSQL's own are in
tests/unit/test_postgres_storage.py.
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from bot.models import Paper, Subscription
from bot.ports.storage import OutboxLease, SearchSession, Storage
from bot.query import QueryError, parse_query
from storage.ranking import SEARCH_WINDOW
from storage.sqlite import SqliteStorage, available_migrations
from storage.sqlite.fts import search_sql
from storage.sqlite.plugin import path_of
from storage.sqlite.word_pairs import register
from tests.postgres import Backend
from tests.support import TEST_LEASE, eventually, ingest_one_at_a_time, make_paper

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


# A test of SQLite's own internals (its WAL, FTS5 segments, migration table).
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# Storage tests default to no abstract and one fixed featured day.
paper = functools.partial(make_paper, summary="", day=date(2026, 3, 9))


async def titles(store: Storage, text: str, limit: int = 50) -> list[str]:
    page = await store.search(parse_query(text), 0, limit)
    return [p.title for p in page.papers]


# migrations and connection ---------------------------------------------------
@sqlite_only
async def test_migrations_applied_once_and_idempotent_on_reopen(
    backend: Backend, tmp_path: Path
) -> None:
    versions = [version for version, _ in available_migrations()]
    assert versions and versions == sorted(set(versions))
    first = await SqliteStorage.open(tmp_path / "paperbot.db")
    assert await first.schema_version() == versions[-1]
    await first.upsert_papers([paper("2603.00001", "Kept across restarts")])
    await first.close()

    db = sqlite3.connect(tmp_path / "paperbot.db")
    before = db.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    db.close()
    assert [row[0] for row in before] == versions

    again = await SqliteStorage.open(tmp_path / "paperbot.db")
    try:
        assert await again.schema_version() == versions[-1]
        assert await again.count_papers() == 1
    finally:
        await again.close()
    db = sqlite3.connect(tmp_path / "paperbot.db")
    after = db.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    db.close()
    assert after == before


@sqlite_only
async def test_new_database_is_wal_with_16k_pages(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    db = sqlite3.connect(tmp_path / "paperbot.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA page_size").fetchone()[0] == 16384
    finally:
        db.close()


async def test_data_survives_reopen(backend: Backend, tmp_path: Path) -> None:
    first = await backend.open()
    await first.upsert_papers([paper("2603.00001", "Persistent")])
    await first.save_subscription(Subscription(channel="telegram:1"))
    await first.close()
    second = await backend.open()
    try:
        assert (await second.get_paper("2603.00001")) is not None
        assert (await second.get_subscription("telegram:1")) is not None
    finally:
        await second.close()


# papers ----------------------------------------------------------------------
FULL = Paper(
    title="Diffusion Transformers at Scale",
    arxiv_id="2603.01234",
    summary="We scale diffusion transformers.",
    authors=("Ada Lovelace", "Alan Turing"),
    published_at=date(2026, 3, 5),
    featured_on=date(2026, 3, 9),
    upvotes=42,
    ai_summary="Bigger DiTs are better.",
    ai_keywords=("diffusion", "scaling"),
    github_repo="https://github.com/example/dit",
    github_stars=1200,
    project_page="https://example.org/dit",
)


async def test_upsert_insert_and_get_round_trip(store: Storage) -> None:
    assert await store.upsert_papers([FULL]) == 1
    assert await store.get_paper("2603.01234") == FULL
    assert await store.get_paper("2603.99999") is None
    assert await store.count_papers() == 1


async def test_upsert_update_never_erases_with_empty_fields(store: Storage) -> None:
    await store.upsert_papers([FULL])
    sparse = Paper(title="Diffusion Transformers at Scale (v2)", arxiv_id="2603.01234", upvotes=50)
    assert await store.upsert_papers([sparse]) == 1
    stored = await store.get_paper("2603.01234")
    assert stored == replace(FULL, title="Diffusion Transformers at Scale (v2)", upvotes=50)
    assert await store.count_papers() == 1


async def test_unknown_upvotes_keep_the_stored_count(store: Storage) -> None:
    # An arXiv listing knows no upvotes: it must not reset Hugging Face's count,
    # while a known count (even 0) is the latest value and replaces it.
    await store.upsert_papers([FULL])
    from_arxiv = Paper(title="Diffusion Transformers, revised", arxiv_id=FULL.arxiv_id)
    from_arxiv = replace(from_arxiv, upvotes=None)
    await store.upsert_papers([from_arxiv])
    stored = await store.get_paper(FULL.key)
    assert stored == replace(FULL, title="Diffusion Transformers, revised")
    await store.upsert_papers([replace(FULL, upvotes=0)])
    assert (await store.get_paper(FULL.key)) == replace(FULL, upvotes=0)
    # A paper first seen without upvotes is stored with none yet.
    await store.upsert_papers([Paper(title="Only on arXiv", arxiv_id="2603.05555", upvotes=None)])
    assert (await store.get_paper("2603.05555")) == Paper(
        title="Only on arXiv", arxiv_id="2603.05555", upvotes=0
    )


async def test_upsert_updates_fields_that_are_given(store: Storage) -> None:
    await store.upsert_papers([FULL])
    newer = replace(
        FULL,
        summary="A new abstract.",
        authors=("Grace Hopper",),
        ai_keywords=("video",),
        ai_summary="Newer.",
        upvotes=77,
        github_stars=1300,
    )
    await store.upsert_papers([newer])
    assert await store.get_paper(FULL.key) == newer
    # The index follows the update: the new abstract is searchable, the old one is not.
    assert await titles(store, "new abstract") == [FULL.title]
    assert await titles(store, "author:turing") == []
    assert await titles(store, "author:hopper") == [FULL.title]


def _index_state(folder: Path) -> tuple[str, list[tuple[object, ...]]]:
    """Whether the index holds exactly the papers' words, and the index's raw records.

    The verdict is FTS5's integrity check plus a word-by-word comparison with
    an index built afresh from the papers table by the same definition.
    """
    with closing(sqlite3.connect(folder / "paperbot.db")) as db:
        register(db)
        try:
            db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as error:
            return str(error), []
        (definition,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'papers_fts'"
        ).fetchone()
        db.execute(definition.replace("TABLE papers_fts", "TABLE temp.fresh"))
        db.execute(
            "INSERT INTO temp.fresh (rowid, title, keywords, authors, summary, pairs)"
            " SELECT -id, title, keywords, authors, summary,"
            " word_pairs(title, keywords, authors, summary) FROM papers ORDER BY id DESC"
        )
        words = []
        for schema, table in (("main", "papers_fts"), ("temp", "fresh")):
            db.execute(
                f"CREATE VIRTUAL TABLE temp.{table}_words"
                f" USING fts5vocab({schema}, {table}, 'instance')"
            )
            words.append(set(db.execute(f"SELECT term, doc, col, offset FROM temp.{table}_words")))
        records = db.execute("SELECT id, block FROM papers_fts_data ORDER BY id").fetchall()
        return ("ok" if words[0] == words[1] else "index differs from papers"), records


@sqlite_only
async def test_index_matches_papers_after_inserts_updates_and_repeats(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    await store.upsert_papers(paper(f"2603.{n:05d}", f"Paper about topic {n}") for n in range(30))
    renamed = paper("2603.00003", "Renamed about graphs")
    # One batch: new papers, a changed one, an unchanged one, and one key twice.
    await store.upsert_papers(
        [
            paper("2603.00100", "Fresh arrival"),
            renamed,
            paper("2603.00004", "Paper about topic 4", upvotes=9),
            paper("2603.00101", "Twice first"),
            paper("2603.00101", "Twice second"),
        ]
    )
    assert _index_state(tmp_path)[0] == "ok"
    assert await titles(store, "graphs") == ["Renamed about graphs"]
    assert await titles(store, '"topic 3"') == []
    assert await titles(store, "twice") == ["Twice second"]
    assert await titles(store, "first") == []
    assert await store.count_papers() == 32


@sqlite_only
async def test_upvote_refresh_leaves_the_index_untouched(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    batch = [paper(f"2603.{n:05d}", f"Paper about topic {n}") for n in range(20)]
    await store.upsert_papers(batch)
    _, before = _index_state(tmp_path)
    await store.upsert_papers(replace(p, upvotes=(p.upvotes or 0) + 5) for p in batch)
    assert _index_state(tmp_path) == ("ok", before)
    stored = await store.get_paper("2603.00007")
    assert stored is not None and stored.upvotes == 5


@sqlite_only
async def test_a_refused_paper_is_skipped_and_the_rest_of_its_batch_stored(
    backend: Backend, store: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await store.upsert_papers([paper("2603.00001", "Already here")])
    db = sqlite3.connect(tmp_path / "paperbot.db")
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON papers WHEN new.title = 'Refused'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    db.commit()
    db.close()
    stored = await store.upsert_papers(
        [paper("2603.00002", "Accepted first"), paper("2603.00003", "Refused")]
    )
    assert stored == 1
    assert await store.count_papers() == 2
    assert await titles(store, "accepted") == ["Accepted first"]
    assert await store.get_paper("2603.00003") is None
    assert "skipping paper 2603.00003: IntegrityError: refused" in caplog.text
    # The connection is usable again: each failed transaction was rolled back.
    await store.upsert_papers([paper("2603.00004", "Later arrival")])
    assert await titles(store, "arrival") == ["Later arrival"]
    assert _index_state(tmp_path)[0] == "ok"


def _segments(folder: Path) -> int:
    with closing(sqlite3.connect(folder / "paperbot.db")) as db:
        return int(db.execute("SELECT count(DISTINCT segid) FROM papers_fts_idx").fetchone()[0])


@sqlite_only
async def test_one_batch_becomes_one_index_segment(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    # FTS5 starts a new segment whenever a row's key is out of order; a batch
    # written in the wrong order would leave dozens of them to merge.
    await store.upsert_papers(paper(f"2603.{n:05d}", f"Graph paper {n}") for n in range(50))
    assert _segments(tmp_path) == 1
    assert len(await titles(store, "graph")) == 50


@sqlite_only
async def test_merge_search_index_until_done_keeps_every_match(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    assert isinstance(store, SqliteStorage)
    await ingest_one_at_a_time(store)
    before = await titles(store, "graph")
    segments = _segments(tmp_path)
    steps = 0
    while await store.merge_search_index(1000):
        steps += 1
        assert steps < 50
    assert steps >= 1 and _segments(tmp_path) < segments
    assert not await store.merge_search_index(1000)  # nothing left: no work, says so
    assert await titles(store, "graph") == before and len(before) == 43
    assert _index_state(tmp_path)[0] == "ok"


@sqlite_only
async def test_search_window_holds_the_most_recently_stored_matches(
    backend: Backend, store: Storage, tmp_path: Path
) -> None:
    for n in range(4):  # one ingest after another, oldest first
        await store.upsert_papers([paper(f"2603.{n:05d}", f"Graph study {n}")])
    assert _window_titles(tmp_path, "graph", 2) == {"Graph study 2", "Graph study 3"}


def _window_titles(folder: Path, text: str, window: int) -> set[str]:
    sql, params = search_sql(parse_query(text), 0, 10, window=window)
    with closing(sqlite3.connect(folder / "paperbot.db")) as db:
        db.row_factory = sqlite3.Row
        return {row["title"] for row in db.execute(sql, params)}


async def test_migration_reindexes_stored_papers_newest_first(tmp_path: Path) -> None:
    # A database at schema 2, whose index is keyed by the paper id.
    db = sqlite3.connect(tmp_path / "paperbot.db")
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, sql in available_migrations()[:2]:
        db.executescript(sql)
        db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
    for n in range(3):
        db.execute(
            "INSERT INTO papers (paper_key, title, updated_at) VALUES (?, ?, 'then')",
            (f"2603.{n:05d}", f"Graph study {n}"),
        )
    db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('rebuild')")
    db.commit()
    db.close()

    store = await SqliteStorage.open(tmp_path / "paperbot.db")
    try:
        await store.upsert_papers([paper("2603.00009", "Graph study 9")])
        assert len(await titles(store, "graph")) == 4
        # Papers stored before migration 012 got their pairs: phrases find them.
        assert sorted(await titles(store, '"graph study"')) == [
            f"Graph study {n}" for n in (0, 1, 2, 9)
        ]
        assert await titles(store, '"study graph"') == []
        assert _window_titles(tmp_path, "graph", 2) == {"Graph study 9", "Graph study 2"}
        # A paper deleted by hand leaves the index too (the trigger follows the new keys);
        # the trigger's word_pairs() must be registered, as for any script (migration 012).
        db = sqlite3.connect(tmp_path / "paperbot.db")
        register(db)
        db.execute("DELETE FROM papers WHERE paper_key = '2603.00002'")
        db.commit()
        db.close()
        assert sorted(await titles(store, "graph")) == [f"Graph study {n}" for n in (0, 1, 9)]
        assert _index_state(tmp_path)[0] == "ok"
    finally:
        await store.close()


async def test_paper_without_arxiv_id(store: Storage) -> None:
    untitled = paper(None, "Seed Paper Without An Identifier", summary="About mixtures.")
    assert untitled.key.startswith("t:")
    await store.upsert_papers([untitled])
    stored = await store.get_paper(untitled.key)
    assert stored is not None and stored.arxiv_id is None and stored.key == untitled.key
    assert await titles(store, "mixtures") == [untitled.title]
    # Same title again is the same paper, not a second row.
    await store.upsert_papers([replace(untitled, upvotes=3)])
    assert await store.count_papers() == 1


async def test_count_papers(store: Storage) -> None:
    assert await store.count_papers() == 0
    await store.upsert_papers(paper(f"2603.{n:05d}", f"Paper {n}") for n in range(7))
    assert await store.count_papers() == 7


# vector changes ---------------------------------------------------------------
async def run_sql(backend: Backend, sql: str) -> None:
    """``sql`` on the test's database by hand, as an operator would (no port method)."""
    if backend.name == "sqlite":
        with closing(sqlite3.connect(path_of(backend.url))) as db:
            register(db)  # deleting a paper maintains the index (migration 012)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute(sql)
            db.commit()
        return
    conn = await asyncpg.connect(backend.url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, 8)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def test_vector_changes_number_every_write_and_removal(
    store: Storage, backend: Backend
) -> None:
    model = "test/model"
    keys = [f"2603.{n:05d}" for n in range(5)]
    await store.upsert_papers(paper(key, f"Vector paper {key}") for key in keys)
    first = unit_rows(5, 1)
    await store.save_vectors(model, keys[:3], first[:3])
    await store.save_vectors(model, keys[3:], first[3:])
    everything = await store.vector_changes(model, 0, 100)
    assert everything.keys == tuple(keys) and everything.removed == ()
    assert np.allclose(everything.vectors, first, atol=1e-3)  # float16 in storage
    # Paged: each page starts after the last change the one before read.
    pages, cursor = [], 0
    while (page := await store.vector_changes(model, cursor, 2)).keys:
        pages.append(page.keys)
        assert page.cursor > cursor
        cursor = page.cursor
    assert pages == [tuple(keys[:2]), tuple(keys[2:4]), (keys[4],)]
    assert cursor == everything.cursor
    caught_up = await store.vector_changes(model, cursor, 100)
    assert caught_up.keys == caught_up.removed == () and caught_up.cursor == cursor
    # A replaced vector comes again, once, with its new value; the others do not.
    second = unit_rows(1, 2)
    await store.save_vectors(model, [keys[1]], second)
    since = await store.vector_changes(model, cursor, 100)
    assert since.keys == (keys[1],) and since.removed == ()
    assert np.allclose(since.vectors, second, atol=1e-3)
    assert since.cursor > cursor
    cursor = since.cursor
    # A changed text removes the paper's vector: a removal, until it is embedded again.
    await store.upsert_papers([paper(keys[2], "A new title for the paper")])
    removed = await store.vector_changes(model, cursor, 100)
    assert removed.keys == () and removed.removed == (keys[2],)
    assert (await store.vector_changes(model, removed.cursor, 100)).removed == ()
    await store.save_vectors(model, [keys[2]], second)
    again = await store.vector_changes(model, cursor, 100)
    assert again.keys == (keys[2],) and again.removed == ()  # the new vector replaces it
    cursor = again.cursor
    # A paper deleted by hand takes its vector along: its removal is recorded.
    await run_sql(backend, f"DELETE FROM papers WHERE paper_key = '{keys[0]}'")
    deleted = await store.vector_changes(model, cursor, 100)
    assert deleted.keys == () and deleted.removed == (keys[0],)
    # Read from the start: every current vector once, at its latest change, and the removal.
    final = await store.vector_changes(model, 0, 100)
    assert final.keys == (keys[3], keys[4], keys[1], keys[2])
    assert final.removed == (keys[0],) and final.cursor == deleted.cursor
    # Another model's vectors and removals are its own.
    other = await store.vector_changes("other/model", 0, 100)
    assert other.keys == other.removed == () and other.cursor == 0


async def test_vectors_stored_before_change_numbers_get_them(backend: Backend) -> None:
    # A database before change numbers (SQLite 011, PostgreSQL 008), with two models' vectors.
    numbered = 11 if backend.name == "sqlite" else 8
    before = [(n, sql) for n, sql in migrations_of(backend) if n < numbered]
    blob = np.ones(8, np.float16).tobytes()
    rows = ["2603.00001", "2603.00002", "2603.00003"]
    if backend.name == "sqlite":
        with closing(sqlite3.connect(path_of(backend.url))) as db:
            db.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
            )
            for version, sql in before:
                db.executescript(sql)
                db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
            for key in rows:
                db.execute(
                    "INSERT INTO papers (paper_key, title, updated_at) VALUES (?, ?, 'then')",
                    (key, f"Paper {key}"),
                )
            db.execute(
                "INSERT INTO paper_vectors SELECT m.value, p.id, ? FROM papers p,"
                ' json_each(\'["a", "b"]\') m',
                (blob,),
            )
            db.commit()
    else:
        conn = await asyncpg.connect(backend.url)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL)"
            )
            for version, sql in before:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())", version)
            await conn.executemany(
                "INSERT INTO papers (paper_key, title, updated_at) VALUES ($1, $2, now())",
                [(key, f"Paper {key}") for key in rows],
            )
            await conn.execute(
                "INSERT INTO paper_vectors SELECT m, p.id, $1 FROM papers p,"
                " unnest(ARRAY['a', 'b']) m",
                blob,
            )
        finally:
            await conn.close()
    store = await backend.open()
    try:
        for model in ("a", "b"):
            found = await store.vector_changes(model, 0, 100)
            assert sorted(found.keys) == rows and found.vectors.shape == (3, 8)
        # The next write is numbered after every existing one.
        first = await store.vector_changes("a", 0, 100)
        await store.save_vectors("a", [rows[0]], np.zeros((1, 8), np.float32))
        after = await store.vector_changes("a", first.cursor, 100)
        assert after.keys == (rows[0],) and after.cursor > first.cursor
    finally:
        await store.close()


def migrations_of(backend: Backend) -> list[tuple[int, str]]:
    """The backend's bundled migrations, oldest first."""
    if backend.name == "sqlite":
        return available_migrations()
    from storage.postgresql.backend import available_migrations as postgres_migrations

    return postgres_migrations()


# search ----------------------------------------------------------------------
CORPUS = [
    paper(
        "2603.00001",
        "Sparse attention for long video",
        summary="A method for efficient video generation.",
        authors=("Shiwei Liu", "Ada Lovelace"),
        day=date(2026, 3, 1),
        upvotes=10,
    ),
    paper(
        "2603.00002",
        "Efficient video models",
        summary="We study sparse attention patterns and sparse attention kernels in depth.",
        authors=("Grace Hopper",),
        day=date(2026, 3, 5),
        upvotes=90,
    ),
    paper(
        "2603.00003",
        "A diffusion transformer for images",
        summary="Large language model guidance for image synthesis.",
        authors=("Alan Turing",),
        day=date(2026, 2, 20),
        upvotes=30,
    ),
    paper(
        "2603.00004",
        "Language large model quirks",
        summary="Models of language that are large.",
        authors=("Barbara Liskov",),
        day=date(2026, 3, 8),
        upvotes=5,
    ),
    paper(
        None,
        "Speech synthesis without identifiers",
        summary="Text to speech with diffusion.",
        authors=("Edsger Dijkstra",),
        day=None,
        upvotes=1,
    ),
]


@pytest.fixture
async def corpus(store: Storage) -> Storage:
    await store.upsert_papers(CORPUS)
    return store


async def test_all_words_must_match(corpus: Storage) -> None:
    assert await titles(corpus, "video sparse") == [
        "Sparse attention for long video",
        "Efficient video models",
    ]
    assert await titles(corpus, "video diffusion") == []


async def test_phrase(corpus: Storage) -> None:
    assert await titles(corpus, '"large language model"') == ["A diffusion transformer for images"]
    # Without quotes the same words match in any order.
    assert set(await titles(corpus, "large language model")) == {
        "A diffusion transformer for images",
        "Language large model quirks",
    }


async def test_phrase_with_little_words_matches_as_typed(store: Storage) -> None:
    await store.upsert_papers(
        [
            paper("2603.00021", "State-of-the-art video models"),
            paper("2603.00022", "The art of the state machine"),
            paper("2603.00023", "Robots", summary="We beat the state of the art in grasping."),
            paper("2603.00024", "State of an art", summary="Art and state."),
        ]
    )
    assert set(await titles(store, '"state of the art"')) == {
        "State-of-the-art video models",
        "Robots",
    }
    assert await titles(store, '"art of the state"') == ["The art of the state machine"]


async def test_phrase_with_non_ascii_capitals(store: Storage) -> None:
    await store.upsert_papers(
        [
            paper("2603.00011", "Über große Sprachmodelle"),
            paper("2603.00012", "Émile: ÄRZTE und Modelle"),
        ]
    )
    assert await titles(store, '"über große"') == ["Über große Sprachmodelle"]
    assert await titles(store, '"ärzte und"') == ["Émile: ÄRZTE und Modelle"]
    assert await titles(store, '"große über"') == []


async def test_exclusion(corpus: Storage) -> None:
    assert await titles(corpus, "video -sparse") == []
    assert await titles(corpus, 'diffusion -"text to speech"') == [
        "A diffusion transformer for images"
    ]


async def test_author(corpus: Storage) -> None:
    assert await titles(corpus, "author:Liu") == ["Sparse attention for long video"]
    assert await titles(corpus, 'author:"Grace Hopper" video') == ["Efficient video models"]
    # Words in a title are not authors.
    assert await titles(corpus, "author:video") == []


async def test_since(corpus: Storage) -> None:
    found = await titles(corpus, "video since:2026-03-02")
    assert found == ["Efficient video models"]
    assert await titles(corpus, "video since:2026-03-01 sort:recent") == [
        "Efficient video models",
        "Sparse attention for long video",
    ]


async def test_sort_recent_and_upvotes(corpus: Storage) -> None:
    assert await titles(corpus, "models sort:recent") == [
        "Language large model quirks",
        "Efficient video models",
        "A diffusion transformer for images",
    ]
    assert await titles(corpus, "models sort:upvotes") == [
        "Efficient video models",
        "A diffusion transformer for images",
        "Language large model quirks",
    ]


async def test_title_match_outranks_abstract_only_match(corpus: Storage) -> None:
    # The abstract-only paper mentions the words twice and has 9x the upvotes.
    ranked = await titles(corpus, "sparse attention")
    assert ranked == ["Sparse attention for long video", "Efficient video models"]


async def test_stemming(corpus: Storage) -> None:
    # "transformers" is not the last word, so this is stemming, not prefix search.
    assert await titles(corpus, "transformers images") == ["A diffusion transformer for images"]
    assert await titles(corpus, '"transformers"') == ["A diffusion transformer for images"]


async def test_prefix_on_last_word_only(corpus: Storage) -> None:
    assert await titles(corpus, "diffusion transf") == ["A diffusion transformer for images"]
    assert await titles(corpus, "transf diffusion") == []
    assert await titles(corpus, '"transf"') == []


HOSTILE = [
    '"',
    'video "',
    "*",
    "video*",
    "NEAR(",
    "NEAR(video sparse, 2)",
    "video AND",
    "AND OR NOT",
    "(",
    "video)",
    ":",
    "title:video",
    "summary : video",
    "^video",
    "video\x00sparse",
    "\x00video",
    "video\x1b[2J",
    "vid\x07eo \x7f",
    "\u202evideo",
    "video -",
    '-"',
    "author:(",
    'author:"',
    "_",
    "video _",
    "日本語",
    "🙂",
    "'; DROP TABLE papers; --",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_input_never_raises_a_database_error(corpus: Storage, text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError:
        return
    page = await corpus.search(query, 0, 10)
    assert len(page.papers) <= 10
    assert await corpus.count_papers() == len(CORPUS)


async def test_paging(store: Storage) -> None:
    many = [paper(f"2603.{n:05d}", f"Agents number {n}", upvotes=n) for n in range(25)]
    await store.upsert_papers(many)
    query = parse_query("agents sort:upvotes")
    seen: list[str] = []
    expected_more = {0: True, 10: True, 20: False}
    for offset, more in expected_more.items():
        page = await store.search(query, offset, 10)
        assert page.has_more is more
        assert len(page.papers) == (10 if more else 5)
        seen += [p.key for p in page.papers]
    assert seen == [p.key for p in sorted(many, key=lambda p: -(p.upvotes or 0))]
    exact = await store.search(query, 15, 10)
    assert len(exact.papers) == 10 and exact.has_more is False
    past = await store.search(query, 40, 10)
    assert past.papers == () and past.has_more is False


# featured days -----------------------------------------------------------------
async def test_latest_featured_day_is_strictly_before(store: Storage) -> None:
    assert await store.latest_featured_day(date(2026, 3, 10)) is None
    await store.upsert_papers(
        [
            paper("2603.00001", "a", day=date(2026, 3, 6)),
            paper("2603.00002", "b", day=date(2026, 3, 9)),
            paper("2603.00003", "c", day=None),
        ]
    )
    assert await store.latest_featured_day(date(2026, 3, 10)) == date(2026, 3, 9)
    assert await store.latest_featured_day(date(2026, 3, 9)) == date(2026, 3, 6)
    assert await store.latest_featured_day(date(2026, 3, 6)) is None


async def test_papers_featured_between_inclusive_by_upvotes(store: Storage) -> None:
    await store.upsert_papers(
        [
            paper("2603.00001", "low", day=date(2026, 3, 6), upvotes=1),
            paper("2603.00002", "high", day=date(2026, 3, 8), upvotes=100),
            paper("2603.00003", "mid", day=date(2026, 3, 7), upvotes=50),
            paper("2603.00004", "outside", day=date(2026, 3, 9), upvotes=1000),
            paper("2603.00005", "before", day=date(2026, 3, 5), upvotes=1000),
        ]
    )
    found = await store.papers_featured_between(date(2026, 3, 6), date(2026, 3, 8))
    assert [p.title for p in found] == ["high", "mid", "low"]
    one = await store.papers_featured_between(date(2026, 3, 9), date(2026, 3, 9))
    assert [p.title for p in one] == ["outside"]


async def test_latest_papers_newest_first(store: Storage) -> None:
    await store.upsert_papers(
        [
            paper("2603.00001", "old", day=date(2026, 1, 1)),
            paper("2603.00002", "new", day=date(2026, 3, 1)),
            paper("2603.00003", "undated", day=None),
        ]
    )
    assert [p.title for p in await store.latest_papers(2)] == ["new", "old"]
    assert [p.title for p in await store.latest_papers(10)] == ["new", "old", "undated"]


# subscriptions -------------------------------------------------------------------
SUB = Subscription(
    channel="telegram:100",
    post_time=time(7, 30),
    timezone="Europe/Berlin",
    weekdays=frozenset({1, 3, 5}),
    top_n=7,
    min_upvotes=3,
    include=("diffusion", "video"),
    exclude=("speech",),
    cadence="daily",
    weekly_day=4,
    next_run_at=T0,
    created_by="telegram:42",
    match="topic",
)


async def test_subscription_round_trip(store: Storage) -> None:
    assert await store.get_subscription("telegram:100") is None
    assert await store.subscription_id("telegram:100") is None
    assert await store.save_subscription(SUB) == SUB
    stored = await store.get_subscription("telegram:100")
    assert stored == SUB
    assert stored is not None and stored.next_run_at is not None
    assert stored.next_run_at.tzinfo is not None and stored.next_run_at == T0


async def test_subscription_update_keeps_id(store: Storage) -> None:
    await store.save_subscription(SUB)
    first_id = await store.subscription_id(SUB.channel)
    assert first_id is not None
    changed = replace(
        SUB, top_n=3, include=(), cadence="weekly", next_run_at=None, match="keywords"
    )
    await store.save_subscription(changed)
    assert await store.subscription_id(SUB.channel) == first_id
    assert await store.get_subscription(SUB.channel) == changed
    assert len(await store.list_subscriptions()) == 1


async def test_delete_and_list(store: Storage) -> None:
    for channel in ("telegram:2", "discord:1", "telegram:1"):
        await store.save_subscription(Subscription(channel=channel))
    await store.pause_subscription("discord:1", "kicked")
    listed = await store.list_subscriptions()
    assert [s.channel for s in listed] == ["discord:1", "telegram:1", "telegram:2"]
    assert await store.delete_subscription("telegram:1") is True
    assert await store.delete_subscription("telegram:1") is False
    assert [s.channel for s in await store.list_subscriptions()] == ["discord:1", "telegram:2"]


async def test_delete_subscription_drops_its_outbox(store: Storage) -> None:
    await store.save_subscription(SUB)
    sub_id = await store.subscription_id(SUB.channel)
    assert sub_id is not None
    await store.create_delivery(sub_id, SUB.channel, "2026-03-10", T0, ["k"])
    assert await store.outbox_depth() == 1
    await store.delete_subscription(SUB.channel)
    assert await store.outbox_depth() == 0
    assert await store.last_delivery(SUB.channel) is None


async def test_due_subscriptions(store: Storage) -> None:
    subs = {
        "a:late": T0 - timedelta(minutes=1),
        "a:early": T0 - timedelta(hours=2),
        "a:exact": T0,
        "a:future": T0 + timedelta(seconds=1),
        "a:never": None,
        "a:paused": T0 - timedelta(hours=3),
    }
    for channel, at in subs.items():
        await store.save_subscription(Subscription(channel=channel, next_run_at=at))
    await store.pause_subscription("a:paused", "blocked")
    due = await store.due_subscriptions(T0, 10)
    assert [sub.channel for _, sub in due] == ["a:early", "a:late", "a:exact"]
    for sub_id, sub in due:
        assert sub_id == await store.subscription_id(sub.channel)
    assert [sub.channel for _, sub in await store.due_subscriptions(T0, 2)] == [
        "a:early",
        "a:late",
    ]


async def test_set_next_run(store: Storage) -> None:
    await store.save_subscription(Subscription(channel="a:1"))
    assert await store.due_subscriptions(T0, 10) == []
    await store.set_next_run("a:1", T0 - timedelta(minutes=5))
    stored = await store.get_subscription("a:1")
    assert stored is not None and stored.next_run_at == T0 - timedelta(minutes=5)
    assert len(await store.due_subscriptions(T0, 10)) == 1
    await store.set_next_run("a:1", None)
    stored = await store.get_subscription("a:1")
    assert stored is not None and stored.next_run_at is None
    assert await store.due_subscriptions(T0, 10) == []


async def test_pause(store: Storage) -> None:
    await store.save_subscription(replace(SUB, next_run_at=T0 - timedelta(hours=1)))
    await store.pause_subscription(SUB.channel, "bot was removed")
    stored = await store.get_subscription(SUB.channel)
    assert stored is not None
    assert stored.paused is True and stored.paused_reason == "bot was removed"
    assert await store.due_subscriptions(T0, 10) == []


async def test_move_subscription_moves_everything(store: Storage) -> None:
    old, new = "telegram:-100", "telegram:-1001234"
    await store.save_subscription(replace(SUB, channel=old))
    sub_id = await store.subscription_id(old)
    assert sub_id is not None
    delivery = await store.create_delivery(sub_id, old, "2026-03-10", T0, ["p1", "p2"])
    assert delivery is not None
    await store.finish_delivery(delivery, "sent")
    await store.save_search_session(SearchSession("k1", old, "video", T0))

    await store.move_subscription(old, new)

    assert await store.get_subscription(old) is None
    moved = await store.get_subscription(new)
    assert moved is not None and moved.top_n == SUB.top_n
    assert await store.subscription_id(new) == sub_id
    last = await store.last_delivery(new)
    assert last is not None and last.id == delivery and last.channel == new
    assert await store.last_delivery(old) is None
    assert await store.sent_paper_keys(new, ["p1", "p2", "p3"]) == {"p1", "p2"}
    assert await store.sent_paper_keys(old, ["p1", "p2"]) == set()
    session = await store.get_search_session("k1")
    assert session is not None and session.channel == new


# deliveries ------------------------------------------------------------------------
async def _subscribed(store: Storage, channel: str) -> int:
    await store.save_subscription(Subscription(channel=channel))
    sub_id = await store.subscription_id(channel)
    assert sub_id is not None
    return sub_id


async def test_create_delivery_unique_per_period(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    first = await store.create_delivery(sub_id, "telegram:1", "2026-03-10", T0, ["a", "b"])
    assert first is not None
    again = await store.create_delivery(sub_id, "telegram:1", "2026-03-10", T0, ["c"])
    assert again is None
    other = await store.create_delivery(
        sub_id, "telegram:1", "2026-03-11", T0 + timedelta(days=1), []
    )
    assert other is not None and other != first
    row = await store.get_delivery(first)
    assert row is not None
    assert (row.state, row.attempts, row.parts_sent, row.error) == ("pending", 0, 0, None)
    assert row.paper_keys == ("a", "b")
    assert row.due_at == T0 and row.next_attempt_at == T0
    assert row.subscription_id == sub_id and row.period == "2026-03-10"
    assert await store.get_delivery(999_999) is None


async def test_create_delivery_with_state(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    skipped = await store.create_delivery(
        sub_id, "telegram:1", "2026-03-10", T0, [], state="skipped", error="no papers"
    )
    assert skipped is not None
    row = await store.get_delivery(skipped)
    assert row is not None and row.state == "skipped" and row.error == "no papers"
    assert await store.outbox_depth() == 0
    assert await store.claim_deliveries("telegram", T0 + timedelta(days=1), 10, TEST_LEASE) == []


async def test_claim_only_ready_rows_of_that_platform(store: Storage) -> None:
    tg = await _subscribed(store, "telegram:1")
    tg2 = await _subscribed(store, "telegram:2")
    dc = await _subscribed(store, "discord:1")
    tgx = await _subscribed(store, "telegramx:1")
    ready = await store.create_delivery(tg, "telegram:1", "p", T0 - timedelta(minutes=1), ["a"])
    assert ready is not None
    exact = await store.create_delivery(tg2, "telegram:2", "p", T0, ["b"])
    later = await store.create_delivery(tg, "telegram:1", "q", T0 + timedelta(seconds=1), [])
    await store.create_delivery(dc, "discord:1", "p", T0 - timedelta(hours=1), [])
    await store.create_delivery(tgx, "telegramx:1", "p", T0 - timedelta(hours=1), [])

    claimed = await store.claim_deliveries("telegram", T0, 10, TEST_LEASE)
    assert [d.id for d in claimed] == [ready, exact]
    assert all(d.state == "sending" and d.attempts == 1 for d in claimed)
    assert all(d.channel.startswith("telegram:") for d in claimed)
    stored = await store.get_delivery(ready)
    assert stored is not None and stored.state == "sending"
    # Claimed rows are not handed out twice; the future one is not ready yet.
    assert await store.claim_deliveries("telegram", T0, 10, TEST_LEASE) == []
    assert later is not None
    later_row = await store.get_delivery(later)
    assert later_row is not None and later_row.state == "pending"
    assert [
        d.id
        for d in await store.claim_deliveries("telegram", T0 + timedelta(hours=1), 10, TEST_LEASE)
    ] == [later]
    assert await store.outbox_depth() == 5


async def test_claim_platform_is_matched_exactly(store: Storage) -> None:
    # "_" and "%" are LIKE wildcards; case must not be folded either.
    odd = await _subscribed(store, "a_b:1")
    other = await _subscribed(store, "axb:1")
    upper = await _subscribed(store, "A_B:1")
    await store.create_delivery(odd, "a_b:1", "p", T0, [])
    await store.create_delivery(other, "axb:1", "p", T0, [])
    await store.create_delivery(upper, "A_B:1", "p", T0, [])
    claimed = await store.claim_deliveries("a_b", T0, 10, TEST_LEASE)
    assert [d.channel for d in claimed] == ["a_b:1"]
    assert await store.claim_deliveries("%", T0, 10, TEST_LEASE) == []


async def test_claim_limit(store: Storage) -> None:
    for n in range(5):
        sub_id = await _subscribed(store, f"telegram:{n}")
        await store.create_delivery(sub_id, f"telegram:{n}", "p", T0 - timedelta(minutes=n), [])
    first = await store.claim_deliveries("telegram", T0, 2, TEST_LEASE)
    assert len(first) == 2
    rest = await store.claim_deliveries("telegram", T0, 10, TEST_LEASE)
    assert len(rest) == 3
    assert {d.id for d in first}.isdisjoint(d.id for d in rest)


async def test_a_live_lease_is_never_recovered_an_expired_one_is(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    delivery = await store.create_delivery(sub_id, "telegram:1", "p", T0, ["a"])
    assert delivery is not None
    seconds = functools.partial(timedelta, seconds=1)

    def lease(owner: str, at: float) -> OutboxLease:
        return OutboxLease(owner, T0 + seconds(at), T0 + seconds(at + 10))

    (claimed,) = await store.claim_deliveries("telegram", T0, 10, lease("host:1:a", 0))
    assert (claimed.lease_owner, claimed.lease_until) == ("host:1:a", T0 + seconds(10))
    # Another process starting while the first still sends takes nothing...
    assert await store.claim_deliveries("telegram", T0, 10, lease("host:2:b", 9)) == []
    # ...a renewed lease holds longer...
    assert await store.renew_deliveries("host:1:a", T0 + seconds(30)) == 1
    assert await store.claim_deliveries("telegram", T0, 10, lease("host:2:b", 29)) == []
    # ...and once it expires (its sender died) the row is claimed again.
    (again,) = await store.claim_deliveries("telegram", T0, 10, lease("host:2:b", 31))
    assert (again.id, again.attempts, again.lease_owner) == (delivery, 2, "host:2:b")
    # The dead sender's late outcome writes are fenced off; the new owner's are not.
    assert not await store.record_part_sent(delivery, 1, owner="host:1:a")
    assert not await store.finish_delivery(delivery, "sent", owner="host:1:a")
    assert not await store.retry_delivery(delivery, T0, "late", owner="host:1:a")
    assert await store.renew_deliveries("host:1:a", T0 + timedelta(hours=1)) == 0
    row = await store.get_delivery(delivery)
    assert row is not None and (row.state, row.lease_owner) == ("sending", "host:2:b")
    assert await store.record_part_sent(delivery, 1, owner="host:2:b")
    assert await store.finish_delivery(delivery, "sent", parts_sent=1, owner="host:2:b")
    row = await store.get_delivery(delivery)
    assert row is not None and (row.state, row.lease_owner, row.lease_until) == ("sent", None, None)
    assert await store.sent_paper_keys("telegram:1", ["a"]) == {"a"}


async def test_release_returns_only_that_owners_unsent_rows(store: Storage) -> None:
    ids = []
    for channel in ("telegram:1", "telegram:2", "telegram:3"):
        sub_id = await _subscribed(store, channel)
        created = await store.create_delivery(sub_id, channel, "p", T0, [])
        assert created is not None
        ids.append(created)
    far = T0 + timedelta(hours=1)
    await store.claim_deliveries("telegram", T0, 2, OutboxLease("a", T0, far))
    await store.claim_deliveries("telegram", T0, 1, OutboxLease("b", T0, far))
    # Another owner's row is not released, nor one "a" never had.
    assert await store.release_deliveries("a", [ids[0], ids[2]]) == 1
    assert await store.release_deliveries("a", []) == 0
    states = [(await store.get_delivery(i)).state for i in ids]  # type: ignore[union-attr]
    assert states == ["pending", "sending", "sending"]
    (retaken,) = await store.claim_deliveries("telegram", T0, 10, OutboxLease("c", T0, far))
    assert (retaken.id, retaken.lease_owner, retaken.attempts) == (ids[0], "c", 2)


async def test_claims_are_fenced_by_the_role_lease(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    await store.create_delivery(sub_id, "telegram:1", "p", T0, [])
    role = "sender:telegram:abc"
    ten = timedelta(seconds=10)

    def lease(at: timedelta) -> OutboxLease:
        return OutboxLease("a", T0 + at, T0 + at + ten, role=role)

    assert await store.claim_deliveries("telegram", T0, 10, lease(ten * 0)) == []  # not held
    assert await store.acquire_lease(role, "b", T0, T0 + ten)
    assert await store.claim_deliveries("telegram", T0, 10, lease(ten * 0)) == []  # b holds it
    assert await store.acquire_lease(role, "a", T0 + ten, T0 + 2 * ten)
    # Held by "a" but expired by the claim's moment: a stale holder claims nothing.
    assert await store.claim_deliveries("telegram", T0, 10, lease(2 * ten)) == []
    assert len(await store.claim_deliveries("telegram", T0, 10, lease(ten))) == 1


async def test_role_leases_are_taken_renewed_released_and_expire(store: Storage) -> None:
    ten = timedelta(seconds=10)
    assert await store.list_leases() == []
    assert await store.acquire_lease("tick", "a", T0, T0 + ten)
    assert not await store.acquire_lease("tick", "b", T0 + timedelta(seconds=3), T0 + 2 * ten)
    assert await store.acquire_lease("tick", "a", T0 + timedelta(seconds=3), T0 + 2 * ten)
    assert await store.acquire_lease("ingest", "b", T0, T0 + ten)
    (ingest, tick) = await store.list_leases()
    assert (tick.name, tick.owner, tick.expires_at) == ("tick", "a", T0 + 2 * ten)
    assert (tick.acquired_at, tick.renewed_at) == (T0, T0 + timedelta(seconds=3))
    assert (ingest.name, ingest.owner) == ("ingest", "b")
    # Expired: another owner takes it over, with its own acquisition time.
    assert await store.acquire_lease("tick", "b", T0 + 2 * ten, T0 + 3 * ten)
    tick = (await store.list_leases())[1]
    assert (tick.owner, tick.acquired_at) == ("b", T0 + 2 * ten)
    assert not await store.release_lease("tick", "a")
    assert await store.release_lease("tick", "b")
    assert await store.acquire_lease("tick", "a", T0 + 2 * ten, T0 + 3 * ten)


async def test_record_part_sent(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    delivery = await store.create_delivery(sub_id, "telegram:1", "p", T0, [])
    assert delivery is not None
    await store.record_part_sent(delivery, 2)
    row = await store.get_delivery(delivery)
    assert row is not None and row.parts_sent == 2


async def test_finish_sent_records_sent_papers(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    sent = await store.create_delivery(sub_id, "telegram:1", "p", T0, ["a", "b"])
    failed = await store.create_delivery(sub_id, "telegram:1", "q", T0, ["c"])
    assert sent is not None and failed is not None
    assert await store.sent_paper_keys("telegram:1", ["a", "b", "c"]) == set()
    await store.finish_delivery(sent, "sent")
    await store.finish_delivery(failed, "failed", "forbidden")
    assert await store.sent_paper_keys("telegram:1", ["a", "b", "c"]) == {"a", "b"}
    assert await store.sent_paper_keys("telegram:2", ["a", "b"]) == set()
    assert await store.sent_paper_keys("telegram:1", []) == set()
    failed_row = await store.get_delivery(failed)
    assert failed_row is not None
    assert failed_row.state == "failed" and failed_row.error == "forbidden"
    assert await store.outbox_depth() == 0


async def test_retry_delivery(store: Storage) -> None:
    sub_id = await _subscribed(store, "telegram:1")
    delivery = await store.create_delivery(sub_id, "telegram:1", "p", T0, [])
    assert delivery is not None
    await store.claim_deliveries("telegram", T0, 10, TEST_LEASE)
    retry_at = T0 + timedelta(minutes=5)
    await store.retry_delivery(delivery, retry_at, "timeout")
    row = await store.get_delivery(delivery)
    assert row is not None
    assert (row.state, row.next_attempt_at, row.error) == ("pending", retry_at, "timeout")
    assert row.due_at == T0
    assert (
        await store.claim_deliveries("telegram", retry_at - timedelta(seconds=1), 10, TEST_LEASE)
        == []
    )
    assert [d.id for d in await store.claim_deliveries("telegram", retry_at, 10, TEST_LEASE)] == [
        delivery
    ]


async def test_last_delivery_and_outbox_depth(store: Storage) -> None:
    assert await store.last_delivery("telegram:1") is None
    assert await store.outbox_depth() == 0
    sub_id = await _subscribed(store, "telegram:1")
    other = await _subscribed(store, "telegram:2")
    await store.create_delivery(sub_id, "telegram:1", "2026-03-10", T0, [])
    newest = await store.create_delivery(sub_id, "telegram:1", "2026-03-09", T0, [])
    await store.create_delivery(other, "telegram:2", "2026-03-11", T0, [])
    last = await store.last_delivery("telegram:1")
    assert last is not None and last.id == newest and last.period == "2026-03-09"
    assert await store.outbox_depth() == 3
    claimed = await store.claim_deliveries("telegram", T0, 1, TEST_LEASE)
    assert await store.outbox_depth() == 3  # sending still counts
    await store.finish_delivery(claimed[0].id, "sent")
    assert await store.outbox_depth() == 2


# search sessions ---------------------------------------------------------------
async def test_search_sessions(store: Storage) -> None:
    old = SearchSession("old", "telegram:1", "video", T0 - timedelta(hours=2))
    new = SearchSession("new", "discord:1", 'author:"Liu"', T0)
    await store.save_search_session(old)
    await store.save_search_session(new)
    assert await store.get_search_session("new") == new
    assert await store.get_search_session("missing") is None
    replaced = replace(old, query="audio")
    await store.save_search_session(replaced)
    assert await store.get_search_session("old") == replaced
    assert await store.purge_search_sessions(T0 - timedelta(hours=1)) == 1
    assert await store.get_search_session("old") is None
    assert await store.get_search_session("new") == new
    assert await store.purge_search_sessions(T0) == 0


# what the port gained since the first backend ------------------------------------
async def test_search_counts_every_match_up_to_the_window(store: Storage) -> None:
    await store.upsert_papers([paper(f"2603.{n:05d}", f"Graph study {n}") for n in range(5)])
    page = await store.search(parse_query("graph"), 0, 2)
    assert (len(page.papers), page.has_more, page.total, page.total_capped) == (2, True, 5, False)
    none = await store.search(parse_query("nothingmatches"), 0, 2)
    assert (none.papers, none.total, none.total_capped) == ((), 0, False)
    await store.upsert_papers(
        [paper(f"2604.{n:05d}", f"Graph survey {n}") for n in range(SEARCH_WINDOW)]
    )
    capped = await store.search(parse_query("graph"), 0, 2)
    assert (capped.total, capped.total_capped) == (SEARCH_WINDOW, True)


async def test_upvotes_are_the_latest_count(store: Storage) -> None:
    await store.upsert_papers([paper("2603.00001", "Counted", upvotes=40)])
    await store.upsert_papers([paper("2603.00001", "Counted", upvotes=12)])
    stored = await store.get_paper("2603.00001")
    assert stored is not None and stored.upvotes == 12


async def test_a_paper_listed_on_several_days_belongs_to_each(store: Storage) -> None:
    first, second = date(2026, 3, 6), date(2026, 3, 9)
    await store.upsert_papers([paper("2603.00001", "Twice", day=second)])
    await store.upsert_papers([paper("2603.00001", "Twice", day=first)])
    for day in (first, second):
        assert [p.title for p in await store.papers_featured_between(day, day)] == ["Twice"]
    stored = await store.get_paper("2603.00001")
    assert stored is not None and stored.featured_on == second  # the latest, for display
    assert await store.latest_featured_day(second) == first


async def test_sample_lists_keep_their_order(store: Storage) -> None:
    day = date(2026, 2, 2)
    await store.upsert_papers(
        [paper("2603.00001", "First stored", day=None), paper("2603.00002", "Second", day=None)]
    )
    assert await store.save_sample_list(day, ["2603.00002", "missing", "2603.00001"]) == 2
    assert await store.is_sample_day(day) and not await store.is_sample_day(date(2026, 2, 3))
    found = await store.papers_featured_between(day, day)
    assert [p.title for p in found] == ["Second", "First stored"]
    assert await store.latest_featured_day(date(2026, 2, 3)) == day
    assert await store.save_sample_list(day, ["2603.00001"]) == 1  # replaced, not added
    assert [p.title for p in await store.papers_featured_between(day, day)] == ["First stored"]


async def test_moving_onto_a_subscribed_channel_merges_into_it(store: Storage) -> None:
    old, new = "telegram:1", "telegram:2"
    await store.save_subscriptions([Subscription(channel=old), Subscription(channel=new)])
    old_id, new_id = await store.subscription_id(old), await store.subscription_id(new)
    assert old_id is not None and new_id is not None
    shared = await store.create_delivery(old_id, old, "2026-03-10", T0, ["2603.00001"])
    own = await store.create_delivery(old_id, old, "2026-03-11", T0, ["2603.00002"])
    await store.create_delivery(new_id, new, "2026-03-10", T0, ["2603.00003"])
    assert shared is not None and own is not None
    await store.move_subscription(old, new)
    kept = await store.get_subscription(new)
    paused = await store.get_subscription(old)
    assert kept is not None and not kept.paused
    assert paused is not None and paused.paused and paused.paused_reason == f"merged into {new}"
    skipped, moved = await store.get_delivery(shared), await store.get_delivery(own)
    assert skipped is not None and skipped.state == "skipped" and skipped.channel == old
    assert moved is not None and (moved.channel, moved.subscription_id) == (new, new_id)
    assert moved.state == "pending"


async def test_only_temporary_failures_count_toward_the_retry_limit(store: Storage) -> None:
    await store.save_subscription(Subscription(channel="test:1"))
    sub_id = await store.subscription_id("test:1")
    assert sub_id is not None
    delivery = await store.create_delivery(sub_id, "test:1", "2026-03-10", T0, ["k"])
    assert delivery is not None
    for failure in (False, True, False, True):
        (claimed,) = await store.claim_deliveries("test", T0 + timedelta(hours=1), 10, TEST_LEASE)
        await store.retry_delivery(claimed.id, T0, "later", failure=failure)
    row = await store.get_delivery(delivery)
    assert row is not None and (row.attempts, row.failures, row.state) == (4, 2, "pending")


async def test_a_paper_the_database_refuses_is_skipped_alone(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    papers = [paper(f"2603.{n:05d}", f"Batch paper {n}") for n in range(3)]
    papers[1] = replace(papers[1], upvotes=2**70)  # beyond any integer column
    assert await store.upsert_papers(papers) == 2
    assert [p.key for p in await store.get_papers([p.key for p in papers])] == [
        "2603.00000",
        "2603.00002",
    ]
    assert "skipping paper 2603.00001" in caplog.text


async def test_a_healthy_database_is_writable(store: Storage) -> None:
    assert await store.is_writable() is True


async def test_new_outbox_rows_wake_watchers_on_postgresql(backend: Backend) -> None:
    watcher, writer = await backend.open(), await backend.open()  # two processes' connections
    woken: list[str] = []
    try:
        unwatch = await watcher.watch_outbox(woken.append)
        if backend.name == "sqlite":
            assert unwatch is None  # no notifications: SQLite senders poll
            return
        assert unwatch is not None
        await eventually(lambda: woken, 15, message="the listener to start")  # it wakes all once
        woken.clear()
        sub_id = await _subscribed(writer, "telegram:1")
        await writer.create_delivery(sub_id, "telegram:1", "p", T0, [])
        await eventually(lambda: "telegram" in woken, 15, message="a notification")
        await unwatch()
        woken.clear()
        await writer.create_delivery(sub_id, "telegram:1", "q", T0, [])
        # A marker row after it: once its notification would have come, the other's had too.
        other = await _subscribed(writer, "discord:1")
        seen: list[str] = []
        stop = await watcher.watch_outbox(seen.append)
        assert stop is not None
        await eventually(lambda: seen, 15, message="the listener to start again")
        await writer.create_delivery(other, "discord:1", "q", T0, [])
        await eventually(lambda: "discord" in seen, 15, message="the marker's notification")
        assert woken == []
        await stop()
    finally:
        await watcher.close()
        await writer.close()
