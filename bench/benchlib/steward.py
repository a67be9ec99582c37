"""Starting Steward for a scenario, seeding it, and its request files.

Steward is configured only through STEWARD__* environment variables (the
caller's own STEWARD* variables are dropped so a run is reproducible):
free loopback ports, the database URL, an operator-chosen secret key for
the Backend API, `log.level=warn` (no per-request log line, as the peer
writes none), the Argon2id iterations the run calibrated, and per
instance the token reuse window.

Seeding costs no password hash per session: users are created through
BAPI `POST /v1/users` without a password, a BAPI sign-in token
(`POST /v1/sign_in_tokens`) is made for each, and the user signs in once
through FAPI as a native client (`POST /v1/client/sign_ins?_is_native=true`,
`strategy=ticket`). The response's `Authorization` header is the client
JWT, sent back raw in `Authorization` as Clerk's mobile SDKs do
(tests/it/common/fapi.rs). A handful of users get a password (one Argon2id
hash each at the run's cost) for the sign-in scenario.
"""

import os
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from .http import Client
from .load import Server
from .procs import free_port, wait_http

SECRET_KEY = "sk_test_stewardbenchsecretkey0123456789abcdef"
PASSWORD = "Bench-password-9f3c1e"
ENCRYPTION_KEY = "c3Rld2FyZC1iZW5jaC1lbmNyeXB0aW9uLWtleS0wMzI="


class Steward:
    def __init__(self, registry, binary, cpus, database_url, workdir, name, logdir=None,
                 role=None, reuse_seconds=None, token_lifetime=None, argon2_iterations=None,
                 log_level="warn"):
        self.registry = registry
        self.frontend = f"http://127.0.0.1:{free_port()}"
        self.backend = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD")}
        env.update({
            "STEWARD__DATABASE__URL": database_url,
            "STEWARD__SERVER__FRONTEND_ADDR": self.frontend.removeprefix("http://"),
            "STEWARD__SERVER__BACKEND_ADDR": self.backend.removeprefix("http://"),
            "STEWARD__INSTANCE__SECRET_KEY": SECRET_KEY,
            # PostgreSQL instances need an encryption key for their secrets at rest.
            "STEWARD__INSTANCE__ENCRYPTION_KEY": ENCRYPTION_KEY,
            "STEWARD__LOG__LEVEL": log_level,
        })
        if reuse_seconds is not None:
            env["STEWARD__SESSION__TOKEN_REUSE_SECONDS"] = str(reuse_seconds)
        if token_lifetime is not None:
            env["STEWARD__SESSION__TOKEN_LIFETIME"] = token_lifetime
        if argon2_iterations is not None:
            env["STEWARD__SECURITY__ARGON2__ITERATIONS"] = str(argon2_iterations)
        argv = [binary, "serve"] + (["--role", role] if role else [])
        self.log = os.path.join(logdir or workdir, f"steward-{name}.log")
        self.proc = registry.start(f"steward-{name}", argv, cpus, env=env, cwd=workdir, log=self.log)
        wait_http(self.backend + "/readyz", timeout=60, proc=self.proc, log=self.log)
        wait_http(self.frontend + "/healthz", timeout=10, proc=self.proc, log=self.log)
        self.server = Server(f"steward-{name}", self.proc.pid, self.backend + "/metrics")
        self.bapi = Client(self.backend, {"Authorization": f"Bearer {SECRET_KEY}"})
        self.fapi = Client(self.frontend)

    def stop(self):
        self.registry.stop(self.proc)

    # --- seeding ---------------------------------------------------------

    def create_user(self, index, password=None):
        body = {"email_address": [f"bench-{index}-{time.time_ns()}@bench.example"]}
        if password:
            body.update(password=password, skip_password_checks=True)
        else:
            body["skip_password_requirement"] = True
        _, user = self.bapi.ok("POST", "/v1/users", body=body)
        return user["id"], body["email_address"][0]

    def session_for(self, user_id):
        """Signs `user_id` in as a new native client: (session id, client JWT)."""
        _, ticket = self.bapi.ok("POST", "/v1/sign_in_tokens", body={"user_id": user_id})
        headers, reply = self.fapi.ok(
            "POST", "/v1/client/sign_ins?_is_native=true",
            form={"strategy": "ticket", "ticket": ticket["token"]},
        )
        assert reply["response"]["status"] == "complete", reply
        return reply["response"]["created_session_id"], headers["Authorization"]

    def seed(self, sessions, password_users, threads=4):
        """{'sessions': [(user_id, sid, client_jwt)], 'password_users': [(user_id, email)]}."""

        def one(i):
            user_id, _ = self.create_user(i)
            sid, jwt = self.session_for(user_id)
            return user_id, sid, jwt

        with ThreadPoolExecutor(threads) as pool:
            seeded = list(pool.map(one, range(sessions)))
            with_password = list(pool.map(lambda i: self.create_user(f"pw{i}", PASSWORD),
                                          range(password_users)))
        return {"sessions": seeded, "password_users": with_password}

    def time_password_checks(self, user_id, rounds=7):
        """Milliseconds of BAPI verify_password calls (one Argon2id verify at
        the digest's own cost, plus a user lookup and HTTP), sorted."""
        path = f"/v1/users/{user_id}/verify_password"
        self.bapi.ok("POST", path, body={"password": PASSWORD})
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            self.bapi.ok("POST", path, body={"password": PASSWORD})
            samples.append((time.perf_counter() - started) * 1000)
        return sorted(samples)


# --- request files (bench/wrk/requests.lua) --------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_requests(seeded):
    """Token refresh of every seeded session, as a native client asks."""
    return [("POST", f"/v1/client/sessions/{sid}/tokens?_is_native=true", "",
             dict(FORM, Authorization=jwt)) for _, sid, jwt in seeded["sessions"]]


def session_read_sql(seeded):
    """The token path's session read (`store::find_session`) as SQL, for one
    seeded session: what diesel sends, with the parameters written in."""
    columns = ", ".join(f'"sessions"."{c}"' for c in (
        "id", "client_id", "user_id", "status", "last_active_organization_id", "claims_snapshot",
        "first_factor_verified_at", "last_active_at", "expire_at", "abandon_at", "ended_at",
        "created_at", "updated_at"))
    session_id = seeded["sessions"][0][1]
    return f"""SELECT {columns} FROM "sessions" WHERE ("sessions"."id" = '{session_id}') LIMIT 1"""


def client_requests(seeded):
    return [("GET", "/v1/client?_is_native=true", None, {"Authorization": jwt})
            for _, _, jwt in seeded["sessions"]]


def user_requests(seeded):
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    return [("GET", f"/v1/users/{user_id}", None, auth) for user_id, _, _ in seeded["sessions"]]


def list_requests():
    return [("GET", "/v1/users?limit=10", None, {"Authorization": f"Bearer {SECRET_KEY}"})]


def healthz_requests():
    return [("GET", "/healthz", None, {})]


def sign_in_requests(seeded):
    """A password sign-in per request, each as a new native client."""
    return [("POST", "/v1/client/sign_ins?_is_native=true",
             urllib.parse.urlencode({"identifier": email, "password": PASSWORD}), FORM)
            for _, email in seeded["password_users"]]
