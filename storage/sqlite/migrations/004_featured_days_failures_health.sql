-- A paper Hugging Face lists on several days belongs to each of those days'
-- lists; papers.featured_on alone kept only one day (now: the latest, for
-- display). latest_featured_day and papers_featured_between read this table.
CREATE TABLE featured_days (
    day      TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    PRIMARY KEY (day, paper_id)
) WITHOUT ROWID;
INSERT INTO featured_days (day, paper_id)
    SELECT featured_on, id FROM papers WHERE featured_on IS NOT NULL;

-- Temporary send failures (network, 5xx, timeouts) of an outbox row: only
-- these count toward the retry limit. 'attempts' still counts every claim
-- (rate-limit waits, channel moves and restarts included), for status.
ALTER TABLE deliveries ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- One row rewritten by every health check: a real committed write, so a full
-- disk or a read-only file shows up as unhealthy.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
