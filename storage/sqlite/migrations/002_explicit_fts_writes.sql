-- The full-text index is written by SqliteStorage.upsert_papers, no longer by
-- row triggers. A trigger writes the index from inside each row's statement,
-- and FTS5 flushes its in-memory buffer to a new on-disk segment at every
-- statement savepoint, so a trigger-fed index gained one tiny segment per
-- paper and spent most of an ingest merging them. upsert_papers adds a whole
-- batch with one INSERT ... SELECT and re-indexes an updated paper only when
-- its indexed text changed. The delete trigger stays: papers are never
-- deleted by the bot, and a row removed by hand still leaves the index.
DROP TRIGGER papers_fts_insert;
DROP TRIGGER papers_fts_update;
-- A batch's terms are buffered up to 64 MB before being written as one
-- segment (the default 1 MB wrote a segment every few hundred papers).
INSERT INTO papers_fts (papers_fts, rank) VALUES ('hashsize', 67108864);
-- Ingest merges segments only once 8 share a level (FTS5's default is 4);
-- the rest of the merging is done between writes by the index upkeep job
-- (SqliteStorage.merge_search_index), not inside ingest transactions.
INSERT INTO papers_fts (papers_fts, rank) VALUES ('automerge', 8);
