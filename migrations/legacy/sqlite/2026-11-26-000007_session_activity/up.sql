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
