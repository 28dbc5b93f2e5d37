"""Reading the change sequence of stored vectors (both backends).

Each backend reads the vectors written and the removals recorded after a
change number, each in number order and limited; :func:`merge_changes` keeps
the first ``limit`` of the two in one order, so nothing is skipped: what lies
past the cut is read again from the returned cursor. The two reads need no
common snapshot: a change made between them has a higher number, and a
removal it drops is superseded by the vector it writes, read from the cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.ports.storage import VectorChanges

# The vectors of a model written after a change number: ?/$ 1 model, 2 number, 3 limit.
WRITTEN_SQL = (
    "SELECT v.seq, p.paper_key, v.vector FROM paper_vectors v JOIN papers p ON p.id = v.paper_id"
    " WHERE v.model = {} AND v.seq > {} ORDER BY v.seq LIMIT {}"
)
REMOVED_SQL = (
    "SELECT seq, paper_key, NULL FROM vector_removals"
    " WHERE model = {} AND seq > {} ORDER BY seq LIMIT {}"
)


def merge_changes(
    written: Sequence[Sequence[Any]], removed: Sequence[Sequence[Any]], after: int, limit: int
) -> VectorChanges:
    """The first ``limit`` of ``written`` and ``removed`` (rows of change number, paper
    key and float16 vector bytes or None) in number order, as one :class:`VectorChanges`."""
    rows = sorted([*written, *removed], key=lambda row: int(row[0]))[:limit]
    kept = [row for row in rows if row[2] is not None]
    vectors = (
        np.stack([np.frombuffer(row[2], dtype=np.float16) for row in kept]).astype(np.float32)
        if kept
        else np.zeros((0, 0), np.float32)
    )
    return VectorChanges(
        keys=tuple(row[1] for row in kept),
        vectors=vectors,
        removed=tuple(row[1] for row in rows if row[2] is None),
        cursor=int(rows[-1][0]) if rows else after,
    )
