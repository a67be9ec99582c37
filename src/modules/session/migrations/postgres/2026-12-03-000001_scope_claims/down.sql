DROP TABLE session_scope_claims;
