-- The prices of each plan (Clerk's commerce_price): the default one is
-- what a new checkout pays, and the plan's fee columns mirror it. Each
-- existing plan gets its current fee as its first, default price.
CREATE TABLE billing_prices (
    id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL REFERENCES billing_plans (id),
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    annual_monthly_amount BIGINT,
    description TEXT,
    is_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX billing_prices_plan_idx ON billing_prices (plan_id, created_at);
INSERT INTO billing_prices (id, plan_id, currency, amount, annual_monthly_amount, description, is_default, created_at)
    SELECT 'cprice_' || substr(id, 7), id, currency, fee_amount, annual_fee_amount / 12, NULL, TRUE, created_at
    FROM billing_plans;
