"""The storage port's alert methods (AlertStore, PaperStore.matching_keys), on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.models import Subscription
from bot.ports.storage import Storage
from bot.query import parse_query
from tests.postgres import Backend
from tests.support import TEST_LEASE, make_paper

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
A, B = "test:a", "test:b"


@pytest.fixture
async def store(store: Storage) -> Storage:
    await store.save_subscriptions([Subscription(channel=A), Subscription(channel=B)])
    return store


async def test_alerts_added_listed_and_deleted(store: Storage) -> None:
    first = await store.add_alert(A, "diffusion", "test:ada")
    second = await store.add_alert(A, "author:Hopper", "test:ada")
    assert first is not None and second is not None and first != second
    assert await store.add_alert(A, "diffusion", "test:bob") is None  # the same query
    assert await store.add_alert("test:nobody", "diffusion", "test:bob") is None  # unsubscribed
    assert await store.add_alert(B, "diffusion", "test:bob") is not None
    mine = await store.list_alerts(A)
    assert [(a.channel, a.query, a.created_by) for a in mine] == [
        (A, "diffusion", "test:ada"),
        (A, "author:Hopper", "test:ada"),
    ]
    assert mine[0].created_at.tzinfo is not None
    assert [a.channel for a in await store.list_alerts()] == [A, A, B]
    assert await store.delete_alert(first)
    assert not await store.delete_alert(first)
    assert [a.query for a in await store.list_alerts(A)] == ["author:Hopper"]
    assert await store.delete_subscription(A)
    assert [a.channel for a in await store.list_alerts()] == [B]


async def test_only_papers_not_stored_are_queued_and_only_while_alerts_exist(
    store: Storage,
) -> None:
    await store.upsert_papers([make_paper("2603.00001", "Known")])
    assert await store.queue_alert_candidates(["2603.00001", "2603.00002"]) == 0  # no alert yet
    await store.add_alert(A, "anything", "")
    assert await store.queue_alert_candidates(["2603.00001", "2603.00002", "2603.00003"]) == 2
    assert await store.queue_alert_candidates(["2603.00002"]) == 0  # queued already
    assert await store.alert_candidates(10) == []  # not stored yet
    await store.upsert_papers([make_paper("2603.00002", "New"), make_paper("2603.00003", "Too")])
    assert await store.alert_candidates(10) == ["2603.00002", "2603.00003"]
    assert await store.alert_candidates(1) == ["2603.00002"]
    await store.save_alert_matches([], ["2603.00002"])
    assert await store.alert_candidates(10) == ["2603.00003"]


async def test_matches_are_recorded_once_and_never_for_papers_already_sent(
    store: Storage,
) -> None:
    sub_a = await store.subscription_id(A)
    assert sub_a is not None
    alert = await store.add_alert(A, "diffusion", "")
    other = await store.add_alert(B, "diffusion", "")
    assert alert is not None and other is not None
    await store.upsert_papers([make_paper(f"2603.0000{n}", f"Diffusion {n}") for n in (1, 2)])
    sent = await store.create_delivery(sub_a, A, "2026-03-09", T0, ["2603.00001"])
    assert sent is not None
    await store.finish_delivery(sent, "sent")
    matches = [(alert, "2603.00001"), (alert, "2603.00002"), (other, "2603.00001")]
    assert await store.save_alert_matches(matches, []) == 2  # A already has 2603.00001
    assert await store.save_alert_matches(matches, []) == 0  # each match once
    pending = await store.pending_alert_matches()
    assert sorted((m.channel, m.paper_key) for m in pending) == [
        (A, "2603.00002"),
        (B, "2603.00001"),
    ]
    await store.pause_subscription(B, "gone")
    assert [m.channel for m in await store.pending_alert_matches()] == [A]


async def test_an_alert_message_is_queued_with_its_matches_in_one_go(store: Storage) -> None:
    sub_a = await store.subscription_id(A)
    assert sub_a is not None
    alert = await store.add_alert(A, "diffusion", "")
    assert alert is not None
    await store.upsert_papers([make_paper(f"2603.0000{n}", f"Diffusion {n}") for n in (1, 2, 3)])
    keys = ["2603.00001", "2603.00002", "2603.00003"]
    await store.save_alert_matches([(alert, key) for key in keys], [])
    assert await store.last_alert_at(sub_a) is None
    queued = await store.queue_alert_message(
        sub_a, A, "alert 2026-03-10 08:00:00 UTC", T0, keys[:2], keys[:2]
    )
    assert queued is not None
    row = await store.get_delivery(queued)
    assert row is not None and row.paper_keys == tuple(keys[:2]) and row.state == "pending"
    assert [m.paper_key for m in await store.pending_alert_matches()] == ["2603.00003"]
    assert await store.last_alert_at(sub_a) == T0
    # The same period again makes nothing and leaves the match pending.
    again = await store.queue_alert_message(
        sub_a, A, "alert 2026-03-10 08:00:00 UTC", T0, keys[2:], keys[2:]
    )
    assert again is None and len(await store.pending_alert_matches()) == 1
    # Nothing left to send: the match is closed without an outbox row.
    later = T0 + timedelta(minutes=10)
    assert await store.queue_alert_message(sub_a, A, "alert later", later, [], keys[2:]) is None
    assert await store.pending_alert_matches() == []
    assert await store.last_alert_at(sub_a) == T0
    # Digests are not alert messages.
    await store.create_delivery(sub_a, A, "2026-03-11", later, ["2603.00003"])
    assert await store.last_alert_at(sub_a) == T0
    assert await store.alert_messages_sent() == {}
    await store.finish_delivery(queued, "sent")
    assert await store.alert_messages_sent() == {A: 1}
    assert await store.sent_paper_keys(A, keys) == set(keys[:2])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"masked autoencoders"', {"2603.00001"}),
        ("autoencoder", {"2603.00001", "2603.00002"}),  # spelling variants, as search
        ("autoencoders -video", {"2603.00001"}),
        ("author:Hopper", {"2603.00002"}),
        ("autoencoders since:2026-03-05", {"2603.00002"}),
        ("transformer", set()),
    ],
)
async def test_matching_keys_match_as_search_does(
    store: Storage, query: str, expected: set[str]
) -> None:
    await store.upsert_papers(
        [
            make_paper("2603.00001", "Masked autoencoders", day=date(2026, 3, 1)),
            make_paper(
                "2603.00002",
                "Video autoencoder",
                day=date(2026, 3, 9),
                authors=("Grace Hopper",),
            ),
            make_paper("2603.00003", "Masked autoencoders for video", day=date(2026, 3, 9)),
        ]
    )
    parsed = parse_query(query)
    keys = ["2603.00001", "2603.00002", "2603.99999"]
    assert await store.matching_keys(parsed, keys) == expected
    found = {p.key for p in (await store.search(parsed, 0, 50)).papers}
    assert found & set(keys) == expected
    assert await store.matching_keys(parsed, []) == set()


async def test_queued_paper_keys_are_those_of_unsent_rows(store: Storage) -> None:
    sub_a = await store.subscription_id(A)
    assert sub_a is not None
    first = await store.create_delivery(sub_a, A, "2026-03-09", T0, ["k1", "k2"])
    await store.create_delivery(sub_a, A, "2026-03-10", T0, ["k3"], "skipped", "nothing new")
    assert first is not None
    assert await store.queued_paper_keys(A, ["k1", "k3", "k4"]) == {"k1"}
    assert await store.queued_paper_keys(B, ["k1"]) == set()
    await store.claim_deliveries("test", T0, 10, TEST_LEASE)  # 'sending' is still on its way
    assert await store.queued_paper_keys(A, ["k1", "k2"]) == {"k1", "k2"}
    await store.finish_delivery(first, "sent")
    assert await store.queued_paper_keys(A, ["k1", "k2"]) == set()
    assert await store.queued_paper_keys(A, []) == set()


async def test_two_processes_queueing_the_same_matches_make_one_message(
    store: Storage, backend: Backend
) -> None:
    """Two processes (here: two connections) whose jobs queue at the same moment:
    the matches go in one alert message, the other caller writes nothing."""
    sub_a = await store.subscription_id(A)
    alert = await store.add_alert(A, "diffusion", "")
    assert sub_a is not None and alert is not None
    keys = ["2603.00001", "2603.00002"]
    await store.upsert_papers([make_paper(key, f"Diffusion {key}") for key in keys])
    await store.save_alert_matches([(alert, key) for key in keys], [])
    other = await backend.open()
    try:
        results = await asyncio.gather(
            store.queue_alert_message(sub_a, A, "alert 08:00:00", T0, keys, keys),
            other.queue_alert_message(
                sub_a, A, "alert 08:00:01", T0 + timedelta(seconds=1), keys, keys
            ),
        )
    finally:
        await other.close()
    assert sorted(result is None for result in results) == [False, True]
    assert await store.pending_alert_matches() == []
    assert await store.outbox_depth() == 1
