"""Retry accounting and a migration onto a chat with its own subscription, on the fake Bot API."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.telegram.adapter import TelegramAdapter
from bot.commands import CommandRouter
from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.models import Subscription
from bot.ratelimit import RateLimiter
from storage.sqlite import SqliteStorage
from tests.fakes.telegram import FakeTelegram
from tests.support import FakeClock, make_paper

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

USER = 5551234
GROUP = -4012345678
SUPERGROUP = -1004012345678
KEYS = ["2603.00001", "2603.00002"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake
        assert fake.violations == [], fake.violations


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = await SqliteStorage.open(tmp_path / "bot.db")
    day = datetime(2026, 3, 9, tzinfo=UTC).date()
    await store.upsert_papers([make_paper(key, f"Paper {key}", day=day, upvotes=5) for key in KEYS])
    yield store
    await store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
async def worker(
    fake: FakeTelegram, storage: SqliteStorage, clock: FakeClock
) -> AsyncIterator[DeliveryWorker]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, telegram_token=SecretStr(fake.token), telegram_api_url=fake.api_url
    )
    adapter = TelegramAdapter(settings, CommandRouter(storage, clock), timeout=3)
    await adapter.start()
    # No pacing in the worker: the 429 waits are the fake's, on the injected clock.
    yield DeliveryWorker(
        adapter,
        storage,
        clock,
        rng=random.Random(5),
        limiter=RateLimiter(lambda channel: []),
        deadline=timedelta(hours=6),
    )
    await adapter.stop()


async def _queue(storage: SqliteStorage, chat: int, period: str, clock: FakeClock) -> int:
    channel = f"telegram:{chat}"
    sub_id = await storage.subscription_id(channel)
    if sub_id is None:
        await storage.save_subscription(Subscription(channel=channel))
        sub_id = await storage.subscription_id(channel)
    assert sub_id is not None
    row = await storage.create_delivery(sub_id, channel, period, clock.now(), KEYS)
    assert row is not None
    return row


async def _round(worker: DeliveryWorker, storage: SqliteStorage, clock: FakeClock) -> int:
    """Deliver every ready row once, then move the clock past any wait; how many were ready."""
    claimed = await storage.claim_deliveries("telegram", clock.now(), 100)
    for delivery in claimed:
        await worker.deliver(delivery)
    clock.advance(minutes=10)
    return len(claimed)


async def test_rate_limits_do_not_use_up_the_retries(
    fake: FakeTelegram, worker: DeliveryWorker, storage: SqliteStorage, clock: FakeClock
) -> None:
    row = await _queue(storage, USER, "2026-03-10", clock)
    fake.set_chat_error(USER, "retry_after", retry_after=1, times=7)
    for _ in range(7):
        assert await _round(worker, storage, clock) == 1
    fake.set_chat_error(USER, "server_error", status=500, times=1)
    assert await _round(worker, storage, clock) == 1
    limited = await storage.get_delivery(row)
    assert limited is not None and limited.state == "pending" and limited.failures == 1
    assert await _round(worker, storage, clock) == 1

    done = await storage.get_delivery(row)
    assert done is not None and done.state == "sent"
    assert (done.attempts, done.failures) == (9, 1)
    assert fake.count_429 == 7
    assert len(fake.sent(USER)) == 1


async def test_a_digest_failing_past_the_grace_window_is_failed_with_its_reason(
    fake: FakeTelegram, worker: DeliveryWorker, storage: SqliteStorage, clock: FakeClock
) -> None:
    row = await _queue(storage, USER, "2026-03-10", clock)
    fake.set_chat_error(USER, "retry_after", retry_after=1)
    while await _round(worker, storage, clock):
        pass  # rate limited every ten minutes, until the six hours are up
    failed = await storage.get_delivery(row)
    assert failed is not None and failed.state == "failed" and failed.failures == 0
    assert failed.error is not None
    assert failed.error.startswith("gave up: not delivered within 6 h of its time; last error:")
    assert "RetryAfter: Flood control exceeded" in failed.error
    # Given up at the first attempt past the window (then one empty round went by).
    assert clock.now() - failed.due_at <= timedelta(hours=6, minutes=20)


async def test_migration_onto_a_chat_with_its_own_subscription(
    fake: FakeTelegram,
    worker: DeliveryWorker,
    storage: SqliteStorage,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.add_chat(GROUP, "group")
    fake.set_chat_error(GROUP, "migrated", new_chat_id=SUPERGROUP)
    both = await _queue(storage, GROUP, "2026-03-10", clock)  # the supergroup has this one too
    only_old = await _queue(storage, GROUP, "2026-03-09", clock)
    own = await _queue(storage, SUPERGROUP, "2026-03-10", clock)

    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            await _round(worker, storage, clock)

    assert await storage.outbox_depth() == 0
    assert len(fake.sent(SUPERGROUP)) == 2  # its own digest, and the old chat's other period
    assert fake.sent(GROUP) == []
    merged = f"merged into telegram:{SUPERGROUP}"
    old = await storage.get_subscription(f"telegram:{GROUP}")
    assert old is not None and old.paused and old.paused_reason == merged
    kept = await storage.get_subscription(f"telegram:{SUPERGROUP}")
    assert kept is not None and not kept.paused
    skipped = await storage.get_delivery(both)
    assert skipped is not None and skipped.state == "skipped"
    assert skipped.error == f"{merged}, which has its own digest for this period"
    for row in (only_old, own):
        sent = await storage.get_delivery(row)
        assert sent is not None and sent.state == "sent"
        assert sent.channel == f"telegram:{SUPERGROUP}"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(fake.calls_to("sendMessage")) == 2 + 2  # two migrated answers, two digests
