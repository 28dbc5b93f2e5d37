"""ArxivSource (the real httpx client) against the arXiv fake over real HTTP.

The fake runs arXiv's 3-second rule at time_scale 0.01 (30 ms) and the client's
interval is scaled the same way, so the pacing logic is exercised for real.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.models import Paper
from bot.sources.arxiv import ArxivSource, UnknownArxivQuery
from bot.sources.arxiv_feed import (
    Announcement,
    MalformedDocument,
    parse_announcement,
    parse_metadata,
)
from bot.sources.http import SourceUnavailable
from tests.fakes.arxiv import FakeArxiv, FakePaper, weekday_papers

SCALE = 0.01
INTERVAL = 3.0 * SCALE
TUESDAY = date(2026, 3, 10)
LOGGER = "paperbot.sources.arxiv"


@pytest.fixture
async def fake() -> AsyncIterator[FakeArxiv]:
    """A fake arXiv announcing the Tuesday scenario, policing a 30 ms interval."""
    async with FakeArxiv(time_scale=SCALE) as server:
        server.announce(TUESDAY, weekday_papers())
        yield server


def make_source(fake: FakeArxiv, **overrides: Any) -> ArxivSource:
    """A client pointed at the fake, with arXiv's rules scaled like the fake's."""
    options: dict[str, Any] = {
        "min_interval": INTERVAL,
        "timeout": 1.0,
        "max_attempts": 4,
        "backoff": 0.01,
        "max_backoff": 0.05,
    }
    options.update(overrides)
    return ArxivSource(fake.endpoint, fake.endpoint, **options)


async def latest(source: ArxivSource, categories: list[str]) -> Announcement:
    """The current announcement of ``categories`` (one feed request), completed."""
    (announcement,) = await source.complete([await source.fetch_announcement(categories)])
    return announcement


@pytest.fixture
async def source(fake: FakeArxiv) -> AsyncIterator[ArxivSource]:
    """A well-configured client."""
    async with aclosing(make_source(fake)) as client:
        yield client


# --- a normal weekday -------------------------------------------------------------


async def test_weekday_announcement_with_metadata(fake: FakeArxiv, source: ArxivSource):
    announcement = await latest(source, ["cs.CL", "cs.LG"])

    assert announcement.announced_on == TUESDAY
    assert announcement.categories == ("cs.CL", "cs.LG")
    records = {r.arxiv_id: r for r in announcement.records}
    assert list(records) == [
        "2603.10001",
        "2603.10002",
        "2603.10003",
        "2603.10004",
        "2511.04321",
        "2512.00777",
    ]
    assert announcement.enriched == 6
    first = records["2603.10001"]
    assert first.title == "Sparse Attention for Long Documents"
    assert first.abstract == "We make attention sparse. It reads long documents."
    assert first.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert first.categories == ("cs.CL", "cs.LG")
    assert first.primary_category == "cs.CL"
    assert first.announced_on == TUESDAY
    assert first.license == "http://creativecommons.org/licenses/by/4.0/"
    # One feed request for both categories, then one metadata batch.
    assert [r.path for r in fake.requests] == ["/rss/cs.CL+cs.LG", "/api/query"]
    api = fake.requests[1].query
    assert api["id_list"].split(",") == list(records)
    assert api["max_results"] == "6"
    assert fake.violations == []


async def test_cross_lists_and_replacements_are_classified(source: ArxivSource):
    announcement = await latest(source, ["cs.CL", "cs.LG"])
    by_id = {r.arxiv_id: r for r in announcement.records}

    kinds = {i: (r.announce_type, r.version) for i, r in by_id.items()}
    assert kinds == {
        "2603.10001": ("new", 1),
        "2603.10002": ("new", 1),
        "2603.10003": ("new", 1),
        "2603.10004": ("cross", 1),
        "2511.04321": ("replace", 3),
        "2512.00777": ("replace-cross", 2),
    }
    cross = by_id["2603.10004"]
    assert cross.is_cross_list and not cross.is_replacement
    assert cross.primary_category == "stat.ML"
    replaced = by_id["2512.00777"]
    assert replaced.is_cross_list and replaced.is_replacement
    assert replaced.primary_category == "math.OC"
    # The API's first-version date, not the announcement day, dates a replacement.
    assert replaced.published_on == date(2025, 12, 1)
    assert not by_id["2603.10001"].is_replacement


async def test_records_become_papers(source: ArxivSource):
    announcement = await latest(source, ["cs.CL"])
    papers = {r.arxiv_id: r.to_paper() for r in announcement.records}

    assert papers["2511.04321"] == Paper(
        title="Retrieval-Augmented Summarisation",
        arxiv_id="2511.04321",
        summary="We study things and report results.",
        authors=("Ada Lovelace", "Alan Turing"),
        published_at=date(2025, 11, 6),
        upvotes=None,  # arXiv knows none: storing must keep Hugging Face's count
    )
    assert papers["2603.10002"].arxiv_url == "https://arxiv.org/abs/2603.10002"


async def test_metadata_alone_by_id_list(fake: FakeArxiv, source: ArxivSource):
    found = await source.fetch_metadata(["2603.10004", "2511.04321", "2699.00001"])

    assert set(found) == {"2603.10004", "2511.04321"}  # unknown ids are simply absent
    kernel = found["2603.10004"]
    assert kernel.doi == "10.1234/kernel.5"
    assert kernel.pdf_url == "https://arxiv.org/pdf/2603.10004v1"
    assert kernel.published == datetime(2026, 3, 9, 17, 59, tzinfo=UTC)
    assert found["2511.04321"].journal_ref == "ACL 2026"
    assert found["2511.04321"].version == 3
    assert fake.count("api") == 1


async def test_user_agent_identifies_the_bot_with_a_contact(fake: FakeArxiv, source: ArxivSource):
    await latest(source, ["cs.CL"])

    agents = {r.user_agent for r in fake.requests}
    assert len(agents) == 1
    agent = agents.pop() or ""
    assert agent.startswith("paperbot/") and "+https://" in agent


# --- the terms of use ---------------------------------------------------------------


async def test_feed_and_many_batches_never_trip_the_rate_rule(fake: FakeArxiv):
    busy = [FakePaper(f"2603.{20000 + n}", f"Busy paper {n}", ("cs.LG",)) for n in range(250)]
    fake.announce(TUESDAY, busy)

    async with aclosing(make_source(fake, batch_size=100)) as source:
        announcement = await latest(source, ["cs.LG"])

    assert len(announcement.records) == 250
    assert announcement.enriched == 250
    assert [r.path for r in fake.requests] == ["/rss/cs.LG"] + ["/api/query"] * 3
    assert source.requests_made == 4
    gaps = [b.at - a.at for a, b in zip(fake.requests, fake.requests[1:], strict=False)]
    assert min(gaps) >= INTERVAL
    assert fake.violations == []


async def test_a_client_ignoring_the_interval_is_caught_by_the_fake(fake: FakeArxiv):
    busy = [FakePaper(f"2603.{20000 + n}", f"Busy paper {n}", ("cs.LG",)) for n in range(30)]
    fake.announce(TUESDAY, busy)

    async with aclosing(make_source(fake, min_interval=0, batch_size=10, max_attempts=1)) as source:
        announcement = await latest(source, ["cs.LG"])

    assert fake.violations  # the fake can fail: this client broke the 3-second rule
    assert announcement.enriched < 30  # and arXiv's refusals cost it the metadata


async def test_concurrent_callers_share_one_paced_connection(fake: FakeArxiv, source: ArxivSource):
    results = await asyncio.gather(
        latest(source, ["cs.CL"]),
        latest(source, ["cs.LG"]),
        source.fetch_metadata(["2603.10009"]),
    )

    assert [len(r.records) for r in results[:2]] == [3, 4]
    assert "2603.10009" in results[2]
    assert len(fake.requests) == 5
    assert fake.violations == []


# --- days without an announcement -----------------------------------------------------


async def test_weekend_feed_is_no_announcement_and_fetches_no_metadata(
    fake: FakeArxiv, source: ArxivSource
):
    fake.no_announcement(date(2026, 3, 14))

    announcement = await latest(source, ["cs.CL", "cs.LG"])

    assert announcement.is_empty
    assert announcement.records == ()
    assert announcement.announced_on == date(2026, 3, 14)
    assert fake.count("api") == 0
    assert fake.count("rss") == 1


# --- bad data ---------------------------------------------------------------------------


async def test_malformed_entries_are_skipped_alone_with_one_warning_each(
    fake: FakeArxiv, source: ArxivSource, caplog: pytest.LogCaptureFixture
):
    fake.add_malformed("no_id", position=1)
    fake.add_malformed("bad_type", position=3)
    fake.add_malformed("no_title", position=5)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        announcement = await latest(source, ["cs.CL", "cs.LG"])

    assert len(announcement.records) == 6
    assert announcement.skipped == 3
    assert not announcement.is_empty
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 3
    assert "no arXiv id" in warnings[0]
    assert "2603.99999: unknown announce type 'sideways'" in warnings[1]
    assert "2603.99999: no title" in warnings[2]


async def test_unknown_category_is_a_clear_error_without_retries(
    fake: FakeArxiv, source: ArxivSource
):
    with pytest.raises(UnknownArxivQuery, match=r"cs\.NOPE"):
        await source.fetch_announcement(["cs.CL", "cs.NOPE"])

    assert fake.count("rss") == 1


async def test_codes_that_could_bend_the_url_are_refused_before_any_request(
    fake: FakeArxiv, source: ArxivSource
):
    with pytest.raises(ValueError, match="not arXiv category codes"):
        await source.fetch_announcement(["cs.CL/../../admin"])
    with pytest.raises(ValueError, match="not bare arXiv ids"):
        await source.fetch_metadata(["2603.10001&max_results=9999"])

    assert fake.requests == []


def test_documents_with_a_dtd_are_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rss><channel><title>&b;</title>'
        b"</channel></rss>"
    )

    with pytest.raises(MalformedDocument, match="DTD"):
        parse_announcement(bomb, ("cs.CL",))
    with pytest.raises(MalformedDocument, match="Atom"):
        parse_metadata(b"<rss><channel/></rss>")


# --- slow and failing servers --------------------------------------------------------------


async def test_slow_server_times_out_boundedly(fake: FakeArxiv):
    fake.fail("rss", "slow", times=5, delay=10.0)

    async with (
        aclosing(make_source(fake, timeout=0.2, max_attempts=2)) as source,
        asyncio.timeout(5),
    ):
        with pytest.raises(SourceUnavailable, match="after 2 attempts: timed out"):
            await latest(source, ["cs.CL"])

    assert fake.count("rss") == 2
    assert fake.violations == []


async def test_a_slow_answer_within_the_timeout_is_fine(fake: FakeArxiv, source: ArxivSource):
    fake.fail("rss", "slow", delay=0.3)

    announcement = await latest(source, ["cs.CL"])

    assert len(announcement.records) == 3
    assert fake.count("rss") == 1


@pytest.mark.parametrize("kind", ["500", "502", "503", "garbage", "truncated"])
async def test_transient_failures_are_retried(fake: FakeArxiv, source: ArxivSource, kind: Any):
    fake.fail("rss", kind, times=2)

    announcement = await latest(source, ["cs.CL"])

    assert len(announcement.records) == 3
    assert fake.count("rss") == 3
    assert fake.violations == []


async def test_failing_server_ends_in_a_clear_error(fake: FakeArxiv, source: ArxivSource):
    fake.fail("rss", "503", times=10)

    with pytest.raises(
        SourceUnavailable, match=r"arXiv feed cs.CL failed after 4 attempts: HTTP 503"
    ):
        await latest(source, ["cs.CL"])

    assert fake.count("rss") == 4


async def test_failing_api_keeps_the_feed_data(
    fake: FakeArxiv, source: ArxivSource, caplog: pytest.LogCaptureFixture
):
    fake.fail("api", "500", times=10)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        announcement = await latest(source, ["cs.CL"])

    assert [r.title for r in announcement.records][:1] == ["Sparse Attention for Long Documents"]
    assert announcement.enriched == 0
    assert all(r.primary_category is None for r in announcement.records)
    assert any("keeping the feed's data" in r.getMessage() for r in caplog.records)


async def test_a_metadata_batch_failing_keeps_the_batches_before_it(fake: FakeArxiv):
    busy = [FakePaper(f"2603.{20000 + n}", f"Busy paper {n}", ("cs.LG",)) for n in range(25)]
    fake.announce(TUESDAY, busy)
    fake.fail("api", "slow", delay=0.0)  # the first batch is answered normally
    fake.fail("api", "500", times=10)  # every later request fails

    async with aclosing(make_source(fake, batch_size=10, max_attempts=2)) as source:
        announcement = await latest(source, ["cs.LG"])

    assert announcement.enriched == 10
    assert len(announcement.records) == 25
    assert fake.count("api") == 3  # batch 1, then batch 2 twice; batch 3 is not tried
    assert fake.violations == []
