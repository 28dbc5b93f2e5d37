"""``paperbot db copy --to postgresql://…``: every table arrives, twice changes nothing, resumes."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

import storage.postgresql.copy_from_sqlite as copier
from bot.models import Paper, Subscription
from bot.plugins import open_storage
from bot.ports.plugins import CopyFailed
from bot.ports.storage import SearchSession, Storage
from bot.sources.seeds import store_seeds
from storage.postgresql.copy_from_sqlite import TABLES, SqliteToPostgres
from tests.support import clean_environment, run_cli

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MODEL = "test-model"
EXTRA_PAPERS = 250


def extra_paper(n: int) -> Paper:
    """A generated paper; every tenth has unknown upvotes, as arXiv listings do."""
    return Paper(
        arxiv_id=f"2603.{n:05d}",
        title=f"Generated paper {n} on sparse attention",
        summary=f"Abstract {n} with ünïcode and a 'quote'.",
        authors=(f"Author {n}", "Second Author"),
        published_at=date(2026, 3, 1) + timedelta(days=n % 9),
        featured_on=date(2026, 3, 1) + timedelta(days=n % 9),
        upvotes=None if n % 10 == 0 else n,
        ai_keywords=("attention", f"topic{n % 7}"),
        github_repo=f"https://github.com/x/r{n}" if n % 3 == 0 else None,
        github_stars=n if n % 3 == 0 else None,
    )


SUBS = [
    Subscription(
        channel="telegram:-100123",
        post_time=time(8, 30),
        timezone="Europe/Berlin",
        weekdays=frozenset({1, 2, 3, 4, 5}),
        top_n=3,
        min_upvotes=10,
        include=("diffusion", "llm"),
        exclude=("video",),
        created_by="telegram:42",
        next_run_at=NOW + timedelta(hours=3),
    ),
    Subscription(
        channel="discord:987",
        cadence="weekly",
        weekly_day=5,
        paused=True,
        paused_reason="missing_permission",
        arxiv_categories=("cs.CL", "cs.LG"),
        crosslists=False,
        alert_every=60,
    ),
    Subscription(channel="telegram:-100999", alert_every=5),
]
ARXIV_DAY = date(2026, 3, 10)
# The same query stands in two channels: an alert is known by its query within its channel.
ALERTS = [
    (SUBS[0].channel, "sparse attention", "telegram:42"),
    (SUBS[2].channel, "sparse attention", "telegram:7"),
    (SUBS[1].channel, "topic3 -video", "discord:1"),
]
ALERT_PERIOD = "alert 2026-03-10 12:00:00 UTC"


async def fill_alerts(storage: Storage) -> None:
    """Alerts, papers queued for them, pending matches and a sent alert message."""
    ids = []
    for alert in ALERTS:
        alert_id = await storage.add_alert(*alert)
        assert alert_id is not None
        ids.append(alert_id)
    extra = [extra_paper(n) for n in range(EXTRA_PAPERS)]
    # Queued before they are stored, as an ingest does; three are matched below.
    assert await storage.queue_alert_candidates([p.key for p in extra]) == EXTRA_PAPERS
    await storage.upsert_papers(extra)
    first, second, third = (p.key for p in extra[:3])
    matches = [(ids[0], first), (ids[0], second), (ids[1], first), (ids[1], third)]
    assert await storage.save_alert_matches(matches, [first, second, third]) == 4
    sub_id = await storage.subscription_id(SUBS[2].channel)
    assert sub_id is not None
    message = await storage.queue_alert_message(
        sub_id, SUBS[2].channel, ALERT_PERIOD, NOW, [first], [first]
    )
    assert message is not None
    await storage.finish_delivery(message, "sent", parts_sent=1)


async def alerts_snapshot(storage: Storage) -> dict[str, Any]:
    """What a user of the port sees of the alert tables (ids differ between databases)."""
    alerts = await storage.list_alerts()
    query = {alert.id: alert.query for alert in alerts}
    sub_id = await storage.subscription_id(SUBS[2].channel)
    assert sub_id is not None
    return {
        "alerts": sorted((a.channel, a.query, a.created_by, a.created_at) for a in alerts),
        "matches": sorted(
            (m.channel, query[m.alert_id], m.paper_key, m.matched_at)
            for m in await storage.pending_alert_matches()
        ),
        "inbox": sorted(await storage.alert_candidates(10_000)),
        "alerts_sent": await storage.alert_messages_sent(),
        "last_alert": await storage.last_alert_at(sub_id),
    }


async def fill(storage: Storage) -> list[str]:
    """A database with a row in every copied table; the keys of its papers."""
    await store_seeds(storage)
    await storage.save_subscriptions(SUBS)
    await fill_alerts(storage)
    keys = [p.key for p in await storage.latest_papers(10_000)]
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((len(keys), 8)).astype(np.float32)
    await storage.save_vectors(MODEL, keys, vectors)
    sub_id = await storage.subscription_id(SUBS[0].channel)
    assert sub_id is not None
    sent = await storage.create_delivery(sub_id, SUBS[0].channel, "2026-03-09", NOW, keys[:3])
    assert sent is not None
    await storage.finish_delivery(sent, "sent", parts_sent=1)
    pending = await storage.create_delivery(
        sub_id, SUBS[0].channel, "2026-03-10", NOW, keys[3:5], digest_info='{"pool": 2}'
    )
    assert pending is not None
    await storage.retry_delivery(pending, NOW + timedelta(minutes=5), "HTTP 500", failure=True)
    await storage.save_search_session(SearchSession("abc123", SUBS[0].channel, "llm -video", NOW))
    await storage.record_arxiv_announcement(
        "cs.CL", ARXIV_DAY, NOW, [(keys[0], "new"), (keys[1], "cross")]
    )
    return keys


async def snapshot(storage: Storage, keys: list[str]) -> dict[str, Any]:
    """What a user of the port sees of every copied table."""
    vectors = await storage.vector_changes(MODEL, 0, 10_000)
    last = await storage.last_delivery(SUBS[0].channel)
    assert last is not None
    subs = sorted(await storage.list_subscriptions(), key=lambda s: s.channel)
    return {
        "count": await storage.count_papers(),
        "papers": sorted(await storage.get_papers(keys), key=lambda p: p.key),
        "featured": sorted(
            p.key for p in await storage.papers_featured_between(date(2020, 1, 1), date(2030, 1, 1))
        ),
        "sample_days": [
            day
            for day in (date(2026, 3, 1) + timedelta(days=n) for n in range(-400, 30))
            if await storage.is_sample_day(day)
        ],
        "vectors": dict(zip(vectors.keys, vectors.vectors.tolist(), strict=True)),
        "subs": subs,
        "last_delivery": dataclasses.replace(last, id=0, subscription_id=0),
        "sent": await storage.sent_paper_keys(SUBS[0].channel, keys),
        "session": await storage.get_search_session("abc123"),
        "depth": await storage.outbox_depth(),
        "arxiv": await storage.arxiv_announced(["cs.CL"], ARXIV_DAY, ARXIV_DAY),
        "arxiv_fetched": await storage.arxiv_categories_fetched(["cs.CL"], ARXIV_DAY),
        **await alerts_snapshot(storage),
    }


@pytest.fixture
async def source(tmp_path: Path) -> tuple[Path, list[str]]:
    """A filled SQLite database file and its paper keys."""
    path = tmp_path / "paperbot.db"
    storage = await open_storage(str(path))
    try:
        keys = await fill(storage)
    finally:
        await storage.close()
    return path, keys


async def read(url: str, keys: list[str]) -> dict[str, Any]:
    storage = await open_storage(url)
    try:
        return await snapshot(storage, keys)
    finally:
        await storage.close()


class Counting:
    """A progress observer that records what it is told (and may stop the copy)."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.planned_rows: list[int] = []
        self.rows: dict[str, int] = {}
        self._stop_after = stop_after

    def planned(self, rows: int) -> None:
        self.planned_rows.append(rows)

    def copied(self, table: str, rows: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        if self._stop_after is not None and sum(self.rows.values()) >= self._stop_after:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C mid-copy


async def test_copy_through_the_cli_keeps_every_table_and_twice_changes_nothing(
    source: tuple[Path, list[str]], postgres_url: str, tmp_path: Path
) -> None:
    path, keys = source
    expected = await read(str(path), keys)
    assert expected["count"] == 79 + EXTRA_PAPERS and expected["sample_days"]
    assert len(expected["arxiv"]) == 2 and expected["arxiv_fetched"] == {"cs.CL"}
    assert len(expected["alerts"]) == 3 and len(expected["matches"]) == 3
    assert len(expected["inbox"]) == EXTRA_PAPERS - 3
    assert expected["alerts_sent"] == {SUBS[2].channel: 1} and expected["last_alert"] == NOW
    env = clean_environment(PAPERBOT_DB=str(path))

    code, out, err = await run_cli("db", "copy", "--to", postgres_url, env=env, cwd=tmp_path)
    assert code == 0, err
    assert f"{expected['count']} papers" in out and "3 subscriptions" in out
    assert "PAPERBOT_DATABASE_URL" in out
    assert "row" in err  # the progress bar, on stderr
    copied = await read(postgres_url, keys)
    assert copied == expected
    # The match the alert message took still points at that message (not in the port).
    conn = await asyncpg.connect(postgres_url)
    try:
        taken = await conn.fetch(
            "SELECT d.channel, d.period FROM alert_matches m JOIN deliveries d"
            " ON d.id = m.delivery_id AND d.subscription_id = m.subscription_id"
        )
    finally:
        await conn.close()
    assert [tuple(row) for row in taken] == [(SUBS[2].channel, ALERT_PERIOD)]

    code, out, err = await run_cli("db", "copy", "--to", postgres_url, env=env, cwd=tmp_path)
    assert code == 0, err
    assert "nothing new" in out
    assert await read(postgres_url, keys) == expected


async def test_an_interrupted_copy_resumes_after_its_last_batch(
    source: tuple[Path, list[str]], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys = source
    expected = await read(str(path), keys)
    monkeypatch.setattr(copier, "BATCH_ROWS", 100)
    # Open both through their plugins, as the command does: each is migrated.
    await (await open_storage(postgres_url)).close()

    first = Counting(stop_after=150)
    with pytest.raises(KeyboardInterrupt):
        await SqliteToPostgres(str(path), postgres_url, first).run(from_start=False)
    assert first.rows == {"papers": 200}  # two batches of 100 committed

    second = Counting()
    report = await SqliteToPostgres(str(path), postgres_url, second).run(from_start=False)
    total = first.planned_rows[0]
    assert second.planned_rows == [total - 200]
    assert report["papers"] == expected["count"] - 200
    assert sum(report.values()) == total - 200
    assert await read(postgres_url, keys) == expected

    again = Counting()
    report = await SqliteToPostgres(str(path), postgres_url, again).run(from_start=True)
    assert again.planned_rows == [total] and sum(report.values()) == total
    assert await read(postgres_url, keys) == expected


async def test_rows_already_in_the_target_are_matched_by_key_not_by_id(
    source: tuple[Path, list[str]], postgres_url: str
) -> None:
    """A target that ingested papers of its own keeps them; shared papers take the source's row."""
    path, keys = source
    target = await open_storage(postgres_url)
    try:
        own = dataclasses.replace(extra_paper(9999), arxiv_id="2699.00001")
        await target.upsert_papers([own, dataclasses.replace(extra_paper(5), title="Stale title")])
    finally:
        await target.close()

    await SqliteToPostgres(str(path), postgres_url, Counting()).run(from_start=False)

    copied = await read(postgres_url, keys)
    expected = await read(str(path), keys)
    assert copied == expected | {
        "count": len(keys) + 1,
        "featured": sorted([*expected["featured"], own.key]),
    }
    target = await open_storage(postgres_url)
    try:
        assert (await target.get_paper("2699.00001")) == own
        moved = await target.get_paper(extra_paper(5).key)
        assert moved is not None and moved.title == extra_paper(5).title
    finally:
        await target.close()


async def test_every_sqlite_table_is_either_copied_or_deliberately_left(tmp_path: Path) -> None:
    """A table added by a later migration must be added to the copy (or to NOT_COPIED)."""
    storage = await open_storage(str(tmp_path / "empty.db"))
    await storage.close()
    with sqlite3.connect(tmp_path / "empty.db") as db:
        assert copier.data_tables(db) == {t.name for t in TABLES} | copier.NOT_COPIED


async def test_copy_refusals_are_one_clear_line(
    source: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = source
    env = clean_environment(PAPERBOT_DB=str(path))

    code, _, err = await run_cli(
        "db", "copy", "--to", f"sqlite:///{tmp_path / 'b.db'}", env=env, cwd=tmp_path
    )
    assert code == 2 and "cannot copy a sqlite database" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = await run_cli("db", "copy", "--to", "mysql://x/y", env=env, cwd=tmp_path)
    assert code == 2 and "no installed storage backend for 'mysql'" in err

    # Nothing listens on port 1: refused at once, password masked.
    unreachable = "postgresql://bot:s3cret@127.0.0.1:1/paperbot"
    code, _, err = await run_cli("db", "copy", "--to", unreachable, env=env, cwd=tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "s3cret" not in err and "cannot use the target database" in err


async def test_a_source_from_a_newer_paperbot_is_refused_not_half_copied(
    source: tuple[Path, list[str]], postgres_url: str
) -> None:
    path, _ = source
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bookmarks (channel TEXT, paper_key TEXT)")
    await (await open_storage(postgres_url)).close()
    with pytest.raises(CopyFailed, match="bookmarks"):
        await SqliteToPostgres(str(path), postgres_url, Counting()).run(from_start=False)
