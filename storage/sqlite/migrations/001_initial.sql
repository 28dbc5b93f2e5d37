-- Papers with an external-content FTS5 index kept in step by triggers.
CREATE TABLE papers (
    id           INTEGER PRIMARY KEY,
    paper_key    TEXT NOT NULL UNIQUE,
    arxiv_id     TEXT,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    authors      TEXT NOT NULL DEFAULT '',
    keywords     TEXT NOT NULL DEFAULT '',
    published_at TEXT,
    featured_on  TEXT,
    upvotes      INTEGER NOT NULL DEFAULT 0,
    ai_summary   TEXT,
    github_repo  TEXT,
    github_stars INTEGER,
    project_page TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX papers_featured ON papers (featured_on, upvotes DESC);

CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, keywords, authors, summary,
    content = 'papers', content_rowid = 'id',
    -- Ranking does not use bm25 (see storage/fts.py), so per-row column sizes
    -- are not kept: one B-tree write less per paper.
    columnsize = 0,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
    INSERT INTO papers_fts (rowid, title, keywords, authors, summary)
    VALUES (new.id, new.title, new.keywords, new.authors, new.summary);
END;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary)
    VALUES ('delete', old.id, old.title, old.keywords, old.authors, old.summary);
END;
CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, keywords, authors, summary ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary)
    VALUES ('delete', old.id, old.title, old.keywords, old.authors, old.summary);
    INSERT INTO papers_fts (rowid, title, keywords, authors, summary)
    VALUES (new.id, new.title, new.keywords, new.authors, new.summary);
END;

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY,
    channel       TEXT NOT NULL UNIQUE,
    post_time     TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    weekdays      TEXT NOT NULL,
    top_n         INTEGER NOT NULL DEFAULT 5,
    min_upvotes   INTEGER NOT NULL DEFAULT 0,
    include_kw    TEXT NOT NULL DEFAULT '[]',
    exclude_kw    TEXT NOT NULL DEFAULT '[]',
    cadence       TEXT NOT NULL DEFAULT 'daily',
    weekly_day    INTEGER NOT NULL DEFAULT 1,
    paused        INTEGER NOT NULL DEFAULT 0,
    paused_reason TEXT,
    next_run_at   TEXT,
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (next_run_at) WHERE paused = 0;

-- The outbox: one row per subscription per digest period.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    period          TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    paper_keys      TEXT NOT NULL DEFAULT '[]',
    parts_sent      INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (subscription_id, period)
);
CREATE INDEX deliveries_ready ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_channel ON deliveries (channel, id);

CREATE TABLE sent_papers (
    channel   TEXT NOT NULL,
    paper_key TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (channel, paper_key)
) WITHOUT ROWID;

CREATE TABLE search_sessions (
    key        TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    query      TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_sessions_created ON search_sessions (created_at);
