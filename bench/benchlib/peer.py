"""Better Auth (bench/better-auth/peer.mjs) started and seeded for a run.

Its cookies carry the signed session token; its POSTs need an Origin
header (its CSRF check), here its own base URL, listed in trustedOrigins.
"""

import json
import os
import secrets
import subprocess

from .http import Client
from .load import Server
from .procs import free_port, wait_http

PEER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "better-auth")
SCRIPT = os.path.join(PEER_DIR, "peer.mjs")
PASSWORD = "Bench-password-9f3c1e"


def hash_times_ms(cpus, rounds=8):
    """Better Auth's own hashPassword (scrypt), one at a time, on `cpus`:
    {'min_ms', 'median_ms', 'samples'}."""
    out = subprocess.run(
        ["taskset", "-c", cpus, "node", SCRIPT, "hashtime"],
        cwd=PEER_DIR, env=dict(os.environ, BA_HASH_ROUNDS=str(rounds)),
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def version():
    with open(os.path.join(PEER_DIR, "node_modules", "better-auth", "package.json")) as f:
        return json.load(f)["version"]


class BetterAuth:
    def __init__(self, registry, cpus, workdir, logdir, jwt_alg=""):
        self.registry = registry
        self.base = f"http://127.0.0.1:{free_port()}"
        env = dict(os.environ, PORT=self.base.rsplit(":", 1)[1],
                   BA_DB=os.path.join(workdir, "better-auth.db"),
                   BA_SECRET=secrets.token_hex(32), BA_JWT_ALG=jwt_alg,
                   NODE_ENV="production")
        self.log = os.path.join(logdir, "better-auth.log")
        self.proc = registry.start("better-auth", ["node", SCRIPT, "serve"], cpus,
                                   env=env, cwd=PEER_DIR, log=self.log)
        wait_http(self.base + "/bench/ready", timeout=60, proc=self.proc, log=self.log)
        self.server = Server("better-auth", self.proc.pid)
        self.http = Client(self.base, {"Origin": self.base})

    def stop(self):
        self.registry.stop(self.proc)

    def seed(self, sessions, password_users):
        """{'cookies': [cookie header], 'password_users': [email]}."""
        _, reply = self.http.ok("POST", "/bench/seed", body={"count": sessions})
        emails = []
        for i in range(password_users):
            email = f"pw{i}-{secrets.token_hex(4)}@bench.example"
            self.http.ok("POST", "/api/auth/sign-up/email",
                         body={"email": email, "password": PASSWORD, "name": f"Bench {i}"})
            emails.append(email)
        cookies = reply["cookies"]
        # Smoke check: the seeded cookies are accepted.
        _, session = self.http.ok("GET", "/api/auth/get-session", headers={"Cookie": cookies[0]})
        if not session or "session" not in session:
            raise RuntimeError(f"Better Auth did not accept a seeded cookie: {session}")
        self.http.ok("GET", "/api/auth/token", headers={"Cookie": cookies[0]})
        return {"cookies": cookies, "password_users": emails}


def token_requests(seeded):
    return [("GET", "/api/auth/token", None, {"Cookie": c}) for c in seeded["cookies"]]


def session_requests(seeded):
    return [("GET", "/api/auth/get-session", None, {"Cookie": c}) for c in seeded["cookies"]]


def ok_requests():
    return [("GET", "/api/auth/ok", None, {})]


def sign_in_requests(seeded, base):
    return [("POST", "/api/auth/sign-in/email",
             json.dumps({"email": e, "password": PASSWORD}, separators=(",", ":")),
             {"Content-Type": "application/json", "Origin": base})
            for e in seeded["password_users"]]
