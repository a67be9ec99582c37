DROP TABLE session_users;
DROP TABLE session_org_claims;
DROP TABLE deleted_users;
DROP TABLE session_events;
DROP TABLE session_token_issuances;
DROP TABLE session_activity;
DROP TABLE sessions;
DROP TABLE clients;
