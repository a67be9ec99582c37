// Clerk's own Backend SDK drives Steward's SAML connections API.
// Env: STEWARD_BAPI_URL, STEWARD_SECRET_KEY, STEWARD_IDP_CERTIFICATE (a PEM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClerkClient } from '@clerk/backend';

const apiUrl = process.env.STEWARD_BAPI_URL;
const secretKey = process.env.STEWARD_SECRET_KEY;
const certificate = process.env.STEWARD_IDP_CERTIFICATE;
assert.ok(apiUrl && secretKey && certificate, 'STEWARD_* variables must be set');

const clerk = createClerkClient({ apiUrl, secretKey, telemetry: { disabled: true } });

// The raw JSON of a connection, for the fields the SDK's class leaves out.
async function raw(id) {
  const response = await fetch(`${apiUrl}/v1/saml_connections/${id}`, {
    headers: { Authorization: `Bearer ${secretKey}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

test('SAML connections', async () => {
  const org = await clerk.organizations.createOrganization({ name: 'SAML Org', slug: 'saml-org' });

  const created = await clerk.samlConnections.createSamlConnection({
    name: 'Acme Okta',
    provider: 'saml_okta',
    domain: 'acme.example',
    organizationId: org.id,
    idpEntityId: 'http://www.okta.com/exk1',
    idpSsoUrl: 'https://acme.okta.example/sso',
    idpCertificate: certificate,
    attributeMapping: { emailAddress: 'email', firstName: 'givenName' },
  });
  assert.match(created.constructor.name, /SamlConnection$/);
  assert.match(created.id, /^samlc_/);
  assert.equal(created.name, 'Acme Okta');
  assert.equal(created.domain, 'acme.example');
  assert.equal(created.provider, 'saml_okta');
  assert.equal(created.organizationId, org.id);
  assert.equal(created.idpEntityId, 'http://www.okta.com/exk1');
  assert.equal(created.idpSsoUrl, 'https://acme.okta.example/sso');
  assert.equal(created.idpCertificate.trim(), certificate.trim());
  assert.equal(typeof created.idpCertificateIssuedAt, 'number');
  assert.ok(created.idpCertificateExpiresAt > created.idpCertificateIssuedAt);
  assert.equal(created.active, false);
  assert.equal(created.userCount, 0);
  assert.equal(created.syncUserAttributes, true);
  assert.equal(created.allowSubdomains, false);
  assert.equal(created.allowIdpInitiated, false);
  assert.match(created.acsUrl, new RegExp(`/v1/saml/acs/${created.id}$`));
  assert.match(created.spEntityId, new RegExp(`/saml/${created.id}$`));
  assert.match(created.spMetadataUrl, new RegExp(`/v1/saml/metadata/${created.id}\\.xml$`));
  assert.equal(created.attributeMapping.emailAddress, 'email');
  assert.equal(created.attributeMapping.firstName, 'givenName');
  assert.equal(created.attributeMapping.lastName, 'lastName');
  assert.equal(created.attributeMapping.userId, '');
  assert.equal(typeof created.createdAt, 'number');
  const createdRaw = await raw(created.id);
  assert.equal(createdRaw.force_authn, false);
  assert.deepEqual(createdRaw.domains, ['acme.example']);

  // Untyped fields are still sent (deep snake_case): force_authn, domains.
  const second = await clerk.samlConnections.createSamlConnection({
    name: 'Contoso Entra',
    provider: 'saml_microsoft',
    domain: 'contoso.example',
    domains: ['contoso.example', 'contoso.test'],
    forceAuthn: true,
  });
  const secondRaw = await raw(second.id);
  assert.equal(secondRaw.force_authn, true);
  assert.deepEqual(secondRaw.domains, ['contoso.example', 'contoso.test']);
  assert.equal(second.idpEntityId, null);

  const all = await clerk.samlConnections.getSamlConnectionList();
  assert.equal(all.totalCount, 2);
  assert.deepEqual(all.data.map((c) => c.id), [second.id, created.id], 'newest first');
  assert.match(all.data[0].constructor.name, /SamlConnection$/);

  const page = await clerk.samlConnections.getSamlConnectionList({ limit: 1, offset: 1, orderBy: '-created_at' });
  assert.equal(page.totalCount, 2);
  assert.deepEqual(page.data.map((c) => c.id), [created.id]);
  const oldest = await clerk.samlConnections.getSamlConnectionList({ orderBy: '+created_at', offset: 0 });
  assert.deepEqual(oldest.data.map((c) => c.id), [created.id, second.id]);

  const byQuery = await clerk.samlConnections.getSamlConnectionList({ query: 'contoso' });
  assert.deepEqual(byQuery.data.map((c) => c.id), [second.id]);

  const inOrg = await clerk.samlConnections.getSamlConnectionList({ organizationId: [org.id] });
  assert.deepEqual(inOrg.data.map((c) => c.id), [created.id]);
  const plusOrg = await clerk.samlConnections.getSamlConnectionList({ organizationId: [`+${org.id}`] });
  assert.deepEqual(plusOrg.data.map((c) => c.id), [created.id]);
  const notOrg = await clerk.samlConnections.getSamlConnectionList({ organizationId: [`-${org.id}`] });
  assert.deepEqual(notOrg.data.map((c) => c.id), [second.id]);

  const got = await clerk.samlConnections.getSamlConnection(created.id);
  assert.equal(got.id, created.id);
  assert.equal(got.name, 'Acme Okta');
  assert.equal(got.idpCertificateExpiresAt, created.idpCertificateExpiresAt);

  const updated = await clerk.samlConnections.updateSamlConnection(created.id, {
    name: 'Acme Okta (prod)',
    active: true,
    syncUserAttributes: false,
    allowSubdomains: true,
    allowIdpInitiated: true,
    forceAuthn: true,
    attributeMapping: { lastName: 'sn' },
  });
  assert.equal(updated.name, 'Acme Okta (prod)');
  assert.equal(updated.active, true);
  assert.equal(updated.syncUserAttributes, false);
  assert.equal(updated.allowSubdomains, true);
  assert.equal(updated.allowIdpInitiated, true);
  assert.equal(updated.attributeMapping.lastName, 'sn');
  assert.equal(updated.attributeMapping.emailAddress, 'email', 'merged, not replaced');
  let updatedRaw = await raw(created.id);
  assert.equal(updatedRaw.force_authn, true);
  assert.equal(updatedRaw.authenticatable, true);

  // force_authn true → false; nothing else moves.
  await clerk.samlConnections.updateSamlConnection(created.id, { forceAuthn: false });
  updatedRaw = await raw(created.id);
  assert.equal(updatedRaw.force_authn, false);
  assert.equal(updatedRaw.active, true);
  assert.equal(updatedRaw.name, 'Acme Okta (prod)');

  // Activation without an IdP is refused, Clerk-style.
  await assert.rejects(
    clerk.samlConnections.updateSamlConnection(second.id, { active: true }),
    (error) => {
      assert.equal(error.status, 422);
      assert.equal(error.errors[0].code, 'form_param_value_invalid');
      return true;
    },
  );
  // A domain another connection serves.
  await assert.rejects(
    clerk.samlConnections.createSamlConnection({ name: 'Dup', provider: 'saml_custom', domain: 'acme.example' }),
    (error) => {
      assert.equal(error.status, 422);
      assert.equal(error.errors[0].code, 'form_identifier_exists');
      return true;
    },
  );

  const deleted = await clerk.samlConnections.deleteSamlConnection(created.id);
  assert.equal(deleted.id, created.id);
  assert.equal(deleted.deleted, true);
  assert.equal(deleted.object, 'saml_connection');
  await assert.rejects(clerk.samlConnections.getSamlConnection(created.id), (error) => {
    assert.equal(error.status, 404);
    assert.equal(error.errors[0].code, 'resource_not_found');
    return true;
  });
  const left = await clerk.samlConnections.getSamlConnectionList();
  assert.equal(left.totalCount, 1);
  assert.equal(left.data[0].id, second.id);
});
