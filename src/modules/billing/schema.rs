//! Diesel declarations of the billing area's tables (its migrations are
//! in `migrations/`).

diesel::table! {
    billing_plans (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        description -> Nullable<Text>,
        payer_type -> Text,
        currency -> Text,
        fee_amount -> BigInt,
        annual_fee_amount -> Nullable<BigInt>,
        is_default -> Bool,
        publicly_visible -> Bool,
        free_trial_enabled -> Bool,
        free_trial_days -> Nullable<Integer>,
        avatar_url -> Nullable<Text>,
        archived_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_features (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_plan_features (plan_id,feature_id) {
        plan_id -> Text,
        feature_id -> Text,
        position -> Integer,
    }
}

diesel::table! {
    billing_payers (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        email -> Nullable<Text>,
        gateway_customer_id -> Nullable<Text>,
        default_payment_method_id -> Nullable<Text>,
        first_paid_at -> Nullable<BigInt>,
        first_trial_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_payment_methods (id) {
        id -> Text,
        payer_id -> Text,
        gateway -> Text,
        gateway_external_id -> Text,
        card_type -> Nullable<Text>,
        last4 -> Nullable<Text>,
        expiry_month -> Nullable<Integer>,
        expiry_year -> Nullable<Integer>,
        fingerprint -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_checkouts (id) {
        id -> Text,
        payer_id -> Text,
        plan_id -> Text,
        plan_period -> Text,
        status -> Text,
        amount -> BigInt,
        currency -> Text,
        free_trial_days -> Nullable<Integer>,
        subscription_item_id -> Nullable<Text>,
        expires_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_subscriptions (id) {
        id -> Text,
        payer_id -> Text,
        status -> Text,
        active_at -> Nullable<BigInt>,
        past_due_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_subscription_items (id) {
        id -> Text,
        subscription_id -> Text,
        payer_id -> Text,
        plan_id -> Text,
        plan_period -> Text,
        status -> Text,
        amount -> BigInt,
        currency -> Text,
        is_free_trial -> Bool,
        free_trial_days -> Nullable<Integer>,
        period_start -> BigInt,
        period_end -> Nullable<BigInt>,
        payment_method_id -> Nullable<Text>,
        canceled_at -> Nullable<BigInt>,
        past_due_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        trial_notice_sent_at -> Nullable<BigInt>,
        charge_failures -> Integer,
        next_charge_at -> Nullable<BigInt>,
        claimed_until -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_statements (id) {
        id -> Text,
        payer_id -> Text,
        status -> Text,
        currency -> Text,
        timestamp -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_payment_attempts (id) {
        id -> Text,
        payer_id -> Text,
        statement_id -> Text,
        subscription_item_id -> Text,
        payment_method_id -> Nullable<Text>,
        charge_type -> Text,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        idempotency_key -> Text,
        gateway_external_id -> Nullable<Text>,
        failed_code -> Nullable<Text>,
        decline_code -> Nullable<Text>,
        paid_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    billing_events (seq) {
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        object_id -> Text,
        payload -> Text,
        occurred_at -> BigInt,
    }
}

diesel::table! {
    billing_gateway_events (id) {
        id -> Text,
        event_type -> Text,
        received_at -> BigInt,
    }
}

diesel::table! {
    billing_prices (id) {
        id -> Text,
        plan_id -> Text,
        currency -> Text,
        amount -> BigInt,
        annual_monthly_amount -> Nullable<BigInt>,
        description -> Nullable<Text>,
        is_default -> Bool,
        created_at -> BigInt,
    }
}

diesel::joinable!(billing_plan_features -> billing_plans (plan_id));
diesel::joinable!(billing_plan_features -> billing_features (feature_id));

diesel::allow_tables_to_appear_in_same_query!(
    billing_plans,
    billing_prices,
    billing_features,
    billing_plan_features,
    billing_payers,
    billing_payment_methods,
    billing_checkouts,
    billing_subscriptions,
    billing_subscription_items,
    billing_statements,
    billing_payment_attempts,
);
