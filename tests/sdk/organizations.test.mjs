// Clerk's own Backend SDK drives Steward's organizations API.
// Env: STEWARD_BAPI_URL, STEWARD_SECRET_KEY, STEWARD_USER_ID, STEWARD_OTHER_USER_ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClerkClient } from '@clerk/backend';

const apiUrl = process.env.STEWARD_BAPI_URL;
const secretKey = process.env.STEWARD_SECRET_KEY;
const userId = process.env.STEWARD_USER_ID;
const otherUserId = process.env.STEWARD_OTHER_USER_ID;
assert.ok(apiUrl && secretKey && userId && otherUserId, 'STEWARD_* variables must be set');

const clerk = createClerkClient({ apiUrl, secretKey, telemetry: { disabled: true } });

test('organizations and memberships', async () => {
  const org = await clerk.organizations.createOrganization({
    name: 'SDK Org',
    slug: 'sdk-org',
    createdBy: userId,
    publicMetadata: { tier: 'gold' },
  });
  assert.match(org.constructor.name, /Organization$/);
  assert.match(org.id, /^org_[0-9A-Za-z]{27}$/);
  assert.equal(org.slug, 'sdk-org');

  const list = await clerk.organizations.getOrganizationList();
  assert.equal(list.totalCount, 1);
  assert.equal(list.data[0].id, org.id);

  assert.equal((await clerk.organizations.getOrganization({ organizationId: org.id })).name, 'SDK Org');
  assert.equal((await clerk.organizations.getOrganization({ slug: 'sdk-org' })).id, org.id);

  const renamed = await clerk.organizations.updateOrganization(org.id, { name: 'SDK Org Renamed' });
  assert.equal(renamed.name, 'SDK Org Renamed');
  const merged = await clerk.organizations.updateOrganizationMetadata(org.id, { publicMetadata: { seats: 5 } });
  assert.deepEqual(merged.publicMetadata, { tier: 'gold', seats: 5 });

  const membership = await clerk.organizations.createOrganizationMembership({
    organizationId: org.id,
    userId: otherUserId,
    role: 'org:member',
  });
  assert.match(membership.constructor.name, /OrganizationMembership$/);
  assert.equal(membership.role, 'org:member');
  assert.equal(membership.publicUserData?.userId, otherUserId);

  const members = await clerk.organizations.getOrganizationMembershipList({ organizationId: org.id });
  assert.equal(members.totalCount, 2);

  // The list filters of the spec are applied, not ignored.
  const byEmail = await clerk.organizations.getOrganizationMembershipList({
    organizationId: org.id,
    emailAddress: ['sdk.member@example.com'],
  });
  assert.equal(byEmail.totalCount, 1);
  assert.equal(byEmail.data[0].publicUserData?.userId, otherUserId);
  const orgMembers = await clerk.users.getUserList({ organizationId: [org.id] });
  assert.equal(orgMembers.totalCount, 2);
  assert.deepEqual(orgMembers.data.map((u) => u.id).sort(), [userId, otherUserId].sort());
  const roles = await clerk.organizationRoles.getOrganizationRoleList({ query: 'admin' });
  assert.deepEqual(roles.data.map((r) => r.key), ['org:admin']);

  const settings = await clerk.instance.getOrganizationSettings();
  assert.equal(settings.maxAllowedPermissions, 0);
  const anonymous = await clerk.organizations.createOrganization({ name: 'Nobody made me' });
  assert.equal(anonymous.createdBy, undefined);
  await clerk.organizations.deleteOrganization(anonymous.id);

  const promoted = await clerk.organizations.updateOrganizationMembership({
    organizationId: org.id,
    userId: otherUserId,
    role: 'org:admin',
  });
  assert.equal(promoted.role, 'org:admin');

  const removed = await clerk.organizations.deleteOrganizationMembership({ organizationId: org.id, userId: otherUserId });
  assert.equal(removed.publicUserData?.userId, otherUserId);
  assert.equal((await clerk.organizations.getOrganizationMembershipList({ organizationId: org.id })).totalCount, 1);

  const invitation = await clerk.organizations.createOrganizationInvitation({
    organizationId: org.id,
    emailAddress: 'invitee@example.com',
    role: 'org:member',
    notify: false,
  });
  assert.match(invitation.constructor.name, /OrganizationInvitation$/);
  assert.equal(invitation.status, 'pending');
  const invitations = await clerk.organizations.getOrganizationInvitationList({ organizationId: org.id });
  assert.equal(invitations.totalCount, 1);
  const revoked = await clerk.organizations.revokeOrganizationInvitation({
    organizationId: org.id,
    invitationId: invitation.id,
  });
  assert.equal(revoked.status, 'revoked');

  await assert.rejects(
    clerk.organizations.createOrganization({ name: 'Clash', slug: 'sdk-org' }),
    (error) => {
      assert.equal(error.status, 422);
      assert.equal(error.errors[0].code, 'form_identifier_exists');
      return true;
    },
  );

  // A deleted user's membership goes with them: the lists still parse.
  await clerk.organizations.createOrganizationMembership({
    organizationId: org.id,
    userId: otherUserId,
    role: 'org:member',
  });
  await clerk.users.deleteUser(otherUserId);
  const remaining = await clerk.organizations.getOrganizationMembershipList({ organizationId: org.id });
  assert.equal(remaining.totalCount, 1);
  assert.equal(remaining.data[0].publicUserData?.userId, userId);
  const instanceWide = await clerk.organizations.getInstanceOrganizationMembershipList({});
  assert.deepEqual(instanceWide.data.map((m) => m.publicUserData?.userId), [userId]);
  assert.equal((await clerk.organizations.getOrganization({ organizationId: org.id })).membersCount, 1);

  const deleted = await clerk.organizations.deleteOrganization(org.id);
  assert.equal(deleted.deleted, true);
});
