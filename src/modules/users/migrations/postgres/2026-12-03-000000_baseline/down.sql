DROP TABLE email_verifications;
DROP TABLE credential_checks;
DROP TABLE email_addresses;
DROP TABLE users;
