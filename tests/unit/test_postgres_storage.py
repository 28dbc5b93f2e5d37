"""PostgreSQL's own internals: migrations under the advisory lock, upkeep, refused writes.

The behaviour both backends share is in tests/unit/test_storage.py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.models import Subscription
from bot.ports.storage import DatabaseUnusable, WriteFailed
from storage.postgresql import PostgresStorage, available_migrations, search
from storage.postgresql.backend import ANALYZE_AFTER_ROWS
from tests.support import make_paper


async def test_processes_starting_together_apply_each_migration_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStorage.open(postgres_url) for _ in range(3)))
    try:
        latest = max(version for version, _ in available_migrations())
        assert [await store.schema_version() for store in stores] == [latest] * 3
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        finally:
            await conn.close()
        assert [row["version"] for row in rows] == [v for v, _ in available_migrations()]
    finally:
        for store in stores:
            await store.close()


async def reltuples(url: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        return float(
            await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'papers'::regclass")
        )
    finally:
        await conn.close()


async def test_upkeep_refreshes_planner_statistics_after_a_bulk_load(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await PostgresStorage.open(postgres_url)
    try:
        count = ANALYZE_AFTER_ROWS + 200
        await store.upsert_papers(
            [make_paper(f"2603.{n:05d}", f"Bulk paper {n}") for n in range(count)]
        )
        assert await reltuples(postgres_url) <= 0  # never analyzed yet
        assert await store.upkeep(0) is False  # no time left for the ANALYZE
        with caplog.at_level(logging.INFO, "paperbot.storage"):
            assert await store.upkeep(None) is True
            assert await store.upkeep(None) is True  # nothing changed since: no second ANALYZE
        assert await reltuples(postgres_url) == count
        analyzed = [r for r in caplog.records if "planner statistics" in r.getMessage()]
        assert len(analyzed) == 1
    finally:
        await store.close()


@pytest.fixture
async def limited_role(postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    """A migrated schema and a login role that may read it and write only the health row."""
    store = await PostgresStorage.open(postgres_url)
    await store.close()
    role = f"reader_{uuid.uuid4().hex[:12]}"
    schema = dict(part.split("=", 1) for part in urlsplit(postgres_url).query.split("&"))[
        "search_path"
    ]
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN")
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        parts = urlsplit(postgres_url)
        url = urlunsplit(parts._replace(netloc=parts.netloc.replace("postgres:", f"{role}:", 1)))
        yield role, url
    finally:
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()


async def test_a_database_that_refuses_writes_cannot_be_opened(
    limited_role: tuple[str, str],
) -> None:
    _, url = limited_role
    with pytest.raises(DatabaseUnusable, match="permission denied"):
        await PostgresStorage.open(url)


async def test_a_refused_write_keeps_the_database_unhealthy(
    limited_role: tuple[str, str], postgres_url: str
) -> None:
    role, url = limited_role
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f"GRANT INSERT, UPDATE ON health TO {role}")
    finally:
        await conn.close()
    store = await PostgresStorage.open(url)
    try:
        assert await store.is_writable() is True
        with pytest.raises(WriteFailed, match="permission denied"):
            await store.save_subscription(Subscription(channel="test:1"))
        # The health row still takes its write, yet the bot's own writes fail.
        assert await store.is_writable() is False
    finally:
        await store.close()


async def test_newest_matches_and_any_match_are_found_below_the_newest_papers(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small steps, so 120 papers span the recent papers and several older ranges.
    monkeypatch.setattr(search, "RECENT_PAPERS", 5)
    monkeypatch.setattr(search, "RANGE_GROWTH", 2)
    monkeypatch.setattr(search, "PREFIX_CHECK_PAPERS", 5)
    store = await PostgresStorage.open(postgres_url)
    try:
        await store.upsert_papers(
            [
                make_paper(
                    f"2603.{n:05d}",
                    "Graph paper" if n % 7 == 0 else ("Rare paper" if n in (3, 50) else "Paper"),
                )
                for n in range(120)
            ]
        )
        # Matches every 7th paper, 2 old ones, every paper, none.
        for word, count in (("graph", 18), ("rare", 2), ("paper", 120), ("absent", 0)):
            match = search.word_group(word)
            everything = [
                row[0]
                for row in await store._pool.fetch(
                    "SELECT id FROM papers WHERE document @@ to_tsquery('simple', $1)"
                    " ORDER BY id DESC",
                    match,
                )
            ]
            assert len(everything) == count
            for window in (1, 4, 30, 300):
                found = await store._newest_matches(match, window)
                assert found == everything[:window], (word, window)
            assert await store._matches_anything(match) is (count > 0), word
    finally:
        await store.close()
