"""Proactive rate limiting, so the platforms never have to answer 429.

Each window of ``count`` sends per ``seconds`` is enforced by spacing sends
``seconds / count`` apart (no bursts): platforms count in sliding windows, and
a burst followed by a steady rate would overflow one. A send must fit every
window that applies to it (global, per channel, per group); its slot is
reserved in all of them at once, so a wait for one busy channel never holds
back sends to the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from adapters.base import RateWindow


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
        # key -> earliest time the next send under that key may start
        self._tat: dict[str, float] = {}

    def reserve(self, channel: str) -> float:
        """Book the earliest slot for ``channel``; return the seconds to wait for it."""
        now = self._clock()
        windows = self._windows_for(channel)
        start = max([now, *(self._tat.get(window.key, now) for window in windows)])
        for window in windows:
            self._tat[window.key] = start + self._interval(window)
        if len(self._tat) > 100_000:
            self._forget(now)
        return start - now

    async def acquire(self, channel: str) -> None:
        """Wait until a send to ``channel`` fits every window."""
        delay = self.reserve(channel)
        if delay > 0:
            await self._sleep(delay)  # type: ignore[misc]

    def penalize(self, channel: str, seconds: float) -> None:
        """Push ``channel``'s own windows back after the platform said 'retry after'."""
        until = self._clock() + seconds
        for window in self._windows_for(channel):
            if window.key != "global":
                self._tat[window.key] = max(self._tat.get(window.key, 0.0), until)

    def _interval(self, window: RateWindow) -> float:
        return window.seconds * self._scale / (window.count * self._margin)

    def _forget(self, now: float) -> None:
        # Keys whose next slot is in the past carry no state worth keeping.
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}
