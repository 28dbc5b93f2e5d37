"""Writing a batch of papers so that one refused paper does not lose the others (both backends)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("paperbot.storage")

Row = tuple[Any, ...]


async def upsert_each(
    rows: list[Row],
    upsert: Callable[[list[Row]], Awaitable[int]],
    errors: tuple[type[BaseException], ...],
) -> int:
    """``upsert(rows)`` as one batch; if one paper's values are refused, paper by paper.

    ``errors`` are the backend's errors of one row's values (text it cannot
    store, a number out of range), not of the database: then the others are
    stored one by one and only the refused paper is skipped, with a warning
    naming its key (the first column). Returns how many papers were written.
    """
    try:
        return await upsert(rows)
    except errors:
        if len(rows) < 2:
            raise
    stored = 0
    for row in rows:
        try:
            stored += await upsert([row])
        except errors as exc:
            log.warning("skipping paper %s: %s: %s", row[0], type(exc).__name__, exc)
    return stored
