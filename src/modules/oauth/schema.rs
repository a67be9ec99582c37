//! The OAuth area's tables (`migrations/`), kept by hand in step with them.

diesel::table! {
    oauth_connections (id) {
        id -> Text,
        strategy -> Text,
        client_id -> Text,
        client_secret -> Text,
        scopes -> Text,
        enabled -> Bool,
        issuer -> Nullable<Text>,
        tenant -> Nullable<Text>,
        name -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    oauth_states (id) {
        id -> Text,
        strategy -> Text,
        sign_in_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        client_id -> Text,
        redirect_url -> Text,
        native -> Bool,
        nonce -> Text,
        pkce_verifier -> Text,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(oauth_connections, oauth_states);
