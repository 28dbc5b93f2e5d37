"""Background work: the ingest job, the due-subscription tick and the delivery workers.

APScheduler only decides *when* these run; all state (next runs, the outbox)
lives in the database, so a restart loses nothing. Processes sharing one
database split the work by roles (bot/roles.py): every process schedules every
job, and a job runs only in the process holding its role.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts import match_new_papers, queue_alert_messages
from bot.arxiv_schedule import ArxivFetcher
from bot.clock import Clock, SystemClock
from bot.commands import SESSION_TTL
from bot.config import Settings
from bot.delivery import DeliveryWorker, OutcomeObserver
from bot.digest import Candidates, plan_digest
from bot.faults import FailureLog
from bot.ingest import DaySource, ingest_days, recent_days
from bot.models import Subscription
from bot.ports.chat import ChatAdapter, ExclusiveIntake
from bot.ports.storage import Storage
from bot.ratelimit import RateLimiter
from bot.roles import INGEST, TICK, UPKEEP, Roles
from bot.schedule import next_run, period_of
from bot.semantic import Semantic

log = logging.getLogger("paperbot.jobs")

DUE_BATCH = 500
# Upvotes move all day; refresh them before composing if the last ingest is older.
FRESH_ENOUGH = timedelta(minutes=10)
# ...but a slow or down source must not hold digests back: compose from what
# is stored once this much time has gone.
REFRESH_TIMEOUT = 20.0
# Due arXiv digests wait this long for an announcement not fetched yet: a few
# feeds and metadata batches at arXiv's 3 s pace. The fetch itself goes on.
ARXIV_REFRESH_TIMEOUT = 60.0
# Recorded arXiv announcements are kept this long: a digest looks at the latest
# one, or at the past week's; the papers themselves stay.
ARXIV_KEEP = timedelta(days=30)
# Index upkeep runs this often and for at most this long per run: a bulk load
# of a million papers leaves about 10 s of merging, done within half an hour.
MERGE_INTERVAL = timedelta(minutes=5)
# How often papers stored by other processes (``paperbot ingest``) get vectors.
EMBED_INTERVAL = timedelta(minutes=2)
MERGE_BUDGET = 2.0

# Told whether each ingest run fetched every day, e.g. to count runs for metrics.
IngestObserver = Callable[[bool], None]


class _ShutdownCancellationFilter(logging.Filter):
    """Drops APScheduler's report of a job cancelled by :meth:`Jobs.stop`.

    A job stopped before its first step (input ended right after start-up)
    never reaches :meth:`Jobs._run_job`'s handler; APScheduler then logs the
    cancellation as a failed job, with a traceback, though it is a normal end.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record about a cancelled job, True for everything else."""
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_APSCHEDULER_EXECUTOR_LOG = logging.getLogger("apscheduler.executors.default")
_APSCHEDULER_EXECUTOR_LOG.addFilter(_ShutdownCancellationFilter())


class Jobs:
    """Runs the scheduler and one delivery worker per adapter in the current loop."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        adapters: Sequence[ChatAdapter],
        source: DaySource | None,
        clock: Clock,
        *,
        on_delivery: OutcomeObserver | None = None,
        on_ingest: IngestObserver | None = None,
        semantic: Semantic | None = None,
        arxiv: ArxivFetcher | None = None,
        roles: Roles | None = None,
    ) -> None:
        """``roles``: this process's roles (default: new ones, leased in real time)."""
        self.settings = settings
        self.arxiv = arxiv
        self._arxiv_task: asyncio.Task[None] | None = None
        self._alerts_lock = asyncio.Lock()
        self.storage = storage
        self.semantic = semantic
        self.source = source
        self.clock = clock
        self.grace = timedelta(hours=settings.grace_hours)
        self.roles = roles or Roles(storage, SystemClock(), lease_seconds=settings.lease_seconds)
        self.workers = {
            a.platform: DeliveryWorker(
                a,
                storage,
                clock,
                on_outcome=on_delivery,
                limiter=RateLimiter(a.rate_windows, scale=settings.rate_limit_scale),
                deadline=self.grace,
                roles=self.roles,
            )
            for a in adapters
        }
        ingests = source is not None or arxiv is not None
        for role in (TICK, UPKEEP, *([INGEST] if ingests else [])):
            self.roles.want(role)
        for adapter in adapters:
            self._share_intake(adapter)
        self._on_ingest = on_ingest or (lambda ok: None)
        self._scheduler: AsyncIOScheduler | None = None
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._unwatch: Callable[[], Awaitable[None]] | None = None
        self._last_ingest: datetime | None = None
        self.last_ingest_ok: datetime | None = None
        # Each job's failures, logged once per distinct error; a failed job is
        # retried at its next run (the tick within tick_seconds).
        self._failures: dict[str, FailureLog] = {}

    def _share_intake(self, adapter: ChatAdapter) -> None:
        """Run an intake only one process may run (Telegram's long poll) only while holding it."""
        if not isinstance(adapter, ExclusiveIntake):
            return
        role = adapter.intake_role()
        if role is None:
            return
        adapter.defer_intake()

        async def follow(held: bool) -> None:
            await (adapter.start_intake() if held else adapter.stop_intake())

        self.roles.want(role, follow)

    def _outbox_changed(self, platform: str) -> None:
        """A row became pending somewhere: wake that platform's sender ('': every sender)."""
        for name, worker in self.workers.items():
            if platform in ("", name):
                worker.wake()

    def _failure_log(self, name: str) -> FailureLog:
        found = self._failures.get(name)
        if found is None:
            found = self._failures[name] = FailureLog(log, name)
        return found

    async def start(self) -> None:
        """Take the free roles, start the workers and schedule the jobs.

        Interrupted sends need no recovery step: a sender claims rows whose
        lease ran out (their process died) like pending ones.
        """
        await self.roles.start()
        self._unwatch = await self.storage.watch_outbox(self._outbox_changed)
        if self._unwatch is not None:
            log.info("senders wake on outbox notifications")
        for worker in self.workers.values():
            self._worker_tasks.append(asyncio.create_task(worker.run()))
        scheduler = AsyncIOScheduler(timezone="UTC", event_loop=asyncio.get_running_loop())
        now = self.clock.now()
        options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        if self.source is not None:
            scheduler.add_job(
                self._run_job,
                "interval",
                args=[self.ingest, INGEST],
                minutes=self.settings.ingest_interval_minutes,
                next_run_time=now,
                id="ingest",
                **options,
            )
        if self.arxiv is not None:
            # Asks storage which announcement is missing; requests only then.
            scheduler.add_job(
                self._run_job,
                "interval",
                args=[self.arxiv_ingest, INGEST],
                minutes=self.settings.ingest_interval_minutes,
                next_run_time=now,
                id="arxiv_ingest",
                **options,
            )
        scheduler.add_job(
            self._run_job,
            "interval",
            args=[self.tick, TICK],
            seconds=self.settings.tick_seconds,
            next_run_time=now,
            id="tick",
            **options,
        )
        scheduler.add_job(
            self._run_job, "interval", args=[self.purge, UPKEEP], hours=1, id="purge", **options
        )
        if self.semantic is not None:
            # Starts at once: papers stored before vectors existed (or by
            # `paperbot ingest`) are embedded in the background.
            scheduler.add_job(
                self._run_job,
                "interval",
                args=[self.embed],
                seconds=EMBED_INTERVAL.total_seconds(),
                next_run_time=now,
                id="embed",
                **options,
            )
        scheduler.add_job(
            self._run_job,
            "interval",
            args=[self.merge_index, UPKEEP],
            seconds=MERGE_INTERVAL.total_seconds(),
            id="merge_index",
            **options,
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self, grace: float = 5.0) -> None:
        """Stop scheduling and give in-flight sends ``grace`` seconds to finish.

        Rows not sent go back to pending; a send cut off after the grace
        leaves its row leased until the lease runs out, then another process
        (or the next start) sends it. Roles are released last, so the process
        taking them over finds the outbox settled.
        """
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # also cancels a running ingest or tick
            self._scheduler = None
        if self._arxiv_task is not None:
            self._arxiv_task.cancel()
            await asyncio.gather(self._arxiv_task, return_exceptions=True)
        await asyncio.gather(*(w.stop(grace) for w in self.workers.values()))
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        self._worker_tasks.clear()
        if self._unwatch is not None:
            await self._unwatch()
            self._unwatch = None
        await self.roles.stop()
        if self.semantic is not None:
            # The next start then loads it with nothing to catch up.
            await self.semantic.save()

    async def _run_job(self, job: Callable[[], Awaitable[object]], role: str | None = None) -> None:
        """Run one scheduled job if this process holds its ``role``; it never raises,
        so APScheduler never logs a traceback.

        Being cancelled by :meth:`stop` is a normal end, not an error; any
        other failure is logged once per distinct error and retried at the
        job's next run.
        """
        if role is not None and not self.roles.holds(role):
            return
        name = getattr(job, "__name__", "job")
        failures = self._failure_log(f"{name} job")
        try:
            await job()
        except asyncio.CancelledError:
            log.info("%s interrupted by shutdown", name)
        except Exception as exc:
            failures.failed(exc)
        else:
            failures.succeeded()

    async def ingest(self) -> None:
        """Re-fetch the recent Hugging Face days so lists and upvotes stay current."""
        if self.source is None:
            return
        self._last_ingest = self.clock.now()
        days = recent_days(self._last_ingest.date(), self.settings.ingest_days)
        try:
            result = await ingest_days(self.storage, self.source, days)
        except Exception:
            self._on_ingest(False)
            raise
        self._on_ingest(result.ok)
        if result.ok:
            self.last_ingest_ok = self._last_ingest
        # The new papers' alert messages go out now, not at the next tick.
        await self.alerts()
        # New papers become findable by meaning right after they are stored.
        await self.embed()

    async def arxiv_ingest(self) -> None:
        """Fetch the latest announcement of every subscribed arXiv category not yet fetched.

        The point where an arXiv ingest has brought new papers (``result.new_keys``):
        their alert messages are queued at once, not at the next tick.
        """
        if self.arxiv is None:
            return
        result = await self.arxiv.fetch()
        if result is not None and result.new_keys:
            await self.alerts()
        if result is not None and result.papers:
            await self.embed()

    async def _refresh_arxiv(self, due: Sequence[tuple[int, Subscription]]) -> None:
        """Before composing due arXiv digests, fetch an announcement they lack (bounded wait)."""
        categories = sorted({code for _, sub in due for code in sub.arxiv_categories})
        if self.arxiv is None or not categories or not await self.arxiv.missing(categories):
            return
        if self._arxiv_task is None or self._arxiv_task.done():
            # Under the ingest role: one process (one connection) talks to arXiv.
            self._arxiv_task = asyncio.create_task(self._run_job(self.arxiv_ingest, INGEST))
        try:
            # Shielded: giving up waiting must not cancel the fetch halfway.
            await asyncio.wait_for(asyncio.shield(self._arxiv_task), ARXIV_REFRESH_TIMEOUT)
        except TimeoutError:
            log.warning(
                "fetching arXiv took over %.0f s: composing from stored announcements",
                ARXIV_REFRESH_TIMEOUT,
            )

    async def embed(self) -> None:
        """Give every stored paper without a vector one (batches; resumes where it stopped),
        and save the index when that is due."""
        if self.semantic is not None:
            await self.semantic.embed_missing()
            await self.semantic.save(when_due=True)

    async def tick(self) -> int:
        """Turn every due subscription into an outbox row, and pending alert
        matches into alert messages; returns how many subscriptions were due."""
        failures = self._failure_log("scheduling tick")
        try:
            due = await self._tick()
        except Exception as exc:  # a failed tick must not stop the next one
            failures.failed(exc)
            return 0
        failures.succeeded()
        await self.alerts()
        return due

    async def alerts(self) -> int:
        """Match papers still queued for alerts (stored by a process that stopped before
        matching them) and queue the alert messages that are due; returns how many."""
        failures = self._failure_log("alerts")
        try:
            # The ingest and the tick both get here; one at a time (storage
            # keeps two processes from queueing the same matches).
            async with self._alerts_lock:
                await match_new_papers(self.storage)
                queued = await queue_alert_messages(self.storage, self.clock.now())
        except Exception as exc:  # retried at the next tick
            failures.failed(exc)
            return 0
        failures.succeeded()
        if queued:
            for worker in self.workers.values():
                worker.wake()
        return queued

    async def _tick(self) -> int:
        now = self.clock.now()
        due = await self.storage.due_subscriptions(now, DUE_BATCH)
        if not due:
            return 0
        hf_due = any(not sub.arxiv_categories for _, sub in due)
        if (
            hf_due
            and self.source is not None
            and (self._last_ingest is None or now - self._last_ingest > FRESH_ENOUGH)
        ):
            try:
                await asyncio.wait_for(self.ingest(), REFRESH_TIMEOUT)
            except TimeoutError:
                log.warning(
                    "refreshing papers took over %.0f s: composing from stored data",
                    REFRESH_TIMEOUT,
                )
        await self._refresh_arxiv(due)
        candidates = Candidates(self.storage, self.semantic)
        for sub_id, sub in due:
            await self.schedule(sub_id, sub, now, candidates)
        for worker in self.workers.values():
            worker.wake()
        return len(due)

    async def schedule(
        self, sub_id: int, sub: Subscription, now: datetime, candidates: Candidates
    ) -> None:
        """Queue (or skip) the run of ``sub`` that fell due, then book its next run."""
        run_at = sub.next_run_at or now
        period = period_of(sub, run_at)
        late = now - run_at
        if late > self.grace:
            hours = late.total_seconds() / 3600
            await self.storage.create_delivery(
                sub_id,
                sub.channel,
                period,
                run_at,
                [],
                "skipped",
                f"missed: due {hours:.1f} h ago, past the {self.settings.grace_hours:g} h grace",
            )
            log.warning("skipped %s digest for %s: %.1f h late", period, sub.channel, hours)
        else:
            plan = await plan_digest(self.storage, sub, now, candidates)
            keys = [paper.key for paper in plan.papers]
            if keys:
                await self.storage.create_delivery(
                    sub_id, sub.channel, period, now, keys, digest_info=plan.digest_info
                )
            else:
                await self.storage.create_delivery(
                    sub_id, sub.channel, period, now, [], "skipped", plan.empty_reason
                )
                log.info("skipped %s digest for %s: %s", period, sub.channel, plan.empty_reason)
        # Booked after the outbox row: a crash in between re-runs this, and the
        # UNIQUE (subscription, period) key makes the re-run a no-op.
        await self.storage.set_next_run(sub.channel, next_run(sub, max(now, run_at)))

    async def purge(self) -> None:
        """Drop expired search sessions and arXiv announcements no digest looks at any more."""
        now = self.clock.now()
        await self.storage.purge_search_sessions(now - SESSION_TTL)
        await self.storage.purge_arxiv_announcements((now - ARXIV_KEEP).date())

    async def merge_index(self) -> None:
        """Merge the search index's small segments for a bounded time (searches get faster)."""
        await self.storage.upkeep(MERGE_BUDGET)
