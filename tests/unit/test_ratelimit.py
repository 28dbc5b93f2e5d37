"""Proactive rate limiting (bot/ratelimit.py) on a fake clock."""

from __future__ import annotations

import bisect
import random
from collections import defaultdict

import pytest

from bot.ports.chat import RateWindow
from bot.ratelimit import MAX_REBOOKS, RateLimiter

MARGIN = 0.97


class FakeTime:
    """A monotonic clock and a sleep that only record; time moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def telegram_like(channel: str) -> list[RateWindow]:
    """30/s for the bot, 1/s per private chat, 20/min per group (negative ids)."""
    windows = [RateWindow("global", 30, 1.0)]
    if channel.startswith("-"):
        windows.append(RateWindow(f"group:{channel}", 20, 60.0))
    else:
        windows.append(RateWindow(f"chat:{channel}", 1, 1.0))
    return windows


def limiter(windows_for, fake: FakeTime, **options: float) -> RateLimiter:
    return RateLimiter(windows_for, clock=fake.clock, sleep=fake.sleep, **options)


def test_spacing_of_a_global_window() -> None:
    fake = FakeTime()
    rl = limiter(lambda _: [RateWindow("global", 30, 1.0)], fake)
    waits = [rl.reserve(f"c{n}") for n in range(10)]
    spacing = 1.0 / (30 * MARGIN)
    assert waits == pytest.approx([n * spacing for n in range(10)])


def test_spacing_uses_margin_and_scale() -> None:
    fake = FakeTime()
    rl = limiter(lambda _: [RateWindow("global", 20, 60.0)], fake, margin=0.5, scale=0.1)
    rl.reserve("a")
    assert rl.reserve("a") == pytest.approx(60.0 * 0.1 / (20 * 0.5))


def test_first_send_does_not_wait_and_idle_time_is_not_banked() -> None:
    fake = FakeTime()
    rl = limiter(lambda _: [RateWindow("global", 1, 1.0)], fake)
    assert rl.reserve("a") == 0
    fake.now += 100
    assert rl.reserve("a") == 0
    # No burst after the idle time: the next send is spaced again.
    assert rl.reserve("a") == pytest.approx(1 / MARGIN)


def test_per_channel_windows_do_not_delay_other_channels() -> None:
    fake = FakeTime()
    rl = limiter(lambda ch: [RateWindow(f"chat:{ch}", 1, 1.0)], fake)
    assert rl.reserve("a") == 0
    assert rl.reserve("a") == pytest.approx(1 / MARGIN)
    assert rl.reserve("b") == 0
    assert rl.reserve("c") == 0


def test_a_channel_waiting_for_its_own_window_does_not_hold_back_others() -> None:
    fake = FakeTime()
    rl = limiter(telegram_like, fake)
    global_gap = 1 / (30 * MARGIN)
    assert rl.reserve("1") == 0
    assert rl.reserve("1") == pytest.approx(1 / MARGIN)  # second message to the same chat
    # Other chats only have to respect the global spacing, not chat 1's second.
    assert rl.reserve("2") == pytest.approx(global_gap)
    assert rl.reserve("3") == pytest.approx(2 * global_gap)


def test_send_waits_for_the_slowest_window() -> None:
    fake = FakeTime()
    rl = limiter(telegram_like, fake)
    assert rl.reserve("-100") == 0
    # A group allows 20/min: its window (3.09 s) is slower than the global one.
    assert rl.reserve("-100") == pytest.approx(60 / (20 * MARGIN))
    fake.now += 0.5
    assert rl.reserve("-100") == pytest.approx(2 * 60 / (20 * MARGIN) - 0.5)


def test_penalize_pushes_back_only_that_channel() -> None:
    fake = FakeTime()
    rl = limiter(telegram_like, fake)
    rl.reserve("1")
    rl.reserve("2")
    fake.now += 5
    rl.penalize("1", 30)
    assert rl.reserve("1") == pytest.approx(30)
    assert rl.reserve("2") == 0
    assert rl.reserve("3") == pytest.approx(1 / (30 * MARGIN))
    # Penalizing never shortens an existing wait.
    rl.penalize("1", 1)
    assert rl.reserve("1") == pytest.approx(30 + 1 / MARGIN)


async def test_acquire_sleeps_for_the_reserved_wait() -> None:
    fake = FakeTime()
    rl = limiter(lambda ch: [RateWindow(f"chat:{ch}", 2, 1.0)], fake)
    await rl.acquire("a")
    assert fake.slept == []
    await rl.acquire("a")
    assert fake.slept == [pytest.approx(1 / (2 * MARGIN))]
    await rl.acquire("b")
    assert len(fake.slept) == 1


def _max_in_window(times: list[float], seconds: float) -> int:
    """The most entries of sorted ``times`` inside any half-open window of ``seconds``."""
    return max(bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_window_ever_overflows(seed: int) -> None:
    rng = random.Random(seed)
    fake = FakeTime()
    rl = limiter(telegram_like, fake)
    channels = ["1", "2", "3", "4", "-100", "-200", "-300"]
    booked: dict[str, list[float]] = defaultdict(list)
    windows: dict[str, RateWindow] = {}
    for _ in range(3000):
        channel = rng.choice(channels)
        at = fake.now + rl.reserve(channel)
        for window in telegram_like(channel):
            booked[window.key].append(at)
            windows[window.key] = window
        if rng.random() < 0.3:
            fake.now += rng.uniform(0, 0.2)
        if rng.random() < 0.01:
            rl.penalize(channel, rng.uniform(0, 3))
    assert len(booked["global"]) == 3000
    for key, times in booked.items():
        times.sort()
        window = windows[key]
        assert _max_in_window(times, window.seconds) <= window.count, key


def test_many_channels_reach_the_global_rate() -> None:
    fake = FakeTime()
    rl = limiter(telegram_like, fake)
    # Every chat gets two messages back to back, as a two-part digest would.
    starts = []
    for n in range(300):
        starts.append(fake.now + rl.reserve(str(n)))
        starts.append(fake.now + rl.reserve(str(n)))
    span = max(starts) - min(starts)
    assert len(starts) / span >= 0.9 * 30


def test_forgetting_old_keys_keeps_recent_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.ratelimit._MAX_KEYS", 5)
    fake = FakeTime()
    rl = limiter(lambda ch: [RateWindow(f"chat:{ch}", 1, 1.0)], fake)
    for n in range(20):
        rl.reserve(f"old{n}")
    fake.now += 10
    rl.reserve("recent")
    for n in range(5):
        rl.reserve(f"new{n}")
    # The recent channel still waits; the stale ones were dropped.
    assert rl.reserve("recent") == pytest.approx(1 / MARGIN)
    assert len(rl._slots) <= 7
    assert rl.reserve("old1") == 0


async def test_a_send_woken_late_books_again_instead_of_bursting() -> None:
    """A stalled event loop wakes a sleeper late; it must not go out with the next send."""
    fake = FakeTime()
    rl = limiter(lambda _: [RateWindow("global", 30, 1.0)], fake)
    spacing = 1.0 / (30 * MARGIN)
    stalled = False

    async def stalling_sleep(seconds: float) -> None:
        nonlocal stalled
        fake.slept.append(seconds)
        fake.now += seconds if stalled else seconds + 10 * spacing  # the first wake is late
        stalled = True

    rl._sleep = stalling_sleep
    rl.reserve("a")
    await rl.acquire("b")  # booked one spacing ahead, woke ten spacings late: books again
    assert fake.slept == [pytest.approx(spacing)]
    # The next send is spaced from b's real send time, not from b's stale slot.
    assert rl.reserve("c") == pytest.approx(spacing)


async def test_a_late_send_books_again_a_bounded_number_of_times() -> None:
    fake = FakeTime()
    rl = limiter(lambda _: [RateWindow("global", 30, 1.0)], fake)
    spacing = 1.0 / (30 * MARGIN)

    async def always_late(seconds: float) -> None:
        fake.slept.append(seconds)
        fake.now += seconds + 10 * spacing
        rl.reserve("other")  # another task booked the next slot meanwhile

    rl._sleep = always_late
    rl.reserve("a")
    await rl.acquire("c")
    # Slept, woke late, booked again behind "other"... up to MAX_REBOOKS times, then went.
    assert fake.slept == [pytest.approx(spacing)] * (MAX_REBOOKS + 1)
