"""A full disk during ingest, the tick and delivery, then freed: the running bot recovers.

Two simulations: a small tmpfs filled to the last block, where the test may
mount one (root in a container; skipped elsewhere), and SQLite's
``max_page_count`` capping the database, which refuses only the writes that
need a new page (here: the ingest).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.commands import CommandRouter
from bot.config import Settings
from bot.http_server import Health
from bot.jobs import Jobs
from bot.models import Post, Subscription
from bot.sources.huggingface import HuggingFaceSource
from storage.sqlite import SqliteStorage
from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.support import (
    FakeClock,
    RecordingAdapter,
    command,
    eventually,
    fill_up,
    make_paper,
    mount_tmpfs,
)

# The scheduler runs on real time, so the bot's clock starts now.
START = datetime.now(UTC)
TODAY = START.date()
YESTERDAY = TODAY - timedelta(days=1)
SUBSCRIBERS = 17
TICK = 0.3


@dataclass
class Disk:
    """Where the database lives, and a way to fill that place up and free it again."""

    folder: Path
    tmpfs: bool
    storage: SqliteStorage | None = None
    filler: Path = field(init=False)

    def __post_init__(self) -> None:
        self.filler = self.folder.parent / "filler"

    async def fill(self) -> None:
        """From now on the database's writes fail with 'database or disk is full'."""
        assert self.storage is not None
        if not self.tmpfs:
            conn = self.storage._db  # the cap is per connection: it must be the bot's own
            pages = (await (await conn.execute("PRAGMA page_count")).fetchone() or [0])[0]
            await conn.execute(f"PRAGMA max_page_count = {pages}")
            return
        # An empty WAL file: every write must grow it, and nothing is left to grow into.
        # In a thread: the checkpoint waits for the bot's open transaction, which
        # can only end while the event loop runs.
        await asyncio.to_thread(_truncate_wal, self.folder / "bot.db")
        self.filler = self.folder / "filler"
        fill_up(self.filler)

    async def free(self) -> None:
        """Space again."""
        assert self.storage is not None
        if not self.tmpfs:
            await self.storage._db.execute("PRAGMA max_page_count = 4294967294")
            return
        self.filler.unlink()


def _truncate_wal(db_path: Path) -> None:
    with closing(sqlite3.connect(db_path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture(params=["tmpfs", "max_page_count"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = request.param == "tmpfs" and mount_tmpfs(folder, "32m")
    if request.param == "tmpfs" and not mounted:
        pytest.skip("cannot mount a tmpfs here")
    yield Disk(folder, mounted)
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
async def store(disk: Disk) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(disk.folder / "bot.db")
    disk.storage = storage
    yield storage
    await storage.close()


@pytest.fixture
def hf(hf: FakeHuggingFace) -> FakeHuggingFace:
    # Long abstracts: storing them needs new pages whatever the simulation.
    hf.add_papers(
        TODAY,
        [
            make_item(f"2603.1{n:04d}", f"Fresh paper {n}", day=TODAY, summary="words " * 400)
            for n in range(40)
        ],
    )
    return hf


class FillingAdapter(RecordingAdapter):
    """Records sends; runs ``on_send`` once, after the send numbered ``at``."""

    def __init__(self, at: int, on_send: Callable[[], object]) -> None:
        super().__init__()
        self._at = at
        self._on_send = on_send

    async def send(self, channel: str, post: Post) -> str:
        """Record the post, then maybe fill the disk (between the send and its record)."""
        message = await super().send(channel, post)
        if len(self.sent) == self._at:
            await self._on_send()  # type: ignore[misc]
        return message


async def test_full_disk_then_freed_the_running_bot_recovers_without_restart(
    disk: Disk, store: SqliteStorage, hf: FakeHuggingFace, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(START)
    await store.upsert_papers(
        [make_paper(f"2603.{n:05d}", f"Paper {n}", day=YESTERDAY, upvotes=n) for n in range(1, 6)]
    )
    for n in range(SUBSCRIBERS):
        sub = Subscription(channel=f"test:{n}", next_run_at=clock.now() - timedelta(seconds=1))
        await store.save_subscription(sub)

    refills: list[str] = []

    async def free_later() -> None:
        await asyncio.sleep(0.5)  # the disk stays full while delivery goes on
        await disk.free()
        refills.append("freed")

    async def refill_during_delivery() -> None:
        await disk.fill()
        refills.append("filled")
        background.append(asyncio.create_task(free_later()))

    background: list[asyncio.Task[None]] = []

    adapter = FillingAdapter(at=5, on_send=refill_during_delivery)
    # Short leases: roles the full disk made this process lose come back within a tick.
    settings = Settings(tick_seconds=TICK, ingest_days=1, lease_seconds=1)
    source = HuggingFaceSource(hf.endpoint)
    jobs = Jobs(settings, store, [adapter], source=source, clock=clock)
    health = Health([adapter], store, jobs, clock)
    ticks: list[int] = []
    tick = jobs.tick

    async def counted_tick() -> int:
        due = await tick()
        ticks.append(due)
        return due

    jobs.tick = counted_tick  # type: ignore[method-assign]  # the scheduler runs it

    await disk.fill()
    with caplog.at_level(logging.DEBUG, logger="paperbot"):
        await jobs.ingest()
        assert await store.count_papers() == 5  # the ingest was refused, nothing half-written
        healthy, body = await health.report()
        assert not healthy and "database is not writable" in body["problems"]
        await jobs.start()
        try:
            if disk.tmpfs:  # every write fails, the role leases' too: no tick runs
                failed = "renewing role leases failed"

                def renewals_failed() -> list[logging.LogRecord]:
                    return [r for r in caplog.records if failed in r.message]

                await eventually(lambda: len(renewals_failed()) >= 3, 10, message=failed)
                healthy, body = await health.report()
                assert not healthy and "database is not writable" in body["problems"]
                assert adapter.sent == [] and ticks == []
                errors = [r for r in renewals_failed() if r.levelno == logging.ERROR]
                assert len(errors) == 1 and "database or disk is full" in errors[0].message
            else:
                await eventually(lambda: len(ticks) >= 4, 10, message="ticks against the full disk")

            await disk.free()
            freed = time.monotonic()
            await eventually(lambda: len(adapter.sent) >= SUBSCRIBERS, 10, message="every digest")
            recovered = time.monotonic() - freed
            # Within one tick (sends go on while the disk is refilled below).
            assert recovered < TICK + 1.0, recovered
            await eventually(
                lambda: refills == ["filled", "freed"], message="the disk filled, freed"
            )
            await eventually(
                lambda: not jobs.workers["test"]._unrecorded, 10, message="outcomes recorded"
            )
            if disk.tmpfs:
                assert "test outbox failed: WriteFailed: database or disk is full" in caplog.text
            await jobs.ingest()  # what the next scheduled ingest does
            assert await store.count_papers() == 5 + 40
        finally:
            await jobs.stop()
            await source.aclose()

    assert sorted(channel for channel, _ in adapter.sent) == sorted(
        f"test:{n}" for n in range(SUBSCRIBERS)
    )  # each subscriber once: no digest sent twice after the refused writes
    assert await store.outbox_depth() == 0
    for n in range(SUBSCRIBERS):
        last = await store.last_delivery(f"test:{n}")
        assert last is not None and last.state == "sent"
    healthy, _ = await health.report()
    assert healthy


# max_page_count lets a small write like this one through: only a full tmpfs refuses it.
@pytest.mark.parametrize("disk", ["tmpfs"], indirect=True)
async def test_a_command_whose_write_failed_says_so_and_saved_nothing(
    disk: Disk, store: SqliteStorage
) -> None:
    router = CommandRouter(store, FakeClock(START))
    await disk.fill()
    reply = await router(command("subscribe", "09:00 Europe/Berlin"))
    assert reply.is_error
    assert reply.text == (
        "Sorry, that was not saved: the database refused the write (database or disk is full)."
        " Nothing changed; please try again later."
    )
    await disk.free()
    # Nothing of the refused write is committed later by someone else's write.
    await store.save_subscription(Subscription(channel="test:other"))
    assert await store.get_subscription("test:1") is None
    reply = await router(command("subscribe", "09:00 Europe/Berlin"))
    assert not reply.is_error
    assert await store.get_subscription("test:1") is not None
