-- Pending email-code verifications of addresses a signed-in user adds.
CREATE TABLE email_verifications (
    email_address_id TEXT PRIMARY KEY REFERENCES email_addresses (id) ON DELETE CASCADE,
    code_digest TEXT,
    code_expire_at BIGINT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    code_sends INTEGER NOT NULL DEFAULT 0,
    code_last_sent_at BIGINT
);
