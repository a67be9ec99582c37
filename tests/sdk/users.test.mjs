// Clerk's own Backend SDK against a running Steward.
// Env: STEWARD_BAPI_URL (http://127.0.0.1:PORT), STEWARD_SECRET_KEY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClerkClient } from '@clerk/backend';

const apiUrl = process.env.STEWARD_BAPI_URL;
const secretKey = process.env.STEWARD_SECRET_KEY;
assert.ok(apiUrl && secretKey, 'STEWARD_BAPI_URL and STEWARD_SECRET_KEY must be set');

const clerk = createClerkClient({ apiUrl, secretKey, telemetry: { disabled: true } });

test('users: create, list, get, update metadata, ban, delete', async () => {
  const created = await clerk.users.createUser({
    emailAddress: ['sdk.user@example.com'],
    username: 'sdk_user',
    password: 'a long sdk password',
    firstName: 'Sdk',
    lastName: 'User',
    externalId: 'sdk-ext-1',
    publicMetadata: { plan: 'free' },
  });
  assert.match(created.constructor.name, /User$/);
  assert.match(created.id, /^user_[0-9A-Za-z]{27}$/);
  assert.equal(created.username, 'sdk_user');
  assert.equal(created.firstName, 'Sdk');
  assert.equal(created.externalId, 'sdk-ext-1');
  assert.equal(created.primaryEmailAddress?.emailAddress, 'sdk.user@example.com');
  assert.equal(created.passwordEnabled, true);
  assert.deepEqual(created.publicMetadata, { plan: 'free' });
  assert.equal(typeof created.createdAt, 'number');

  await clerk.users.createUser({ emailAddress: ['second@example.com'], password: 'another long password' });

  const list = await clerk.users.getUserList({ limit: 1, orderBy: '-created_at' });
  assert.equal(list.totalCount, 2);
  assert.equal(list.data.length, 1);
  assert.match(list.data[0].constructor.name, /User$/);
  assert.equal(list.data[0].emailAddresses[0].emailAddress, 'second@example.com');

  const filtered = await clerk.users.getUserList({ emailAddress: ['sdk.user@example.com'] });
  assert.equal(filtered.totalCount, 1);
  assert.equal(filtered.data[0].id, created.id);
  assert.equal(await clerk.users.getCount(), 2);

  const fetched = await clerk.users.getUser(created.id);
  assert.equal(fetched.id, created.id);
  assert.equal(fetched.emailAddresses[0].verification?.status, 'verified');

  const merged = await clerk.users.updateUserMetadata(created.id, {
    publicMetadata: { plan: 'pro', seats: 3 },
    privateMetadata: { internal: true },
  });
  assert.deepEqual(merged.publicMetadata, { plan: 'pro', seats: 3 });
  assert.deepEqual(merged.privateMetadata, { internal: true });

  const renamed = await clerk.users.updateUser(created.id, { firstName: 'Renamed' });
  assert.equal(renamed.firstName, 'Renamed');

  const verified = await clerk.users.verifyPassword({ userId: created.id, password: 'a long sdk password' });
  assert.deepEqual(verified, { verified: true });

  const banned = await clerk.users.banUser(created.id);
  assert.equal(banned.banned, true);
  const unbanned = await clerk.users.unbanUser(created.id);
  assert.equal(unbanned.banned, false);
  const locked = await clerk.users.lockUser(created.id);
  assert.equal(locked.locked, true);
  const unlocked = await clerk.users.unlockUser(created.id);
  assert.equal(unlocked.locked, false);

  const deleted = await clerk.users.deleteUser(created.id);
  assert.equal(deleted.id, created.id);
  assert.equal(deleted.deleted, true);
  assert.equal(await clerk.users.getCount(), 1);
});

test('errors arrive as ClerkAPIResponseError with Clerk codes and trace id', async () => {
  await assert.rejects(clerk.users.getUser('user_2g7np7Hrk0SN6kj5EDMLDaKNL0S'), (error) => {
    assert.equal(error.status, 404);
    assert.equal(error.errors[0].code, 'resource_not_found');
    assert.ok(error.clerkTraceId);
    return true;
  });
  await clerk.users.createUser({ emailAddress: ['taken@example.com'], password: 'another long password' });
  await assert.rejects(
    clerk.users.createUser({ emailAddress: ['TAKEN@example.com'], password: 'another long password' }),
    (error) => {
      assert.equal(error.status, 422);
      assert.equal(error.errors[0].code, 'form_identifier_exists');
      assert.equal(error.errors[0].meta.paramName, 'email_address');
      return true;
    },
  );
  const wrongKey = createClerkClient({ apiUrl, secretKey: 'sk_test_notarealkeynotarealkey0000', telemetry: { disabled: true } });
  await assert.rejects(wrongKey.users.getCount(), (error) => {
    assert.equal(error.status, 401);
    assert.equal(error.errors[0].code, 'clerk_key_invalid');
    return true;
  });
});
