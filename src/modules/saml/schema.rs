//! The SAML area's tables (`migrations/`), kept by hand in step with them.

diesel::table! {
    saml_connections (id) {
        id -> Text,
        name -> Text,
        provider -> Text,
        idp_entity_id -> Nullable<Text>,
        idp_sso_url -> Nullable<Text>,
        idp_certificate -> Nullable<Text>,
        idp_metadata_url -> Nullable<Text>,
        idp_metadata -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        attribute_mapping -> Text,
        active -> Bool,
        sync_user_attributes -> Bool,
        allow_subdomains -> Bool,
        allow_idp_initiated -> Bool,
        disable_additional_identifications -> Bool,
        allow_organization_account_linking -> Bool,
        login_hint -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        force_authn -> Bool,
    }
}

diesel::table! {
    saml_connection_domains (domain) {
        domain -> Text,
        connection_id -> Text,
        position -> Integer,
    }
}

diesel::table! {
    saml_sp_keys (id) {
        id -> Text,
        private_key -> Text,
        certificate_pem -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    saml_requests (id) {
        id -> Text,
        connection_id -> Text,
        sign_in_id -> Text,
        client_id -> Text,
        strategy -> Text,
        redirect_url -> Text,
        native -> Bool,
        force_authn -> Bool,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    saml_used_assertions (connection_id, assertion_id) {
        connection_id -> Text,
        assertion_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::joinable!(saml_connection_domains -> saml_connections (connection_id));
diesel::joinable!(saml_requests -> saml_connections (connection_id));

diesel::allow_tables_to_appear_in_same_query!(
    saml_connections,
    saml_connection_domains,
    saml_requests,
    saml_used_assertions,
);
