"""Scheduling ticks and the outbox on an injected clock: no sleeps, no network."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.config import Settings
from bot.jobs import Jobs
from bot.models import Paper, Subscription
from bot.plugins import load_embedder, open_semantic
from bot.ports.embedder import Embedder
from bot.ports.storage import OutboxLease, Storage
from bot.schedule import next_run
from bot.semantic import Semantic
from tests.support import (
    FakeClock,
    RecordingAdapter,
    deliver_all,
    eventually,
    ingest_one_at_a_time,
    make_paper,
)

CHANNEL = "test:1"
MON = date(2026, 3, 9)  # a Monday


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 7, 0, tzinfo=UTC))


@pytest.fixture
def jobs(store: Storage, adapter: RecordingAdapter, clock: FakeClock) -> Jobs:
    return Jobs(Settings(), store, [adapter], source=None, clock=clock)


async def subscribe(store: Storage, clock: FakeClock, **options: object) -> Subscription:
    sub = Subscription(channel=CHANNEL, post_time=time(9, 0), timezone="Europe/Berlin")
    sub = replace(sub, **options)  # type: ignore[arg-type]
    sub = replace(sub, next_run_at=next_run(sub, clock.now()))
    return await store.save_subscription(sub)


async def papers_on(store: Storage, day: date, count: int, start: int = 1) -> list[Paper]:
    papers = [
        make_paper(f"2603.{n:05d}", f"Paper {n}", day=day, upvotes=n * 10)
        for n in range(start, start + count)
    ]
    await store.upsert_papers(papers)
    return papers


async def test_due_subscription_gets_one_digest(jobs, store, clock, adapter) -> None:
    await papers_on(store, MON, 7)
    await subscribe(store, clock, top_n=3)
    assert await jobs.tick() == 0  # 08:00 Berlin: not yet due
    clock.set(datetime(2026, 3, 10, 8, 0, 5, tzinfo=UTC))  # 09:00:05 Berlin
    assert await jobs.tick() == 1
    assert await jobs.tick() == 0
    await deliver_all(jobs, store, clock)
    assert len(adapter.sent) == 1
    channel, post = adapter.sent[0]
    assert channel == CHANNEL
    assert [c.title for c in post.body.cards] == ["Paper 7", "Paper 6", "Paper 5"]
    assert post.body.title == "Trending papers — 2026-03-10"
    last = await store.last_delivery(CHANNEL)
    assert last is not None and last.state == "sent" and last.parts_sent == 1
    sub = await store.get_subscription(CHANNEL)
    assert sub is not None and sub.next_run_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


async def test_papers_already_sent_are_not_sent_again(jobs, store, clock, adapter) -> None:
    await papers_on(store, MON, 3)
    await subscribe(store, clock, top_n=2)
    clock.set(datetime(2026, 3, 10, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    # Next day, no new Hugging Face day yet: only the one unsent paper remains.
    clock.set(datetime(2026, 3, 11, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    assert [c.title for c in adapter.sent[1][1].body.cards] == ["Paper 1"]
    # Day three: nothing new at all means no post, but the run is recorded.
    clock.set(datetime(2026, 3, 12, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    assert len(adapter.sent) == 2
    last = await store.last_delivery(CHANNEL)
    assert last is not None and (last.state, last.error) == ("skipped", "nothing new")


async def test_filters_keywords_and_threshold(jobs, store, clock, adapter) -> None:
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Diffusion for video", day=MON, upvotes=50),
            make_paper("2603.00002", "Diffusion for robots", day=MON, upvotes=40),
            make_paper("2603.00003", "Sparse attention", day=MON, upvotes=90),
            make_paper("2603.00004", "Tiny diffusion", day=MON, upvotes=2),
            make_paper(
                "2603.00005", "Keywords only", day=MON, upvotes=30, keywords=("diffusion model",)
            ),
        ]
    )
    await subscribe(store, clock, include=("diffusion",), exclude=("video",), min_upvotes=5)
    clock.set(datetime(2026, 3, 10, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    titles = [c.title for c in adapter.sent[0][1].body.cards]
    assert titles == ["Diffusion for robots", "Keywords only"]


SPEECH_PAPERS = [
    make_paper(
        "2603.00001",
        "Automatic speech recognition with transformers",
        summary="An encoder maps audio to text.",
        day=MON,
        upvotes=50,
    ),
    make_paper(
        "2603.00002",
        "Transcribing spoken audio in low-resource languages",
        summary="We turn spoken utterances into written text with little labeled audio.",
        day=MON,
        upvotes=40,
    ),
    make_paper(
        "2603.00003",
        "Protein structure prediction with deep learning",
        summary="Folding amino-acid chains into 3D structures.",
        day=MON,
        upvotes=90,
    ),
    make_paper(
        "2603.00004",
        "Sparse attention for long documents",
        summary="Attention over long inputs at linear cost.",
        day=MON,
        upvotes=70,
    ),
]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("keywords", ["Automatic speech recognition with transformers"]),
        (
            "topic",
            [
                "Automatic speech recognition with transformers",
                "Transcribing spoken audio in low-resource languages",
            ],
        ),
    ],
)
async def test_match_topic_includes_papers_about_the_keyword(
    store, adapter, clock, match, expected
) -> None:
    await store.upsert_papers(SPEECH_PAPERS)
    semantic = await open_semantic(store, "wordllama")
    assert semantic is not None
    await semantic.embed_missing()
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock, semantic=semantic)
    await subscribe(store, clock, include=("speech",), match=match)
    clock.set(datetime(2026, 3, 10, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    assert [c.title for c in adapter.sent[0][1].body.cards] == expected


async def test_match_topic_without_semantic_search_matches_keywords(
    jobs, store, clock, adapter
) -> None:
    await store.upsert_papers(SPEECH_PAPERS)
    await subscribe(store, clock, include=("speech",), match="topic")
    clock.set(datetime(2026, 3, 10, 8, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    titles = [c.title for c in adapter.sent[0][1].body.cards]
    assert titles == ["Automatic speech recognition with transformers"]


async def test_weekly_cadence_covers_the_past_iso_week(jobs, store, clock, adapter) -> None:
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Last week Mon", day=date(2026, 3, 2), upvotes=5),
            make_paper("2603.00002", "Last week Sun", day=date(2026, 3, 8), upvotes=9),
            make_paper("2603.00003", "This week", day=date(2026, 3, 9), upvotes=99),
            make_paper("2603.00004", "Two weeks ago", day=date(2026, 2, 28), upvotes=99),
        ]
    )
    sub = await subscribe(store, clock, cadence="weekly", weekly_day=3)  # Wednesdays
    assert sub.next_run_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 11, 8, 0, 1, tzinfo=UTC))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    body = adapter.sent[0][1].body
    assert [c.title for c in body.cards] == ["Last week Sun", "Last week Mon"]
    assert body.title == "Trending papers — 2026-W11"
    again = await store.get_subscription(CHANNEL)
    assert again is not None and again.next_run_at == datetime(2026, 3, 18, 8, 0, tzinfo=UTC)


async def test_missed_digest_within_grace_goes_out_late_once(jobs, store, clock, adapter) -> None:
    await papers_on(store, MON, 2)
    await subscribe(store, clock)
    clock.set(datetime(2026, 3, 10, 13, 0, tzinfo=UTC))  # 5 h late: bot was down
    assert await jobs.tick() == 1
    assert await jobs.tick() == 0
    await deliver_all(jobs, store, clock)
    assert len(adapter.sent) == 1


async def test_missed_digest_past_grace_is_skipped_and_recorded(
    jobs, store, clock, adapter
) -> None:
    await papers_on(store, MON, 2)
    await subscribe(store, clock)
    clock.set(datetime(2026, 3, 10, 15, 0, tzinfo=UTC))  # 7 h late
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    assert adapter.sent == []
    last = await store.last_delivery(CHANNEL)
    assert last is not None and last.state == "skipped"
    assert last.error == "missed: due 7.0 h ago, past the 6 h grace"
    sub = await store.get_subscription(CHANNEL)
    assert sub is not None and sub.next_run_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


async def test_restart_between_due_and_send_delivers_once(store, clock, adapter) -> None:
    await papers_on(store, MON, 2)
    await subscribe(store, clock)
    clock.set(datetime(2026, 3, 10, 8, 0, 30, tzinfo=UTC))
    first = Jobs(Settings(), store, [adapter], source=None, clock=clock)
    sub_id, sub = (await store.due_subscriptions(clock.now(), 10))[0]
    # Crash after the outbox row was written but before next_run_at was booked:
    await store.create_delivery(sub_id, CHANNEL, "2026-03-10", clock.now(), ["2603.00002"])
    # ...and claimed: the process dies mid-send, with the row in 'sending'. Its
    # lease is over by the time the next process starts:
    died = datetime.now(UTC) - timedelta(seconds=30)
    dead = OutboxLease("dead-host:1:x", died, died + timedelta(seconds=10))
    claimed = await store.claim_deliveries("test", clock.now(), 10, dead)
    assert [d.state for d in claimed] == ["sending"]
    second = Jobs(Settings(), store, [adapter], source=None, clock=clock)
    assert await second.tick() == 1  # still due: re-running it adds no second row
    await deliver_all(second, store, clock)
    assert len(adapter.sent) == 1
    assert first is not second and sub.channel == CHANNEL


async def test_paused_subscriptions_are_not_scheduled(jobs, store, clock) -> None:
    await papers_on(store, MON, 1)
    await subscribe(store, clock, paused=True, paused_reason="kicked")
    clock.advance(days=1)
    assert await jobs.tick() == 0


async def test_tick_failure_is_logged_not_raised(store, clock, adapter, caplog) -> None:
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock)
    await store.close()
    assert await jobs.tick() == 0
    assert "scheduling tick failed" in caplog.text


async def test_tick_refreshes_upvotes_before_composing(store, clock, adapter) -> None:
    await papers_on(store, MON, 2)

    calls: list[date] = []

    class Source:
        async def fetch_day(self, day: date) -> list[Paper]:
            calls.append(day)
            hot = make_paper("2603.00001", "Paper 1", day=MON, upvotes=1000)
            return [hot] if day == MON else []

    jobs = Jobs(Settings(), store, [adapter], source=Source(), clock=clock)
    await subscribe(store, clock)
    clock.set(datetime(2026, 3, 10, 8, 0, 1, tzinfo=UTC))
    await jobs.tick()
    assert MON in calls
    await deliver_all(jobs, store, clock)
    assert adapter.sent[0][1].body.cards[0].title == "Paper 1"  # now the most upvoted


async def test_start_and_stop_run_jobs_in_the_loop(store, adapter) -> None:
    clock = FakeClock(datetime.now(UTC))
    jobs = Jobs(Settings(tick_seconds=0.05), store, [adapter], source=None, clock=clock)
    await papers_on(store, clock.now().date() - timedelta(days=1), 1)
    sub = Subscription(channel=CHANNEL, next_run_at=clock.now() - timedelta(seconds=1))
    await store.save_subscription(sub)
    await jobs.start()
    try:
        await eventually(lambda: adapter.sent, message="the due digest")
    finally:
        await jobs.stop()
    assert len(adapter.sent) == 1


async def test_one_tick_reads_the_day_once_for_every_due_subscription(
    store, clock, adapter
) -> None:
    await papers_on(store, MON, 3)
    reads: list[str] = []

    class Counting:
        """The real storage, counting reads of the day's candidates."""

        def __getattr__(self, name: str) -> object:
            if name in {"latest_featured_day", "papers_featured_between"}:
                reads.append(name)
            return getattr(store, name)

    for n in range(5):
        sub = Subscription(channel=f"test:{n}", post_time=time(9, 0), timezone="Europe/Berlin")
        await store.save_subscription(replace(sub, next_run_at=next_run(sub, clock.now())))
    jobs = Jobs(Settings(), Counting(), [adapter], source=None, clock=clock)  # type: ignore[arg-type]
    clock.set(datetime(2026, 3, 10, 8, 0, 1, tzinfo=UTC))
    assert await jobs.tick() == 5
    assert sorted(reads) == ["latest_featured_day", "papers_featured_between"]
    await deliver_all(jobs, store, clock)
    assert len(adapter.sent) == 5


# SQLite's FTS5 segments; PostgreSQL's upkeep is tested in test_postgres_storage.py.
async def test_index_upkeep_merges_what_ingest_left(sqlite_store, adapter, clock) -> None:
    jobs = Jobs(Settings(), sqlite_store, [adapter], source=None, clock=clock)
    await ingest_one_at_a_time(sqlite_store)
    assert await sqlite_store.merge_search_index(1) is True  # work is waiting
    await jobs.merge_index()
    assert await sqlite_store.merge_search_index(1000) is False


async def test_stopping_right_after_start_logs_no_traceback(store, adapter, caplog) -> None:
    class SlowSource:
        async def fetch_day(self, day: date) -> list[Paper]:
            await asyncio.sleep(5)  # an ingest still running when the stop comes
            return []

    clock = FakeClock(datetime.now(UTC))
    jobs = Jobs(Settings(), store, [adapter], source=SlowSource(), clock=clock)
    with caplog.at_level(logging.DEBUG):
        await jobs.start()
        await jobs.stop(0.1)  # SIGTERM right after start: the job tasks have not run yet
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            _, running = await asyncio.wait(others, timeout=5)
            assert not running, "the cancelled jobs did not end"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Error running job" not in caplog.text


async def test_the_embed_job_loads_the_index_and_a_stop_saves_it(
    store, adapter, clock, tmp_path
) -> None:
    await store.upsert_papers(SPEECH_PAPERS)
    file = tmp_path / "papers.vectors"
    semantic = Semantic(store, load_embedder_or_fail(), file)
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock, semantic=semantic)
    await jobs.start()
    try:
        # The embed job runs at start: it builds the index, saves it, then embeds.
        await eventually(lambda: len(semantic.index) == len(SPEECH_PAPERS), timeout=30)
    finally:
        await jobs.stop()
    restarted = Semantic(store, semantic.embedder, file)
    await restarted._restore()
    assert len(restarted.index) == len(SPEECH_PAPERS)  # the stop saved what it embedded


def load_embedder_or_fail() -> Embedder:
    embedder = load_embedder("wordllama")
    assert embedder is not None
    return embedder
