-- The orgs area's record of users being deleted. Deleting a user writes a
-- row here in the transaction that removes the user's memberships; adding a
-- membership checks it in the transaction that inserts the membership, so a
-- request that found the user just before the deletion cannot add a
-- membership after it (both transactions hold the same per-user lock on
-- PostgreSQL; SQLite's BEGIN IMMEDIATE serialises them). The orgs area
-- never reads the users tables, which may live in another database. Rows
-- older than a day are removed by later deletions: by then no request that
-- found the user can still be running.
CREATE TABLE organization_deleted_users (
    user_id TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);
CREATE INDEX organization_deleted_users_time_idx ON organization_deleted_users (deleted_at);
