-- Instant keyword alerts (bot/alerts.py), as SQLite's migration 009. An alert
-- belongs to a channel's subscription and goes with it when the channel unsubscribes.
ALTER TABLE subscriptions ADD COLUMN alert_every integer NOT NULL DEFAULT 10;
CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    query           text NOT NULL,
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    UNIQUE (subscription_id, query)
);
-- Papers an ingest is about to store for the first time, written before the
-- papers themselves: a crash between storing and matching leaves them here,
-- and the next matching pass still sees them as new.
CREATE TABLE alert_inbox (
    paper_key text PRIMARY KEY,
    queued_at timestamptz NOT NULL
);
-- Each paper an alert matched: 'pending' until the channel's next alert
-- message takes it ('queued', with that outbox row) or finds it already
-- received ('skipped'). The key makes a paper match an alert once.
CREATE TABLE alert_matches (
    alert_id        bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    paper_key       text NOT NULL,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    matched_at      timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'queued', 'skipped')),
    delivery_id     bigint REFERENCES deliveries (id) ON DELETE SET NULL,
    PRIMARY KEY (alert_id, paper_key)
);
CREATE INDEX alert_matches_pending ON alert_matches (subscription_id) WHERE state = 'pending';
