"""Crash recovery: SIGKILL `paperbot run` mid-delivery, restart it, count what every chat got.

One digest is due for 520 Telegram chats (500 private chats, 20 supergroups). The bot
runs as a subprocess against the over-the-wire Telegram fake (Telegram's limits,
windows x0.1) and is SIGKILLed several times: once right after it starts, then after
a random number of accepted messages. The last run finishes the outbox and stops on
SIGTERM. The rule checked: no chat loses its digest, and a message Telegram accepted
but the bot had not recorded yet repeats at most once per crash per chat.

The seed is fixed (``CRASH_TEST_SEED`` overrides it) and printed in every failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import Subscription
from bot.plugins import open_storage
from storage.sqlite.connection import to_ts
from tests.fakes.huggingface import FakeHuggingFace, make_item
from tests.fakes.telegram import FakeTelegram
from tests.support import LoopLag, clean_environment, eventually, make_paper

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("CRASH_TEST_SEED", "20250611"))
PRIVATE_CHATS = 500
GROUPS = 20
RANDOM_KILLS = 6  # plus one right after start-up
CONCURRENCY = 64  # DeliveryWorker's default: at most this many sends in flight at a kill
HEADING = "Trending papers"  # bot/digest.py digest_reply's title
TIME_SCALE = 0.1
KILL_JITTER = 0.02  # s, about 6 send slots at 300 messages/s
STARTUP_SECONDS = 30.0
RUN_SECONDS = 30.0
FINISH_SECONDS = 30.0
STOP_SECONDS = 10.0
LEASE_SECONDS = 3.0

PAPERS = [
    ("2501.00001", "Sparse Mixtures of Experts at Scale", 120),
    ("2501.00002", "Diffusion Models for Protein Design", 95),
    ("2501.00003", "Retrieval Augmented Reasoning", 80),
]


def chat_ids() -> list[int]:
    """500 private chats and 20 supergroups."""
    private = [10_000_000 + n for n in range(PRIVATE_CHATS)]
    groups = [-1_001_000_000_000 - n for n in range(GROUPS)]
    return private + groups


async def prepare_database(db: Path | str, chats: list[int], run_at: datetime) -> None:
    """The papers of yesterday and one subscription per chat, due at ``run_at``, in the
    database at ``db`` (a path or a URL; tests/e2e/test_scale_out.py uses it too)."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    storage = await open_storage(str(db))
    try:
        await storage.upsert_papers(
            make_paper(arxiv_id, title, day=yesterday, upvotes=upvotes)
            for arxiv_id, title, upvotes in PAPERS
        )
        await storage.save_subscriptions(
            [
                Subscription(
                    channel=f"telegram:{chat}",
                    post_time=run_at.time(),
                    timezone="UTC",
                    next_run_at=run_at,
                    created_by="test",
                )
                for chat in chats
            ]
        )
    finally:
        await storage.close()


@asynccontextmanager
async def fakes(
    yesterday: date, time_scale: float
) -> AsyncIterator[tuple[FakeTelegram, FakeHuggingFace]]:
    """The Telegram fake (Telegram's limits, windows x``time_scale``) and the Hugging Face
    fake listing ``PAPERS`` on ``yesterday``."""
    async with (
        FakeTelegram(rate_limit=True, time_scale=time_scale) as fake,
        FakeHuggingFace() as hf,
    ):
        hf.add_papers(
            yesterday,
            [make_item(a, t, day=yesterday, upvotes=u, summary="Short.") for a, t, u in PAPERS],
        )
        yield fake, hf


def bot_environment(db: Path, fake: FakeTelegram, hf: FakeHuggingFace) -> dict[str, str]:
    """The test's environment without any PAPERBOT_ setting, pointed at the fakes."""
    env = clean_environment()
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PAPERBOT_DB=str(db),
        PAPERBOT_TELEGRAM_TOKEN=fake.token,
        PAPERBOT_TELEGRAM_API_URL=fake.api_url,
        PAPERBOT_HF_ENDPOINT=hf.endpoint,
        PAPERBOT_RATE_LIMIT_SCALE=str(TIME_SCALE),
        PAPERBOT_TICK_SECONDS="1",
        PAPERBOT_LOG_LEVEL="INFO",
        # A killed sender's role frees once its lease runs out; a short lease keeps
        # seven kills from spending a minute waiting (tests/e2e/test_scale_out.py
        # covers the default's handover).
        PAPERBOT_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    return env


class BotRuns:
    """Starts, kills and stops successive `python -m bot run` processes."""

    def __init__(self, folder: Path, env: dict[str, str], seed: int) -> None:
        self.folder = folder
        self.env = env
        self.seed = seed
        self.process: asyncio.subprocess.Process | None = None
        self.runs = 0

    def log_path(self, run: int) -> Path:
        return self.folder / f"run{run}.log"

    async def start(self) -> asyncio.subprocess.Process:
        assert self.process is None or self.process.returncode is not None
        self.runs += 1
        with self.log_path(self.runs).open("wb") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run",
                cwd=self.folder, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        return self.process

    async def kill(self) -> None:
        process = self.running()
        process.kill()  # SIGKILL: no handler, no cleanup, no flush
        await asyncio.wait_for(process.wait(), STOP_SECONDS)

    async def terminate(self) -> int:
        process = self.running()
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            message = self.context(f"no exit within {STOP_SECONDS:g} s of SIGTERM")
            raise AssertionError(message) from None

    async def cleanup(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def running(self) -> asyncio.subprocess.Process:
        process = self.process
        assert process is not None
        if process.returncode is not None:
            raise AssertionError(self.context(f"the bot exited on its own ({process.returncode})"))
        return process

    def tail(self, chars: int = 3000) -> str:
        if not self.runs:
            return ""
        return self.log_path(self.runs).read_text(errors="replace")[-chars:]

    def context(self, what: str) -> str:
        return f"seed={self.seed} run {self.runs}: {what}\n--- log tail ---\n{self.tail()}"

    async def until(
        self, fake: FakeTelegram, condition: Callable[[], bool], timeout: float, what: str
    ) -> None:
        """``fake.wait_until(condition)``, but fail at once if the bot dies meanwhile."""
        process = self.running()
        waiter = asyncio.ensure_future(fake.wait_until(condition, timeout))
        died = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({waiter, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, died):
                task.cancel()
            await asyncio.gather(waiter, died, return_exceptions=True)
        if condition():
            return
        if process.returncode is not None:
            raise AssertionError(self.context(f"the bot exited ({process.returncode}) {what}"))
        raise AssertionError(self.context(f"timed out {what}"))

    async def poll(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Re-check ``condition`` (e.g. on the database) every 50 ms while the bot runs."""

        def met() -> bool:
            self.running()  # fails at once if the bot died
            return condition()

        await eventually(met, timeout, 0.05, message=lambda: self.context(what))


def outbox(db: Path) -> tuple[int, int]:
    """(rows, rows 'sent') in the outbox, read by a separate connection while the bot runs."""
    with sqlite3.connect(db, timeout=5) as conn:
        rows, sent = conn.execute(
            "SELECT count(*), coalesce(sum(state = 'sent'), 0) FROM deliveries"
        ).fetchone()
    conn.close()
    return int(rows), int(sent)


@pytest.mark.timeout(180)
async def test_sigkill_mid_delivery_loses_no_digest_and_repeats_at_most_once_per_crash(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    chats = chat_ids()
    now = datetime.now(UTC)
    run_at = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
    period = run_at.date().isoformat()  # daily cadence in UTC: the run's local date
    yesterday = (now - timedelta(days=1)).date()
    db = tmp_path / "bot.db"
    await prepare_database(db, chats, run_at)

    # Position of the start-up kill among the kills; the others come after n messages.
    early_at = rng.randrange(RANDOM_KILLS + 1)
    kills: list[str] = []
    # Index into fake.sent() where each run began, to attribute messages to runs.
    run_starts: list[int] = []
    began = time.monotonic()

    async with fakes(yesterday, TIME_SCALE) as (fake, hf):
        bots = BotRuns(tmp_path, bot_environment(db, fake, hf), SEED)

        def digests(start: int = 0) -> list[dict[str, Any]]:
            return [m for m in fake.sent()[start:] if HEADING in m["plain_text"]]

        def served() -> int:
            return len({m["chat_id"] for m in digests()})

        def sends_in_flight() -> bool:
            return any(not call.done for call in fake.calls_to("sendMessage"))

        async def settle() -> None:
            # Sends the dead process had already written are answered before the next run
            # starts, so each accepted message is attributed to the run that sent it.
            await fake.wait_until(lambda: not sends_in_flight(), STOP_SECONDS)

        lag = LoopLag()
        lag_task = asyncio.create_task(lag.measure())
        try:
            for kill in range(RANDOM_KILLS + 1):
                await settle()
                run_starts.append(len(fake.sent()))
                calls_before, sent_before = len(fake.calls), len(fake.sent())
                await bots.start()
                if kill == early_at or served() == len(chats):

                    def requested(n: int = calls_before) -> bool:
                        return len(fake.calls) > n

                    await bots.until(
                        fake,
                        requested,
                        STARTUP_SECONDS,
                        "waiting for the first request",
                    )
                    await bots.kill()
                    assert digests(sent_before) == [], f"seed={SEED}: sent before the early kill"
                    kills.append("start-up")
                    continue
                missing = len(chats) - served()
                # Leave work for the later runs: at least 20 % (and 20 chats) stay unserved.
                cap = min(int(0.8 * len(chats)), missing - max(20, missing // 5))
                target = rng.randint(1, max(1, cap))

                def reached(start: int = sent_before, n: int = target) -> bool:
                    return len(digests(start)) >= n

                await bots.until(
                    fake, reached, RUN_SECONDS, f"waiting for {target} accepted digests"
                )
                # Not right at an acceptance (when nothing else is in flight): anywhere
                # within the next few send slots, mid-request or mid-write included.
                await asyncio.sleep(rng.uniform(0, KILL_JITTER))
                await bots.kill()
                kills.append(f"after {target}")

            await settle()
            run_starts.append(len(fake.sent()))
            await bots.start()
            # Every outbox row 'sent' means every send is over, resends of the
            # accepted-but-unrecorded ones included; missing chats are checked below.
            await bots.poll(
                lambda: outbox(db) == (len(chats), len(chats)),
                FINISH_SECONDS,
                "every outbox row to be sent",
            )
            code = await bots.terminate()
            assert code == 0, bots.context(f"exit code {code} after SIGTERM")
        finally:
            lag_task.cancel()
            await bots.cleanup()
        elapsed = time.monotonic() - began
        violations = list(fake.violations)
        count_429 = fake.count_429
        limits_hit = dict(fake.limits_hit)
        everything = fake.sent()

    # --- what the users got ---------------------------------------------------
    per_chat: Counter[int] = Counter()
    per_run: Counter[tuple[int, int]] = Counter()
    killed_runs_of: dict[int, set[int]] = {}
    for index, message in enumerate(everything):
        assert HEADING in message["plain_text"], f"seed={SEED}: not a digest: {message}"
        chat = message["chat_id"]
        run = sum(1 for start in run_starts if start <= index) - 1
        per_chat[chat] += 1
        per_run[chat, run] += 1
        if run < len(kills):
            killed_runs_of.setdefault(chat, set()).add(run)
    duplicates = sum(count - 1 for count in per_chat.values())
    # Per crash: chats whose digest accepted in the killed run went out again later.
    last_run = {chat: max(r for (c, r) in per_run if c == chat) for chat in per_chat}
    repeats = [
        sum(1 for (chat, r) in per_run if r == run and last_run[chat] > run)
        for run in range(len(kills))
    ]
    summary = (
        f"seed={SEED}: {len(kills)} kills ({', '.join(kills)}), {duplicates} duplicate"
        f" digests (per crash: {repeats}) over {len(chats)} chats,"
        f" {len(everything)} messages in {elapsed:.1f} s"
    )
    print(summary)

    assert sorted(per_chat) == sorted(chats), f"{summary}; chats without a digest: " + str(
        sorted(set(chats) - set(per_chat))[:20]
    )
    twice_in_a_run = {key: n for key, n in per_run.items() if n > 1}
    assert twice_in_a_run == {}, f"{summary}; (chat, run) sent more than once: {twice_in_a_run}"
    over = {
        chat: count
        for chat, count in per_chat.items()
        if count - 1 > len(killed_runs_of.get(chat, ()))
    }
    assert over == {}, f"{summary}; more repeats than crashes that hit the chat: {over}"
    assert max(per_chat.values()) - 1 <= len(kills), summary
    # Only sends still in flight at a kill can repeat: at most the worker's concurrency.
    assert max(repeats, default=0) <= CONCURRENCY, summary
    assert duplicates <= len(kills) * CONCURRENCY, summary
    assert count_429 == 0, (
        f"{summary}; Telegram answered 429 {count_429} times ({limits_hit});"
        f" the fake's loop, which time-stamps requests, lagged up to {lag.worst * 1000:.0f} ms"
    )
    assert violations == [], f"{summary}; {violations[:5]}"

    # --- what the bot recorded ------------------------------------------------
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.channel, d.state, d.parts_sent, d.period FROM subscriptions s"
            " LEFT JOIN deliveries d ON d.subscription_id = s.id"
        ).fetchall()
        next_runs = conn.execute("SELECT DISTINCT next_run_at FROM subscriptions").fetchall()
    conn.close()
    per_subscription = Counter(channel for channel, *_ in rows)
    assert set(per_subscription.values()) == {1}, f"{summary}; outbox rows per subscription"
    assert len(per_subscription) == len(chats), summary
    wrong = [row for row in rows if row[1:] != ("sent", 1, period)]
    assert wrong == [], f"{summary}; rows not sent in one part for {period}: {wrong[:10]}"
    assert next_runs == [(to_ts(run_at + timedelta(days=1)),)], f"{summary}; {next_runs}"
    last_log = bots.tail(10**9)
    assert "Traceback" not in last_log, bots.context("a traceback in the last run's log")
