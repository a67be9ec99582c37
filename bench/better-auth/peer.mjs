// Better Auth, the side-by-side peer of `make bench` (docs/benchmarks.md).
//
// The minimal server TEST-PEERS.md describes: SQLite through better-sqlite3
// (WAL, as a production SQLite set-up would run it), email and password
// sign-in, the jwt plugin for /api/auth/token, and the rate limiter off so
// it measures throughput, not its own throttling.
//
//   node peer.mjs serve      serves on 127.0.0.1:$PORT until SIGTERM
//   node peer.mjs hashtime   prints {"min_ms", "median_ms", "samples"}: Better
//                            Auth's own hashPassword (scrypt), one at a time
//
// Environment: PORT, BA_DB (SQLite file), BA_SECRET, BA_JWT_ALG (the jwt
// plugin's key algorithm; empty keeps its default, EdDSA).
//
// Seeding: POST /bench/seed {"count": N} creates N users, each with one
// session, through Better Auth's own internal adapter (the createUser and
// createSession calls its sign-up and sign-in make after the password step)
// and answers their session cookies signed exactly as Better Auth signs
// them (HMAC-SHA256 with the secret). That skips N scrypt hashes: seeding
// 1000 sessions through sign-in would spend minutes hashing. Password users
// for the sign-in scenario are made through the real HTTP sign-up.

import { createHmac } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";

import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { hashPassword } from "better-auth/crypto";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins/jwt";

const mode = process.argv[2] ?? "serve";

if (mode === "hashtime") {
  const rounds = Number(process.env.BA_HASH_ROUNDS ?? 8);
  await hashPassword("warm-up-password");
  const samples = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await hashPassword(`bench-password-${i}`);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  console.log(JSON.stringify({ min_ms: samples[0], median_ms: samples[rounds >> 1], samples }));
  process.exit(0);
}

const port = Number(process.env.PORT);
const baseURL = `http://127.0.0.1:${port}`;
const secret = process.env.BA_SECRET;
const db = new Database(process.env.BA_DB);
db.pragma("journal_mode = WAL");

const jwtAlg = process.env.BA_JWT_ALG;
const auth = betterAuth({
  baseURL,
  secret,
  database: db,
  trustedOrigins: [baseURL],
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: [jwt(jwtAlg ? { jwks: { keyPairConfig: { alg: jwtAlg } } } : {})],
});

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();

const handler = toNodeHandler(auth);

function sign(token) {
  const signature = createHmac("sha256", secret).update(token).digest("base64");
  return encodeURIComponent(`${token}.${signature}`);
}

async function seed(count) {
  const ctx = await auth.$context;
  const cookies = [];
  for (let i = 0; i < count; i++) {
    const user = await ctx.internalAdapter.createUser({
      email: `seed-${Date.now()}-${i}@bench.example`,
      name: `Seed ${i}`,
      emailVerified: true,
    });
    const session = await ctx.internalAdapter.createSession(user.id, false);
    cookies.push(`better-auth.session_token=${sign(session.token)}`);
  }
  return cookies;
}

const server = http.createServer(async (req, res) => {
  if (req.url === "/bench/seed" && req.method === "POST") {
    let body = "";
    for await (const chunk of req) body += chunk;
    try {
      const cookies = await seed(JSON.parse(body).count);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ cookies }));
    } catch (error) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error?.stack ?? error));
    }
    return;
  }
  if (req.url === "/bench/ready") {
    res.writeHead(200);
    res.end("ok");
    return;
  }
  return handler(req, res);
});

server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
