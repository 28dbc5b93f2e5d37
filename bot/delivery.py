"""The outbox worker of one platform: claims due digests, sends them rate-limited, records outcomes.

Each delivery runs as its own task (bounded by ``concurrency``), so one slow
or dead channel never delays the others. A message part is recorded as sent
right after the platform accepts it; after a crash the row goes back to
pending and resumes at the first unrecorded part, so at most the one part in
flight can repeat (and on Discord not even that: the part's key is its nonce).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from bot.clock import Clock
from bot.digest import digest_reply
from bot.models import Post, Reply
from bot.ports.chat import (
    ChannelGone,
    ChannelMoved,
    ChatAdapter,
    DeliveryError,
    RateLimited,
)
from bot.ports.storage import Delivery, Storage
from bot.ratelimit import RateLimiter
from bot.splitting import split_reply

log = logging.getLogger("paperbot.delivery")

MAX_ATTEMPTS = 8
RENDER_CACHE = 32
BASE_BACKOFF = 2.0
MAX_BACKOFF = 600.0

DELIVERY_OUTCOMES = ("sent", "rate_limited", "retry", "gone", "moved", "failed")
# Told (platform, outcome) after every delivery attempt, e.g. to count them for metrics.
OutcomeObserver = Callable[[str, str], None]


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th failure."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(attempt - 1, 0))
    return rng.uniform(ceiling / 2, ceiling)


class DeliveryWorker:
    """Delivers one platform's outbox rows through its adapter."""

    def __init__(
        self,
        adapter: ChatAdapter,
        storage: Storage,
        clock: Clock,
        *,
        concurrency: int = 64,
        poll_seconds: float = 1.0,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        on_outcome: OutcomeObserver | None = None,
    ) -> None:
        self.adapter = adapter
        self.storage = storage
        self.clock = clock
        self.limiter = limiter or RateLimiter(adapter.rate_windows)
        self._poll = poll_seconds
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = rng or random.Random()
        self._stopping = False
        self._rendered: dict[tuple[tuple[str, ...], str], list[Reply]] = {}
        self._on_outcome = on_outcome or (lambda platform, outcome: None)

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and dispatch ready rows until :meth:`stop`."""
        while not self._stopping:
            # Cleared before claiming, so a wake() during the claim is not lost.
            self._wake.clear()
            free = self._concurrency - len(self._tasks)
            claimed = []
            if free > 0:
                claimed = await self.storage.claim_deliveries(
                    self.adapter.platform, self.clock.now(), free
                )
            for delivery in claimed:
                task = asyncio.create_task(self._deliver_and_release(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; let in-flight sends finish for up to ``grace`` seconds.

        Sends still running after that are cancelled; their rows stay in
        'sending' and go back to pending at the next start.
        """
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the in-flight sends (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def _deliver_and_release(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except Exception:
            log.exception("delivery %d to %s crashed", delivery.id, delivery.channel)
            await self.storage.retry_delivery(
                delivery.id, self.clock.now() + timedelta(minutes=5), "internal error"
            )
            self._on_outcome(self.adapter.platform, "retry")
        finally:
            # Refill in batches: claiming one row per finished send would cost
            # a database round trip per message at high rates.
            if len(self._tasks) <= self._concurrency // 2 + 1:
                self._wake.set()

    async def _parts(self, delivery: Delivery) -> list[Reply]:
        """The message parts of a digest, rendered once per digest, not per channel.

        A fan-out sends the same papers for the same period to thousands of
        channels; rendering and splitting them again for each was most of the
        CPU per message.
        """
        key = (delivery.paper_keys, delivery.period)
        parts = self._rendered.get(key)
        if parts is None:
            papers = await self.storage.get_papers(delivery.paper_keys)
            body = digest_reply(papers, delivery.period)
            parts = split_reply(body, self.adapter.limits, self.adapter.measure)
            if len(self._rendered) >= RENDER_CACHE:
                self._rendered.clear()
            self._rendered[key] = parts
        return parts

    async def deliver(self, delivery: Delivery) -> None:
        """Send every remaining part of ``delivery`` and record the outcome."""
        parts = await self._parts(delivery)
        channel = delivery.channel
        try:
            for index in range(delivery.parts_sent, len(parts)):
                await self.limiter.acquire(channel)
                post = Post(body=parts[index], key=f"paperbot-{delivery.id}-{index}")
                message_id = await self.adapter.send(channel, post)
                if index + 1 < len(parts):
                    # The last part is recorded by finish_delivery below: one
                    # write per single-part digest instead of two.
                    await self.storage.record_part_sent(delivery.id, index + 1)
                log.info(
                    "sent digest %s part %d/%d to %s (message %s)",
                    delivery.period,
                    index + 1,
                    len(parts),
                    channel,
                    message_id,
                )
        except DeliveryError as exc:
            outcome = await self._handle_failure(delivery, exc)
        else:
            await self.storage.finish_delivery(delivery.id, "sent", parts_sent=len(parts))
            outcome = "sent"
        self._on_outcome(self.adapter.platform, outcome)

    async def _handle_failure(self, delivery: Delivery, exc: DeliveryError) -> str:
        """Record the failure; returns its outcome, one of ``DELIVERY_OUTCOMES``."""
        now = self.clock.now()
        if isinstance(exc, RateLimited):
            self.limiter.penalize(delivery.channel, exc.retry_after)
            log.warning("%s rate limited: retry in %.1fs", delivery.channel, exc.retry_after)
            await self.storage.retry_delivery(
                delivery.id, now + timedelta(seconds=exc.retry_after), f"rate limited: {exc}"
            )
            outcome = "rate_limited"
        elif isinstance(exc, ChannelMoved):
            log.warning("%s moved to %s", delivery.channel, exc.new_channel)
            await self.storage.move_subscription(delivery.channel, exc.new_channel)
            await self.storage.retry_delivery(delivery.id, now, f"moved to {exc.new_channel}")
            self.wake()
            outcome = "moved"
        elif isinstance(exc, ChannelGone):
            log.warning("%s is gone (%s): pausing its subscription", delivery.channel, exc.reason)
            await self.storage.pause_subscription(delivery.channel, exc.reason)
            await self.storage.finish_delivery(delivery.id, "failed", exc.reason)
            outcome = "gone"
        elif delivery.attempts >= MAX_ATTEMPTS:
            log.error("giving up on %s after %d attempts: %s", delivery.channel, MAX_ATTEMPTS, exc)
            await self.storage.finish_delivery(delivery.id, "failed", f"gave up: {exc}")
            outcome = "failed"
        else:  # TemporaryFailure, or any other error the adapter raised
            delay = backoff_delay(delivery.attempts, self._rng)
            log.warning("%s temporary failure (%s): retry in %.0fs", delivery.channel, exc, delay)
            await self.storage.retry_delivery(
                delivery.id, now + timedelta(seconds=delay), f"temporary: {exc}"
            )
            outcome = "retry"
        return outcome
