DROP TABLE session_org_claims;
