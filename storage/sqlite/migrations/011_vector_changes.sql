-- A change number on stored vectors, so a process that loaded a saved vector
-- index (bot/semantic.py) catches up with exactly what changed since it was
-- saved: every vector written (added or replaced) takes the next number, and
-- a removed one (its paper's text changed, or the paper was deleted) leaves a
-- numbered removal. One counter for both keeps them in one order. The
-- numbers are assigned by triggers, so every writer gets them; SQLite has one
-- writer at a time, so they are also committed in order.
CREATE TABLE vector_changes (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
ALTER TABLE paper_vectors ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- Existing vectors predate any saved index: any distinct numbers do.
UPDATE paper_vectors SET seq = paper_id;
INSERT INTO vector_changes (id, last) SELECT 1, coalesce(max(seq), 0) FROM paper_vectors;
CREATE INDEX paper_vectors_changes ON paper_vectors (model, seq);

-- A paper's vector of a model that is gone, by paper key (a deleted paper has
-- no id left to name it). Dropped when the paper gets a vector again: the new
-- vector replaces the old one in a loaded index anyway.
CREATE TABLE vector_removals (
    model     TEXT NOT NULL,
    paper_key TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (model, paper_key)
) WITHOUT ROWID;
CREATE INDEX vector_removals_changes ON vector_removals (model, seq);

CREATE TRIGGER paper_vectors_added AFTER INSERT ON paper_vectors BEGIN
    UPDATE vector_changes SET last = last + 1;
    UPDATE paper_vectors SET seq = (SELECT last FROM vector_changes)
    WHERE model = NEW.model AND paper_id = NEW.paper_id;
    DELETE FROM vector_removals
    WHERE model = NEW.model AND paper_key = (SELECT paper_key FROM papers WHERE id = NEW.paper_id);
END;
-- Only a new vector: setting seq itself must not fire it again.
CREATE TRIGGER paper_vectors_replaced AFTER UPDATE OF vector ON paper_vectors BEGIN
    UPDATE vector_changes SET last = last + 1;
    UPDATE paper_vectors SET seq = (SELECT last FROM vector_changes)
    WHERE model = NEW.model AND paper_id = NEW.paper_id;
END;
CREATE TRIGGER paper_vectors_removed AFTER DELETE ON paper_vectors BEGIN
    UPDATE vector_changes SET last = last + 1;
    INSERT OR REPLACE INTO vector_removals (model, paper_key, seq)
    SELECT OLD.model, paper_key, (SELECT last FROM vector_changes) FROM papers
    WHERE id = OLD.paper_id;
END;
-- A deleted paper's vectors go by cascade, when its key can no longer be
-- read: their removals are written before.
CREATE TRIGGER papers_vectors_removed BEFORE DELETE ON papers BEGIN
    UPDATE vector_changes SET last = last + 1;
    INSERT OR REPLACE INTO vector_removals (model, paper_key, seq)
    SELECT model, OLD.paper_key, (SELECT last FROM vector_changes) FROM paper_vectors
    WHERE paper_id = OLD.id;
END;
