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
