-- The search index numbers each paper by the negative of its id, so the
-- newest papers (highest ids) come first in FTS5's own order. Search ranks
-- the newest matches of a query, and FTS5 walks a doclist forwards about a
-- quarter faster than backwards: that walk is what a query with few matches
-- among common words spends its time on. (Giving new papers falling ids
-- instead would insert every row at the left edge of the papers B-tree,
-- where SQLite's page splits leave half-empty pages: 60% more disk.)
-- The index no longer names papers as its content table, since its rowids
-- are not papers' ids; it never read text from there anyway. Rows go in by
-- ascending key: FTS5 starts a new segment whenever a key goes down.
DROP TRIGGER papers_fts_delete;
DROP TABLE papers_fts;
CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, keywords, authors, summary,
    content = '',
    columnsize = 0,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 67108864);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('automerge', 8);
INSERT INTO papers_fts (rowid, title, keywords, authors, summary)
SELECT -id, title, keywords, authors, summary FROM papers ORDER BY id DESC;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary)
    VALUES ('delete', -old.id, old.title, old.keywords, old.authors, old.summary);
END;
