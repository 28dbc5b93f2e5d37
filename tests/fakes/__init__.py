"""Over-the-wire fakes of the services the bot talks to, and what they share."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol, TypeVar


class Fault(Protocol):
    """A queued failure of a fake's route: what kind, and how long a "slow" one waits."""

    kind: str
    delay: float


F = TypeVar("F", bound=Fault)


async def take_fault(queue: deque[F]) -> F | None:
    """The next queued fault of a route, or ``None`` to answer normally.

    A "slow" fault is played here: it waits its delay, then the answer is normal.
    """
    if not queue:
        return None
    fault = queue.popleft()
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay)
        return None
    return fault
