DROP INDEX credential_checks_time_idx;
DROP TABLE session_events;
DROP TABLE session_token_issuances;
DROP TABLE session_activity;
