"""Scheduled arXiv fetching and the arXiv digest: the real jobs and client against the arXiv fake.

The fake polices arXiv's terms (one request every 3 s, one connection) at time scale
0.01, and the client's interval is scaled the same way; every test ends by checking
that the fake counted no violation. The scheduler's clock is a fake clock, so the
announcement rhythm (Sunday to Thursday, 20:00 US Eastern) is exercised without waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.arxiv_schedule import ArxivFetcher, announcement_day
from bot.config import Settings
from bot.digest import NO_ANNOUNCEMENT, NOTHING_NEW
from bot.jobs import Jobs
from bot.models import Paper, Post, Subscription
from bot.ports.storage import Storage
from bot.schedule import next_run
from bot.sources.arxiv import ArxivSource
from tests.fakes.arxiv import FakeArxiv, FakePaper, announcing_tuesday
from tests.support import FakeClock, RecordingAdapter, deliver_all

SCALE = 0.01
TUESDAY = date(2026, 3, 10)
SATURDAY = date(2026, 3, 14)
# 07:00 UTC on Tuesday: 03:00 in New York, after Monday evening's announcement.
TUESDAY_MORNING = datetime(2026, 3, 10, 7, 0, 5, tzinfo=UTC)
REPLACED = {"2511.04321", "2512.00777"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeArxiv]:
    """Tuesday's announcement over cs.CL, cs.LG and stat.ML; no violation allowed."""
    async with announcing_tuesday(SCALE) as server:
        yield server


@pytest.fixture
async def source(fake: FakeArxiv) -> AsyncIterator[ArxivSource]:
    """The bot's arXiv client pointed at the fake, paced like it."""
    client = ArxivSource(
        fake.endpoint,
        fake.endpoint,
        min_interval=3.0 * SCALE,
        timeout=1.0,
        backoff=0.01,
        max_backoff=0.05,
    )
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_MORNING)


async def make_jobs(
    store: Storage, clock: FakeClock, source: ArxivSource
) -> tuple[Jobs, RecordingAdapter]:
    """The jobs ``paperbot run`` starts (arXiv fetcher, no Hugging Face) and their adapter,
    holding their roles as the only process does."""
    adapter = RecordingAdapter()
    fetcher = ArxivFetcher(store, source, clock)
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=clock, arxiv=fetcher)
    await jobs.roles.renew()
    return jobs, adapter


async def subscribe(store: Storage, clock: FakeClock, channel: str, **options: object) -> None:
    """A daily 07:00 UTC digest for ``channel``, due at the test clock's Tuesday morning."""
    sub = Subscription(channel=channel, post_time=time(7, 0), timezone="UTC")
    sub = replace(sub, **options)  # type: ignore[arg-type]
    await store.save_subscription(
        replace(sub, next_run_at=next_run(sub, clock.now() - timedelta(hours=1)))
    )


def digest_of(adapter: RecordingAdapter, channel: str) -> Post:
    (post,) = [post for sent_to, post in adapter.sent if sent_to == channel]
    return post


def ids(post: Post) -> list[str | None]:
    return [card.arxiv_id for card in post.body.cards]


async def cs_cl_digest(store: Storage, clock: FakeClock, source: ArxivSource) -> list[str | None]:
    """The papers a cs.CL subscription due now is sent, after the tick fetches them."""
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL",), top_n=10)
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    return ids(digest_of(adapter, "test:1"))


# --- the announcement rhythm --------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "feed_day"),
    [
        # Monday 19:59 in New York (EDT): still Monday's feed (Sunday evening's).
        (datetime(2026, 3, 9, 23, 59, tzinfo=UTC), date(2026, 3, 9)),
        # Monday 20:00 in New York: Tuesday's feed.
        (datetime(2026, 3, 10, 0, 0, tzinfo=UTC), date(2026, 3, 10)),
        # Thursday 20:00 to Sunday 20:00: Friday's feed stays the latest.
        (datetime(2026, 3, 13, 0, 0, tzinfo=UTC), date(2026, 3, 13)),
        (datetime(2026, 3, 14, 12, 0, tzinfo=UTC), date(2026, 3, 13)),
        (datetime(2026, 3, 15, 23, 59, tzinfo=UTC), date(2026, 3, 13)),
        (datetime(2026, 3, 16, 0, 0, tzinfo=UTC), date(2026, 3, 16)),
        # Winter (EST, UTC-5): 20:00 is 01:00 UTC.
        (datetime(2026, 1, 6, 0, 59, tzinfo=UTC), date(2026, 1, 5)),
        (datetime(2026, 1, 6, 1, 0, tzinfo=UTC), date(2026, 1, 6)),
    ],
)
def test_announcement_day_follows_arxivs_evenings(now: datetime, feed_day: date) -> None:
    assert announcement_day(now) == feed_day


# --- a normal weekday ------------------------------------------------------------------


async def test_subscriptions_sharing_categories_cost_one_fetch_per_category(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:both", arxiv_categories=("cs.CL", "cs.LG"), top_n=10)
    await subscribe(store, clock, "test:lg", arxiv_categories=("cs.LG",), top_n=10)
    await subscribe(
        store, clock, "test:primary", arxiv_categories=("cs.CL", "stat.ML"), crosslists=False
    )
    await subscribe(store, clock, "test:hf")  # Hugging Face: no arXiv request for it

    assert await jobs.tick() == 4
    await deliver_all(jobs, store, clock)

    # One feed per category for the three arXiv subscriptions, one metadata batch.
    feeds = sorted(r.path for r in fake.requests if r.path.startswith("/rss/"))
    assert feeds == ["/rss/cs.CL", "/rss/cs.LG", "/rss/stat.ML"]
    assert fake.count("api") == 1
    gaps = [b.at - a.at for a, b in zip(fake.requests, fake.requests[1:], strict=False)]
    assert min(gaps) >= 3.0 * SCALE

    both = digest_of(adapter, "test:both")
    # arXiv's order: each feed lists new papers, then cross-lists; replacements never.
    assert ids(both) == ["2603.10001", "2603.10003", "2603.10002", "2603.10004"]
    assert both.body.title == "New on arXiv — 2026-03-10"
    assert both.body.text == "cs.CL, cs.LG · top 4 of 4 new papers · announced Tue 10 Mar 2026"
    assert "closeness to this channel's include keywords" in (both.body.footer or "")
    assert ids(digest_of(adapter, "test:lg")) == ["2603.10003", "2603.10001", "2603.10004"]
    # Without cross-lists: only papers whose primary category is subscribed.
    primary = digest_of(adapter, "test:primary")
    assert ids(primary) == ["2603.10001", "2603.10004", "2603.10002"]
    assert primary.body.text.startswith("cs.CL, stat.ML · top 3 of 3 new papers")
    assert not any(set(ids(post)) & REPLACED for _, post in adapter.sent)
    hf = await store.last_delivery("test:hf")
    assert hf is not None and hf.state == "skipped"

    # A restart (new jobs, new fetcher, same database) fetches nothing again.
    again, _ = await make_jobs(store, clock, source)
    requests = len(fake.requests)
    await again.arxiv_ingest()
    clock.advance(days=1)  # Wednesday 07:00 UTC: Tuesday evening's announcement is due
    fake.announce(date(2026, 3, 11), [FakePaper("2603.20001", "Wednesday's paper", ("cs.LG",))])
    await again.arxiv_ingest()
    assert sorted(r.path for r in fake.requests[requests:]) == [
        "/api/query",
        "/rss/cs.CL",
        "/rss/cs.LG",
        "/rss/stat.ML",
    ]


async def test_replacements_update_metadata_and_are_never_posted(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    await store.upsert_papers([Paper(title="A draft title", arxiv_id="2511.04321", upvotes=0)])
    assert await cs_cl_digest(store, clock, source) == ["2603.10001", "2603.10002"]
    replaced = await store.get_paper("2511.04321")
    assert replaced is not None and replaced.title == "Retrieval-Augmented Summarisation"


async def test_the_scheduled_fetch_alerts_new_papers_not_replacements(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    jobs, adapter = await make_jobs(store, clock, source)
    # Subscribed to cs.CL, the digest not due before tomorrow: only the alerts speak today.
    sub = Subscription(channel="test:1", arxiv_categories=("cs.CL",))
    await store.save_subscription(replace(sub, next_run_at=clock.now() + timedelta(days=1)))
    assert await store.add_alert("test:1", '"sparse attention"', "test:admin")
    # Matches only a replacement (a new version of a November paper): never alerted.
    assert await store.add_alert("test:1", "summarisation", "test:admin")

    await jobs.arxiv_ingest()  # the job `paperbot run` schedules
    await deliver_all(jobs, store, clock)

    assert await store.get_paper("2511.04321") is not None  # the replacement was stored
    (post,) = [post for _, post in adapter.sent]
    assert post.body.title == "Alert: a new paper matching this channel's alerts"
    assert ids(post) == ["2603.10001"]
    assert await store.alert_messages_sent() == {"test:1": 1}


async def test_ranking_upvotes_then_keywords_then_announcement_order(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    # Hugging Face featured one paper with upvotes: it leads, whatever arXiv's order.
    await store.upsert_papers(
        [
            Paper(
                title="Multilingual Tokenizers Revisited",
                arxiv_id="2603.10002",
                featured_on=TUESDAY,
                upvotes=30,
            )
        ]
    )
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:all", arxiv_categories=("cs.CL", "cs.LG"), top_n=2)
    # The kernel paper names two keywords in its title, the attention paper one.
    await subscribe(
        store,
        clock,
        "test:kw",
        arxiv_categories=("cs.CL", "cs.LG"),
        include=("attention", "kernel", "two-sample"),
        top_n=5,
    )
    await subscribe(
        store, clock, "test:min", arxiv_categories=("cs.CL", "cs.LG"), min_upvotes=1, top_n=5
    )
    await jobs.tick()
    await deliver_all(jobs, store, clock)

    top = digest_of(adapter, "test:all")
    assert ids(top) == ["2603.10002", "2603.10001"]
    assert top.body.text.startswith("cs.CL, cs.LG · top 2 of 4 new papers")
    assert ids(digest_of(adapter, "test:kw")) == ["2603.10004", "2603.10001"]
    # Unknown upvotes do not meet a threshold above 0 (they do meet 0, as above).
    assert ids(digest_of(adapter, "test:min")) == ["2603.10002"]


# --- days without announcement ------------------------------------------------------------


async def test_a_weekend_fetches_only_the_feeds_and_posts_no_empty_digest(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    fake.no_announcement(SATURDAY)
    clock.set(datetime(2026, 3, 14, 7, 0, 5, tzinfo=UTC))
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL", "cs.LG"))
    await jobs.tick()
    await deliver_all(jobs, store, clock)
    assert adapter.sent == []
    last = await store.last_delivery("test:1")
    assert last is not None and (last.state, last.error) == ("skipped", NO_ANNOUNCEMENT)
    assert fake.count("rss") == 2 and fake.count("api") == 0
    # The empty day is recorded: later runs that weekend ask nothing.
    clock.advance(hours=5)
    await jobs.arxiv_ingest()
    assert len(fake.requests) == 2


async def test_after_the_weekend_the_latest_announcement_minus_what_was_sent(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL", "cs.LG"), top_n=3)
    await jobs.tick()  # Tuesday: the top 3 of 4
    await deliver_all(jobs, store, clock)
    fake.no_announcement(SATURDAY)
    clock.set(datetime(2026, 3, 14, 7, 0, 5, tzinfo=UTC))
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL", "cs.LG"), top_n=3)
    await jobs.tick()  # Saturday: no new announcement; the one paper left of Tuesday's
    await deliver_all(jobs, store, clock)
    clock.advance(days=1)
    await jobs.tick()  # Sunday: everything of Tuesday's was sent
    await deliver_all(jobs, store, clock)
    first, second = (post for _, post in adapter.sent)
    assert ids(first) == ["2603.10001", "2603.10003", "2603.10002"]
    assert ids(second) == ["2603.10004"]
    assert second.body.text.startswith("cs.CL, cs.LG · top 1 of 4 new papers · announced Tue")
    last = await store.last_delivery("test:1")
    assert last is not None and (last.state, last.error) == ("skipped", NOTHING_NEW)


# --- a feed not rebuilt yet, a malformed entry, a slow or failing server ----------------------


async def test_a_stale_feed_is_asked_again_later_not_at_every_tick(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 11, 7, 0, 5, tzinfo=UTC))  # Wednesday's feed is due
    jobs, _ = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL",))
    await jobs.arxiv_ingest()  # the feed still shows Tuesday's: recorded, Wednesday awaited
    assert (fake.count("rss"), fake.count("api")) == (1, 1)
    assert await store.latest_arxiv_day(["cs.CL"]) == TUESDAY
    await jobs.arxiv_ingest()
    await jobs.tick()
    assert fake.count("rss") == 1
    clock.advance(minutes=16)
    await jobs.arxiv_ingest()  # asked again; Tuesday's is known, so no metadata again
    assert (fake.count("rss"), fake.count("api")) == (2, 1)
    fake.announce(date(2026, 3, 11), [FakePaper("2603.20001", "Wednesday's paper", ("cs.CL",))])
    clock.advance(minutes=16)
    await jobs.arxiv_ingest()
    assert (fake.count("rss"), fake.count("api")) == (3, 2)
    assert await store.latest_arxiv_day(["cs.CL"]) == date(2026, 3, 11)


async def test_a_malformed_entry_is_skipped_alone(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    fake.add_malformed("no_id", position=1)
    fake.add_malformed("bad_type", position=2)
    assert await cs_cl_digest(store, clock, source) == ["2603.10001", "2603.10002"]


async def test_a_failing_arxiv_delays_nothing_else_and_is_retried_later(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    fake.fail("rss", "503", times=4)
    jobs, adapter = await make_jobs(store, clock, source)
    await subscribe(store, clock, "test:1", arxiv_categories=("cs.CL",))
    await store.upsert_papers(
        [Paper(title="Yesterday's list", arxiv_id="2603.00001", featured_on=date(2026, 3, 9))]
    )
    await subscribe(store, clock, "test:hf")
    assert await jobs.tick() == 2  # the tick survives; the Hugging Face digest still goes
    await deliver_all(jobs, store, clock)
    assert [channel for channel, _ in adapter.sent] == ["test:hf"]
    last = await store.last_delivery("test:1")
    assert last is not None and last.error == NO_ANNOUNCEMENT
    assert (fake.count("rss"), fake.count("api")) == (4, 0)  # bounded retries
    await jobs.arxiv_ingest()  # held back for a while, not hammered
    assert fake.count("rss") == 4
    clock.advance(minutes=16)
    await jobs.arxiv_ingest()
    assert (fake.count("rss"), fake.count("api")) == (5, 1)
    assert await store.latest_arxiv_day(["cs.CL"]) == TUESDAY


async def test_a_slow_feed_is_waited_for_within_the_timeout(
    store: Storage, fake: FakeArxiv, source: ArxivSource, clock: FakeClock
) -> None:
    fake.fail("rss", "slow", delay=0.3)
    assert await cs_cl_digest(store, clock, source) == ["2603.10001", "2603.10002"]
    assert fake.count("rss") == 1


async def test_the_hourly_purge_forgets_announcements_older_than_a_month(
    store: Storage, source: ArxivSource, clock: FakeClock
) -> None:
    jobs, _ = await make_jobs(store, clock, source)
    old = TUESDAY - timedelta(days=40)
    await store.record_arxiv_announcement("cs.CL", old, clock.now(), [("2601.00001", "new")])
    await store.record_arxiv_announcement("cs.CL", TUESDAY, clock.now(), [("2603.10001", "new")])
    await jobs.purge()
    assert [a.day for a in await store.arxiv_announced(["cs.CL"], old, TUESDAY)] == [TUESDAY]
