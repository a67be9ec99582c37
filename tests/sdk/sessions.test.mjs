// Clerk's own Backend SDK verifies Steward's session tokens and drives the
// Backend API sessions calls.
// Env: STEWARD_BAPI_URL, STEWARD_FAPI_URL, STEWARD_SECRET_KEY, STEWARD_USER_ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { createClerkClient, verifyToken } from '@clerk/backend';

const apiUrl = process.env.STEWARD_BAPI_URL;
const fapiUrl = process.env.STEWARD_FAPI_URL;
const secretKey = process.env.STEWARD_SECRET_KEY;
const userId = process.env.STEWARD_USER_ID;
assert.ok(apiUrl && fapiUrl && secretKey && userId, 'STEWARD_* variables must be set');

const clerk = createClerkClient({ apiUrl, secretKey, telemetry: { disabled: true } });

async function publicKeyPem() {
  const jwks = await (await fetch(`${fapiUrl}/.well-known/jwks.json`)).json();
  return createPublicKey({ key: jwks.keys[0], format: 'jwk' }).export({ type: 'spki', format: 'pem' });
}

test('sessions: create, list, get, token, verify (PEM and JWKS), revoke', async () => {
  const session = await clerk.sessions.createSession({ userId });
  assert.match(session.constructor.name, /Session$/);
  assert.match(session.id, /^sess_[0-9A-Za-z]{27}$/);
  assert.equal(session.userId, userId);
  assert.equal(session.status, 'active');
  assert.equal(session.latestActivity?.isMobile, false);

  const list = await clerk.sessions.getSessionList({ userId });
  assert.equal(list.totalCount, 1);
  assert.equal(list.data[0].id, session.id);

  const fetched = await clerk.sessions.getSession(session.id);
  assert.equal(fetched.clientId, session.clientId);

  const token = await clerk.sessions.getToken(session.id);
  const jwt = typeof token === 'string' ? token : token.jwt;

  // Networkless, with the PEM of the instance key.
  const jwtKey = await publicKeyPem();
  const byPem = await verifyToken(jwt, { jwtKey });
  assert.equal(byPem.sub, userId);
  assert.equal(byPem.sid, session.id);
  assert.equal(byPem.v, 2);

  // Through the Backend API JWKS with the secret key.
  const byJwks = await verifyToken(jwt, { secretKey, apiUrl, skipJwksCache: true });
  assert.equal(byJwks.sid, session.id);

  // A token signed by someone else is refused.
  const [h, p] = jwt.split('.');
  const forged = `${h}.${p}.${Buffer.from('not a signature').toString('base64url')}`;
  await assert.rejects(verifyToken(forged, { jwtKey }));

  const revoked = await clerk.sessions.revokeSession(session.id);
  assert.equal(revoked.status, 'revoked');
  assert.equal(revoked.id, session.id);
  assert.equal(revoked.clientId, session.clientId);
  assert.ok(revoked.latestActivity?.id, 'the revoked session carries its latest activity');
  await assert.rejects(clerk.sessions.getToken(session.id), (error) => {
    assert.equal(error.status, 401);
    assert.equal(error.errors[0].code, 'signed_out');
    return true;
  });

  const signInToken = await clerk.signInTokens.createSignInToken({ userId, expiresInSeconds: 600 });
  assert.match(signInToken.constructor.name, /SignInToken$/);
  assert.equal(signInToken.status, 'pending');
  assert.ok(signInToken.token);
  const revokedToken = await clerk.signInTokens.revokeSignInToken(signInToken.id);
  assert.equal(revokedToken.status, 'revoked');

  const clients = await clerk.clients.getClientList();
  assert.ok(clients.totalCount >= 1);
  const client = await clerk.clients.getClient(session.clientId);
  assert.equal(client.id, session.clientId);
  assert.deepEqual(client.sessionIds, [session.id]);
});
