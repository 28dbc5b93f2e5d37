"""``paperbot ingest --source arxiv`` as a real subprocess against the arXiv fake.

The CLI's real httpx client talks to the fake over 127.0.0.1. The fake polices
arXiv's rules (one request every 3 s, one connection) scaled by 0.01, and the
CLI runs with ``PAPERBOT_RATE_LIMIT_SCALE=0.01``: every test ends by checking
that the fake counted no violation, so the pacing is proven on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from bot.commands import CommandRouter
from bot.models import Defaults, Paper
from storage.sqlite import SqliteStorage
from tests.fakes.arxiv import FakeArxiv, announcing_tuesday
from tests.support import FakeClock, clean_environment, command, run_cli

SCALE = 0.01
SATURDAY = date(2026, 3, 14)


@dataclass
class Run:
    """What one ``paperbot`` subprocess did."""

    code: int
    out: list[str]
    err: list[str]


@pytest.fixture
async def fake() -> AsyncIterator[FakeArxiv]:
    """The Tuesday announcement over cs.CL, cs.LG and stat.ML; violations checked at the end."""
    async with announcing_tuesday(SCALE) as server:
        yield server


async def paperbot(fake: FakeArxiv, folder: Path, *args: str) -> Run:
    """Run ``paperbot <args>`` pointed at the fake and at ``folder``'s database."""
    env = clean_environment()
    env |= {
        "PAPERBOT_DB": str(folder / "paperbot.db"),
        "PAPERBOT_ARXIV_FEED_URL": fake.endpoint,
        "PAPERBOT_ARXIV_API_URL": fake.endpoint,
        "PAPERBOT_RATE_LIMIT_SCALE": str(SCALE),
        # Nothing listens on port 9: no Hugging Face request can leave the machine.
        "PAPERBOT_HF_ENDPOINT": "http://127.0.0.1:9",
    }
    code, out, err = await run_cli(*args, env=env, cwd=folder)
    return Run(
        code,
        [line for line in out.splitlines() if line.strip()],
        [line for line in err.splitlines() if line.strip()],
    )


async def ingest(fake: FakeArxiv, folder: Path, categories: str = "cs.CL,cs.LG") -> Run:
    """``paperbot ingest --source arxiv --categories <categories>``."""
    return await paperbot(fake, folder, "ingest", "--source", "arxiv", "--categories", categories)


async def stored(folder: Path, *keys: str) -> list[Paper | None]:
    """The papers stored under ``keys`` (``None`` for a missing one)."""
    store = await SqliteStorage.open(folder / "paperbot.db")
    try:
        return [await store.get_paper(key) for key in keys]
    finally:
        await store.close()


async def store_papers(folder: Path, papers: list[Paper]) -> None:
    """Put ``papers`` in the database first, as an earlier Hugging Face ingest would."""
    store = await SqliteStorage.open(folder / "paperbot.db")
    try:
        await store.upsert_papers(papers)
    finally:
        await store.close()


async def test_weekday_ingest_stores_searchable_papers_and_counts_cross_lists(
    fake: FakeArxiv, tmp_path: Path
) -> None:
    run = await ingest(fake, tmp_path)

    assert run.code == 0, run.err
    assert run.out == [
        "arXiv announcement of 2026-03-10:"
        " cs.CL 2 new, 0 cross-listed, 1 replaced (1 feed request);"
        " cs.LG 1 new, 2 cross-listed, 1 replaced (1 feed request);"
        " stored 6 papers; 3 requests (1 for metadata)"
    ]
    # One feed per category; the six distinct papers' metadata in one batch.
    assert fake.count("rss") == 2 and fake.count("api") == 1
    assert {r.path for r in fake.requests if r.path.startswith("/rss/")} == {
        "/rss/cs.CL",
        "/rss/cs.LG",
    }
    kernel, hep = await stored(tmp_path, "2603.10004", "2603.10009")
    assert kernel is not None and kernel.title == "Kernel Two-Sample Tests at Scale"
    assert hep is None  # hep-th only: neither feed lists it

    search = await paperbot(fake, tmp_path, "search", "sparse", "attention", "--json")
    assert search.code == 0, search.err
    assert '"arxiv_id": "2603.10001"' in "\n".join(search.out)

    store = await SqliteStorage.open(tmp_path / "paperbot.db")
    try:
        router = CommandRouter(store, FakeClock(), Defaults())
        reply = await router(command("paper", "2603.10001"))
    finally:
        await store.close()
    assert not reply.is_error
    assert reply.cards[0].title == "Sparse Attention for Long Documents"
    assert reply.cards[0].authors.startswith("Ada Lovelace")


async def test_a_replacement_updates_the_stored_paper_and_is_not_new(
    fake: FakeArxiv, tmp_path: Path
) -> None:
    before = Paper(
        title="Retrieval-Augmented Summarization (draft)",
        arxiv_id="2511.04321",
        summary="An early abstract.",
        featured_on=date(2025, 11, 7),
        upvotes=42,
        ai_summary="Summaries grounded in retrieved passages.",
    )
    await store_papers(tmp_path, [before])

    run = await ingest(fake, tmp_path, "cs.CL")

    assert run.code == 0, run.err
    assert "cs.CL 2 new, 0 cross-listed, 1 replaced" in run.out[0]
    (after,) = await stored(tmp_path, "2511.04321")
    assert after is not None
    assert after.title == "Retrieval-Augmented Summarisation"
    assert after.summary == "We study things and report results."
    # What Hugging Face knew stays: upvotes, AI summary, the day it was featured.
    assert (after.upvotes, after.ai_summary, after.featured_on) == (
        42,
        before.ai_summary,
        before.featured_on,
    )


async def test_a_paper_known_from_hugging_face_keeps_its_upvotes(
    fake: FakeArxiv, tmp_path: Path
) -> None:
    from_hf = Paper(
        title="Sparse Attention for Long Documents",
        arxiv_id="2603.10001",
        featured_on=date(2026, 3, 10),
        upvotes=17,
        ai_summary="Sparse attention reads long documents.",
        github_repo="https://github.com/example/sparse",
    )
    await store_papers(tmp_path, [from_hf])

    run = await ingest(fake, tmp_path)

    assert run.code == 0, run.err
    (merged,) = await stored(tmp_path, "2603.10001")
    assert merged is not None
    assert merged.upvotes == 17
    assert merged.ai_summary == from_hf.ai_summary
    assert merged.github_repo == from_hf.github_repo
    # ...and arXiv's own fields are added.
    assert merged.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert merged.summary == "We make attention sparse. It reads long documents."


async def test_a_malformed_entry_is_skipped_alone(fake: FakeArxiv, tmp_path: Path) -> None:
    fake.add_malformed("no_title", position=1)

    run = await ingest(fake, tmp_path, "cs.CL")

    assert run.code == 0, run.err
    assert run.out[0].endswith("; 1 malformed feed entry skipped")
    assert "cs.CL 2 new, 0 cross-listed, 1 replaced" in run.out[0]
    assert any("2603.99999: no title" in line for line in run.err)
    broken, good = await stored(tmp_path, "2603.99999", "2603.10002")
    assert broken is None and good is not None


async def test_an_empty_weekend_feed_fetches_nothing_more(fake: FakeArxiv, tmp_path: Path) -> None:
    fake.no_announcement(SATURDAY)

    run = await ingest(fake, tmp_path)

    assert run.code == 0, run.err
    assert run.out == [
        "arXiv: no announcement for cs.CL, cs.LG (weekend or holiday); 2 requests, none stored"
    ]
    assert fake.count("api") == 0
    assert fake.count("rss") == 2


async def test_a_failing_arxiv_ends_in_one_line_and_exit_1(fake: FakeArxiv, tmp_path: Path) -> None:
    fake.fail("rss", "503", times=10)

    run = await ingest(fake, tmp_path)

    assert run.code == 1
    assert run.out == []
    assert run.err == [
        "paperbot: arXiv ingest failed: arXiv feed cs.CL failed after 4 attempts: HTTP 503"
    ]
    assert fake.count("rss") == 4 and fake.count("api") == 0


async def test_an_unknown_category_is_refused_by_name_before_any_request(
    fake: FakeArxiv, tmp_path: Path
) -> None:
    run = await ingest(fake, tmp_path, "cs.CL,cs.NOPE")

    assert run.code == 2
    assert len(run.err) == 1
    assert "cs.NOPE" in run.err[0] and "did you mean" in run.err[0]
    assert fake.requests == []
    assert not (tmp_path / "paperbot.db").exists()


async def test_aliases_resolve_to_the_canonical_feed(fake: FakeArxiv, tmp_path: Path) -> None:
    # math.MP is arXiv's alias of math-ph; CS.cl is cs.CL in another case.
    run = await ingest(fake, tmp_path, "math.MP,CS.cl")

    assert run.code == 0, run.err
    assert [r.path for r in fake.requests if r.path.startswith("/rss/")] == [
        "/rss/math-ph",
        "/rss/cs.CL",
    ]
    assert "math-ph 0 new" in run.out[0] and "cs.CL 2 new" in run.out[0]


async def test_a_failing_export_api_keeps_the_feeds_data(fake: FakeArxiv, tmp_path: Path) -> None:
    fake.fail("api", "500", times=10)

    run = await ingest(fake, tmp_path, "cs.CL")

    assert run.code == 0, run.err
    assert run.out[0].endswith("; 3 listings kept the feed's data (metadata unavailable)")
    assert any("keeping the feed's data" in line for line in run.err)
    (paper,) = await stored(tmp_path, "2603.10001")
    assert paper is not None and paper.title == "Sparse Attention for Long Documents"
    assert fake.count("api") == 4
