-- The session area's copy of claims that belong to a user or to an
-- organization as a whole rather than to a membership: billing's plan and
-- features (`pla`, `fea`) now. `scope` is `user:<id>` or `org:<id>`; one
-- row per (scope, contributor), written only by outbox deliveries, with
-- the outbox version last applied. `claims` NULL: nothing for the scope.
CREATE TABLE session_scope_claims (
    scope TEXT NOT NULL,
    contributor TEXT NOT NULL,
    claims TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, contributor)
);
