-- The billing area: plans and their features, payers with their cards,
-- checkouts, subscriptions with their items, statements, payment attempts,
-- the append-only event log, and the Stripe webhook events already
-- handled. Amounts are integers in the currency's minor unit (cents).
-- Stripe holds only cards and moves money; everything else is here.

CREATE TABLE billing_plans (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    -- 'user' or 'org'.
    payer_type TEXT NOT NULL,
    currency TEXT NOT NULL,
    -- Monthly fee; 0 for a free plan.
    fee_amount BIGINT NOT NULL,
    -- The yearly fee, when the plan can be paid yearly.
    annual_fee_amount BIGINT,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    publicly_visible BOOLEAN NOT NULL DEFAULT TRUE,
    free_trial_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    free_trial_days INTEGER,
    avatar_url TEXT,
    archived_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One default (free) plan per payer type among plans in use.
CREATE UNIQUE INDEX billing_plans_default_idx ON billing_plans (payer_type)
    WHERE is_default AND archived_at IS NULL;

CREATE TABLE billing_features (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE billing_plan_features (
    plan_id TEXT NOT NULL REFERENCES billing_plans (id) ON DELETE CASCADE,
    feature_id TEXT NOT NULL REFERENCES billing_features (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (plan_id, feature_id)
);

-- Who pays: a user or an organization. Eligibility for a free trial is
-- kept here, set once and never cleared: a payer that has paid, or has
-- started a trial, gets no other trial.
CREATE TABLE billing_payers (
    id TEXT PRIMARY KEY,
    user_id TEXT UNIQUE,
    organization_id TEXT UNIQUE,
    -- Where trial notices and receipts go, set from the signed-in user at
    -- checkout.
    email TEXT,
    gateway_customer_id TEXT,
    default_payment_method_id TEXT,
    first_paid_at BIGINT,
    first_trial_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE billing_payment_methods (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES billing_payers (id),
    gateway TEXT NOT NULL,
    gateway_external_id TEXT NOT NULL UNIQUE,
    card_type TEXT,
    last4 TEXT,
    expiry_month INTEGER,
    expiry_year INTEGER,
    fingerprint TEXT,
    -- 'active' or 'disconnected' (removed by the payer).
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX billing_payment_methods_payer_idx ON billing_payment_methods (payer_id, created_at);

-- A checkout started for a plan and period; its trial terms are fixed
-- when it is created, and confirming it once makes the subscription item.
CREATE TABLE billing_checkouts (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES billing_payers (id),
    plan_id TEXT NOT NULL REFERENCES billing_plans (id),
    plan_period TEXT NOT NULL,
    -- 'needs_confirmation' or 'completed'.
    status TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- Set when a free trial applies: its length in days.
    free_trial_days INTEGER,
    subscription_item_id TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX billing_checkouts_payer_idx ON billing_checkouts (payer_id, created_at);

-- One subscription per payer; its items are the plans it went through.
CREATE TABLE billing_subscriptions (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL UNIQUE REFERENCES billing_payers (id),
    status TEXT NOT NULL,
    active_at BIGINT,
    past_due_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE billing_subscription_items (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES billing_subscriptions (id),
    payer_id TEXT NOT NULL REFERENCES billing_payers (id),
    plan_id TEXT NOT NULL REFERENCES billing_plans (id),
    plan_period TEXT NOT NULL,
    -- active, canceled (ends at period end), past_due, ended, upcoming,
    -- abandoned, incomplete.
    status TEXT NOT NULL,
    -- The fee per period, fixed when the item started.
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    is_free_trial BOOLEAN NOT NULL DEFAULT FALSE,
    -- The trial's length as granted, kept after it ends.
    free_trial_days INTEGER,
    period_start BIGINT NOT NULL,
    -- NULL for a free (default) plan, which never renews.
    period_end BIGINT,
    payment_method_id TEXT,
    canceled_at BIGINT,
    past_due_at BIGINT,
    ended_at BIGINT,
    -- The trial-ending notice went out for the current trial end.
    trial_notice_sent_at BIGINT,
    -- Failed charges for the current period, and when to try again.
    charge_failures INTEGER NOT NULL DEFAULT 0,
    next_charge_at BIGINT,
    -- A job working on the item holds it until then (see jobs.rs).
    claimed_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX billing_items_subscription_idx ON billing_subscription_items (subscription_id, created_at);
CREATE INDEX billing_items_due_idx ON billing_subscription_items (status, period_end);
CREATE INDEX billing_items_created_idx ON billing_subscription_items (created_at, id);
-- At most one current item (active, canceled or past due) per payer.
CREATE UNIQUE INDEX billing_items_current_idx ON billing_subscription_items (payer_id)
    WHERE status IN ('active', 'canceled', 'past_due');

CREATE TABLE billing_statements (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES billing_payers (id),
    -- 'open' or 'closed'.
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    -- The month the statement covers starts here.
    timestamp BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (payer_id, timestamp)
);

-- One attempt to charge a payer. idempotency_key is derived from the
-- (subscription item, period, attempt number) it charges for, is the key
-- sent to Stripe, and is unique here, so a job restarted mid-charge finds
-- its attempt and Stripe its PaymentIntent instead of charging again.
CREATE TABLE billing_payment_attempts (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL REFERENCES billing_payers (id),
    statement_id TEXT NOT NULL REFERENCES billing_statements (id),
    subscription_item_id TEXT NOT NULL REFERENCES billing_subscription_items (id),
    payment_method_id TEXT,
    -- 'checkout' or 'recurring'.
    charge_type TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- 'pending', 'paid' or 'failed'.
    status TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    gateway_external_id TEXT,
    failed_code TEXT,
    decline_code TEXT,
    paid_at BIGINT,
    failed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX billing_attempts_statement_idx ON billing_payment_attempts (statement_id, created_at);
CREATE INDEX billing_attempts_payer_idx ON billing_payment_attempts (payer_id, created_at);
CREATE INDEX billing_attempts_gateway_idx ON billing_payment_attempts (gateway_external_id);

-- Append-only: every lifecycle change, named as Clerk's webhooks name
-- them (subscription.*, subscriptionItem.*, paymentAttempt.*), with the
-- object as it was, ready for outgoing webhooks.
CREATE TABLE billing_events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
CREATE INDEX billing_events_object_idx ON billing_events (object_id, seq);

-- Stripe webhook events already handled, by Stripe's event id.
CREATE TABLE billing_gateway_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
