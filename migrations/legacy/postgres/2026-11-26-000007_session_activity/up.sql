-- Append-only session history. The session API inserts here on its hot
-- paths instead of updating session rows, so a token refresh or a touch
-- never rewrites (and never waits on a lock for) a hot row. Each row's id is
-- the idempotency key of the write: a write replayed from the outage spool
-- after it had already reached the database is recognised and skipped.

-- One row per touch. sessions.last_active_at and abandon_at are compacted
-- from here by a background job.
CREATE TABLE session_activity (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
-- Latest activity of one session (compaction, the token path near abandon_at).
CREATE INDEX session_activity_session_idx ON session_activity (session_id, occurred_at);
-- Compaction's recent window and the retention job's trim.
CREATE INDEX session_activity_time_idx ON session_activity (occurred_at);

-- One row per freshly signed session token (reused tokens are not new
-- issuances). The id is the token's jti.
CREATE TABLE session_token_issuances (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX session_token_issuances_session_idx ON session_token_issuances (session_id, issued_at);
CREATE INDEX session_token_issuances_time_idx ON session_token_issuances (issued_at);

-- Session lifecycle events: ended, removed, revoked (also during an outage,
-- through the spool). Applying an event also sets the session's status.
CREATE TABLE session_events (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
CREATE INDEX session_events_session_idx ON session_events (session_id, occurred_at);
CREATE INDEX session_events_time_idx ON session_events (occurred_at);

-- The retention job trims credential checks by age.
CREATE INDEX credential_checks_time_idx ON credential_checks (created_at);

-- Storage settings for the tables that are still updated in place
-- (PostgreSQL only; docs/operations.md explains each choice).
-- A fillfactor below 100 leaves room in each page, so an UPDATE that changes
-- no indexed column stays a HOT update (no new index entries, no page split).
-- Per-table autovacuum thresholds of 2% instead of the default 20% keep dead
-- tuples from piling up in tables whose rows are rewritten often.
ALTER TABLE sessions SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE clients SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE sign_ins SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE sign_ups SET (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE users SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05);
-- Insert-only tables are never updated: pack pages full, and vacuum them for
-- the visibility map (index-only scans) after inserts rather than deletes.
ALTER TABLE session_activity SET (autovacuum_vacuum_insert_scale_factor = 0.05);
ALTER TABLE session_token_issuances SET (autovacuum_vacuum_insert_scale_factor = 0.05);
