-- The search index keeps words as written: the porter stemmer made
-- "tokenizer" match "token" and "tokens". Spelling variants that mean the
-- same word (plural, British/American, compounds joined or apart) are
-- matched by the query instead (bot/spelling.py, storage/sqlite/fts.py).
DROP TRIGGER papers_fts_delete;
DROP TABLE papers_fts;
CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, keywords, authors, summary,
    content = '',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 67108864);
INSERT INTO papers_fts (papers_fts, rank) VALUES ('automerge', 8);
INSERT INTO papers_fts (rowid, title, keywords, authors, summary)
SELECT -id, title, keywords, authors, summary FROM papers ORDER BY id DESC;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary)
    VALUES ('delete', -old.id, old.title, old.keywords, old.authors, old.summary);
END;

-- Each paper's embedding per model (bot/ports/embedder.py), float16 bytes:
-- half the memory and disk of float32, with no loss a cosine ranking notices.
-- Vectors of several models may coexist while an operator switches models.
CREATE TABLE paper_vectors (
    model    TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    vector   BLOB NOT NULL,
    PRIMARY KEY (model, paper_id)
) WITHOUT ROWID;
CREATE INDEX paper_vectors_paper ON paper_vectors (paper_id);
