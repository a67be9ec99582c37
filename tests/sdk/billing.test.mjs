// Clerk's own Backend SDK reads Steward's billing: plans, a user's and an
// organization's subscription, and an admin extending and canceling a trial.
// Env: STEWARD_BAPI_URL, STEWARD_SECRET_KEY, STEWARD_USER_ID (on a trial of
// `pro`), STEWARD_ITEM_ID (that trial), STEWARD_TRIAL_END (ms),
// STEWARD_ORG_ID (on the organizations' default plan).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClerkClient } from '@clerk/backend';

const apiUrl = process.env.STEWARD_BAPI_URL;
const secretKey = process.env.STEWARD_SECRET_KEY;
const userId = process.env.STEWARD_USER_ID;
const itemId = process.env.STEWARD_ITEM_ID;
const trialEnd = Number(process.env.STEWARD_TRIAL_END);
const orgId = process.env.STEWARD_ORG_ID;
assert.ok(apiUrl && secretKey && userId && itemId && trialEnd && orgId, 'STEWARD_* variables must be set');

const clerk = createClerkClient({ apiUrl, secretKey, telemetry: { disabled: true } });
const DAY = 86_400_000;

test('plans and subscriptions', async () => {
  const plans = await clerk.billing.getPlanList();
  assert.ok(plans.totalCount >= 4, `${plans.totalCount}`);
  const pro = plans.data.find((plan) => plan.slug === 'pro');
  assert.match(pro.constructor.name, /Plan$/);
  assert.equal(pro.freeTrialEnabled, true);
  assert.equal(pro.freeTrialDays, 14);
  assert.equal(pro.fee.amount, 2500);
  const orgPlans = await clerk.billing.getPlanList({ payerType: 'org' });
  assert.ok(orgPlans.data.every((plan) => plan.forPayerType === 'org'));

  const subscription = await clerk.billing.getUserBillingSubscription(userId);
  assert.match(subscription.constructor.name, /Subscription$/);
  assert.equal(subscription.status, 'active');
  assert.equal(subscription.eligibleForFreeTrial, false);
  const item = subscription.subscriptionItems[0];
  assert.match(item.constructor.name, /SubscriptionItem$/);
  assert.equal(item.id, itemId);
  assert.equal(item.status, 'active');
  assert.equal(item.isFreeTrial, true);
  assert.equal(item.periodEnd, trialEnd);
  assert.equal(item.plan.slug, 'pro');
  assert.equal(item.canceledAt, null);
  assert.equal(subscription.nextPayment.amount.amount, 2500);
  assert.equal(subscription.nextPayment.date, trialEnd);

  const orgSubscription = await clerk.billing.getOrganizationBillingSubscription(orgId);
  assert.equal(orgSubscription.subscriptionItems[0].plan.slug, 'free_org');
  assert.equal(orgSubscription.eligibleForFreeTrial, true);

  await assert.rejects(clerk.billing.getUserBillingSubscription('user_nothing'), (error) => error.status === 404);
});

test('an admin extends, then cancels, then ends a trial', async () => {
  const newEnd = trialEnd + 5 * DAY;
  const extended = await clerk.billing.extendSubscriptionItemFreeTrial(itemId, { extendTo: new Date(newEnd) });
  assert.match(extended.constructor.name, /SubscriptionItem$/);
  assert.equal(extended.periodEnd, newEnd);
  assert.equal(extended.isFreeTrial, true);
  await assert.rejects(
    clerk.billing.extendSubscriptionItemFreeTrial(itemId, { extendTo: new Date(newEnd + 400 * DAY) }),
    (error) => error.status === 422 && error.errors[0].code === 'form_param_value_invalid',
  );

  // endNow: false is not even sent: the default is the end of the trial.
  const canceled = await clerk.billing.cancelSubscriptionItem(itemId, { endNow: false });
  assert.equal(canceled.status, 'canceled');
  assert.equal(canceled.periodEnd, newEnd);
  assert.equal(typeof canceled.canceledAt, 'number');
  assert.equal(canceled.endedAt, null);

  const ended = await clerk.billing.cancelSubscriptionItem(itemId, { endNow: true });
  assert.equal(ended.status, 'ended');
  assert.equal(typeof ended.endedAt, 'number');
  const after = await clerk.billing.getUserBillingSubscription(userId);
  assert.equal(after.subscriptionItems[0].plan.slug, 'free_user');
});
