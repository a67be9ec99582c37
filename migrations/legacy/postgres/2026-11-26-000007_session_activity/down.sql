DROP INDEX credential_checks_time_idx;
DROP TABLE session_events;
DROP TABLE session_token_issuances;
DROP TABLE session_activity;
ALTER TABLE sessions RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);
ALTER TABLE clients RESET (fillfactor, autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor);
ALTER TABLE sign_ins RESET (fillfactor, autovacuum_vacuum_scale_factor);
ALTER TABLE sign_ups RESET (fillfactor, autovacuum_vacuum_scale_factor);
ALTER TABLE users RESET (fillfactor, autovacuum_vacuum_scale_factor);
