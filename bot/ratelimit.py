"""Proactive rate limiting, so the platforms never have to answer 429.

Each window of ``count`` sends per ``seconds`` is enforced by spacing sends
``seconds / count`` apart (no bursts): platforms count in sliding windows, and
a burst followed by a steady rate would overflow one. A send must fit every
window that applies to it (global, per channel, per group); its slot is
reserved in all of them at once, so a wait for one busy channel never holds
back sends to the others: a send that waits for its own channel books the
shared windows at the time it will really go out, and earlier free slots of
those windows stay available to other channels.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable

from bot.ports.chat import RateWindow

_MAX_KEYS = 100_000
# How often a send woken late books again before it goes anyway.
MAX_REBOOKS = 4
# Every platform counts its overall budget per second: a sender taking over
# from another waits this long (scaled) for the other's last sends to age out.
HANDOVER_SECONDS = 1.0


class RateLimiter:
    """Reserves send slots across several windows; ``scale`` shrinks every window.

    ``margin`` (< 1) keeps the achieved rate just under each ceiling so network
    jitter cannot push a burst over the platform's own count.
    """

    def __init__(
        self,
        windows_for: Callable[[str], list[RateWindow]],
        *,
        margin: float = 0.97,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._windows_for = windows_for
        self._margin = margin
        self._scale = scale
        self._clock = clock
        self._sleep = sleep
        # key -> booked send times, sorted; slots too old to matter are dropped
        self._slots: dict[str, list[float]] = {}
        # key -> the spacing last used for it (to forget its old slots)
        self._gaps: dict[str, float] = {}
        # key -> no send under that key before this time ('retry after')
        self._blocked: dict[str, float] = {}
        # No send at all before this time (see handover)
        self._not_before = 0.0

    def reserve(self, channel: str) -> float:
        """Book the earliest slot for ``channel``; return the seconds to wait for it."""
        start, now = self._book(channel)
        return start - now

    def _book(self, channel: str) -> tuple[float, float]:
        """Book the earliest slot for ``channel``: (its time, now)."""
        now = self._clock()
        gaps = [(window.key, self._interval(window)) for window in self._windows_for(channel)]
        start = max([now, *(self._blocked.get(key, now) for key, _ in gaps)])
        if gaps:
            start = max(start, self._not_before)
        # Move past every booked slot closer than its window's spacing; each
        # move is strictly forward, so this ends.
        moved = True
        while moved:
            moved = False
            for key, gap in gaps:
                later = self._clear_of(key, gap, start)
                if later > start:
                    start, moved = later, True
        for key, gap in gaps:
            slots = self._slots.setdefault(key, [])
            insort(slots, start)
            # Slots at or before now - gap can never clash with a send from now on.
            del slots[: bisect_right(slots, now - gap)]
            self._gaps[key] = gap
        if len(self._slots) > _MAX_KEYS:
            self._forget(now)
        return start, now

    async def acquire(self, channel: str) -> None:
        """Wait until a send to ``channel`` fits every window.

        A send woken late by a busy event loop would go out together with the
        sends booked just after it: a burst the platform counts against its
        window. Such a send gives its slot back and books again from now, up
        to ``MAX_REBOOKS`` times (a process starved of CPU wakes late again and
        again while others start beside it); then it goes, so a loaded loop
        cannot starve it.
        """
        for attempt in range(MAX_REBOOKS + 1):
            start, now = self._book(channel)
            if start <= now:
                return
            await self._sleep(start - now)  # type: ignore[misc]
            late = self._clock() - start
            if attempt == MAX_REBOOKS or late <= self._tolerance(channel):
                return
            self._release(channel, start)

    def _tolerance(self, channel: str) -> float:
        """How late a send may wake and still keep its slot: half the tightest spacing."""
        gaps = [self._interval(window) for window in self._windows_for(channel)]
        return min(gaps, default=0.0) / 2

    def _release(self, channel: str, start: float) -> None:
        """Give back the slot booked at ``start`` in every window of ``channel``."""
        for window in self._windows_for(channel):
            slots = self._slots.get(window.key)
            if slots is None:
                continue
            index = bisect_left(slots, start)
            if index < len(slots) and slots[index] == start:
                del slots[index]

    def handover(self) -> None:
        """Hold every limited send back for one second (scaled): this process takes over
        an account whose previous sender's last second of sends it cannot see."""
        self._not_before = self._clock() + HANDOVER_SECONDS * self._scale

    def penalize(self, channel: str, seconds: float) -> None:
        """Push ``channel``'s own windows back after the platform said 'retry after'."""
        until = self._clock() + seconds
        for window in self._windows_for(channel):
            if window.key != "global":
                self._blocked[window.key] = max(self._blocked.get(window.key, 0.0), until)

    def _interval(self, window: RateWindow) -> float:
        return window.seconds * self._scale / (window.count * self._margin)

    def _clear_of(self, key: str, gap: float, at: float) -> float:
        """``at``, or just after the latest slot of ``key`` closer than ``gap`` to it."""
        slots = self._slots.get(key)
        if not slots:
            return at
        index = bisect_left(slots, at + gap)
        if index and slots[index - 1] > at - gap:
            return max(at, slots[index - 1] + gap)
        return at

    def _forget(self, now: float) -> None:
        # Keys whose slots are all too old to clash carry no state worth keeping.
        self._slots = {
            key: slots
            for key, slots in self._slots.items()
            if slots and slots[-1] > now - self._gaps.get(key, 0.0)
        }
        self._gaps = {key: gap for key, gap in self._gaps.items() if key in self._slots}
        self._blocked = {key: until for key, until in self._blocked.items() if until > now}
