-- Sign-ins finished at an outside identity provider (enterprise SSO): where
-- the browser is sent, why the provider's answer was refused, and the
-- digest of the one-time nonce a native app completes with.
ALTER TABLE sign_ins ADD COLUMN external_redirect_url TEXT;
ALTER TABLE sign_ins ADD COLUMN first_factor_error TEXT;
ALTER TABLE sign_ins ADD COLUMN rotating_token_nonce_digest TEXT;
ALTER TABLE sign_ins ADD COLUMN enterprise_connection_id TEXT;
ALTER TABLE sign_ins ADD COLUMN enterprise_connection_name TEXT;
-- A new person's verified identity, kept until the sign-up it is
-- transferred to (`transfer=true`) takes it.
ALTER TABLE sign_ins ADD COLUMN transfer_identity TEXT;
