-- Key rotation: a new key is published before it starts signing
-- (activates_at), and a retired key stays published until the tokens it
-- signed have expired: retired_at + the token lifetime, or publish_until for
-- longer-lived tokens minted through the Backend API.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN publish_until BIGINT;
