-- The search document keeps words as written ('simple' configuration: lower
-- case, no stemming, no stop words): the english stemmer made "tokenizer"
-- match "token" and "tokens". Spelling variants that mean the same word
-- (plural, British/American, compounds joined or apart) are matched by the
-- query instead (bot/spelling.py, storage/postgresql/search.py), as on SQLite
-- (its migration 006). Dropping the column drops its GIN index too.
ALTER TABLE papers DROP COLUMN document;
ALTER TABLE papers ADD COLUMN document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, title), 'A')
    || setweight(to_tsvector('simple'::regconfig, keywords), 'B')
    || setweight(to_tsvector('simple'::regconfig, authors), 'C')
    || setweight(to_tsvector('simple'::regconfig, summary), 'D')
) STORED;
CREATE INDEX papers_document ON papers USING gin (document);

-- Each paper's embedding per model (bot/ports/embedder.py), float16 bytes:
-- half the memory and disk of float32, with no loss a cosine ranking notices.
-- Vectors of several models may coexist while an operator switches models.
CREATE TABLE paper_vectors (
    model    text NOT NULL,
    paper_id bigint NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    vector   bytea NOT NULL,
    PRIMARY KEY (model, paper_id)
);
CREATE INDEX paper_vectors_paper ON paper_vectors (paper_id);

-- A paper's vectors describe its indexed text: when the title, keywords,
-- authors or abstract change they are dropped, so the next embedding pass
-- embeds the paper again (an upvote refresh keeps them).
CREATE FUNCTION paper_text_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM paper_vectors WHERE paper_id = NEW.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER papers_text_changed AFTER UPDATE OF title, keywords, authors, summary ON papers
FOR EACH ROW
WHEN ((OLD.title, OLD.keywords, OLD.authors, OLD.summary)
      IS DISTINCT FROM (NEW.title, NEW.keywords, NEW.authors, NEW.summary))
EXECUTE FUNCTION paper_text_changed();
