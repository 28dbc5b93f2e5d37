-- A change number on stored vectors, so a process that loaded a saved vector
-- index (bot/semantic.py) catches up with exactly what changed since it was
-- saved: every vector written (added or replaced) takes the next number, and
-- a removed one (its paper's text changed, or the paper was deleted) leaves a
-- numbered removal. One sequence for both keeps them in one order; triggers
-- assign the numbers, so every writer (db copy included) gets them.
--
-- Numbers must also become visible in order, or a reader could pass a number
-- whose transaction commits later: every transaction that takes one first
-- takes one advisory lock (held until it ends), so they commit in number order.
CREATE SEQUENCE vector_changes;
ALTER TABLE paper_vectors ADD COLUMN seq bigint NOT NULL DEFAULT 0;
-- Existing vectors predate any saved index: any distinct numbers do.
UPDATE paper_vectors SET seq = paper_id;
SELECT setval('vector_changes', max(seq)) FROM paper_vectors HAVING max(seq) > 0;
CREATE INDEX paper_vectors_changes ON paper_vectors (model, seq);

-- A paper's vector of a model that is gone, by paper key (a deleted paper has
-- no id left to name it). Dropped when the paper gets a vector again: the new
-- vector replaces the old one in a loaded index anyway.
CREATE TABLE vector_removals (
    model     text NOT NULL,
    paper_key text NOT NULL,
    seq       bigint NOT NULL,
    PRIMARY KEY (model, paper_key)
);
CREATE INDEX vector_removals_changes ON vector_removals (model, seq);

-- The lock's key: the sequence's own object id, unique in the database.
CREATE FUNCTION next_vector_change() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock('vector_changes'::regclass::oid::bigint);
    RETURN nextval('vector_changes');
END;
$$;

CREATE FUNCTION paper_vector_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := next_vector_change();
    RETURN NEW;
END;
$$;
CREATE TRIGGER paper_vectors_written BEFORE INSERT OR UPDATE OF vector ON paper_vectors
FOR EACH ROW EXECUTE FUNCTION paper_vector_written();

CREATE FUNCTION paper_vector_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM vector_removals r USING papers p
    WHERE p.id = NEW.paper_id AND r.model = NEW.model AND r.paper_key = p.paper_key;
    RETURN NULL;
END;
$$;
CREATE TRIGGER paper_vectors_added AFTER INSERT ON paper_vectors
FOR EACH ROW EXECUTE FUNCTION paper_vector_added();

-- A paper's vector of a model is gone: one removal, numbered.
CREATE FUNCTION record_vector_removal(of_model text, of_key text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO vector_removals (model, paper_key, seq)
    VALUES (of_model, of_key, next_vector_change())
    ON CONFLICT (model, paper_key) DO UPDATE SET seq = excluded.seq;
$$;

CREATE FUNCTION paper_vector_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_vector_removal(OLD.model, p.paper_key) FROM papers p WHERE p.id = OLD.paper_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER paper_vectors_removed AFTER DELETE ON paper_vectors
FOR EACH ROW EXECUTE FUNCTION paper_vector_removed();

-- A deleted paper's vectors go by cascade, when its key can no longer be
-- read: their removals are written before.
CREATE FUNCTION paper_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_vector_removal(v.model, OLD.paper_key) FROM paper_vectors v
    WHERE v.paper_id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER papers_vectors_removed BEFORE DELETE ON papers
FOR EACH ROW EXECUTE FUNCTION paper_removed();
