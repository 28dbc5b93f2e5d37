"""Ingesting Hugging Face days into storage, over the wire against the fake API."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import pytest

from bot.ingest import ingest_days, recent_days
from bot.models import Paper
from bot.ports.storage import Storage
from bot.sources.clean import MAX_COUNT, BadValue, bounded_count, clean_text
from bot.sources.huggingface import HuggingFaceSource
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import MISSING, FakeHuggingFace, make_item
from tests.support import ingest_one_at_a_time

DAY = date(2026, 3, 6)


async def _no_sleep(_: float) -> None:
    return None


def test_recent_days() -> None:
    assert recent_days(DAY, 3) == [date(2026, 3, 4), date(2026, 3, 5), DAY]


async def test_ingest_stores_papers_and_refreshes_upvotes(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY, upvotes=5)])
    async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
        first = await ingest_days(store, source, [DAY])
        hf.set_upvotes("2603.00001", 42)
        second = await ingest_days(store, source, [DAY])
    assert first.papers == second.papers == 1 and second.ok
    paper = await store.get_paper("2603.00001")
    assert paper is not None and paper.upvotes == 42 and paper.featured_on == DAY


async def test_item_missing_fields_never_erases_stored_data(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY, summary="Full abstract.")])
    async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
        await ingest_days(store, source, [DAY])
        hf.add_papers(
            DAY + timedelta(days=1),
            [make_item("2603.00001", "A", day=DAY, summary=MISSING, ai_summary=None)],
        )
        await ingest_days(store, source, [DAY + timedelta(days=1)])
    paper = await store.get_paper("2603.00001")
    assert paper is not None and paper.summary == "Full abstract."
    assert paper.ai_summary is not None


async def test_a_failing_day_is_skipped_and_reported(hf, store) -> None:
    hf.add_papers(DAY, [make_item("2603.00001", "A", day=DAY)])
    hf.fail("daily_papers", "500", times=10)
    seen: list[tuple[date, int]] = []
    async with HuggingFaceSource(hf.endpoint, max_attempts=2, sleep=_no_sleep) as source:
        bad = await ingest_days(store, source, [DAY], lambda d, n: seen.append((d, n)))
    assert not bad.ok and bad.days_failed[0][0] == DAY and bad.papers == 0
    assert seen == [(DAY, 0)]


async def test_unreachable_host_is_asked_for_one_day_only(store: SqliteStorage, caplog) -> None:
    asked: list[str] = []

    async def record_sleep(seconds: float) -> None:
        asked.append("retry")

    async with HuggingFaceSource("http://127.0.0.1:9", sleep=record_sleep) as source:
        days = recent_days(DAY, 3)
        result = await ingest_days(store, source, days)
    assert [day for day, _ in result.days_failed] == days
    assert len({reason for _, reason in result.days_failed}) == 1
    assert len(asked) == 3  # the retries of the first day only
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "not trying the remaining days" in warnings[0].getMessage()


async def test_index_upkeep_stops_at_its_budget_and_finishes_later(
    sqlite_store: SqliteStorage,
) -> None:
    await ingest_one_at_a_time(sqlite_store)
    # A zero budget still makes one step, then reports unfinished work.
    assert await sqlite_store.upkeep(0) is False
    assert await sqlite_store.upkeep(None) is True
    assert await sqlite_store.merge_search_index(1000) is False


# --- malformed items ---------------------------------------------------------------

EARLIER = date(2026, 3, 5)
TODAY = date(2026, 3, 7)


def _poison(day: date) -> list[Any]:
    """One item of each kind that broke ingest, between valid ones."""
    return [
        make_item("2603.09001", "Huge upvotes", day=day, upvotes=10**30),
        make_item("2603.09002", "\u200b\u200c\u200d\ufeff \u2060", day=day),
        make_item("2603.09003", "Upvotes as words", day=day, upvotes="lots"),
        make_item("2603.09004", 42, day=day),  # type: ignore[arg-type]  # a title not text
        make_item("2603.09005", "Negative", day=day, upvotes=-3),
    ]


async def test_poison_items_are_skipped_and_the_rest_of_every_day_is_stored(
    hf: FakeHuggingFace, store: SqliteStorage, caplog: pytest.LogCaptureFixture
) -> None:
    valid = [make_item(f"2603.{n:05d}", f"Valid paper {n}", day=DAY, upvotes=n) for n in range(14)]
    surrogate = make_item(
        "2603.08001",
        "Lone \ud800 surrogate",
        day=DAY,
        summary="Abstract \udfff here",
        authors=["Ada \ud83d"],
        githubStars=2**64,
        githubRepo="https://github.com/x/\ud800",
    )
    hf.add_papers(DAY, [*valid[:7], *_poison(DAY), surrogate, *valid[7:]])
    hf.add_papers(TODAY, [make_item("2603.07001", "Today's clean paper", day=TODAY)])
    with caplog.at_level(logging.WARNING):
        async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
            result = await ingest_days(store, source, [DAY, TODAY])

    assert result.ok and result.days_ok == [DAY, TODAY]
    assert result.papers == 14 + 1 + 1
    assert await store.count_papers() == 16
    assert await store.get_paper("2603.07001") is not None
    kept = await store.get_paper("2603.08001")
    assert kept is not None
    assert kept.title == "Lone \ufffd surrogate" and kept.summary == "Abstract \ufffd here"
    assert kept.authors == ("Ada \ufffd",)
    assert kept.github_stars is None and kept.github_repo is None
    for bad in ("2603.09001", "2603.09002", "2603.09003", "2603.09004", "2603.09005"):
        assert await store.get_paper(bad) is None
        [warning] = [r.getMessage() for r in caplog.records if bad in r.getMessage()]
        assert warning.startswith("skipping Hugging Face item: paper " + bad)
    assert "upvotes 100000000000... (31 digits) is outside 0..10000000" in caplog.text
    assert "title is a int, not text" in caplog.text
    assert "has no title" in caplog.text


async def test_upvotes_follow_the_source_and_a_paper_belongs_to_each_day_it_was_listed(
    hf: FakeHuggingFace, store: SqliteStorage
) -> None:
    hf.add_papers(EARLIER, [make_item("2603.00001", "Twice listed", day=EARLIER, upvotes=50)])
    hf.add_papers(DAY, [make_item("2603.00002", "Once listed", day=DAY, upvotes=10)])
    async with HuggingFaceSource(hf.endpoint, sleep=_no_sleep) as source:
        await ingest_days(store, source, [EARLIER, DAY])
        # Listed again a day later, with fewer upvotes (the source corrected them).
        hf.add_papers(
            DAY,
            [
                make_item("2603.00002", "Once listed", day=DAY, upvotes=10),
                make_item("2603.00001", "Twice listed", day=DAY, upvotes=30),
            ],
        )
        await ingest_days(store, source, [DAY])

    twice = await store.get_paper("2603.00001")
    assert twice is not None and twice.upvotes == 30  # the latest value, not the maximum
    assert twice.featured_on == DAY  # the latest day it was listed on, for display
    earlier = await store.papers_featured_between(EARLIER, EARLIER)
    assert [p.key for p in earlier] == ["2603.00001"]
    day = await store.papers_featured_between(DAY, DAY)
    assert [p.key for p in day] == ["2603.00001", "2603.00002"]
    both = await store.papers_featured_between(EARLIER, DAY)
    assert [p.key for p in both] == ["2603.00001", "2603.00002"]  # once each
    assert await store.latest_featured_day(DAY) == EARLIER


def test_clean_text_and_bounded_count() -> None:
    assert clean_text("a\u200bb\x00c\u202e d\n\te") == "ab c d e"
    assert clean_text("\ud800x") == "\ufffdx"
    assert clean_text(["not", "text"]) == ""
    assert bounded_count(None, "n") is None
    assert bounded_count(" 12 ", "n") == 12
    assert bounded_count(7.0, "n") == 7
    assert bounded_count(MAX_COUNT, "n") == MAX_COUNT
    bad: object
    for bad in (True, 1.5, float("nan"), "1e3", [], MAX_COUNT + 1, -1, 2**64):
        with pytest.raises(BadValue):
            bounded_count(bad, "n")


async def test_storage_skips_a_paper_it_cannot_encode_and_keeps_the_batch(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    batch = [
        Paper(title="Fine one", arxiv_id="2603.00001", featured_on=DAY),
        Paper(title="Bad \ud800 text", arxiv_id="2603.00002", featured_on=DAY),
        Paper(title="Too many votes", arxiv_id="2603.00003", featured_on=DAY, upvotes=2**70),
        Paper(title="Fine two", arxiv_id="2603.00004", featured_on=DAY),
    ]
    assert await store.upsert_papers(batch) == 2
    assert [p.key for p in await store.papers_featured_between(DAY, DAY)] == [
        "2603.00001",
        "2603.00004",
    ]
    # Each skipped paper is named with its reason (the error's type differs by backend).
    assert "skipping paper 2603.00002: " in caplog.text and "can't encode" in caplog.text
    assert "skipping paper 2603.00003: " in caplog.text
    assert "2603.00001" not in caplog.text and "2603.00004" not in caplog.text
