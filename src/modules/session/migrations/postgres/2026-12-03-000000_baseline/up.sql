-- The session area: clients, sessions, their append-only history, and the
-- copies of other areas' data it is pushed (users, organization claims).

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    sign_in_id TEXT,
    sign_up_id TEXT,
    last_active_session_id TEXT,
    last_authentication_strategy TEXT,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The session row holds the claims snapshot the token path needs, so minting
-- a token is one indexed read of this table.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    last_active_organization_id TEXT,
    claims_snapshot TEXT NOT NULL,
    first_factor_verified_at BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    abandon_at BIGINT NOT NULL,
    ended_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX sessions_client_id_idx ON sessions (client_id, created_at);

CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);

CREATE INDEX sessions_status_idx ON sessions (status, created_at);

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

-- Storage settings for the tables that are still updated in place
-- (PostgreSQL only; docs/operations.md explains each choice).
-- A fillfactor below 100 leaves room in each page, so an UPDATE that changes
-- no indexed column stays a HOT update (no new index entries, no page split).
-- Per-table autovacuum thresholds of 2% instead of the default 20% keep dead
-- tuples from piling up in tables whose rows are rewritten often.
ALTER TABLE sessions SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

ALTER TABLE clients SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- Insert-only tables are never updated: pack pages full, and vacuum them for
-- the visibility map (index-only scans) after inserts rather than deletes.
ALTER TABLE session_activity SET (autovacuum_vacuum_insert_scale_factor = 0.05);

ALTER TABLE session_token_issuances SET (autovacuum_vacuum_insert_scale_factor = 0.05);

-- The session area's record of deleted users. Deleting a user writes a row
-- here in the same transaction that removes the user's sessions; starting a
-- session checks it in the transaction that inserts the session, so a
-- sign-in that read the user just before the deletion cannot leave a live
-- session behind (both transactions hold the same per-user lock on
-- PostgreSQL; SQLite's BEGIN IMMEDIATE serialises them). The session area
-- never reads the users tables, which may live in another database.
CREATE TABLE deleted_users (
    user_id TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);

-- The retention job trims old rows (with session_events).
CREATE INDEX deleted_users_time_idx ON deleted_users (deleted_at);

-- The session area's copy of what each contributing area puts in the
-- tokens of a user acting in an organization, one row per (user,
-- organization, contributor): `orgs` (membership, role, permissions) now.
-- Written only by outbox deliveries; `version` is the outbox version last
-- applied, so older deliveries are ignored. `claims` NULL: the contributor
-- has nothing for the pair (for `orgs`: the user is not a member), kept so
-- that a late delivery of an older state cannot bring it back.
CREATE TABLE session_org_claims (
    user_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    contributor TEXT NOT NULL,
    organization_slug TEXT,
    claims TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, organization_id, contributor)
);

CREATE INDEX session_org_claims_slug_idx ON session_org_claims (user_id, organization_slug);

-- The session area's copy of each user as the Frontend API client object
-- shows them (`user`: the user object without private metadata, as JSON;
-- `public_user_data`: the session's public user data), pushed by the users
-- area through the outbox. `locked_until` lets the lock fields be computed
-- when the client is read. `version` is the outbox version last applied;
-- `user` NULL: the user was deleted (kept so that a late delivery of an
-- older state cannot bring them back).
CREATE TABLE session_users (
    user_id TEXT PRIMARY KEY,
    user_object TEXT,
    public_user_data TEXT,
    locked_until BIGINT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
