-- Several processes on one database (issue 14), as SQLite's migration 007: a
-- row being sent is leased to its sender (owner id, expiry), renewed while it
-- works; other processes recover only rows whose lease expired.
ALTER TABLE deliveries ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz;
CREATE INDEX deliveries_lease ON deliveries (lease_owner) WHERE state = 'sending';

-- Roles one process at a time holds, renewed by their owner.
CREATE TABLE leases (
    name        text PRIMARY KEY,
    owner       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL
);

-- Wakes the sender (LISTEN paperbot_outbox) whichever process queued the row:
-- the payload is the platform, the channel's prefix. Notifications of one
-- transaction are delivered at its commit, duplicates folded into one.
CREATE FUNCTION paperbot_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paperbot_outbox', split_part(NEW.channel, ':', 1));
    RETURN NULL;
END
$$;
CREATE TRIGGER deliveries_notify AFTER INSERT OR UPDATE OF state ON deliveries
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION paperbot_outbox_notify();
