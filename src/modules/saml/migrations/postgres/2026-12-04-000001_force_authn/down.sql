ALTER TABLE saml_connections DROP COLUMN force_authn;
