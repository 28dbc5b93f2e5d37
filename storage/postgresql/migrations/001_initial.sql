-- PostgreSQL schema, equivalent to SQLite's migrations 001-005 (storage/sqlite/migrations).
-- Types: timestamps are timestamptz, days are date, lists are text[]
-- (include/exclude words, a delivery's paper keys) and weekdays a smallint[]
-- of ISO weekday numbers. A paper's authors and keywords are text joined by
-- "; " as on SQLite: the search document is computed from them for every
-- stored paper, and array_to_string is not IMMUTABLE, so a text[] would need
-- a wrapper function that PostgreSQL cannot inline (it doubled the cost of
-- every insert).

CREATE TABLE papers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    paper_key    text NOT NULL UNIQUE,
    arxiv_id     text,
    title        text NOT NULL,
    summary      text NOT NULL DEFAULT '',
    authors      text NOT NULL DEFAULT '',
    keywords     text NOT NULL DEFAULT '',
    published_at date,
    -- The latest day Hugging Face listed the paper (for display); every day
    -- it was listed on is in featured_days.
    featured_on  date,
    upvotes      integer NOT NULL DEFAULT 0,
    ai_summary   text,
    github_repo  text,
    github_stars integer,
    project_page text,
    updated_at   timestamptz NOT NULL,
    -- The search document, weighted by field: title A, Hugging Face keywords
    -- B, authors C, abstract D. Weights let author:Name match authors only
    -- ('name':C); ranking itself is done by storage/postgresql/search.py.
    -- Concatenating shifts each field's positions past the previous one, so a
    -- phrase never spans two fields.
    document     tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, keywords), 'B')
        || setweight(to_tsvector('english'::regconfig, authors), 'C')
        || setweight(to_tsvector('english'::regconfig, summary), 'D')
    ) STORED
);
CREATE INDEX papers_document ON papers USING gin (document);
CREATE INDEX papers_featured ON papers (featured_on, upvotes DESC);

-- Every day a paper was listed on (a paper can be listed on several).
CREATE TABLE featured_days (
    day      date NOT NULL,
    paper_id bigint NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    PRIMARY KEY (day, paper_id)
);

-- Sample daily lists: bundled Hugging Face pages (seeds/lists.json), each one
-- day's list in the page's own order, kept as a rank per day.
CREATE TABLE sample_lists (
    day      date NOT NULL,
    rank     integer NOT NULL,
    paper_id bigint NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    PRIMARY KEY (day, rank)
);
CREATE INDEX sample_lists_paper ON sample_lists (paper_id);

CREATE TABLE subscriptions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel       text NOT NULL UNIQUE,
    post_time     time NOT NULL,
    timezone      text NOT NULL,
    weekdays      smallint[] NOT NULL,
    top_n         integer NOT NULL DEFAULT 5,
    min_upvotes   integer NOT NULL DEFAULT 0,
    include_kw    text[] NOT NULL DEFAULT '{}',
    exclude_kw    text[] NOT NULL DEFAULT '{}',
    cadence       text NOT NULL DEFAULT 'daily',
    weekly_day    integer NOT NULL DEFAULT 1,
    paused        boolean NOT NULL DEFAULT false,
    paused_reason text,
    next_run_at   timestamptz,
    created_by    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (next_run_at) WHERE NOT paused;

-- The outbox: one row per subscription per digest period.
CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    period          text NOT NULL,
    due_at          timestamptz NOT NULL,
    state           text NOT NULL
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    -- Every claim (rate-limit waits, channel moves and restarts included).
    attempts        integer NOT NULL DEFAULT 0,
    -- Temporary send failures only: these count toward the retry limit.
    failures        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    paper_keys      text[] NOT NULL DEFAULT '{}',
    parts_sent      integer NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (subscription_id, period)
);
CREATE INDEX deliveries_ready ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_channel ON deliveries (channel, id);

CREATE TABLE sent_papers (
    channel   text NOT NULL,
    paper_key text NOT NULL,
    sent_at   timestamptz NOT NULL,
    PRIMARY KEY (channel, paper_key)
);

CREATE TABLE search_sessions (
    key        text PRIMARY KEY,
    channel    text NOT NULL,
    query      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX search_sessions_created ON search_sessions (created_at);

-- One row rewritten by every health check: a real committed write, so a full
-- disk or a read-only server shows up as unhealthy.
CREATE TABLE health (
    id         integer PRIMARY KEY CHECK (id = 1),
    checked_at timestamptz NOT NULL
);
