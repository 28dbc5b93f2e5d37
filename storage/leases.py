"""SQL both backends share for role leases (only their placeholders differ)."""

from __future__ import annotations


def acquire_lease_sql(name: str, owner: str, until: str, now: str) -> str:
    """Take or renew a lease in one statement, given each value's placeholder.

    The row is written only when it is the owner's already, or has expired; taking
    it over resets ``acquired_at``. Concurrent takers serialize on the row (one
    transaction, or SQLite's write lock), so exactly one wins.
    """
    return f"""
INSERT INTO leases (name, owner, expires_at, renewed_at, acquired_at)
VALUES ({name}, {owner}, {until}, {now}, {now})
ON CONFLICT (name) DO UPDATE SET
    owner = excluded.owner,
    expires_at = excluded.expires_at,
    renewed_at = excluded.renewed_at,
    acquired_at = CASE WHEN leases.owner = excluded.owner
                       THEN leases.acquired_at ELSE excluded.acquired_at END
WHERE leases.owner = excluded.owner OR leases.expires_at <= excluded.renewed_at
"""
