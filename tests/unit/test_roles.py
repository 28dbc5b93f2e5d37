"""Roles as leases between processes sharing one database, and the sender that follows its
role: two "processes" here are two Roles (and workers) with their own owner ids on one store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import SystemClock
from bot.delivery import DeliveryWorker, sender_role
from bot.models import Subscription
from bot.ports.chat import RateWindow
from bot.ports.storage import Storage
from bot.ratelimit import RateLimiter
from bot.roles import LOCAL_SHARE, Roles
from tests.support import FakeClock, RecordingAdapter, eventually, make_paper

DAY = datetime(2026, 3, 9, tzinfo=UTC).date()


class Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def queue(store: Storage, clock: FakeClock, channels: list[str]) -> None:
    await store.upsert_papers([make_paper("2603.00001", "A paper", day=DAY)])
    for channel in channels:
        await store.save_subscription(Subscription(channel=channel))
        sub_id = await store.subscription_id(channel)
        assert sub_id is not None
        await store.create_delivery(sub_id, channel, "2026-03-10", clock.now(), ["2603.00001"])


async def test_one_process_holds_a_role_until_it_stops_or_dies(store: Storage) -> None:
    clock = Monotonic()
    told: list[tuple[str, bool]] = []

    def roles(owner: str) -> Roles:
        found = Roles(store, SystemClock(), owner=owner, lease_seconds=10, monotonic=clock)

        async def observe(held: bool) -> None:
            told.append((owner, held))

        found.want("tick", observe)
        return found

    first, second = roles("a:1:x"), roles("b:2:y")
    await first.renew()
    await second.renew()
    assert (first.held(), second.held()) == (["tick"], [])
    assert told == [("a:1:x", True)]
    # Without a renewal, the holder stops trusting its lease before it expires.
    clock.now += 10 * LOCAL_SHARE
    assert first.held() == []
    # Graceful stop: released at once, and the other process takes it at its next round.
    first = roles("a:1:x")
    await first.renew()  # a live holder renews its own lease
    assert first.holds("tick")
    await first.stop()
    assert ("a:1:x", False) in told
    await second.renew()
    assert second.held() == ["tick"]
    [lease] = await store.list_leases()
    assert lease.owner == "b:2:y"


async def test_a_standby_sender_sends_nothing_until_it_takes_the_role_over(
    store: Storage,
) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    await queue(store, clock, ["test:1", "test:2"])
    adapter = RecordingAdapter()
    role = sender_role(adapter)
    # Another process holds the sender role.
    now = datetime.now(UTC)
    assert await store.acquire_lease(role, "other:9:z", now, now + timedelta(seconds=60))
    roles = Roles(store, SystemClock(), owner="me:1:a", lease_seconds=10)
    worker = DeliveryWorker(adapter, store, clock, roles=roles, poll_seconds=0.01)
    await roles.renew()
    assert not worker.may_send()
    assert await worker._claim() == []  # what its loop does: nothing claimed, nothing sent
    assert (await store.last_delivery("test:1")).state == "pending"  # type: ignore[union-attr]
    task = asyncio.create_task(worker.run())
    try:
        # The holder stops: it releases the role, and this one sends everything.
        assert await store.release_lease(role, "other:9:z")
        await roles.renew()
        await eventually(lambda: len(adapter.sent) == 2, message="both digests")
        await eventually(_outbox_empty(store), message="both recorded")
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _outbox_empty(store: Storage) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.outbox_depth() == 0

    return check


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_losing_the_role_stops_sending_and_gives_unsent_rows_back(store: Storage) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    channels = [f"test:{n}" for n in range(6)]
    await queue(store, clock, channels)
    adapter = RecordingAdapter()
    # One send per 0.2 s: the fan-out is still going when the role is lost.
    limiter = RateLimiter(lambda channel: [RateWindow("global", 1, 0.2)], margin=1.0)
    monotonic = Monotonic()
    roles = Roles(store, SystemClock(), owner="me:1:a", lease_seconds=10, monotonic=monotonic)
    worker = DeliveryWorker(adapter, store, clock, roles=roles, limiter=limiter, poll_seconds=0.01)
    await roles.renew()
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len(adapter.sent) >= 2, message="the first sends")
        monotonic.now += 10  # no renewal reached the database: the role runs out here
        sent = len(adapter.sent)
        await eventually(lambda: not worker._tasks, message="the abandoned sends to end")
        assert len(adapter.sent) <= sent + 1  # at most the send already past its slot
        await eventually(lambda: worker._unsent == set(), message="unsent rows given back")
        rows = [await store.last_delivery(c) for c in channels]
        states = sorted(row.state for row in rows if row is not None)
        assert states.count("sent") == len(adapter.sent)
        assert set(states) == {"sent", "pending"}  # nothing left leased to this process
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_stop_gives_back_rows_waiting_for_a_slot_without_sending_them(
    store: Storage,
) -> None:
    clock = FakeClock(datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    await queue(store, clock, ["test:1", "test:2", "test:3"])
    adapter = RecordingAdapter()
    limiter = RateLimiter(lambda channel: [RateWindow("global", 1, 60.0)])  # one a minute
    roles = Roles(store, SystemClock(), owner="me:1:a")
    worker = DeliveryWorker(adapter, store, clock, roles=roles, limiter=limiter, poll_seconds=0.01)
    await roles.renew()
    task = asyncio.create_task(worker.run())
    await eventually(lambda: len(adapter.sent) == 1, message="the first send")
    await eventually(lambda: len(worker._waiting) == 2, message="two sends waiting")
    await asyncio.wait_for(worker.stop(grace=5.0), 1.0)  # no waiting out the minute
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = [await store.last_delivery(c) for c in ("test:1", "test:2", "test:3")]
    states = sorted(row.state for row in rows if row is not None)
    assert states == ["pending", "pending", "sent"] and len(adapter.sent) == 1
