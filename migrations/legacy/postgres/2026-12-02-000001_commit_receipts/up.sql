-- One row per write transaction committed under DbPool::run, written as its
-- last statement. When the connection drops while COMMIT is in flight, the
-- retry looks the receipt up to learn whether the server committed, so the
-- write is applied exactly once (src/db/receipts.rs). Rows are only read
-- within a unit of work's retry budget; a job deletes old ones.
-- PostgreSQL only: an embedded SQLite database does not lose connections.
CREATE TABLE commit_receipts (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
-- The trim job's range delete.
CREATE INDEX commit_receipts_created_idx ON commit_receipts (created_at);
