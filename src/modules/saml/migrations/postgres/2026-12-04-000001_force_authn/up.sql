-- ForceAuthn per connection: off for every connection that existed
-- before, so upgrading changes no one's sign-in.
ALTER TABLE saml_connections ADD COLUMN force_authn BOOLEAN NOT NULL DEFAULT FALSE;
