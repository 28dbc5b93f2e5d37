"""The arXiv parts of the storage port on every backend: sources, announcements, digest info."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.models import Paper, Subscription
from bot.ports.storage import AnnouncedPaper, Storage

T0 = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
MON, TUE, WED = date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)


async def test_a_subscription_keeps_its_source_and_crosslists(store: Storage) -> None:
    arxiv = Subscription(channel="test:1", arxiv_categories=("cs.CL", "cs.LG"), crosslists=False)
    await store.save_subscriptions([arxiv, Subscription(channel="test:2")])
    assert await store.get_subscription("test:1") == arxiv
    hf = await store.get_subscription("test:2")
    assert hf is not None and hf.arxiv_categories == () and hf.crosslists and hf.source == "hf"
    assert [s.source for s in await store.list_subscriptions()] == ["arxiv:cs.CL,cs.LG", "hf"]


async def test_subscribed_categories_are_shared_and_skip_paused_subscriptions(
    store: Storage,
) -> None:
    await store.save_subscriptions(
        [
            Subscription(channel="test:1", arxiv_categories=("cs.LG", "cs.CL")),
            Subscription(channel="test:2", arxiv_categories=("cs.CL", "stat.ML")),
            Subscription(channel="test:3", arxiv_categories=("hep-th",), paused=True),
            Subscription(channel="test:4"),
        ]
    )
    assert await store.subscribed_arxiv_categories() == ["cs.CL", "cs.LG", "stat.ML"]


async def test_recorded_announcements_answer_fetched_latest_and_listings(store: Storage) -> None:
    await store.record_arxiv_announcement(
        "cs.CL", TUE, T0, [("2603.00001", "new"), ("2603.00002", "cross"), ("2511.0001", "replace")]
    )
    await store.record_arxiv_announcement("cs.LG", TUE, T0, [("2603.00002", "new")])
    await store.record_arxiv_announcement("cs.CL", MON, T0, [("2603.00009", "new")])
    await store.record_arxiv_announcement("cs.CL", WED, T0, [])  # no announcement that day

    assert await store.arxiv_categories_fetched(["cs.CL", "cs.LG", "stat.ML"], TUE) == {
        "cs.CL",
        "cs.LG",
    }
    assert await store.arxiv_categories_fetched(["cs.CL", "cs.LG"], WED) == {"cs.CL"}
    # A day without announcement is fetched, but the latest day with papers stays Tuesday.
    assert await store.latest_arxiv_day(["cs.CL"]) == TUE
    assert await store.latest_arxiv_day(["stat.ML"]) is None
    assert await store.arxiv_announced(["cs.LG", "cs.CL"], TUE, TUE) == [
        AnnouncedPaper("cs.CL", TUE, "2603.00001", "new", 0),
        AnnouncedPaper("cs.CL", TUE, "2603.00002", "cross", 1),
        AnnouncedPaper("cs.CL", TUE, "2511.0001", "replace", 2),
        AnnouncedPaper("cs.LG", TUE, "2603.00002", "new", 0),
    ]
    assert [a.day for a in await store.arxiv_announced(["cs.CL"], MON, WED)] == [MON] + [TUE] * 3


async def test_recording_a_day_again_replaces_it(store: Storage) -> None:
    await store.record_arxiv_announcement("cs.CL", TUE, T0, [("2603.00001", "new")])
    await store.record_arxiv_announcement(
        "cs.CL",
        TUE,
        T0,
        [("2603.00003", "new"), ("2603.00003", "cross")],  # a repeat is ignored
    )
    assert [
        (a.paper_key, a.position) for a in await store.arxiv_announced(["cs.CL"], TUE, TUE)
    ] == [("2603.00003", 0)]


async def test_a_delivery_keeps_its_digest_info(store: Storage) -> None:
    await store.save_subscription(Subscription(channel="test:1"))
    sub_id = await store.subscription_id("test:1")
    assert sub_id is not None
    info = '{"source": "arxiv", "categories": ["cs.CL"]}'
    with_info = await store.create_delivery(
        sub_id, "test:1", "2026-03-10", T0, ["k"], digest_info=info
    )
    plain = await store.create_delivery(sub_id, "test:1", "2026-03-11", T0, ["k"])
    assert with_info is not None and plain is not None
    stored, hf = await store.get_delivery(with_info), await store.get_delivery(plain)
    assert stored is not None and stored.digest_info == info
    assert hf is not None and hf.digest_info is None
    claimed = await store.claim_deliveries("test", T0, 10)
    assert {d.digest_info for d in claimed} == {info, None}


async def test_old_announcements_are_purged_but_their_papers_stay(store: Storage) -> None:
    await store.upsert_papers([Paper(title="Kept", arxiv_id="2603.00001")])
    await store.record_arxiv_announcement("cs.CL", MON, T0, [("2603.00001", "new")])
    await store.record_arxiv_announcement("cs.CL", TUE, T0, [("2603.00002", "new")])
    assert await store.purge_arxiv_announcements(TUE) == 1
    assert [a.day for a in await store.arxiv_announced(["cs.CL"], MON, WED)] == [TUE]
    assert await store.arxiv_categories_fetched(["cs.CL"], MON) == {"cs.CL"}
    assert await store.get_paper("2603.00001") is not None
