DROP TABLE saml_used_assertions;
DROP TABLE saml_requests;
DROP TABLE saml_sp_keys;
DROP TABLE saml_connection_domains;
DROP TABLE saml_connections;
