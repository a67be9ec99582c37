DROP TABLE credential_checks;
DROP TABLE sign_in_tokens;
DROP TABLE sign_ins;
DROP TABLE sign_ups;
DROP TABLE sessions;
DROP TABLE clients;
ALTER TABLE users DROP COLUMN last_authentication_strategy;
ALTER TABLE instances DROP COLUMN client_token_key;
ALTER TABLE instances DROP COLUMN show_last_used_badge;
