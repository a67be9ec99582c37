-- A sign-up started with a social or enterprise strategy is carried by a
-- sign-in attempt at the provider (see the sign-up area's external.rs).
ALTER TABLE sign_ups ADD COLUMN external_sign_in_id TEXT;
