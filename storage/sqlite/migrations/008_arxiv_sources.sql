-- A subscription's source: no arXiv categories (the default) means Hugging
-- Face Daily Papers; otherwise a JSON list of canonical arXiv category codes.
-- crosslists: whether papers only cross-listed into them count.
ALTER TABLE subscriptions ADD COLUMN arxiv_categories TEXT NOT NULL DEFAULT '[]';
ALTER TABLE subscriptions ADD COLUMN crosslists INTEGER NOT NULL DEFAULT 1;

-- Each arXiv category's announcement the bot has fetched, by the feed's day
-- (US Eastern; papers = 0 records a day without announcement), so a restart
-- does not fetch it again.
CREATE TABLE arxiv_announcements (
    category   TEXT NOT NULL,
    day        TEXT NOT NULL,
    papers     INTEGER NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (category, day)
) WITHOUT ROWID;

-- What each announcement listed, in the feed's order, with arXiv's announce
-- type (new, cross, replace, replace-cross): the digest's candidates and
-- their order, and which papers are cross-lists or replacements.
CREATE TABLE arxiv_announced (
    category      TEXT NOT NULL,
    day           TEXT NOT NULL,
    paper_key     TEXT NOT NULL,
    announce_type TEXT NOT NULL
                  CHECK (announce_type IN ('new', 'cross', 'replace', 'replace-cross')),
    position      INTEGER NOT NULL,
    PRIMARY KEY (category, day, paper_key)
) WITHOUT ROWID;

-- Where a digest's papers came from (JSON, see bot/digest.py ArxivPool), so the
-- message can say it when it is sent; NULL for Hugging Face digests.
ALTER TABLE deliveries ADD COLUMN digest_info TEXT;
