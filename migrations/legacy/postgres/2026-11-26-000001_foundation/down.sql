DROP TABLE email_addresses;
DROP TABLE users;
DROP TABLE secret_keys;
DROP TABLE signing_keys;
DROP TABLE instances;
