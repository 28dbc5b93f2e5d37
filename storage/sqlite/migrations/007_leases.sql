-- Several processes on one database (issue 14). A row being sent is leased to
-- its sender (owner id, expiry); a sender renews its leases while it works, so
-- another process recovers only rows whose sender stopped renewing (it died),
-- never a live process's in-flight sends. Rows left 'sending' by an older
-- version have no lease: they count as expired.
ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE state = 'sending';

-- Roles one process at a time holds (each token's sender, ingest, upkeep, the
-- scheduling tick, the Telegram long-poller), renewed by their owner.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    renewed_at  TEXT NOT NULL,
    acquired_at TEXT NOT NULL
) WITHOUT ROWID;
