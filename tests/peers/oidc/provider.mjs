// A real OpenID Connect provider for Steward's social sign-in tests:
// panva's oidc-provider (pinned in package.json) on 127.0.0.1, with
// test-only admin endpoints under /_test/. Harness: tests/it/common/oidc.rs.
//
//   PORT=N node tests/peers/oidc/provider.mjs [CONFIG.json]
//
// (or --port N; the config path may also come from OIDC_CONFIG). Prints
// `listening on http://127.0.0.1:N` once it accepts requests.
//
// CONFIG.json (optional): {"clients": [{"client_id", "client_secret",
// "redirect_uris": [...], "token_endpoint_auth_method"?}], "accounts":
// [{"id", "email", "email_verified", "name", "given_name", "family_name",
// "picture"}]}. Clients and accounts can also be added while it runs:
//
//   POST /_test/clients   {"client_id", "client_secret", "redirect_uris",
//                          "token_endpoint_auth_method"?: "client_secret_basic"
//                          (default) | "client_secret_post"}   -> 201
//   POST /_test/accounts  {"id", "email", "email_verified", ...}  -> 201
//   POST /_test/mode      {"client_id", "id_token"?: MODE,
//                          "token_status"?: 0 | HTTP status}      -> 200
//   POST /_test/delay_token_ms {"client_id", "ms"}                -> 200
//   GET  /_test/health                                           -> 200
//
// Modes and delays are per client, so parallel tests sharing the provider
// do not disturb each other. MODE rewrites the ID token of that client's
// token responses: "valid" (as issued), "wrong_key" (signed by a key not in
// the JWKS, same kid), "wrong_audience", "wrong_issuer", "expired" (exp and
// iat an hour ago), "wrong_nonce", "alg_none" (unsigned). A non-zero
// token_status makes the token endpoint answer that status with a JSON
// error instead (after running the grant, so the code is spent).
//
// Sign-in is the built-in devInteractions pages: any password, the login
// field is an account id (alice, bob, mallory, or one added above).

import * as http from 'node:http';
import * as fs from 'node:fs';

import Provider from 'oidc-provider';
import * as jose from 'jose';

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const port = Number(argValue('--port') ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('provider.mjs: set PORT (or --port N) to the port to listen on');
  process.exit(2);
}
const configPath = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--port')
  ?? process.env.OIDC_CONFIG;
const fileConfig = configPath ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {};

const issuer = `http://127.0.0.1:${port}`;

// --- accounts -------------------------------------------------------------

const accounts = new Map();

function addAccount(a) {
  if (typeof a?.id !== 'string' || !a.id || typeof a.email !== 'string') {
    throw new Error('an account needs a string id and email');
  }
  accounts.set(a.id, {
    sub: a.sub ?? a.id,
    email: a.email,
    email_verified: a.email_verified ?? true,
    name: a.name,
    given_name: a.given_name,
    family_name: a.family_name,
    picture: a.picture,
  });
}

for (const a of [
  {
    id: 'alice', email: 'alice@oidc.steward.test', email_verified: true,
    name: 'Alice Anderson', given_name: 'Alice', family_name: 'Anderson',
    picture: 'https://images.oidc.steward.test/alice.png',
  },
  {
    id: 'bob', email: 'bob@oidc.steward.test', email_verified: true,
    name: 'Bob Brown', given_name: 'Bob', family_name: 'Brown',
    picture: 'https://images.oidc.steward.test/bob.png',
  },
  {
    // An unverified address: tests make it collide with an existing user.
    id: 'mallory', email: 'mallory@oidc.steward.test', email_verified: false,
    name: 'Mallory Moore', given_name: 'Mallory', family_name: 'Moore',
    picture: 'https://images.oidc.steward.test/mallory.png',
  },
  ...(fileConfig.accounts ?? []),
]) addAccount(a);

// --- clients --------------------------------------------------------------

const clients = new Map();

function addClient(c) {
  const { client_id: id, client_secret: secret, redirect_uris: uris } = c ?? {};
  if (typeof id !== 'string' || !id || typeof secret !== 'string' || !secret
      || !Array.isArray(uris) || !uris.length || !uris.every((u) => typeof u === 'string')) {
    throw new Error('a client needs client_id, client_secret and redirect_uris (non-empty)');
  }
  const method = c.token_endpoint_auth_method ?? 'client_secret_basic';
  if (!['client_secret_basic', 'client_secret_post'].includes(method)) {
    throw new Error(`unsupported token_endpoint_auth_method ${method}`);
  }
  clients.set(id, {
    client_id: id,
    client_secret: secret,
    redirect_uris: uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
    id_token_signed_response_alg: 'RS256',
  });
}

for (const c of fileConfig.clients ?? []) addClient(c);

// Per-client test behaviour.
const modes = new Map(); // client_id -> { idToken, tokenStatus, delayMs }
const modeOf = (clientId) => modes.get(clientId) ?? { idToken: 'valid', tokenStatus: 0, delayMs: 0 };
const ID_TOKEN_MODES = new Set(['valid', 'wrong_key', 'wrong_audience', 'wrong_issuer', 'expired', 'wrong_nonce', 'alg_none']);

// --- storage --------------------------------------------------------------

// A plain in-memory adapter (the built-in one is an LRU of 1000 entries,
// which a long test run could overflow). Clients come from `clients`.
const store = new Map(); // key -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set(key)

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class TestAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt: 0 });
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt: 0 });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    if (this.model === 'Client') return clients.get(id);
    return live(this.key(id));
  }

  async findByUid(uid) {
    const id = live(`sessionUid:${uid}`);
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = live(`userCode:${userCode}`);
    return id ? this.find(id) : undefined;
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

// Drop expired entries now and then.
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) if (entry.expiresAt && entry.expiresAt <= now) store.delete(key);
}, 60_000).unref();

// --- keys -----------------------------------------------------------------

const KID = 'steward-test-rs256';
async function rsaJwk() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
}
const signingJwk = await rsaJwk();
const signingKey = await jose.importJWK(signingJwk, 'RS256');
// Not published: what "wrong_key" signs with (same kid, so a client that
// picks the key by kid finds the real one and the signature fails).
const strayKey = await jose.importJWK(await rsaJwk(), 'RS256');

// --- the provider ---------------------------------------------------------

const provider = new Provider(issuer, {
  adapter: TestAdapter,
  clients: [],
  jwks: { keys: [signingJwk] },
  async findAccount(_ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return Object.fromEntries(Object.entries(account).filter(([, v]) => v !== undefined));
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture'],
  },
  scopes: ['openid', 'email', 'profile'],
  // Scope claims in the ID token too, not only from userinfo.
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
    userinfo: { enabled: true },
    registration: { enabled: false },
  },
  cookies: { keys: ['steward-oidc-test-cookie-key'] },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 120,
    IdToken: 3600,
    Interaction: 3600,
    Session: 3600,
    Grant: 3600,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// Token endpoint behaviour per client: delay, failure status, ID token mode.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'token' || !ctx.oidc.client) return;
  const mode = modeOf(ctx.oidc.client.clientId);
  if (mode.delayMs > 0) await new Promise((resolve) => { setTimeout(resolve, mode.delayMs); });
  if (mode.tokenStatus) {
    ctx.status = mode.tokenStatus;
    ctx.body = { error: 'server_error', error_description: 'made to fail by /_test/mode' };
    return;
  }
  if (ctx.status === 200 && ctx.body?.id_token && mode.idToken !== 'valid') {
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, mode.idToken) };
  }
});

async function tamper(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = signingKey;
  switch (mode) {
    case 'wrong_key': key = strayKey; break;
    case 'wrong_audience': claims.aud = 'someone-else'; break;
    case 'wrong_issuer': claims.iss = 'http://127.0.0.1:1'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'wrong_nonce': claims.nonce = 'not-the-nonce-you-sent'; break;
    case 'alg_none':
      return `${jose.base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${jose.base64url.encode(JSON.stringify(claims))}.`;
    default: throw new Error(`unknown id_token mode ${mode}`);
  }
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: KID }).sign(key);
}

// --- HTTP: admin routes, then the provider ----------------------------------

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

async function admin(req, res, path) {
  if (req.method === 'GET' && path === '/_test/health') return json(res, 200, { ok: true });
  if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
  const body = await readJson(req);
  switch (path) {
    case '/_test/clients':
      addClient(body);
      return json(res, 201, { client_id: body.client_id });
    case '/_test/accounts':
      addAccount(body);
      return json(res, 201, { id: body.id });
    case '/_test/mode': {
      if (typeof body.client_id !== 'string') throw new Error('client_id is required');
      const mode = { ...modeOf(body.client_id) };
      if (body.id_token !== undefined) {
        if (!ID_TOKEN_MODES.has(body.id_token)) throw new Error(`unknown id_token mode ${body.id_token}`);
        mode.idToken = body.id_token;
      }
      if (body.token_status !== undefined) mode.tokenStatus = Number(body.token_status) || 0;
      modes.set(body.client_id, mode);
      return json(res, 200, mode);
    }
    case '/_test/delay_token_ms': {
      if (typeof body.client_id !== 'string') throw new Error('client_id is required');
      const mode = { ...modeOf(body.client_id), delayMs: Math.max(0, Number(body.ms) || 0) };
      modes.set(body.client_id, mode);
      return json(res, 200, mode);
    }
    default:
      return json(res, 404, { error: `no admin route ${path}` });
  }
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path.startsWith('/_test/')) {
    admin(req, res, path).catch((e) => json(res, 400, { error: String(e.message ?? e) }));
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
