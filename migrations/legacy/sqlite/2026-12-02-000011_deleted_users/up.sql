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
