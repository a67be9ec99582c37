// A GitHub-shaped OAuth 2.0 server for Steward's social sign-in tests
// (GitHub is OAuth 2.0 without OpenID Connect: no ID token, the profile
// and the addresses come from its REST API). Plain node:http, no
// dependencies. Harness: tests/it/common/oidc.rs (`github_mock()`).
//
//   PORT=N node tests/peers/oidc/github.mjs      (or --port N)
//
// Prints `listening on http://127.0.0.1:N` once it accepts requests. One
// origin serves both what github.com and api.github.com serve:
//
//   GET  /login/oauth/authorize?client_id&redirect_uri&state&scope
//        [&code_challenge&code_challenge_method=S256]
//        -> 200, a one-click page: a form POSTing to /login/oauth/authorize
//           with the same parameters as hidden fields plus `login` (a
//           user's login; the page offers a button per user)
//   POST /login/oauth/authorize  (form: the query's parameters + login)
//        -> 302 to redirect_uri?code=…&state=…
//   POST /login/oauth/access_token  (form or JSON: client_id, client_secret,
//        code, redirect_uri?, code_verifier?)
//        -> 200 {access_token, token_type: "bearer", scope} as JSON when
//           the request says Accept: application/json, else form-encoded;
//           errors are status 200 too, as on GitHub: {error:
//           "bad_verification_code" | "incorrect_client_credentials" |
//           "redirect_uri_mismatch", error_description, error_uri}
//   GET  /user          (Authorization: Bearer|token T) -> the profile;
//                       `email` is null unless the user made it public
//   GET  /user/emails   -> [{email, primary, verified, visibility}]; needs
//                       the scope user:email (or user), else 404 as on GitHub
//   Without a valid token both answer 401 {"message": "Bad credentials"}.
//
// Test-only:
//   POST /_test/clients  {client_id, client_secret, redirect_uris}  -> 201
//   POST /_test/users    {login, id?, name?, email?, avatar_url?,
//                         emails: [{email, primary, verified}]}     -> 201
//   POST /_test/delay_token_ms {client_id, ms}                       -> 200
//   GET  /_test/health                                               -> 200

import * as http from 'node:http';
import * as crypto from 'node:crypto';

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const port = Number(argValue('--port') ?? process.env.PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('github.mjs: set PORT (or --port N) to the port to listen on');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;

const clients = new Map(); // client_id -> { secret, redirectUris, delayMs }
const users = new Map(); // login -> user
const codes = new Map(); // code -> { clientId, redirectUri, login, scope, challenge, expiresAt }
const tokens = new Map(); // access token -> { login, scope }

let nextId = 5000;
function addUser(u) {
  if (typeof u?.login !== 'string' || !u.login || !Array.isArray(u.emails)) {
    throw new Error('a user needs a login and emails: [{email, primary, verified}]');
  }
  users.set(u.login, {
    login: u.login,
    id: u.id ?? nextId++,
    name: u.name ?? null,
    // The public profile address: null unless the user made one public.
    email: u.email ?? null,
    avatar_url: u.avatar_url ?? `https://avatars.github.steward.test/u/${u.login}`,
    emails: u.emails.map((e) => ({
      email: e.email,
      primary: Boolean(e.primary),
      verified: Boolean(e.verified),
      visibility: e.primary ? (e.visibility ?? 'private') : null,
    })),
  });
}

for (const u of [
  {
    // Public, verified primary address and a second, unverified one.
    login: 'alice', id: 1001, name: 'Alice Anderson', email: 'alice@github.steward.test',
    emails: [
      { email: 'alice@github.steward.test', primary: true, verified: true, visibility: 'public' },
      { email: 'alice.old@github.steward.test', primary: false, verified: false },
    ],
  },
  {
    // No public address: only /user/emails has it.
    login: 'bob', id: 1002, name: 'Bob Brown', email: null,
    emails: [{ email: 'bob@github.steward.test', primary: true, verified: true }],
  },
  {
    // Primary address unverified; a verified secondary one.
    login: 'mallory', id: 1003, name: null, email: null,
    emails: [
      { email: 'mallory@github.steward.test', primary: true, verified: false },
      { email: 'mallory.alt@github.steward.test', primary: false, verified: true },
    ],
  },
]) addUser(u);

function addClient(c) {
  const { client_id: id, client_secret: secret, redirect_uris: uris } = c ?? {};
  if (typeof id !== 'string' || !id || typeof secret !== 'string' || !secret
      || !Array.isArray(uris) || !uris.length) {
    throw new Error('a client needs client_id, client_secret and redirect_uris (non-empty)');
  }
  clients.set(id, { secret, redirectUris: uris, delayMs: clients.get(id)?.delayMs ?? 0 });
}

// --- helpers ----------------------------------------------------------------

function send(res, status, type, text, headers = {}) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
const json = (res, status, body) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const random = () => crypto.randomBytes(20).toString('hex');

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) return text ? JSON.parse(text) : {};
  return Object.fromEntries(new URLSearchParams(text));
}

// The redirect URI a request may use: the registered one when none is
// given; else it must equal one registered (GitHub also allows a subpath).
function redirectFor(client, requested) {
  if (!requested) return client.redirectUris[0];
  return client.redirectUris.find((r) => requested === r || requested.startsWith(`${r}/`));
}

// A page a browser or an HTTP client can show and submit.
function authorizePage(params) {
  const hidden = Object.entries(params)
    .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`).join('\n    ');
  const buttons = [...users.keys()]
    .map((login) => `<button type="submit" name="login" value="${escape(login)}" id="login-${escape(login)}">Authorize as ${escape(login)}</button>`)
    .join('\n    ');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize application</title></head>
<body>
  <h1>Authorize ${escape(params.client_id)}</h1>
  <form method="post" action="/login/oauth/authorize" id="authorize">
    ${hidden}
    ${buttons}
  </form>
</body></html>
`;
}

function oauthError(res, accept, status, error, description) {
  const body = { error, error_description: description, error_uri: 'https://docs.github.com/apps/oauth' };
  return respondToken(res, accept, status, body);
}

function respondToken(res, accept, status, body) {
  if ((accept ?? '').includes('application/json')) return json(res, status, body);
  return send(res, status, 'application/x-www-form-urlencoded; charset=utf-8', new URLSearchParams(body).toString());
}

function bearer(req) {
  const header = req.headers.authorization ?? '';
  const match = /^(?:bearer|token)\s+(\S+)$/i.exec(header);
  return match ? tokens.get(match[1]) : undefined;
}

// --- routes -----------------------------------------------------------------

async function handle(req, res) {
  const url = new URL(req.url, base);
  const path = url.pathname;

  if (path === '/_test/health') return json(res, 200, { ok: true });
  if (path.startsWith('/_test/')) {
    if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
    const body = await readBody(req);
    if (path === '/_test/clients') { addClient(body); return json(res, 201, { client_id: body.client_id }); }
    if (path === '/_test/users') { addUser(body); return json(res, 201, { login: body.login }); }
    if (path === '/_test/delay_token_ms') {
      const client = clients.get(body.client_id);
      if (!client) throw new Error(`unknown client ${body.client_id}`);
      client.delayMs = Math.max(0, Number(body.ms) || 0);
      return json(res, 200, { client_id: body.client_id, delay_ms: client.delayMs });
    }
    return json(res, 404, { error: `no admin route ${path}` });
  }

  if (path === '/login/oauth/authorize') {
    const params = req.method === 'POST' ? await readBody(req) : Object.fromEntries(url.searchParams);
    const client = clients.get(params.client_id);
    if (!client) return send(res, 404, 'text/plain', 'unknown client_id');
    const redirectUri = redirectFor(client, params.redirect_uri);
    if (!redirectUri) return send(res, 400, 'text/plain', 'redirect_uri_mismatch');
    if (params.code_challenge && params.code_challenge_method !== 'S256') {
      return send(res, 400, 'text/plain', 'only code_challenge_method=S256 is supported');
    }
    if (req.method === 'GET') {
      const { login: _ignored, ...rest } = params;
      return send(res, 200, 'text/html; charset=utf-8', authorizePage(rest));
    }
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'GET or POST');
    const target = new URL(redirectUri);
    if (params.login === undefined || params.deny !== undefined) {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'The user has denied your application access.');
    } else {
      if (!users.has(params.login)) return send(res, 400, 'text/plain', `unknown user ${params.login}`);
      const code = random().slice(0, 20);
      codes.set(code, {
        clientId: params.client_id,
        redirectUri: params.redirect_uri,
        login: params.login,
        // GitHub reports granted scopes comma-separated.
        scope: (params.scope ?? '').split(/[\s,]+/).filter(Boolean).join(','),
        challenge: params.code_challenge,
        expiresAt: Date.now() + 10 * 60_000,
      });
      target.searchParams.set('code', code);
    }
    if (params.state !== undefined) target.searchParams.set('state', params.state);
    return send(res, 302, 'text/plain', '', { location: target.toString() });
  }

  if (path === '/login/oauth/access_token') {
    if (req.method !== 'POST') return send(res, 404, 'text/plain', 'Not Found');
    const accept = req.headers.accept;
    const body = await readBody(req);
    const client = clients.get(body.client_id);
    if (client?.delayMs) await new Promise((resolve) => { setTimeout(resolve, client.delayMs); });
    if (!client || client.secret !== body.client_secret) {
      return oauthError(res, accept, 200, 'incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    }
    const grant = codes.get(body.code);
    codes.delete(body.code);
    if (!grant || grant.clientId !== body.client_id || grant.expiresAt < Date.now()) {
      return oauthError(res, accept, 200, 'bad_verification_code', 'The code passed is incorrect or expired.');
    }
    if (grant.redirectUri && body.redirect_uri && body.redirect_uri !== grant.redirectUri) {
      return oauthError(res, accept, 200, 'redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
    }
    if (grant.challenge) {
      const expected = body.code_verifier
        ? crypto.createHash('sha256').update(body.code_verifier).digest('base64url')
        : undefined;
      if (expected !== grant.challenge) {
        return oauthError(res, accept, 200, 'bad_verification_code', 'The code_verifier does not match the code_challenge.');
      }
    }
    const token = `gho_${random()}`;
    tokens.set(token, { login: grant.login, scope: grant.scope });
    return respondToken(res, accept, 200, { access_token: token, token_type: 'bearer', scope: grant.scope });
  }

  if (req.method === 'GET' && (path === '/user' || path === '/user/emails')) {
    const session = bearer(req);
    const user = session && users.get(session.login);
    if (!user) {
      return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    }
    if (path === '/user/emails') {
      const scopes = session.scope.split(',');
      if (!scopes.includes('user:email') && !scopes.includes('user')) {
        return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      }
      return json(res, 200, user.emails);
    }
    const { emails: _emails, ...profile } = user;
    return json(res, 200, {
      ...profile,
      node_id: `U_${user.id}`,
      html_url: `https://github.steward.test/${user.login}`,
      type: 'User',
    });
  }

  return json(res, 404, { message: 'Not Found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => json(res, 400, { error: String(e.message ?? e) }));
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${base}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
