ALTER TABLE sign_ups DROP COLUMN external_sign_in_id;
