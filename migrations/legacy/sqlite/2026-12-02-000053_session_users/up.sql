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
