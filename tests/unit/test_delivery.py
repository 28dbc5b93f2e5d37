"""The outbox state machine of the delivery worker, with failures injected per channel."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.delivery import MAX_FAILURES, DeliveryWorker, backoff_delay
from bot.models import Subscription
from bot.ports.chat import (
    ChannelGone,
    ChannelMoved,
    RateLimited,
    RenderLimits,
    TemporaryFailure,
)
from bot.ports.storage import Delivery, Storage
from tests.support import TEST_LEASE, TEST_OWNER, FakeClock, eventually, make_paper

DAY = date(2026, 3, 9)


@pytest.fixture
async def store(store: Storage) -> Storage:
    """The conftest's store on each backend, with ten papers."""
    await store.upsert_papers(
        [make_paper(f"2603.{n:05d}", f"Paper {n}", day=DAY, upvotes=n) for n in range(1, 11)]
    )
    return store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))


@pytest.fixture
def worker(adapter, store, clock) -> DeliveryWorker:
    return DeliveryWorker(adapter, store, clock, rng=random.Random(7), owner=TEST_OWNER)


async def queue(store: Storage, clock: FakeClock, channel: str, keys: int = 3) -> Delivery:
    await store.save_subscription(Subscription(channel=channel))
    sub_id = await store.subscription_id(channel)
    assert sub_id is not None
    paper_keys = [f"2603.{n:05d}" for n in range(1, keys + 1)]
    await store.create_delivery(sub_id, channel, "2026-03-10", clock.now(), paper_keys)
    (claimed,) = [d for d in await store.claim_deliveries("test", clock.now(), 100, TEST_LEASE)]
    return claimed


async def test_sent_records_state_and_sent_papers(worker, store, clock, adapter) -> None:
    delivery = await queue(store, clock, "test:a")
    await worker.deliver(delivery)
    done = await store.get_delivery(delivery.id)
    assert done is not None and (done.state, done.parts_sent) == ("sent", 1)
    assert await store.sent_paper_keys("test:a", ["2603.00001", "2603.00009"]) == {"2603.00001"}
    assert adapter.sent[0][1].key == f"paperbot-{delivery.id}-0"


async def test_long_digest_is_split_and_resumes_after_crash(store, clock, adapter) -> None:
    adapter.limits = RenderLimits(max_chars=120, max_cards=10)
    worker = DeliveryWorker(adapter, store, clock, owner=TEST_OWNER)
    delivery = await queue(store, clock, "test:a", keys=4)
    # A previous process had sent the first part, then died.
    await store.record_part_sent(delivery.id, 1)
    resumed = await store.get_delivery(delivery.id)
    assert resumed is not None
    await worker.deliver(resumed)
    keys = [post.key for _, post in adapter.sent]
    assert keys[0] == f"paperbot-{delivery.id}-1"  # part 0 was not sent again
    total = len(keys) + 1
    done = await store.get_delivery(delivery.id)
    assert done is not None and done.parts_sent == total and done.state == "sent"


async def test_rate_limited_retries_after_the_given_time(worker, store, clock, adapter) -> None:
    adapter.failures["test:a"] = lambda: RateLimited(7.0)
    delivery = await queue(store, clock, "test:a")
    await worker.deliver(delivery)
    row = await store.get_delivery(delivery.id)
    assert row is not None and row.state == "pending"
    assert row.next_attempt_at == clock.now() + timedelta(seconds=7)
    assert await store.claim_deliveries("test", clock.now(), 10, TEST_LEASE) == []
    del adapter.failures["test:a"]
    clock.advance(seconds=7)
    (again,) = await store.claim_deliveries("test", clock.now(), 10, TEST_LEASE)
    await worker.deliver(again)
    assert len(adapter.sent) == 1


@pytest.mark.parametrize("reason", ["blocked", "kicked", "missing_permission", "unknown_channel"])
async def test_channel_gone_pauses_with_reason(worker, store, clock, adapter, reason) -> None:
    adapter.failures["test:a"] = lambda: ChannelGone(reason)
    delivery = await queue(store, clock, "test:a")
    await worker.deliver(delivery)
    row = await store.get_delivery(delivery.id)
    assert row is not None and (row.state, row.error) == ("failed", reason)
    sub = await store.get_subscription("test:a")
    assert sub is not None and sub.paused and sub.paused_reason == reason


async def test_channel_moved_rekeys_and_resends(worker, store, clock, adapter) -> None:
    adapter.failures["test:-100"] = lambda: ChannelMoved("test:-200")
    delivery = await queue(store, clock, "test:-100")
    await worker.deliver(delivery)
    assert await store.get_subscription("test:-100") is None
    assert await store.get_subscription("test:-200") is not None
    (moved,) = await store.claim_deliveries("test", clock.now(), 10, TEST_LEASE)
    assert moved.channel == "test:-200"
    await worker.deliver(moved)
    assert [channel for channel, _ in adapter.sent] == ["test:-200"]


async def test_temporary_failures_back_off_then_give_up(worker, store, clock, adapter) -> None:
    adapter.failures["test:a"] = lambda: TemporaryFailure("502")
    delivery = await queue(store, clock, "test:a")
    delays = []
    for _attempt in range(MAX_FAILURES):
        await worker.deliver(delivery)
        row = await store.get_delivery(delivery.id)
        assert row is not None
        if row.state == "failed":
            break
        assert row.next_attempt_at is not None
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
        (delivery,) = await store.claim_deliveries("test", clock.now(), 10, TEST_LEASE)
    assert (
        row.state == "failed"
        and row.error == f"gave up after {MAX_FAILURES} temporary failures: 502"
    )
    assert len(delays) == MAX_FAILURES - 1
    assert delays == sorted(delays) or all(d <= 600 for d in delays)
    assert delays[0] < delays[-1]


def test_backoff_is_exponential_bounded_and_jittered() -> None:
    rng = random.Random(1)
    for attempt in range(1, 15):
        ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
        values = {backoff_delay(attempt, rng) for _ in range(20)}
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len(values) > 1


async def test_one_dead_channel_does_not_block_others(store, clock, adapter) -> None:
    adapter.failures["test:dead"] = lambda: ChannelGone("kicked")
    for channel in ("test:dead", "test:b", "test:c"):
        await store.save_subscription(Subscription(channel=channel))
        sub_id = await store.subscription_id(channel)
        assert sub_id is not None
        await store.create_delivery(sub_id, channel, "2026-03-10", clock.now(), ["2603.00001"])
    worker = DeliveryWorker(adapter, store, clock, poll_seconds=0.01, owner=TEST_OWNER)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len(adapter.sent) == 2, message="the two live channels' posts")
    finally:
        await worker.stop()
        task.cancel()
    assert sorted(channel for channel, _ in adapter.sent) == ["test:b", "test:c"]
    assert await store.outbox_depth() == 0
