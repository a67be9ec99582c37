ALTER TABLE signing_keys DROP COLUMN publish_until;
ALTER TABLE signing_keys DROP COLUMN activates_at;
