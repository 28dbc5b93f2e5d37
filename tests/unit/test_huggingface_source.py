"""HuggingFaceSource against the fake Daily Papers API, over real HTTP."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from bot.models import Paper
from bot.sources.huggingface import (
    HuggingFaceSource,
    SourceError,
    SourceUnavailable,
    SourceUnreachable,
    parse_item,
)
from tests.fakes.huggingface import MISSING, FakeHuggingFace, load_template, make_item

DAY = date(2026, 3, 6)
LOGGER = "paperbot.sources.hf"


class RecordingSleep:
    """Stands in for asyncio.sleep: records the delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def fake() -> AsyncIterator[FakeHuggingFace]:
    """A running fake API."""
    async with FakeHuggingFace() as server:
        yield server


@pytest.fixture
def sleeps() -> RecordingSleep:
    """A sleep that records instead of waiting."""
    return RecordingSleep()


@pytest.fixture
async def source(fake: FakeHuggingFace, sleeps: RecordingSleep) -> AsyncIterator[HuggingFaceSource]:
    """A source pointed at the fake, with default retry settings."""
    async with HuggingFaceSource(fake.endpoint, timeout=2.0, sleep=sleeps) as src:
        yield src


def items(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Valid items 2603.{start..n-1} featured on DAY."""
    return [make_item(f"2603.{i:05d}", f"Paper {i}", day=DAY, upvotes=i) for i in range(start, n)]


def pages_requested(fake: FakeHuggingFace) -> list[str]:
    """The ``p`` values of every daily_papers request, in order."""
    return [r.query["p"] for r in fake.requests if r.path == "/api/daily_papers"]


# --- paging -------------------------------------------------------------------


async def test_fetch_day_pages_until_short_page(fake: FakeHuggingFace, source: HuggingFaceSource):
    fake.add_papers(DAY, items(230))

    papers = await source.fetch_day(DAY)

    assert [p.arxiv_id for p in papers] == [f"2603.{i:05d}" for i in range(230)]
    assert pages_requested(fake) == ["0", "1", "2"]
    first = fake.requests[0].query
    assert first == {"date": "2026-03-06", "limit": "100", "p": "0"}


async def test_fetch_day_stops_on_empty_page(fake: FakeHuggingFace, source: HuggingFaceSource):
    fake.add_papers(DAY, items(200))

    papers = await source.fetch_day(DAY)

    assert len(papers) == 200
    assert pages_requested(fake) == ["0", "1", "2"]


async def test_fetch_day_dedupes_by_arxiv_id(fake: FakeHuggingFace, source: HuggingFaceSource):
    # An item shifting down a page while the list fills up shows up twice.
    batch = items(100)
    fake.add_papers(DAY, [*batch, batch[99], batch[0], *items(103, start=100)])

    papers = await source.fetch_day(DAY)

    assert len(papers) == 103
    assert len({p.arxiv_id for p in papers}) == 103


async def test_fetch_day_empty(fake: FakeHuggingFace, source: HuggingFaceSource):
    assert await source.fetch_day(DAY) == []
    assert pages_requested(fake) == ["0"]


async def test_upvote_changes_are_seen(fake: FakeHuggingFace, source: HuggingFaceSource):
    fake.add_papers(DAY, items(2))
    fake.set_upvotes("2603.00001", 77)

    papers = await source.fetch_day(DAY)

    assert [p.upvotes for p in papers] == [0, 77]


# --- parsing --------------------------------------------------------------------


async def test_real_item_parses_all_fields(fake: FakeHuggingFace, source: HuggingFaceSource):
    fake.add_papers(DAY, [load_template()])

    [paper] = await source.fetch_day(DAY)

    assert paper.arxiv_id == "2602.23229"
    assert paper.title == "Large Multimodal Models as General In-Context Classifiers"
    assert paper.summary.startswith("Which multimodal model should we use for classification?")
    assert paper.summary.endswith("a flexible alternative to specialized models.")
    assert paper.authors == (
        "Marco Garosi",
        "Matteo Farina",
        "Alessandro Conti",
        "Massimiliano Mancini",
        "Elisa Ricci",
    )
    assert paper.published_at == date(2026, 2, 26)
    assert paper.featured_on == date(2026, 3, 6)
    assert paper.upvotes == 10
    assert paper.ai_summary is not None
    assert paper.ai_summary.startswith("Large Multimodal Models demonstrate")
    assert paper.ai_keywords[0] == "Vision-Language Models"
    assert len(paper.ai_keywords) == 9
    assert paper.github_repo == "https://github.com/marco-garosi/CIRCLE"
    assert paper.github_stars == 9
    assert paper.project_page == "https://circle-lmm.github.io/"
    assert paper.hf_url == "https://huggingface.co/papers/2602.23229"


async def test_wrong_typed_fields_are_tolerated(fake: FakeHuggingFace, source: HuggingFaceSource):
    hostile = make_item(
        "2603.00001",
        "  <b>Attention</b>\n is **all**\t you need  ",
        day=DAY,
        upvotes="12",
        summary=["not", "text"],
        authors=[
            {"name": "Visible Author", "hidden": False},
            {"name": "Hidden Author", "hidden": True},
            {"hidden": False},
            {"name": None},
            "Plain String",
            7,
        ],
        ai_keywords="diffusion",
        ai_summary=42,
        githubRepo="javascript:alert(1)",
        githubStars="lots",
        projectPage="ftp://example.org/x",
        publishedAt=1700000000,
        submittedOnDailyAt=MISSING,
        top={"publishedAt": "2026-03-05T23:30:00-02:00"},
    )
    fake.add_papers(DAY, [hostile])

    [paper] = await source.fetch_day(DAY)

    # Markup stays as plain text; escaping is the adapters' job.
    assert paper.title == "<b>Attention</b> is **all** you need"
    assert paper.upvotes == 12
    assert paper.summary == ""
    assert paper.authors == ("Visible Author", "Hidden Author", "Plain String")
    assert paper.ai_keywords == ()
    assert paper.ai_summary is None
    assert paper.github_repo is None
    assert paper.github_stars is None
    assert paper.project_page is None
    assert paper.published_at is None
    assert paper.featured_on == date(2026, 3, 6)  # top-level fallback, in UTC


async def test_null_and_missing_fields_give_defaults(
    fake: FakeHuggingFace, source: HuggingFaceSource
):
    nulls = {
        key: None
        for key in (
            "summary",
            "authors",
            "upvotes",
            "publishedAt",
            "ai_summary",
            "ai_keywords",
            "githubRepo",
            "githubStars",
            "projectPage",
        )
    }
    fake.add_papers(
        DAY,
        [
            make_item("2603.00001", "Nulls", day=DAY, submittedOnDailyAt=None, **nulls),
            {"paper": {"id": "2603.00002", "title": "Bare"}},
        ],
    )

    papers = await source.fetch_day(DAY)

    assert len(papers) == 2
    nulls_paper = papers[0]
    assert nulls_paper.featured_on == date(2026, 3, 5)  # top-level publishedAt fallback
    assert papers[1] == Paper(title="Bare", arxiv_id="2603.00002")
    assert nulls_paper == Paper(title="Nulls", arxiv_id="2603.00001", featured_on=date(2026, 3, 5))


async def test_items_without_id_or_title_are_skipped_and_logged(
    fake: FakeHuggingFace, source: HuggingFaceSource, caplog: pytest.LogCaptureFixture
):
    bad: list[Any] = [
        42,
        "a string",
        None,
        [],
        {"paper": None},
        {"title": "top-level only"},
        make_item("2603.00001", "No id", day=DAY, id=MISSING),
        make_item("2603.00002", "Null id", day=DAY, id=None),
        make_item("../../etc/passwd", "Bad id", day=DAY),
        make_item("2603.00003", MISSING, day=DAY),
        make_item("2603.00004", "   \n ", day=DAY),
    ]
    good = make_item("2603.00005", "Good", day=DAY)
    fake.add_papers(DAY, [*bad, good])

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        papers = await source.fetch_day(DAY)

    assert [p.arxiv_id for p in papers] == ["2603.00005"]
    skipped = [r for r in caplog.records if r.name == LOGGER and "skipping" in r.getMessage()]
    assert len(skipped) == len(bad)


def test_parse_item_is_pure_and_accepts_versions():
    item = make_item("2603.00001v3", "Versioned", day=DAY)
    assert parse_item(item) == parse_item(make_item("2603.00001", "Versioned", day=DAY))
    assert parse_item({"id": "2603.00001", "title": "Flat"}) == Paper(
        title="Flat", arxiv_id="2603.00001"
    )
    assert parse_item("nope") is None


# --- retries ----------------------------------------------------------------------


async def test_429_honours_retry_after(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep
):
    fake.add_papers(DAY, items(1))
    fake.fail("daily_papers", "429", retry_after=3, ratelimit_reset=9)

    papers = await source.fetch_day(DAY)

    assert len(papers) == 1
    assert sleeps.delays == [3.0]
    assert pages_requested(fake) == ["0", "0"]


async def test_429_uses_ratelimit_header_without_retry_after(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep
):
    fake.fail("daily_papers", "429", retry_after=None, ratelimit_reset=7)

    await source.fetch_day(DAY)

    assert sleeps.delays == [7.0]


async def test_429_wait_is_capped(fake: FakeHuggingFace, sleeps: RecordingSleep):
    fake.fail("daily_papers", "429", retry_after=3600)
    async with HuggingFaceSource(fake.endpoint, max_backoff=5.0, sleep=sleeps) as src:
        await src.fetch_day(DAY)

    assert sleeps.delays == [5.0]


async def test_5xx_then_success_backs_off_exponentially(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep
):
    fake.add_papers(DAY, items(3))
    fake.fail("daily_papers", "500")
    fake.fail("daily_papers", "502")

    papers = await source.fetch_day(DAY)

    assert len(papers) == 3
    first, second = sleeps.delays
    assert 0.25 <= first <= 0.5  # backoff 0.5 with jitter in [50%, 100%]
    assert 0.5 <= second <= 1.0


@pytest.mark.parametrize("kind", ["garbage", "not_list", "drop"])
async def test_bad_response_then_success(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep, kind: Any
):
    fake.add_papers(DAY, items(2))
    fake.fail("daily_papers", kind)

    papers = await source.fetch_day(DAY)

    assert len(papers) == 2
    assert len(sleeps.delays) == 1


async def test_persistent_failure_raises_after_max_attempts(
    fake: FakeHuggingFace, sleeps: RecordingSleep
):
    fake.fail("daily_papers", "500", times=10)
    async with HuggingFaceSource(fake.endpoint, max_attempts=3, sleep=sleeps) as src:
        with pytest.raises(SourceUnavailable, match="after 3 attempts: HTTP 500"):
            await src.fetch_day(DAY)

    assert pages_requested(fake) == ["0"] * 3
    assert len(sleeps.delays) == 2


async def test_timeout_is_retried(fake: FakeHuggingFace, sleeps: RecordingSleep):
    fake.add_papers(DAY, items(1))
    fake.fail("daily_papers", "slow", delay=2.0)
    async with HuggingFaceSource(fake.endpoint, timeout=0.1, sleep=sleeps) as src:
        papers = await src.fetch_day(DAY)

    assert len(papers) == 1
    assert len(sleeps.delays) == 1
    assert pages_requested(fake) == ["0", "0"]


async def test_connection_refused_raises_without_leaking_credentials(sleeps: RecordingSleep):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://user:s3cret@127.0.0.1:{port}"
    async with HuggingFaceSource(endpoint, max_attempts=2, sleep=sleeps) as src:
        with pytest.raises(SourceUnavailable) as caught:
            await src.fetch_day(DAY)

    assert isinstance(caught.value, SourceUnreachable)
    assert "connection failed" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert f"cannot reach Hugging Face at http://127.0.0.1:{port}" in str(caught.value)


async def test_bad_request_raises_source_error_without_retry(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep
):
    fake.fail("daily_papers", "400", times=5)

    with pytest.raises(SourceError) as caught:
        await source.fetch_day(DAY)

    assert type(caught.value) is SourceError
    assert "HTTP 400" in str(caught.value)
    assert sleeps.delays == []
    assert pages_requested(fake) == ["0"]


async def test_fake_rejects_bad_dates(fake: FakeHuggingFace):
    async with httpx.AsyncClient(base_url=fake.endpoint) as client:
        bad = await client.get("/api/daily_papers", params={"date": "2026-13-45"})
        latest = await client.get("/api/daily_papers")
    assert bad.status_code == 400
    assert latest.json() == []


# --- search and single paper ----------------------------------------------------


@pytest.mark.parametrize("shape", ["daily", "paper"])
async def test_search_matches_title_and_summary(
    fake: FakeHuggingFace, source: HuggingFaceSource, shape: Any
):
    fake.search_shape = shape
    fake.add_papers(
        DAY,
        [
            make_item("2603.00001", "Diffusion Models Beat GANs", day=DAY),
            make_item("2603.00002", "Something else", day=DAY, summary="We study DIFFUSION."),
            make_item("2603.00003", "Unrelated", day=DAY),
        ],
    )

    papers = await source.search("diffusion", limit=5)

    assert [p.arxiv_id for p in papers] == ["2603.00001", "2603.00002"]
    assert fake.requests[-1].query == {"q": "diffusion", "limit": "5"}
    assert [p.arxiv_id for p in await source.search("diffusion", limit=1)] == ["2603.00001"]


async def test_blank_search_makes_no_request(fake: FakeHuggingFace, source: HuggingFaceSource):
    assert await source.search("   ") == []
    assert fake.requests == []


async def test_fetch_paper(
    fake: FakeHuggingFace, source: HuggingFaceSource, sleeps: RecordingSleep
):
    fake.add_papers(DAY, [load_template()])
    fake.fail("paper", "429", retry_after=2)

    paper = await source.fetch_paper("2602.23229")

    assert paper is not None
    assert paper.title == "Large Multimodal Models as General In-Context Classifiers"
    assert paper.upvotes == 10
    assert paper.featured_on == date(2026, 3, 6)
    assert sleeps.delays == [2.0]


async def test_fetch_paper_unknown_or_invalid(fake: FakeHuggingFace, source: HuggingFaceSource):
    assert await source.fetch_paper("2602.99999") is None
    assert await source.fetch_paper("../search?q=x") is None
    assert [r.path for r in fake.requests] == ["/api/papers/2602.99999"]


# --- lifecycle --------------------------------------------------------------------


async def test_injected_client_is_not_closed(fake: FakeHuggingFace):
    async with httpx.AsyncClient() as client:
        async with HuggingFaceSource(fake.endpoint, client=client) as src:
            assert await src.fetch_day(DAY) == []
        assert not client.is_closed


def test_rejects_non_http_endpoint():
    with pytest.raises(ValueError):
        HuggingFaceSource("file:///etc")
