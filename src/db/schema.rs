//! The portable schema: common SQL types only (`Text`, `BigInt` milliseconds,
//! `Bool`, `Integer`), so one `schema.rs` serves SQLite and PostgreSQL.
//! Kept by hand in step with `migrations/{postgres,sqlite}/`.

diesel::table! {
    instances (id) {
        id -> Text,
        environment_type -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        instance_id -> Text,
        algorithm -> Text,
        private_key_pkcs8 -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    secret_keys (id) {
        id -> Text,
        instance_id -> Text,
        key_digest -> Text,
        key_hint -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        username -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        locale -> Nullable<Text>,
        password_digest -> Nullable<Text>,
        password_hasher -> Nullable<Text>,
        password_last_updated_at -> Nullable<BigInt>,
        primary_email_address_id -> Nullable<Text>,
        public_metadata -> Text,
        private_metadata -> Text,
        unsafe_metadata -> Text,
        banned -> Bool,
        locked_until -> Nullable<BigInt>,
        delete_self_enabled -> Bool,
        create_organization_enabled -> Bool,
        create_organizations_limit -> Nullable<Integer>,
        legal_accepted_at -> Nullable<BigInt>,
        last_sign_in_at -> Nullable<BigInt>,
        last_active_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    email_addresses (id) {
        id -> Text,
        user_id -> Text,
        email_address -> Text,
        verification_status -> Text,
        verification_strategy -> Text,
        reserved -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(email_addresses -> users (user_id));
diesel::joinable!(signing_keys -> instances (instance_id));
diesel::joinable!(secret_keys -> instances (instance_id));

diesel::allow_tables_to_appear_in_same_query!(
    instances,
    signing_keys,
    secret_keys,
    users,
    email_addresses,
);
