"""Shared test helpers: waiting with a deadline, a controllable clock, paper factories,
a recording adapter, the command line as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.jobs import Jobs
from bot.models import Command, Paper, Post, Reply
from bot.ports.chat import DeliveryError, RateWindow, RenderLimits
from bot.ports.storage import OutboxLease, Storage


def lease_of(owner: str) -> OutboxLease:
    """A claim of outbox rows by ``owner`` that never expires within a test."""
    return OutboxLease(owner, datetime.now(UTC), datetime(2100, 1, 1, tzinfo=UTC))


# The owner id of workers built by tests of one process (``DeliveryWorker(owner=...)``).
TEST_OWNER = "test-host:1:test"
TEST_LEASE = lease_of(TEST_OWNER)

Check = Callable[[], object] | Callable[[], Awaitable[object]]


async def eventually(
    check: Check,
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "",
) -> object:
    """Re-run ``check`` until it returns something truthy, and return that.

    ``check`` may be a plain or an async function; whatever it raises ends the wait at once
    (so a check can fail fast, e.g. when the process it waits on has died). After
    ``timeout`` seconds this raises AssertionError naming ``message`` (a string, or a
    function called then, e.g. to show a log tail) and the last result, so a wait never
    falls through silently.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what or 'the condition'}"
                f" (last result: {last!r})"
            )
        await asyncio.sleep(interval)


def mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` ("32m") on ``folder``; False where that is not
    possible (not root, not Linux): the caller skips its test then."""
    return (
        sys.platform == "linux"
        and os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def fill_up(filler: Path) -> None:
    """Write ``filler`` until its file system has no block left."""
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any PAPERBOT_ variable, plus ``settings``:
    what a subprocess of the bot should see, whatever the developer's shell has set."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PAPERBOT_")}
    env.update(settings)
    return env


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The current fake time."""
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta's keyword arguments."""
        self.current += timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.current = moment


def make_paper(
    arxiv_id: str | None,
    title: str,
    *,
    day: date | None = None,
    upvotes: int = 0,
    summary: str = "An abstract.",
    authors: tuple[str, ...] = ("Ada Lovelace",),
    keywords: tuple[str, ...] = (),
) -> Paper:
    """A paper featured on ``day``."""
    return Paper(
        title=title,
        arxiv_id=arxiv_id,
        summary=summary,
        authors=authors,
        published_at=day,
        featured_on=day,
        upvotes=upvotes,
        ai_keywords=keywords,
    )


async def ingest_one_at_a_time(storage: Storage, count: int = 43) -> None:
    """Store ``count`` "Graph paper N" papers in as many upserts, as small ingests do.

    Each upsert leaves its own index segment, so the index has merging to do.
    """
    for n in range(count):
        await storage.upsert_papers([make_paper(f"2603.{n:05d}", f"Graph paper {n}")])


def command(name: str, args: str = "", *, admin: bool = True, channel: str = "test:1") -> Command:
    """A command from user ``test:user``."""
    return Command(name=name, args=args, channel=channel, user="test:user", is_admin=admin)


@dataclass
class RecordingAdapter:
    """A chat adapter in memory: records sends, can be told to fail per channel."""

    platform: str = "test"
    limits: RenderLimits = field(default_factory=lambda: RenderLimits(4000, 10))
    sent: list[tuple[str, Post]] = field(default_factory=list)
    failures: dict[str, Callable[[], DeliveryError]] = field(default_factory=dict)

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to disconnect."""

    async def send(self, channel: str, post: Post) -> str:
        """Record the post, or raise the configured failure."""
        failure = self.failures.get(channel)
        if failure is not None:
            raise failure()
        self.sent.append((channel, post))
        return str(len(self.sent))

    def measure(self, body: Reply) -> int:
        """Characters of all text in the reply."""
        text = [body.title or "", body.text, body.footer or ""]
        for card in body.cards:
            text += [card.title, card.authors, card.summary, *(link.url for link in card.links)]
        return sum(len(part) for part in text)

    def rate_windows(self, channel: str) -> list[RateWindow]:
        """No limits for the fake."""
        return []


async def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60.0
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m bot <args>`` as a real subprocess.

    Async, so a fake server running in the test's event loop keeps answering it.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def deliver_all(jobs: Jobs, store: Storage, clock: FakeClock) -> None:
    """Send every ready outbox row of the ``test`` platform through its worker, as the
    sender-role holder of a started process does."""
    worker = jobs.workers["test"]
    await jobs.roles.renew()
    for delivery in await store.claim_deliveries("test", clock.now(), 100, lease_of(worker.owner)):
        await worker.deliver(delivery)


# How often LoopLag's heartbeat wakes.
HEARTBEAT = 0.005


class LoopLag:
    """The worst lag of this event loop (where an in-process fake runs), by a 5 ms heartbeat.

    A fake time-stamps a request when its event loop gets to it: evenly paced
    sends reach its rate checks bunched by as much as that loop lagged.
    """

    def __init__(self) -> None:
        self.worst = 0.0

    async def measure(self) -> None:
        """Run until cancelled, keeping the worst lag seen in :attr:`worst`."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(HEARTBEAT)
            self.worst = max(self.worst, loop.time() - before - HEARTBEAT)
