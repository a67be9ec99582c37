//! The portable schema: common SQL types only (`Text`, `BigInt` milliseconds,
//! `Bool`, `Integer`), so one `schema.rs` serves SQLite and PostgreSQL.
//! Kept by hand in step with the migrations (`migrations/core/`,
//! `migrations/common/`, `src/modules/<area>/migrations/`).

diesel::table! {
    instances (id) {
        id -> Text,
        environment_type -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        show_last_used_badge -> Bool,
        client_token_key -> Nullable<Text>,
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
        activates_at -> BigInt,
        publish_until -> Nullable<BigInt>,
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
        last_authentication_strategy -> Nullable<Text>,
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

diesel::table! {
    clients (id) {
        id -> Text,
        sign_in_id -> Nullable<Text>,
        sign_up_id -> Nullable<Text>,
        last_active_session_id -> Nullable<Text>,
        last_authentication_strategy -> Nullable<Text>,
        ended_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        status -> Text,
        last_active_organization_id -> Nullable<Text>,
        claims_snapshot -> Text,
        first_factor_verified_at -> BigInt,
        last_active_at -> BigInt,
        expire_at -> BigInt,
        abandon_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sign_ups (id) {
        id -> Text,
        client_id -> Text,
        status -> Text,
        email_address -> Nullable<Text>,
        username -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        password_digest -> Nullable<Text>,
        unsafe_metadata -> Text,
        email_verification_status -> Nullable<Text>,
        code_digest -> Nullable<Text>,
        code_expire_at -> Nullable<BigInt>,
        code_attempts -> Integer,
        code_sends -> Integer,
        code_last_sent_at -> Nullable<BigInt>,
        created_user_id -> Nullable<Text>,
        created_session_id -> Nullable<Text>,
        abandon_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        organization_invitation_id -> Nullable<Text>,
        external_sign_in_id -> Nullable<Text>,
    }
}

diesel::table! {
    sign_ins (id) {
        id -> Text,
        client_id -> Text,
        status -> Text,
        identifier -> Nullable<Text>,
        user_id -> Nullable<Text>,
        first_factor_strategy -> Nullable<Text>,
        first_factor_status -> Nullable<Text>,
        email_address_id -> Nullable<Text>,
        code_digest -> Nullable<Text>,
        code_expire_at -> Nullable<BigInt>,
        code_attempts -> Integer,
        code_sends -> Integer,
        code_last_sent_at -> Nullable<BigInt>,
        created_session_id -> Nullable<Text>,
        abandon_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        external_redirect_url -> Nullable<Text>,
        first_factor_error -> Nullable<Text>,
        rotating_token_nonce_digest -> Nullable<Text>,
        enterprise_connection_id -> Nullable<Text>,
        enterprise_connection_name -> Nullable<Text>,
        transfer_identity -> Nullable<Text>,
    }
}

diesel::table! {
    external_accounts (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        provider_user_id -> Text,
        email_address -> Text,
        email_verified -> Bool,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        image_url -> Nullable<Text>,
        username -> Nullable<Text>,
        approved_scopes -> Text,
        access_token -> Nullable<Text>,
        refresh_token -> Nullable<Text>,
        token_expires_at -> Nullable<BigInt>,
        public_metadata -> Text,
        last_authenticated_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    enterprise_accounts (id) {
        id -> Text,
        user_id -> Text,
        protocol -> Text,
        provider -> Text,
        connection_id -> Text,
        connection_name -> Text,
        provider_user_id -> Text,
        email_address -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        public_metadata -> Text,
        active -> Bool,
        last_authenticated_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sign_in_tokens (id) {
        id -> Text,
        user_id -> Text,
        token_digest -> Text,
        status -> Text,
        expire_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    credential_checks (id) {
        id -> Text,
        user_id -> Text,
        strategy -> Text,
        succeeded -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    email_verifications (email_address_id) {
        email_address_id -> Text,
        code_digest -> Nullable<Text>,
        code_expire_at -> Nullable<BigInt>,
        code_attempts -> Integer,
        code_sends -> Integer,
        code_last_sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        slug -> Text,
        max_allowed_memberships -> Integer,
        admin_delete_enabled -> Bool,
        public_metadata -> Text,
        private_metadata -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_memberships (id) {
        id -> Text,
        organization_id -> Text,
        user_id -> Text,
        role -> Text,
        public_metadata -> Text,
        private_metadata -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_roles (id) {
        id -> Text,
        role_key -> Text,
        name -> Text,
        description -> Nullable<Text>,
        is_system -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_permissions (id) {
        id -> Text,
        permission_key -> Text,
        name -> Text,
        description -> Nullable<Text>,
        is_system -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_role_permissions (role_id, permission_id) {
        role_id -> Text,
        permission_id -> Text,
    }
}

diesel::table! {
    organization_settings (id) {
        id -> Text,
        enabled -> Bool,
        max_allowed_memberships -> Integer,
        creator_role -> Text,
        default_role -> Text,
        admin_delete_enabled -> Bool,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_invitations (id) {
        id -> Text,
        organization_id -> Text,
        email_address -> Text,
        role -> Text,
        status -> Text,
        inviter_user_id -> Nullable<Text>,
        public_metadata -> Text,
        private_metadata -> Text,
        ticket_digest -> Text,
        url -> Nullable<Text>,
        expires_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    organization_deleted_users (user_id) {
        user_id -> Text,
        deleted_at -> BigInt,
    }
}

diesel::table! {
    session_activity (id) {
        id -> Text,
        session_id -> Text,
        occurred_at -> BigInt,
    }
}

diesel::table! {
    session_token_issuances (id) {
        id -> Text,
        session_id -> Text,
        kid -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    session_events (id) {
        id -> Text,
        session_id -> Text,
        kind -> Text,
        occurred_at -> BigInt,
    }
}

diesel::table! {
    deleted_users (user_id) {
        user_id -> Text,
        deleted_at -> BigInt,
    }
}

diesel::table! {
    outbox (seq) {
        seq -> BigInt,
        topic -> Text,
        entity -> Text,
        version -> BigInt,
        payload -> Text,
        created_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    outbox_versions (topic, entity) {
        topic -> Text,
        entity -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    outbox_backfills (name) {
        name -> Text,
        done_at -> BigInt,
    }
}

diesel::table! {
    session_org_claims (user_id, organization_id, contributor) {
        user_id -> Text,
        organization_id -> Text,
        contributor -> Text,
        organization_slug -> Nullable<Text>,
        claims -> Nullable<Text>,
        version -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    session_scope_claims (scope, contributor) {
        scope -> Text,
        contributor -> Text,
        claims -> Nullable<Text>,
        version -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    session_users (user_id) {
        user_id -> Text,
        user_object -> Nullable<Text>,
        public_user_data -> Nullable<Text>,
        locked_until -> Nullable<BigInt>,
        version -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(email_addresses -> users (user_id));
diesel::joinable!(enterprise_accounts -> users (user_id));
diesel::joinable!(external_accounts -> users (user_id));
diesel::joinable!(organization_invitations -> organizations (organization_id));
diesel::joinable!(organization_memberships -> organizations (organization_id));
diesel::joinable!(organization_role_permissions -> organization_roles (role_id));
diesel::joinable!(organization_role_permissions -> organization_permissions (permission_id));
diesel::joinable!(email_verifications -> email_addresses (email_address_id));
diesel::joinable!(signing_keys -> instances (instance_id));
diesel::joinable!(secret_keys -> instances (instance_id));

diesel::allow_tables_to_appear_in_same_query!(
    instances,
    signing_keys,
    secret_keys,
    users,
    email_addresses,
    enterprise_accounts,
    external_accounts,
    clients,
    sessions,
    sign_ups,
    sign_ins,
    sign_in_tokens,
    credential_checks,
    email_verifications,
    organizations,
    organization_memberships,
    organization_roles,
    organization_permissions,
    organization_role_permissions,
    organization_settings,
    organization_invitations,
    session_activity,
    session_token_issuances,
    session_events,
    session_org_claims,
    session_scope_claims,
    session_users,
);
