-- The sign-up area: sign-up attempts.

CREATE TABLE sign_ups (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    email_address TEXT,
    username TEXT,
    first_name TEXT,
    last_name TEXT,
    password_digest TEXT,
    unsafe_metadata TEXT NOT NULL,
    email_verification_status TEXT,
    code_digest TEXT,
    code_expire_at BIGINT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    code_sends INTEGER NOT NULL DEFAULT 0,
    code_last_sent_at BIGINT,
    created_user_id TEXT,
    created_session_id TEXT,
    abandon_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- A sign-up started from an invitation joins its organization on
    -- completion.
    organization_invitation_id TEXT
);
