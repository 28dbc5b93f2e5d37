-- A subscription's source, as on SQLite (its migration 008): no arXiv
-- categories (the default) means Hugging Face Daily Papers.
ALTER TABLE subscriptions ADD COLUMN arxiv_categories text[] NOT NULL DEFAULT '{}';
ALTER TABLE subscriptions ADD COLUMN crosslists boolean NOT NULL DEFAULT true;

-- Each arXiv category's announcement the bot has fetched, by the feed's day
-- (US Eastern; papers = 0 records a day without announcement), so a restart
-- does not fetch it again.
CREATE TABLE arxiv_announcements (
    category   text NOT NULL,
    day        date NOT NULL,
    papers     integer NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (category, day)
);

-- What each announcement listed, in the feed's order, with arXiv's announce type.
CREATE TABLE arxiv_announced (
    category      text NOT NULL,
    day           date NOT NULL,
    paper_key     text NOT NULL,
    announce_type text NOT NULL
                  CHECK (announce_type IN ('new', 'cross', 'replace', 'replace-cross')),
    position      integer NOT NULL,
    PRIMARY KEY (category, day, paper_key)
);

-- Where a digest's papers came from (JSON, see bot/digest.py ArxivPool); NULL for Hugging Face.
ALTER TABLE deliveries ADD COLUMN digest_info text;
