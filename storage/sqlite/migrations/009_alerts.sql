-- Instant keyword alerts (bot/alerts.py). An alert belongs to a channel's
-- subscription and goes with it when the channel unsubscribes.
ALTER TABLE subscriptions ADD COLUMN alert_every INTEGER NOT NULL DEFAULT 10;
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    query           TEXT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    UNIQUE (subscription_id, query)
);
-- Papers an ingest is about to store for the first time, written before the
-- papers themselves: a crash between storing and matching leaves them here,
-- and the next matching pass still sees them as new.
CREATE TABLE alert_inbox (
    paper_key TEXT PRIMARY KEY,
    queued_at TEXT NOT NULL
) WITHOUT ROWID;
-- Each paper an alert matched: 'pending' until the channel's next alert
-- message takes it ('queued', with that outbox row) or finds it already
-- received ('skipped'). The key makes a paper match an alert once.
CREATE TABLE alert_matches (
    alert_id        INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    paper_key       TEXT NOT NULL,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    matched_at      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'queued', 'skipped')),
    delivery_id     INTEGER REFERENCES deliveries (id) ON DELETE SET NULL,
    PRIMARY KEY (alert_id, paper_key)
) WITHOUT ROWID;
CREATE INDEX alert_matches_pending ON alert_matches (subscription_id) WHERE state = 'pending';
