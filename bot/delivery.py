"""The outbox worker of one platform: claims due digests, sends them rate-limited, records outcomes.

Each delivery runs as its own task (bounded by ``concurrency``), so one slow
or dead channel never delays the others. A message part is recorded as sent
right after the platform accepts it; after a crash the row goes back to
pending and resumes at the first unrecorded part, so at most the one part in
flight can repeat (and on Discord not even that: the part's key is its nonce).

A write the database refuses (a full disk) does not lose the outcome: it is
kept in memory and written again, with backoff, before new rows are claimed,
so a digest already sent is not sent again while the process lives.

Several processes may share the outbox. Claimed rows are leased to this
process (renewed by :class:`bot.roles.Roles`), and with roles the worker sends
only while this process holds its account's sender role: the one place that
spends the account's rate budget. Losing the role (or stopping) ends sending
before the next part goes out; rows not sent are given back to pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.alerts import alert_reply, is_alert_period
from bot.clock import Clock, SystemClock
from bot.digest import ArxivPool, digest_reply
from bot.faults import FailureLog, describe
from bot.models import Post, Reply
from bot.ports.chat import (
    ChannelGone,
    ChannelMoved,
    ChatAdapter,
    DeliveryError,
    RateLimited,
    SharesRateBudget,
)
from bot.ports.storage import Delivery, OutboxLease, Storage
from bot.ratelimit import RateLimiter
from bot.roles import DEFAULT_LEASE_SECONDS, Roles, process_owner
from bot.splitting import split_reply

log = logging.getLogger("paperbot.delivery")

# Temporary failures (network errors, 5xx, timeouts) before a digest is given
# up on; rate-limit waits, channel moves and restarts do not count.
MAX_FAILURES = 8
RENDER_CACHE = 32
BASE_BACKOFF = 2.0
MAX_BACKOFF = 600.0
# While the database refuses writes, the worker retries after 0.5, 1, 2, 4 s:
# it resumes within a few seconds of the cause going away.
STORAGE_BACKOFF = 0.5
MAX_STORAGE_BACKOFF = 4.0

DELIVERY_OUTCOMES = ("sent", "rate_limited", "retry", "gone", "moved", "failed")
# Told (platform, outcome) after every delivery attempt, e.g. to count them for metrics.
OutcomeObserver = Callable[[str, str], None]


def sender_role(adapter: ChatAdapter) -> str:
    """The role of sending for ``adapter``'s account: ``sender:<budget key>``.

    Adapters that do not name their account share one role per platform.
    """
    if isinstance(adapter, SharesRateBudget):
        return f"sender:{adapter.budget_key}"
    return f"sender:{adapter.platform}"


class _Abandoned(Exception):
    """A send not started because this process stopped, or lost the sender role."""


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
        deadline: timedelta | None = None,
        roles: Roles | None = None,
        owner: str | None = None,
    ) -> None:
        """``deadline``: how long after its due time a failing digest is still retried.

        ``roles``: this process's roles; the worker asks for its sender role
        and sends only while holding it, leasing rows under the roles' owner
        id. Without (one process, tests), rows are leased under ``owner`` (a
        new id by default) for the default lease, and nothing renews them.
        """
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
        self._rendered: dict[tuple[tuple[str, ...], str, str | None], list[Reply]] = {}
        self._on_outcome = on_outcome or (lambda platform, outcome: None)
        self._deadline = deadline
        # Outcome writes the database refused, oldest first, to be written again.
        self._unrecorded: deque[Callable[[], Awaitable[object]]] = deque()
        self._storage_failures = FailureLog(log, f"{adapter.platform} outbox")
        self._roles = roles
        self.owner = roles.owner if roles is not None else owner or process_owner()
        self.role = sender_role(adapter) if roles is not None else None
        self._lease_seconds = roles.lease_seconds if roles is not None else DEFAULT_LEASE_SECONDS
        self._lease_clock = roles.clock if roles is not None else SystemClock()
        if roles is not None and self.role is not None:
            roles.want(self.role, self._role_changed)
        # Tasks waiting for a send slot: a stop ends them at once (nothing
        # sent yet), and lets the others finish their send and its record.
        self._waiting: dict[asyncio.Task[Any], int] = {}
        # Rows known to be unsent (abandoned on a role loss, or ended by a
        # stop while waiting for a slot), to give back to pending.
        self._unsent: set[int] = set()
        self._was_allowed = False

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll."""
        self._wake.set()

    async def _role_changed(self, held: bool) -> None:
        self._wake.set()

    def may_send(self) -> bool:
        """Whether a send may start now: not stopping, and holding the sender role if any."""
        if self._stopping:
            return False
        return self._roles is None or self.role is None or self._roles.holds(self.role)

    async def run(self) -> None:
        """Claim and dispatch ready rows until :meth:`stop`; survives any storage error."""
        while not self._stopping:
            # Cleared before claiming, so a wake() during the claim is not lost.
            self._wake.clear()
            try:
                claimed = await self._claim()
            except Exception as exc:
                self._storage_failures.failed(exc)
                await self._pause(
                    self._storage_failures.backoff(STORAGE_BACKOFF, MAX_STORAGE_BACKOFF)
                )
                continue
            self._storage_failures.succeeded()
            for delivery in claimed:
                task = asyncio.create_task(self._deliver_and_release(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not claimed:
                await self._pause(self._poll)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _write_unrecorded(self) -> None:
        """Write the outcomes still unrecorded, oldest first; raises if the database refuses."""
        while self._unrecorded:
            await self._unrecorded[0]()
            self._unrecorded.popleft()

    async def _claim(self) -> list[Delivery]:
        """Write the outcomes still unrecorded, then claim what there is room for."""
        await self._write_unrecorded()
        if self._unsent:
            await self._release_unsent()
        allowed = self.may_send()
        if allowed and not self._was_allowed and self.role is not None:
            # The previous holder's last sends still count in the platform's
            # window: a new sender starts from an empty limiter, so it waits.
            self.limiter.handover()
        self._was_allowed = allowed
        free = self._concurrency - len(self._tasks)
        if free <= 0 or not allowed:
            return []
        since = self._lease_clock.now()
        until = since + timedelta(seconds=self._lease_seconds)
        lease = OutboxLease(self.owner, since, until, role=self.role)
        return await self.storage.claim_deliveries(
            self.adapter.platform, self.clock.now(), free, lease
        )

    async def _record(self, write: Callable[[], Awaitable[object]]) -> None:
        """Run an outcome write now; if the database refuses it, keep it for :meth:`run`."""
        if self._unrecorded:  # keep the order of outcome writes
            self._unrecorded.append(write)
            return
        try:
            await write()
        except Exception as exc:
            self._storage_failures.failed(exc)
            self._unrecorded.append(write)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; let sends already at the platform finish for up to ``grace`` seconds.

        Deliveries still waiting for a send slot end at once; sends still
        running after ``grace`` are cancelled. Their rows go back to pending
        for another process (or the next start): only a send cut off after
        the platform took it can repeat.
        """
        self._stopping = True
        self._wake.set()
        for task, delivery_id in self._waiting.items():
            self._unsent.add(delivery_id)
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # One last try for outcomes the database refused; rows whose outcome
        # is still unwritten stay 'sending' until their lease runs out, and
        # are resent then.
        with contextlib.suppress(Exception):
            await self._write_unrecorded()
            await self._release_unsent()

    async def drain(self) -> None:
        """Wait for the in-flight sends (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def _deliver_and_release(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except _Abandoned:
            self._unsent.add(delivery.id)  # given back to pending before the next claim
        except Exception as exc:
            log.error("delivery %d to %s crashed: %s", delivery.id, delivery.channel, describe(exc))
            log.debug("delivery crash traceback", exc_info=exc)
            at = self.clock.now() + timedelta(minutes=1)
            await self._retry(delivery.id, at, f"internal error: {describe(exc)}")
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
        if is_alert_period(delivery.period):
            # Each channel's own alerts are named: nothing to share between channels.
            body = await alert_reply(self.storage, delivery)
            return split_reply(body, self.adapter.limits, self.adapter.measure)
        key = (delivery.paper_keys, delivery.period, delivery.digest_info)
        parts = self._rendered.get(key)
        if parts is None:
            papers = await self.storage.get_papers(delivery.paper_keys)
            body = digest_reply(papers, delivery.period, ArxivPool.from_json(delivery.digest_info))
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
                await self._acquire(channel, delivery.id)
                if not self.may_send():
                    raise _Abandoned
                post = Post(body=parts[index], key=f"paperbot-{delivery.id}-{index}")
                message_id = await self.adapter.send(channel, post)
                if index + 1 < len(parts):
                    # The last part is recorded by finish_delivery below: one
                    # write per single-part digest instead of two.
                    await self._record(
                        partial(
                            self.storage.record_part_sent, delivery.id, index + 1, owner=self.owner
                        )
                    )
                log.info(
                    "sent %s part %d/%d to %s (message %s)",
                    delivery.period,
                    index + 1,
                    len(parts),
                    channel,
                    message_id,
                )
        except DeliveryError as exc:
            outcome = await self._handle_failure(delivery, exc)
        else:
            count = len(parts)
            await self._record(partial(self._finish, delivery.id, "sent", parts_sent=count))
            outcome = "sent"
        self._on_outcome(self.adapter.platform, outcome)

    async def _acquire(self, channel: str, delivery_id: int) -> None:
        """Wait for a send slot, marked as waiting (a stop ends the wait at once)."""
        task = asyncio.current_task()
        assert task is not None
        self._waiting[task] = delivery_id
        try:
            await self.limiter.acquire(channel)
        finally:
            del self._waiting[task]

    async def _release_unsent(self) -> None:
        """Give the rows known to be unsent back to pending, for any sender to claim."""
        ids = sorted(self._unsent)
        released = await self.storage.release_deliveries(self.owner, ids)
        self._unsent.difference_update(ids)
        if released:
            log.info("gave %d unsent %s deliveries back", released, self.adapter.platform)

    async def _handle_failure(self, delivery: Delivery, exc: DeliveryError) -> str:
        """Record the failure; returns its outcome, one of ``DELIVERY_OUTCOMES``."""
        now = self.clock.now()
        channel = delivery.channel
        if isinstance(exc, ChannelGone):
            log.warning("%s is gone (%s): pausing its subscription", channel, exc.reason)
            await self._record(partial(self._gone, delivery.id, channel, exc.reason))
            return "gone"
        if isinstance(exc, ChannelMoved):
            log.warning("%s moved to %s", channel, exc.new_channel)
            await self._record(partial(self.storage.move_subscription, channel, exc.new_channel))
        if self._deadline is not None and now >= delivery.due_at + self._deadline:
            hours = self._deadline.total_seconds() / 3600
            reason = f"gave up: not delivered within {hours:g} h of its time; last error: {exc}"
            log.error("giving up on %s: %s", channel, reason)
            await self._record(partial(self._finish, delivery.id, "failed", reason))
            return "failed"
        if isinstance(exc, RateLimited):
            self.limiter.penalize(channel, exc.retry_after)
            log.warning("%s rate limited: retry in %.1fs", channel, exc.retry_after)
            at = now + timedelta(seconds=exc.retry_after)
            await self._retry(delivery.id, at, f"rate limited: {exc}")
            return "rate_limited"
        if isinstance(exc, ChannelMoved):
            await self._record(partial(self._resume_moved, delivery.id, now, exc.new_channel))
            self.wake()
            return "moved"
        failures = delivery.failures + 1
        if failures >= MAX_FAILURES:
            log.error("giving up on %s after %d temporary failures: %s", channel, failures, exc)
            reason = f"gave up after {failures} temporary failures: {exc}"
            await self._record(partial(self._finish, delivery.id, "failed", reason))
            return "failed"
        # TemporaryFailure, or any other error the adapter raised
        delay = backoff_delay(failures, self._rng)
        log.warning("%s temporary failure (%s): retry in %.0fs", channel, exc, delay)
        await self._retry(
            delivery.id, now + timedelta(seconds=delay), f"temporary: {exc}", failure=True
        )
        return "retry"

    async def _retry(
        self, delivery_id: int, at: datetime, error: str, *, failure: bool = False
    ) -> None:
        await self._record(
            partial(
                self.storage.retry_delivery,
                delivery_id,
                at,
                error,
                failure=failure,
                owner=self.owner,
            )
        )

    async def _finish(
        self,
        delivery_id: int,
        state: str,
        error: str | None = None,
        *,
        parts_sent: int | None = None,
    ) -> None:
        """Record a final outcome, unless another process took the row over meanwhile."""
        if not await self.storage.finish_delivery(
            delivery_id, state, error, parts_sent=parts_sent, owner=self.owner
        ):
            log.warning(
                "delivery %d was taken over by another process before its outcome (%s) was"
                " written: this process's lease on it had run out",
                delivery_id,
                state,
            )

    async def _gone(self, delivery_id: int, channel: str, reason: str) -> None:
        await self.storage.pause_subscription(channel, reason)
        await self._finish(delivery_id, "failed", reason)

    async def _resume_moved(self, delivery_id: int, now: datetime, new_channel: str) -> None:
        """Send the moved digest again, now under its new channel, unless the move closed it.

        Moving onto a chat with its own digest for the period skips this one.
        """
        current = await self.storage.get_delivery(delivery_id)
        if current is not None and current.state == "sending":
            await self.storage.retry_delivery(
                delivery_id, now, f"moved to {new_channel}", owner=self.owner
            )
