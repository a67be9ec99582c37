ALTER TABLE sign_ins DROP COLUMN transfer_identity;
ALTER TABLE sign_ins DROP COLUMN enterprise_connection_name;
ALTER TABLE sign_ins DROP COLUMN enterprise_connection_id;
ALTER TABLE sign_ins DROP COLUMN rotating_token_nonce_digest;
ALTER TABLE sign_ins DROP COLUMN first_factor_error;
ALTER TABLE sign_ins DROP COLUMN external_redirect_url;
