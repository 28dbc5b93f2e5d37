-- Where `paperbot db copy` got to in each table of each source database, so an
-- interrupted copy resumes after the last batch it committed. `last_key` is the
-- source table's primary key of that batch's last row, as a JSON array.
CREATE TABLE database_copies (
    source     text NOT NULL,
    table_name text NOT NULL,
    last_key   text NOT NULL,
    copied     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, table_name)
);
