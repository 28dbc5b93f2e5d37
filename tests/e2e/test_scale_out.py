"""Scale-out: several `paperbot run` processes on one database deliver one digest to 1,000
Telegram chats while processes are SIGKILLed and gracefully restarted at random moments.

Three processes on PostgreSQL (the suite's embedded server), two on one SQLite file,
against the over-the-wire Telegram fake enforcing Telegram's limits (30 messages/s per
token, 1/s per chat, 20/min per group; every window x``TIME_SCALE``). The leases are
shortened (``PAPERBOT_LEASE_SECONDS``) so the run stays short; the mechanism is the real one.

Each scenario runs ``EVENTS`` events, spaced through the fan-out: SIGKILL of the sender
role's holder, SIGKILL of another process, SIGTERM (graceful) of either, each followed by
a new process. Checked:

- every chat gets its digest;
- a chat gets a repeat only from a SIGKILL of the sender that cut off its own send (its
  first copy was accepted just before that kill), at most one per such kill, and none
  from a graceful restart;
- the fake counts zero 429s, and no 1 s window (scaled) holds more sends than the ceiling
  (give or take what the fake's own event loop lagged: it time-stamps the requests);
- after the sender's holder is killed, another process holds the role within 15 s, and
  the fan-out finishes;
- Telegram's long poll runs in one process at a time: a 409 Conflict only answers the
  poll a stopped poller left behind, at most once per poller.

The seed is fixed (``SCALE_TEST_SEED`` overrides it) and printed in every failure.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.plugins import open_storage
from bot.ports.storage import Storage
from tests.e2e.test_crash_recovery import HEADING, fakes, prepare_database
from tests.fakes.telegram import Call
from tests.postgres import fresh_schema
from tests.support import LoopLag, clean_environment, eventually

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("SCALE_TEST_SEED", "20261201"))
PRIVATE_CHATS = 980
GROUPS = 20
TIME_SCALE = 0.5  # Telegram's windows halved: a ceiling of 60 messages/s
CEILING = 30  # messages per (scaled) second, per token
LEASE_SECONDS = 5  # roles and outbox rows (default 10), renewed every 1.7 s
TAKEOVER_LIMIT = 15.0
CONCURRENCY = 64  # DeliveryWorker's default: at most this many sends in flight at a kill
# A send accepted by Telegram is recorded by the bot well within this; a repeat must
# follow a kill of the sender no later than this after its first copy was accepted.
RECORD_SECONDS = 2.0
EVENTS = ("kill-holder", "stop-holder", "kill-other", "kill-holder", "stop-other", "stop-holder")
# The fake shares the test's event loop: a request the killed process wrote just
# before the kill is taken (time-stamped) when the loop gets to it, a moment later.
LATE = 0.5
MIN_GAP = 130  # accepted digests between events: more than RECORD_SECONDS of sending
STOP_SECONDS = 15.0
BOT_NICENESS = 5
FINISH_SECONDS = 90.0


def chat_ids() -> list[int]:
    """980 private chats and 20 supergroups."""
    return [20_000_000 + n for n in range(PRIVATE_CHATS)] + [
        -1_002_000_000_000 - n for n in range(GROUPS)
    ]


@dataclass
class Event:
    """One disruption: what, to which process, and when (monotonic, the fake's clock too)."""

    kind: str
    pid: int
    at: float
    held_sender: bool
    takeover_seconds: float | None = None


@dataclass
class Fleet:
    """Successive `python -m bot run` processes on one database."""

    folder: Path
    env: dict[str, str]
    storage: Storage
    processes: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    logs: dict[int, Path] = field(default_factory=dict)
    # Processes the test ended (the others must stay up).
    ended: set[int] = field(default_factory=set)
    started: int = 0

    async def start(self) -> int:
        self.started += 1
        log = self.folder / f"bot{self.started}.log"
        with log.open("wb") as out:  # the child keeps its own descriptor
            # Niced: the fake time-stamps each request when its event loop gets to
            # it, so the measuring instrument must not be the one starved of CPU
            # on a small machine (a stall would bunch the stamps of evenly paced sends).
            process = await asyncio.create_subprocess_exec(
                "nice", "-n", str(BOT_NICENESS), sys.executable, "-m", "bot", "run",
                cwd=self.folder, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        self.processes[process.pid] = process
        self.logs[process.pid] = log
        return process.pid

    def alive(self) -> list[int]:
        return [pid for pid, p in self.processes.items() if p.returncode is None]

    def ready(self) -> list[int]:
        """Live processes past start-up (they log their owner id once their roles run)."""
        return [pid for pid in self.alive() if "process owner id" in self.logs[pid].read_text()]

    def check_alive(self) -> None:
        """Fail at once if a process died on its own."""
        for pid, process in self.processes.items():
            if process.returncode is not None and pid not in self.ended:
                raise AssertionError(self.context(pid, f"exited on its own ({process.returncode})"))

    async def kill(self, pid: int) -> None:
        self.ended.add(pid)
        process = self.processes[pid]
        process.kill()  # SIGKILL: no handler, no cleanup, no flush
        await asyncio.wait_for(process.wait(), STOP_SECONDS)

    async def stop(self, pid: int) -> None:
        self.ended.add(pid)
        process = self.processes[pid]
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            raise AssertionError(self.context(pid, "no exit after SIGTERM")) from None
        assert code == 0, self.context(pid, f"exit code {code} after SIGTERM")

    async def cleanup(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()
                await process.wait()

    def context(self, pid: int, what: str) -> str:
        tail = self.logs[pid].read_text(errors="replace")[-3000:]
        return f"seed={SEED} process {pid}: {what}\n--- log tail ---\n{tail}"

    async def holder(self, prefix: str) -> int | None:
        """The pid of the live process holding the role named ``prefix...``, if any."""
        now = datetime.now(UTC)
        for lease in await self.storage.list_leases():
            if lease.name.startswith(prefix) and lease.expires_at > now:
                pid = int(lease.owner.split(":")[1])
                if pid in self.alive():
                    return pid
        return None


@dataclass
class Outcome:
    """What one scenario measured."""

    chats: int
    events: list[Event]
    repeats: int
    count_429: int
    max_window: int
    loop_lag_ms: int
    seconds: float


async def fan_out(url: str, processes: int, tmp_path: Path) -> Outcome:
    """Run one scenario on the database at ``url``; assert its rules; return the figures."""
    rng = random.Random(f"{SEED}-{processes}")
    chats = chat_ids()
    run_at = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    await prepare_database(url, chats, run_at)
    # Events at random served counts, at least MIN_GAP apart, from 5 % to 85 % of the chats.
    slack = int(0.8 * len(chats)) - MIN_GAP * (len(EVENTS) - 1)
    cuts = sorted(rng.randrange(slack) for _ in EVENTS)
    thresholds = [len(chats) // 20 + cut + MIN_GAP * n for n, cut in enumerate(cuts)]
    plan = list(EVENTS)
    rng.shuffle(plan)
    events: list[Event] = []
    began = time.monotonic()

    async with fakes(yesterday, TIME_SCALE) as (fake, hf):
        env = clean_environment(
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            PAPERBOT_DATABASE_URL=url,
            PAPERBOT_TELEGRAM_TOKEN=fake.token,
            PAPERBOT_TELEGRAM_API_URL=fake.api_url,
            PAPERBOT_HF_ENDPOINT=hf.endpoint,
            PAPERBOT_RATE_LIMIT_SCALE=str(TIME_SCALE),
            PAPERBOT_LEASE_SECONDS=str(LEASE_SECONDS),
            PAPERBOT_TICK_SECONDS="1",
            PAPERBOT_EMBEDDER="none",
            PAPERBOT_LOG_LEVEL="INFO",
        )
        watcher = await open_storage(url)
        fleet = Fleet(tmp_path, env, watcher)
        lag = LoopLag()
        lag_task = asyncio.create_task(lag.measure())

        def sends() -> list[Call]:
            return [c for c in fake.calls_to("sendMessage") if c.ok]

        def served() -> int:
            fleet.check_alive()
            return len({m["chat_id"] for m in fake.sent() if HEADING in m["plain_text"]})

        try:
            for _ in range(processes):
                await fleet.start()
            for kind, threshold in zip(plan, thresholds, strict=True):
                await eventually(
                    lambda n=threshold: served() >= n,
                    60,
                    0.02,
                    message=lambda n=threshold: f"seed={SEED}: {n} chats served",  # type: ignore[misc]
                )
                events.append(await disrupt(fleet, kind, rng))
                await fleet.start()
            await eventually(
                lambda: served() == len(chats),
                FINISH_SECONDS,
                0.1,
                message=lambda: f"seed={SEED}: every chat served ({served()} so far)",
            )
            await eventually(
                _outbox_settled(fleet.storage),
                FINISH_SECONDS,
                0.1,
                message=f"seed={SEED}: every outbox row sent",
            )
            await eventually(
                lambda: set(fleet.ready()) == set(fleet.alive()), 30, 0.05, message="start-ups"
            )
            for pid in fleet.alive():
                await fleet.stop(pid)
        finally:
            lag_task.cancel()
            await fleet.cleanup()
            await watcher.close()
        accepted = sends()
        count_429 = fake.count_429
        limits_hit = dict(fake.limits_hit)
        violations = list(fake.violations)
        conflicts = [c for c in fake.calls_to("getUpdates") if c.status == 409]
        pollers = sum(
            log.read_text().count("took role telegram-poller:") for log in fleet.logs.values()
        )
    seconds = time.monotonic() - began

    # --- what the users got -----------------------------------------------------
    per_chat: Counter[int | str | None] = Counter(c.chat_id for c in accepted)
    first_at: dict[int | str | None, float] = {}
    for call in accepted:
        first_at.setdefault(call.chat_id, call.ts)
    sender_kills = [e.at for e in events if e.kind == "kill" and e.held_sender]
    summary = (
        f"seed={SEED}, {processes} processes: events "
        + ", ".join(f"{e.kind}{' (sender)' if e.held_sender else ''}" for e in events)
        + f"; {len(accepted)} messages to {len(per_chat)} chats in {seconds:.1f} s"
    )
    print(summary)
    assert sorted(per_chat, key=str) == sorted(chats, key=str), (
        f"{summary}; chats without a digest: " + str(sorted(set(chats) - set(per_chat))[:20])
    )
    repeats = {chat: n - 1 for chat, n in per_chat.items() if n > 1}
    unexplained = {
        chat: n
        for chat, n in repeats.items()
        if n > sum(1 for at in sender_kills if -LATE <= at - first_at[chat] <= RECORD_SECONDS)
    }
    assert unexplained == {}, (
        f"{summary}; repeats no kill of the sender explains: {unexplained}; their sends at "
        + str(
            {c: [round(x.ts - began, 2) for x in accepted if x.chat_id == c] for c in unexplained}
        )
        + f" s; events at {[(e.kind, e.held_sender, round(e.at - began, 2)) for e in events]} s"
    )
    assert sum(repeats.values()) <= CONCURRENCY * len(sender_kills), summary
    assert count_429 == 0, f"{summary}; Telegram answered 429 {count_429} times ({limits_hit})"
    assert violations == [], f"{summary}; {violations[:5]}"
    max_window = busiest_window([c.ts for c in accepted], TIME_SCALE)
    # The fake stamps a request when its event loop (the test's) gets to it: stamps are
    # as late as that loop lagged, so evenly paced sends can bunch by that much.
    jitter = math.ceil(lag.worst * CEILING / TIME_SCALE)
    assert max_window <= CEILING + jitter, (
        f"{summary}; {max_window} sends in one {TIME_SCALE} s window"
        f" (the fake's loop lagged up to {lag.worst * 1000:.0f} ms)"
    )
    takeovers = [e.takeover_seconds for e in events if e.takeover_seconds is not None]
    assert takeovers and max(takeovers) < TAKEOVER_LIMIT, f"{summary}; takeovers {takeovers}"
    # A poller that stops or dies leaves its long poll parked at Telegram; the next
    # poll (the next poller's, or the stopping one's last confirming call) ends it with
    # 409. More than one per poller means two processes polled at once.
    assert pollers <= processes + len(events), f"{summary}; {pollers} pollers"
    assert len(conflicts) <= pollers, f"{summary}; {len(conflicts)} getUpdates conflicts"
    return Outcome(
        len(chats),
        events,
        sum(repeats.values()),
        count_429,
        max_window,
        round(lag.worst * 1000),
        round(seconds, 1),
    )


def _outbox_settled(storage: Storage) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await storage.outbox_depth() == 0

    return check


def busiest_window(times: list[float], seconds: float) -> int:
    """The most sends in any window of ``seconds`` (sliding, over the accepted sends)."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def disrupt(fleet: Fleet, kind: str, rng: random.Random) -> Event:
    """SIGKILL or SIGTERM the sender's holder or another process; time the takeover."""
    action, target = kind.split("-")
    holder = await eventually(
        lambda: fleet.holder("sender:telegram:"), 30, 0.05, message="a sender role holder"
    )
    assert isinstance(holder, int)
    if target == "holder":
        pid = holder
    else:  # another process, once one is up (SIGTERM during start-up is no graceful stop)
        others = await eventually(
            lambda: [pid for pid in fleet.ready() if pid != holder],
            30,
            0.05,
            message="another process up",
        )
        assert isinstance(others, list)
        pid = rng.choice(others)
    event = Event(action, pid, time.monotonic(), pid == holder)
    await (fleet.kill(pid) if action == "kill" else fleet.stop(pid))
    if pid == holder:

        async def moved() -> bool:
            new = await fleet.holder("sender:telegram:")
            return new is not None and new != pid

        await eventually(moved, TAKEOVER_LIMIT, 0.05, message=f"seed={SEED}: the sender to move")
        event.takeover_seconds = round(time.monotonic() - event.at, 2)
    return event


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.mark.timeout(240)
async def test_three_processes_on_postgresql_survive_kills_and_restarts(
    postgres_server_url: str, tmp_path: Path
) -> None:
    async with fresh_schema(postgres_server_url) as url:
        outcome = await fan_out(url, 3, tmp_path)
    print(outcome)


@pytest.mark.timeout(240)
async def test_two_processes_on_one_sqlite_file_survive_kills_and_restarts(
    sqlite_url: str, tmp_path: Path
) -> None:
    outcome = await fan_out(sqlite_url, 2, tmp_path)
    print(outcome)
