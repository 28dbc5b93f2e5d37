"""Graceful shutdown: intake first, in-flight sends get a grace period, everything is bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

import bot.app
from bot.app import shutdown
from bot.config import Settings
from bot.jobs import Jobs
from bot.models import Post, Subscription
from bot.ports.chat import StopsIntake
from bot.ports.storage import OutboxLease, Storage
from storage.sqlite import SqliteStorage
from tests.support import FakeClock, RecordingAdapter, make_paper

CHANNEL = "test:1"


@dataclass
class SlowAdapter(RecordingAdapter):
    """Sends take ``send_seconds``; every lifecycle step is written to ``events``."""

    send_seconds: float = 0.2
    stop_seconds: float = 0.0
    events: list[str] = field(default_factory=list)
    sending: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop_intake(self) -> None:
        self.events.append("intake stopped")

    async def stop(self) -> None:
        await asyncio.sleep(self.stop_seconds)  # a slow disconnect, under test
        self.events.append("stopped")

    async def send(self, channel: str, post: Post) -> str:
        self.events.append("send started")
        self.sending.set()
        await asyncio.sleep(self.send_seconds)  # a send still in flight at shutdown
        self.events.append("send finished")
        return await super().send(channel, post)


@pytest.fixture
async def store(store: Storage) -> Storage:
    """One delivery waiting in the outbox."""
    clock_now = datetime.now(UTC)
    await store.upsert_papers([make_paper("2603.00001", "A paper", day=clock_now.date())])
    await store.save_subscription(Subscription(channel=CHANNEL))
    sub_id = await store.subscription_id(CHANNEL)
    assert sub_id is not None
    await store.create_delivery(sub_id, CHANNEL, "2026-03-10", clock_now, ["2603.00001"])
    return store


async def started_send(adapter: SlowAdapter, store: SqliteStorage) -> Jobs:
    jobs = Jobs(Settings(), store, [adapter], source=None, clock=FakeClock(datetime.now(UTC)))
    await jobs.start()
    await asyncio.wait_for(adapter.sending.wait(), 5)
    return jobs


async def test_intake_stops_first_and_the_send_in_flight_finishes(store) -> None:
    adapter = SlowAdapter()
    jobs = await started_send(adapter, store)
    await shutdown([adapter], jobs)
    assert adapter.events == ["send started", "intake stopped", "send finished", "stopped"]
    delivery = await store.last_delivery(CHANNEL)
    assert delivery is not None and delivery.state == "sent"


async def test_a_send_past_the_grace_is_abandoned_and_resumed_at_next_start(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.app, "SEND_GRACE_SECONDS", 0.1)
    adapter = SlowAdapter(send_seconds=60)
    jobs = await started_send(adapter, store)
    began = time.monotonic()
    await shutdown([adapter], jobs)
    assert time.monotonic() - began < 2
    assert adapter.events == ["send started", "intake stopped", "stopped"]
    # The platform may have taken it: the row stays leased, not given back...
    delivery = await store.last_delivery(CHANNEL)
    assert delivery is not None and delivery.state == "sending"
    assert delivery.lease_owner == jobs.roles.owner and delivery.lease_until is not None
    # ...so another process resends it once the lease has run out, from part 1.
    late = OutboxLease(
        "next:2:x", delivery.lease_until, delivery.lease_until + timedelta(seconds=10)
    )
    (resent,) = await store.claim_deliveries("test", datetime.now(UTC), 10, late)
    assert (resent.id, resent.parts_sent, resent.attempts) == (delivery.id, 0, 2)


async def test_an_adapter_that_hangs_on_stop_does_not_hold_the_exit(
    store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bot.app, "DISCONNECT_SECONDS", 0.1)
    adapter = SlowAdapter(send_seconds=0, stop_seconds=60)
    jobs = await started_send(adapter, store)
    began = time.monotonic()
    await shutdown([adapter], jobs)
    assert time.monotonic() - began < 2
    assert "stopping adapters did not finish within 0.1 s; going on" in caplog.text


async def test_adapters_without_the_intake_hook_are_just_stopped() -> None:
    @dataclass
    class PlainAdapter(RecordingAdapter):
        stopped: bool = False

        async def stop(self) -> None:
            self.stopped = True

    adapter = PlainAdapter()
    await shutdown([adapter], None)
    assert not isinstance(adapter, StopsIntake) and adapter.stopped
