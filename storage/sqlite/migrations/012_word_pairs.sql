-- A column of adjacent word pairs in the search index (storage/sqlite/word_pairs.py):
-- a two-word phrase becomes one term instead of a walk through the positions
-- of every paper holding both words (13 ms for "scales method" at a million
-- papers; 0.1 ms as a pair). FTS5 cannot add a column, so the index is built
-- again: 815 s at a million papers on a shared 2-core machine, about a minute
-- and a half at a hundred thousand.
-- word_pairs() is an application function: the backend registers it on its
-- connection, and so must a script that deletes papers by hand.
DROP TRIGGER papers_fts_delete;
DROP TABLE papers_fts;
CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, keywords, authors, summary, pairs,
    content = '',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 67108864);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('automerge', 8);
INSERT INTO papers_fts (rowid, title, keywords, authors, summary, pairs)
SELECT -id, title, keywords, authors, summary, word_pairs(title, keywords, authors, summary)
FROM papers ORDER BY id DESC;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary, pairs)
    VALUES ('delete', -old.id, old.title, old.keywords, old.authors, old.summary,
            word_pairs(old.title, old.keywords, old.authors, old.summary));
END;
