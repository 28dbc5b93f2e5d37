-- Sample daily lists: the bundled Hugging Face pages (seeds/lists.json), each one
-- day's list in the page's own order. The pages carry no upvote counts, so the
-- order is kept as a rank per day; a paper may sit in several days' lists.
CREATE TABLE sample_lists (
    day      TEXT NOT NULL,
    rank     INTEGER NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    PRIMARY KEY (day, rank)
);
CREATE INDEX sample_lists_paper ON sample_lists (paper_id);
