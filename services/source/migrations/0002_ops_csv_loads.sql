-- Bookkeeping of bulk CSV loads (outside the replicated shop schema): the SHA-256 of a
-- loaded folder's files, so loading the same folder again is recognised and skipped.
CREATE TABLE ops.csv_loads (
    dataset_sha256 text PRIMARY KEY,
    folder         text        NOT NULL,
    row_counts     jsonb       NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
