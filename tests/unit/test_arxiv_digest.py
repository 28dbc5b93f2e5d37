"""The arXiv digest's pieces: announcement order, ranking (by meaning too), preview, pool line."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.commands import CommandRouter
from bot.digest import (
    ArxivPool,
    Candidates,
    announcement_order,
    digest_reply,
    hf_upvotes,
    plan_digest,
    rank_arxiv,
)
from bot.models import Paper, Subscription
from bot.plugins import load_embedder
from bot.ports.embedder import Embedder
from bot.ports.storage import AnnouncedPaper, Storage
from bot.semantic import Semantic
from tests.support import FakeClock, command

TUE, WED = date(2026, 3, 10), date(2026, 3, 11)
T0 = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def listing(category: str, key: str, kind: str, position: int, day: date = TUE) -> AnnouncedPaper:
    return AnnouncedPaper(category, day, key, kind, position)


def test_announcement_order_merges_categories_and_drops_replacements() -> None:
    listings = [
        listing("cs.CL", "a", "new", 0),
        listing("cs.CL", "b", "cross", 1),
        listing("cs.CL", "old", "replace", 2),
        listing("cs.LG", "b", "new", 0),
        listing("cs.LG", "c", "cross", 1),
        listing("cs.LG", "older", "replace-cross", 2),
    ]
    assert announcement_order(listings, ["cs.CL", "cs.LG"], crosslists=True) == ["a", "b", "c"]
    # b is new in cs.LG (its primary), so it stays without cross-lists; c does not.
    assert announcement_order(listings, ["cs.CL", "cs.LG"], crosslists=False) == ["a", "b"]
    # A week: earlier days first; a paper replaced later in the week still counts once.
    week = [listing("cs.CL", "x", "new", 5, TUE), listing("cs.CL", "x", "replace", 0, WED)]
    assert announcement_order(
        [*week, listing("cs.CL", "y", "new", 0, WED)], ["cs.CL"], crosslists=True
    ) == [
        "x",
        "y",
    ]


def test_upvotes_are_known_only_for_papers_hugging_face_listed() -> None:
    assert hf_upvotes(Paper(title="arXiv only", upvotes=0)) is None
    assert hf_upvotes(Paper(title="featured", featured_on=TUE, upvotes=0)) == 0
    assert hf_upvotes(Paper(title="looked up", upvotes=7)) == 7


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    loaded = load_embedder("wordllama")
    assert loaded is not None
    return loaded


async def test_closeness_by_meaning_where_keywords_say_nothing(
    store: Storage, embedder: Embedder
) -> None:
    papers = [
        Paper(title="Protein folding with graph networks", arxiv_id="2603.00001"),
        Paper(title="Transcribing spoken audio with little labelled data", arxiv_id="2603.00002"),
        Paper(title="Faster sorting of integers", arxiv_id="2603.00003"),
    ]
    await store.upsert_papers(papers)
    semantic = Semantic(store, embedder)
    await semantic.embed_missing()
    include = ("speech recognition",)
    # No paper names the keyword: the keyword overlap keeps arXiv's order...
    plain = await rank_arxiv(papers, include, Candidates(store))
    assert [p.arxiv_id for p in plain] == ["2603.00001", "2603.00002", "2603.00003"]
    # ...while meaning puts the speech paper first.
    by_meaning = await rank_arxiv(papers, include, Candidates(store, semantic))
    assert by_meaning[0].arxiv_id == "2603.00002"
    # A paper not embedded yet is embedded on the fly, not left out.
    fresh = Paper(title="Automatic speech recognition for dialects", arxiv_id="2603.00004")
    ranked = await rank_arxiv([*papers, fresh], include, Candidates(store, semantic))
    assert {p.arxiv_id for p in ranked[:2]} == {"2603.00002", "2603.00004"}
    assert len(ranked) == 4


async def test_upvotes_outrank_closeness(store: Storage) -> None:
    close = Paper(title="Speech recognition at scale", arxiv_id="2603.00001")
    liked = Paper(title="Unrelated", arxiv_id="2603.00002", featured_on=TUE, upvotes=3)
    ranked = await rank_arxiv([close, liked], ("speech",), Candidates(store))
    assert [p.arxiv_id for p in ranked] == ["2603.00002", "2603.00001"]


def test_the_pool_survives_the_outbox_and_bad_text_is_ignored() -> None:
    pool = ArxivPool(("cs.CL", "cs.LG"), TUE, WED, 412)
    assert ArxivPool.from_json(pool.to_json()) == pool
    assert ArxivPool.from_json(None) is None
    assert ArxivPool.from_json('{"categories": 3}') is None
    assert ArxivPool.from_json("not json") is None
    assert pool.summary(10) == (
        "cs.CL, cs.LG · top 10 of 412 new papers · announced Tue 10 Mar 2026 – Wed 11 Mar 2026"
    )
    hf = digest_reply([], "2026-03-10")
    assert hf.title == "Trending papers — 2026-03-10" and not hf.text


async def test_preview_of_an_arxiv_subscription(store: Storage) -> None:
    router = CommandRouter(store, FakeClock())
    sub = Subscription(channel="test:1", post_time=time(9, 0), arxiv_categories=("cs.CL",))
    await store.save_subscription(sub)
    empty = await router(command("preview"))
    assert "No announcement of its arXiv categories has been fetched" in empty.text
    await store.upsert_papers([Paper(title="Listed", arxiv_id="2603.00001")])
    await store.record_arxiv_announcement("cs.CL", TUE, T0, [("2603.00001", "new")])
    shown = await router(command("preview"))
    assert shown.title == "Preview: New on arXiv — 2026-03-10"
    assert "cs.CL · top 1 of 1 new paper · announced Tue 10 Mar 2026" in shown.text
    assert [c.arxiv_id for c in shown.cards] == ["2603.00001"]


async def test_a_weekly_arxiv_digest_chooses_from_the_past_weeks_announcements(
    store: Storage,
) -> None:
    await store.upsert_papers(
        [Paper(title=f"Paper {n}", arxiv_id=f"2603.0000{n}") for n in range(1, 5)]
    )
    await store.record_arxiv_announcement("cs.CL", TUE, T0, [("2603.00001", "new")])
    await store.record_arxiv_announcement(
        "cs.CL", WED, T0, [("2603.00002", "new"), ("2603.00001", "replace")]
    )
    # The following week's announcement is not part of that week's digest.
    await store.record_arxiv_announcement("cs.CL", date(2026, 3, 17), T0, [("2603.00003", "new")])
    sub = Subscription(
        channel="test:1", cadence="weekly", weekly_day=1, arxiv_categories=("cs.CL",), top_n=5
    )
    monday = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    plan = await plan_digest(store, sub, monday, Candidates(store))
    assert [p.arxiv_id for p in plan.papers] == ["2603.00001", "2603.00002"]
    assert plan.arxiv == ArxivPool(("cs.CL",), date(2026, 3, 9), date(2026, 3, 15), 2)
