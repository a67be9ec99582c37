#!/usr/bin/env python3
"""`make bench`: Steward against itself and against Better Auth, one run.

What it does, in order (docs/benchmarks.md explains why each step is so):

1. Machine facts, and `openssl speed -seconds 3 rsa2048` on one server core:
   the RS256 signing ceiling fresh mints are judged against.
2. Equal password cost: time Better Auth's own scrypt hashPassword, then
   choose Steward's Argon2id iterations (OWASP memory, 19 MiB, kept) so one
   Steward hash takes about as long; both measured numbers are reported.
3. Better Auth on SQLite: /api/auth/ok (its HTTP floor), /api/auth/token
   (jwt plugin), /api/auth/get-session, sign-in.
4. For each Steward backend (SQLite, then PostgreSQL in an ephemeral
   cluster): /healthz, token refresh with reuse hits, /healthz again,
   token refresh at half the peak rate, GET /v1/client, BAPI GET /v1/users/{id} and
   GET /v1/users?limit=10, password sign-in; then a restart with
   token_reuse_seconds=0 for fresh RS256 mints (on PostgreSQL also the
   round-trip floor, pgbench `SELECT 1`, and the session read's own SQL
   through pgbench paced at the mints' half peak); a `--role session`
   process with a reuse window longer than the run, for reuse hits alone
   between two /healthz runs, and its RSS; and token refresh beside a
   saturating sign-in load.
   The kernel's autogroup scheduling is off for the run (PostgreSQL's
   backends starve next to a saturated server otherwise; see
   benchlib/procs.py without_autogroup).
5. Ratios and targets printed, and written with the raw numbers to
   bench/out/<run>/ and to docs/benchmarks.md.

Servers run on BENCH_SERVER_CPUS, wrk on BENCH_LOAD_CPUS (taskset), all on
127.0.0.1, with temp dirs, stopped by PID at the end however the run ends.

Environment (all optional):
  BENCH_MODE=quick|full     quick: 5 s per scenario, 200 sessions (default)
                            full: 20 s per scenario, 1000 sessions
  BENCH_SECONDS, BENCH_SESSIONS, BENCH_CONNECTIONS   override the mode's
  BENCH_BACKENDS=sqlite,postgres
  BENCH_SERVER_CPUS=0 BENCH_LOAD_CPUS=1
  BENCH_DB_CPUS=            PostgreSQL's CPUs (default: the server's)
  BENCH_PACE_DELAY_MS=10    per-connection wait of paced (half-rate) loads
  BENCH_BA_JWT_ALG=         Better Auth jwt key algorithm (default EdDSA)
  BENCH_DOCS=1              0: do not rewrite docs/benchmarks.md
  BENCH_NOTE=               a line printed above the results (e.g. "busy machine")
  STEWARD_BIN=target/release/steward   BENCH_OUT=bench/out
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import metrics, peer, report  # noqa: E402
from benchlib import steward as st  # noqa: E402
from benchlib.load import finish_wrk, measure, start_wrk, write_requests  # noqa: E402
from benchlib.postgres import PgCluster  # noqa: E402
from benchlib.procs import Registry, run_checked, sigterm_as_interrupt, without_autogroup  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The session-role run's token settings: a reuse window longer than any
# mode's scenario, so that run is all reuse hits (see Run.steward).
HIT_LIFETIME = "600s"
HIT_REUSE_SECONDS = 300
MODES = {
    "quick": {"seconds": 5, "warmup": 1, "sessions": 200, "password_users": 8},
    "full": {"seconds": 20, "warmup": 2, "sessions": 1000, "password_users": 20},
}


def env(name, default):
    value = os.environ.get(name, "")
    return value if value != "" else default


def cpu_list(spec):
    """'0,2-3' -> [0, 2, 3]."""
    cpus = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus += list(range(int(lo), int(hi or lo) + 1))
    return cpus


class Run:
    def __init__(self):
        mode = env("BENCH_MODE", "quick")
        if mode not in MODES:
            sys.exit(f"BENCH_MODE must be one of {', '.join(MODES)}")
        m = MODES[mode]
        self.mode = mode
        self.seconds = int(env("BENCH_SECONDS", m["seconds"]))
        self.warmup = m["warmup"]
        self.sessions = int(env("BENCH_SESSIONS", m["sessions"]))
        self.password_users = m["password_users"]
        self.connections = int(env("BENCH_CONNECTIONS", 32))
        self.backends = env("BENCH_BACKENDS", "sqlite,postgres").split(",")
        self.server_cpus = env("BENCH_SERVER_CPUS", "0")
        self.load_cpus = env("BENCH_LOAD_CPUS", "1")
        self.db_cpus = env("BENCH_DB_CPUS", self.server_cpus)
        self.all_cpus = ",".join(str(c) for c in sorted(set(cpu_list(self.server_cpus) + cpu_list(self.load_cpus))))
        self.pace_delay = int(env("BENCH_PACE_DELAY_MS", 10))
        self.binary = os.path.abspath(env("STEWARD_BIN", os.path.join(ROOT, "target/release/steward")))
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = os.path.join(os.path.abspath(env("BENCH_OUT", os.path.join(ROOT, "bench/out"))), stamp)
        os.makedirs(self.out, exist_ok=True)
        self.registry = Registry()
        self.results = {"mode": mode, "started": stamp, "note": env("BENCH_NOTE", ""), "config": {
            "seconds": self.seconds, "warmup_seconds": self.warmup, "sessions": self.sessions,
            "password_users": self.password_users, "connections": self.connections,
            "server_cpus": self.server_cpus, "load_cpus": self.load_cpus, "db_cpus": self.db_cpus,
            "pace_delay_ms": self.pace_delay, "backends": self.backends,
        }}

    def say(self, text):
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def requests(self, name, lines):
        return write_requests(os.path.join(self.out, f"{name}.requests"), lines)

    def start_steward(self, cpus, url, work, name, **settings):
        """A Steward process on `cpus`, its log in the run's output dir."""
        return st.Steward(self.registry, self.binary, cpus, url, work, name, logdir=self.out, **settings)

    def load(self, server, url, requests_file, connections=None, delay_ms=0, extra=None,
             scrape=True, cpus=None):
        result = measure(
            server, url, requests_file, connections or self.connections, self.seconds,
            cpus or self.load_cpus, delay_ms=delay_ms, warmup_s=self.warmup, extra=extra,
            scrape=(lambda s: metrics.scrape(s.metrics_url)) if scrape and server.metrics_url else None,
        )
        errors = result["errors_total"]
        note = f", {errors} errors {result['errors']}" if errors else ""
        self.say(f"    {result['rps']:10.1f} req/s  p50 {result['latency_us']['p50'] / 1000:.2f} ms  "
                 f"p99 {result['latency_us']['p99'] / 1000:.2f} ms  cpu {result['server_cpu_percent']:.0f}%  "
                 f"peak rss {result['server_peak_rss_mib']:.1f} MiB{note}")
        return result

    # --- 1. machine --------------------------------------------------------

    def machine(self):
        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])

        def cmd(*argv):
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                return done.stdout.strip() or done.stderr.strip()
            except OSError:
                return "unavailable"

        commit = cmd("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
        # Edits under docs/ (this run rewrites docs/benchmarks.md) do not
        # change what is measured.
        dirty = cmd("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs")
        self.results["machine"] = {
            "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1048576, 1),
            "kernel": os.uname().release, "os": _os_release(),
            "steward": cmd(self.binary, "version"), "commit": commit + ("+dirty" if dirty else ""),
            "wrk": "wrk " + (re.findall(r"wrk (\S+)", cmd("wrk", "-v")) or ["?"])[0],
            "node": cmd("node", "--version"), "better_auth": peer.version(),
            "openssl": " ".join(cmd("openssl", "version").split()[:2]), "python": sys.version.split()[0],
            "autogroup": without_autogroup(self.registry),
        }
        self.say(f"kernel autogroup scheduling: {self.results['machine']['autogroup']}")
        self.say("openssl speed -seconds 3 rsa2048 on one server core")
        per_core = self.openssl_signs_per_s()
        cores = len(cpu_list(self.server_cpus))
        self.results["openssl"] = {"rsa2048_sign_per_s_one_core": per_core, "server_cores": cores,
                                   "ceiling_sign_per_s": per_core * cores}
        self.say(f"    {per_core:.0f} RSA-2048 signatures/s per core, {cores} server core(s)")

    def openssl_signs_per_s(self):
        """RSA-2048 signatures per second of `openssl speed` on the first server core."""
        first = str(cpu_list(self.server_cpus)[0])
        out = run_checked(["taskset", "-c", first, "openssl", "speed", "-seconds", "3", "rsa2048"])
        match = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", out, re.M)
        if not match:
            raise RuntimeError(f"cannot read openssl speed output:\n{out}")
        return float(match.group(1))

    def openssl_around(self, measure):
        """Runs `measure()` between two `openssl speed` runs on the same core.
        This machine's signing speed drifts by up to a fifth between minutes
        (a shared host), so the mint ratio is taken against the mean of the
        two figures measured right around the mints, not the one at start."""
        before = self.openssl_signs_per_s()
        result = measure()
        after = self.openssl_signs_per_s()
        cores = len(cpu_list(self.server_cpus))
        result["openssl_around"] = {"before": before, "after": after,
                                    "ceiling_sign_per_s": (before + after) / 2 * cores}
        self.say(f"    openssl around it: {before:.0f} and {after:.0f} sign/s per core")
        return result

    # --- 2. equal password cost -------------------------------------------

    def calibrate(self):
        """Steward's Argon2id iterations for a check as long as one Better
        Auth scrypt hash. Minimums of repeated timings are used: on a busy
        machine noise only adds time, so the minimum is the cost itself."""
        self.say("Better Auth hashPassword (scrypt), one hash at a time on the server core")
        ba = peer.hash_times_ms(self.server_cpus)
        ba_ms = ba["min_ms"]
        self.say(f"    {ba_ms:.1f} ms per hash (min of {len(ba['samples'])}; median {ba['median_ms']:.1f})")
        work = self.registry.tempdir("calibrate-")
        tried = []

        def check(iterations):
            s = self.start_steward(self.server_cpus, f"sqlite://{work}/calibrate-{iterations}.db", work,
                                   f"calibrate-t{iterations}", argon2_iterations=iterations)
            user_id, _ = s.create_user("calibrate", st.PASSWORD)
            samples = s.time_password_checks(user_id)
            s.stop()
            tried.append({"iterations": iterations, "min_ms": samples[0],
                          "median_ms": samples[len(samples) // 2]})
            self.say(f"    Steward Argon2id m=19456 KiB t={iterations}: {samples[0]:.1f} ms per check (min)")
            return samples[0]

        # Argon2id's time is close to linear in the passes: fit two points.
        low, high = check(2), check(8)
        per_pass = (high - low) / 6
        fixed = low - 2 * per_pass
        wanted = max(1, round((ba_ms - fixed) / per_pass)) if per_pass > 0 else max(1, round(2 * ba_ms / low))
        if wanted not in (2, 8):
            check(wanted)
        best = min(tried, key=lambda t: abs(t["min_ms"] - ba_ms))
        self.iterations = best["iterations"]
        self.results["password_cost"] = {
            "better_auth_scrypt": ba, "better_auth_scrypt_ms": ba_ms,
            "steward_argon2id": {"memory_kib": 19456, "iterations": self.iterations, "parallelism": 1},
            "steward_calibration_ms": best["min_ms"], "tried": tried,
        }
        self.say(f"    chosen: t={self.iterations} ({best['min_ms']:.1f} ms vs Better Auth {ba_ms:.1f} ms)")

    # --- 3. Better Auth ---------------------------------------------------

    def better_auth(self):
        self.say("Better Auth (SQLite, rate limiter off)")
        work = self.registry.tempdir("better-auth-")
        ba = peer.BetterAuth(self.registry, self.server_cpus, work, self.out, env("BENCH_BA_JWT_ALG", ""))
        seeded = ba.seed(self.sessions, self.password_users)
        r = {}
        for name, lines, conns in (
            ("ok", peer.ok_requests(), None),
            ("token", peer.token_requests(seeded), None),
            ("get_session", peer.session_requests(seeded), None),
            ("sign_in", peer.sign_in_requests(seeded, ba.base), 2 * len(cpu_list(self.server_cpus))),
        ):
            self.say(f"  {name}")
            r[name] = self.load(ba.server, ba.base, self.requests(f"ba-{name}", lines), connections=conns)
        ba.stop()
        self.results["better_auth"] = r

    # --- 4. Steward -------------------------------------------------------

    def steward(self, backend):
        self.say(f"Steward on {backend}")
        work = self.registry.tempdir(f"{backend}-")
        if backend == "sqlite":
            url = f"sqlite://{work}/steward.db"
            db_version = "SQLite, bundled"
        elif backend == "postgres":
            cluster = PgCluster(self.registry, self.db_cpus, os.path.join(self.out, "postgres.log"))
            url = cluster.create_database("steward_bench")
            db_version = cluster.version
        else:
            raise SystemExit(f"unknown backend {backend}")
        r = {"database": db_version}
        if backend == "postgres":
            self.say("  PostgreSQL round trip (pgbench -M prepared, SELECT 1, 1 client, on the server CPUs)")
            r["pg_round_trip"] = cluster.round_trip("steward_bench", self.server_cpus)
            self.say(f"    {r['pg_round_trip']['latency_us']:.0f} us per query")
        s = self.start_steward(self.server_cpus, url, work, f"{backend}-all",
                               argon2_iterations=self.iterations)
        started = time.monotonic()
        seeded = s.seed(self.sessions, self.password_users)
        r["seed_seconds"] = time.monotonic() - started
        self.say(f"  seeded {self.sessions} sessions and {self.password_users} password users "
                 f"in {r['seed_seconds']:.1f} s")
        checks = s.time_password_checks(seeded["password_users"][0][0], rounds=5)
        r["argon2_check_ms"] = {"min": checks[0], "median": checks[len(checks) // 2]}
        files = {
            "healthz": self.requests(f"{backend}-healthz", st.healthz_requests()),
            "token": self.requests(f"{backend}-token", st.token_requests(seeded)),
            "client": self.requests(f"{backend}-client", st.client_requests(seeded)),
            "user": self.requests(f"{backend}-user", st.user_requests(seeded)),
            "list": self.requests(f"{backend}-list", st.list_requests()),
            "sign_in": self.requests(f"{backend}-sign-in", st.sign_in_requests(seeded)),
        }
        sign_in_conns = 2 * len(cpu_list(self.server_cpus))
        for name, target, url_base, conns in (
            ("healthz", "healthz", s.frontend, None),
            ("token_reuse", "token", s.frontend, None),
            ("client_read", "client", s.frontend, None),
            ("bapi_user", "user", s.backend, None),
            ("bapi_list", "list", s.backend, None),
            ("sign_in", "sign_in", s.frontend, sign_in_conns),
        ):
            self.say(f"  {name}")
            r[name] = self.load(s.server, url_base, files[target], connections=conns)
            if name == "token_reuse":
                # /healthz again, right after: the floor drifts by up to a
                # third between minutes on this host, so the reuse run is
                # judged against the mean of the runs on either side of it.
                self.say("  healthz_after (the HTTP floor again)")
                r["healthz_after"] = self.load(s.server, s.frontend, files["healthz"])
                self.say("  token_half (paced at half the peak rate)")
                r["token_half"] = self.paced(s, files["token"], r["token_reuse"]["rps"] / 2)
        s.stop()

        self.say("  token_mint (restarted with session.token_reuse_seconds=0)")
        s = self.start_steward(self.server_cpus, url, work, f"{backend}-mint", reuse_seconds=0,
                               argon2_iterations=self.iterations)
        r["token_mint"] = self.openssl_around(lambda: self.load(s.server, s.frontend, files["token"]))
        self.say("  token_mint_half (paced at half the mint peak: every request reads the session)")
        r["token_mint_half"] = self.paced(s, files["token"], r["token_mint"]["rps"] / 2)
        self.say("  token_mint_serial (one connection, back to back: the session read without a queue)")
        r["token_mint_serial"] = self.load(s.server, s.frontend, files["token"], connections=1)
        s.stop()
        if backend == "postgres":
            rate = r["token_mint"]["rps"] / 2
            self.say(f"  PostgreSQL paced read (pgbench, the session read's SQL, {rate:.0f}/s, on the server CPUs)")
            r["pg_paced_read"] = cluster.paced_read("steward_bench", self.server_cpus,
                                                    st.session_read_sql(seeded), rate,
                                                    min(self.seconds, 10))
            floor = r["pg_paced_read"]
            self.say(f"    P50 {floor['p50_us']} us, P95 {floor['p95_us']} us, P99 {floor['p99_us']} us")

        # The token process as deployed (`--role session`), with a reuse
        # window longer than the run: after the first pass over the
        # sessions (in the warm-up) every request is a reuse hit. The
        # default window's run above re-mints each session every 5-10 s,
        # and those few signatures (0.3% of the requests) take several
        # percent of the core; this run measures the hit path alone,
        # between two /healthz runs of the same process.
        self.say(f"  session role (steward serve --role session; token lifetime {HIT_LIFETIME}, "
                 f"reuse window {HIT_REUSE_SECONDS} s: all hits)")
        s = self.start_steward(self.server_cpus, url, work, f"{backend}-session-role", role="session",
                               reuse_seconds=HIT_REUSE_SECONDS, token_lifetime=HIT_LIFETIME,
                               argon2_iterations=self.iterations)
        r["session_role_healthz"] = self.load(s.server, s.frontend, files["healthz"])
        r["token_reuse_session_role"] = self.load(s.server, s.frontend, files["token"])
        r["session_role_healthz_after"] = self.load(s.server, s.frontend, files["healthz"])
        s.stop()

        self.say(f"  token beside sign-ins (server on CPUs {self.all_cpus}, both loads on {self.load_cpus})")
        s = self.start_steward(self.all_cpus, url, work, f"{backend}-contention",
                               argon2_iterations=self.iterations)
        conns = r["token_half"]["connections"]
        r["contention_baseline"] = self.load(s.server, s.frontend, files["token"], connections=conns,
                                             delay_ms=self.pace_delay)
        sign_ins = start_wrk(s.frontend, files["sign_in"], 1, self.warmup + self.seconds + 2, self.load_cpus)
        try:
            r["contention_with_sign_ins"] = self.load(s.server, s.frontend, files["token"],
                                                      connections=conns, delay_ms=self.pace_delay,
                                                      extra=sign_ins)
        finally:
            if sign_ins.poll() is None:
                sign_ins.kill()
        beside = r["contention_with_sign_ins"]["beside"]
        self.say(f"    sign-ins meanwhile: {beside['rps']:.1f} req/s, {beside['errors_total']} errors")
        s.stop()
        if backend == "postgres":
            cluster.stop()
        self.results.setdefault("steward", {})[backend] = r

    def paced(self, s, requests_file, rate):
        """Token load offered at about `rate` req/s: each connection waits
        BENCH_PACE_DELAY_MS after every response; a 2 s probe sets the
        connection count for the rate, then the measured run uses it. A
        run more than 15% off the rate (the host's speed moves within a
        minute here, so a probe can be off) is measured once more with the
        count corrected by what that run achieved."""
        delay = self.pace_delay
        conns = max(1, round(rate * delay / 1000))
        probe = finish_wrk(start_wrk(s.frontend, requests_file, conns, 2, self.load_cpus, delay_ms=delay))
        if probe["rps"] > 0:
            conns = max(1, round(conns * rate / probe["rps"]))
        result = self.load(s.server, s.frontend, requests_file, connections=conns, delay_ms=delay)
        if result["rps"] > 0 and abs(result["rps"] / rate - 1) > 0.15:
            off = result["rps"]
            conns = max(1, round(conns * rate / off))
            self.say(f"    {off:.0f} req/s is more than 15% off {rate:.0f}: again with {conns} connections")
            result = self.load(s.server, s.frontend, requests_file, connections=conns, delay_ms=delay)
            result["first_attempt_rps"] = off
        result["target_rps"] = rate
        return result

    # --- 5. report --------------------------------------------------------

    def finish(self):
        summary = report.evaluate(self.results)
        self.results["summary"] = summary
        markdown = report.markdown(self.results)
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(_without_raw_metrics(self.results), f, indent=2)
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write(markdown)
        print()
        print(report.console(self.results))
        if env("BENCH_DOCS", "1") == "1":
            report.update_docs(os.path.join(ROOT, "docs", "benchmarks.md"), markdown)
            print("results written to docs/benchmarks.md and", self.out)
        else:
            print("results written to", self.out)

    def main(self):
        sigterm_as_interrupt()
        if not os.access(self.binary, os.X_OK):
            sys.exit(f"{self.binary} not found: run `make release` (or set STEWARD_BIN)")
        self.say(f"bench: {self.mode} mode, {self.seconds} s per scenario, {self.sessions} sessions, "
                 f"server on CPUs {self.server_cpus}, wrk on CPUs {self.load_cpus}; output in {self.out}")
        started = time.monotonic()
        try:
            self.machine()
            self.calibrate()
            self.better_auth()
            for backend in self.backends:
                self.steward(backend)
            self.results["wall_seconds"] = time.monotonic() - started
            self.finish()
        except KeyboardInterrupt:
            print("\ninterrupted: stopping servers", file=sys.stderr)
            return 130
        finally:
            self.registry.stop_all()
        return 0


def _without_raw_metrics(results):
    """results.json keeps derived numbers, not every scraped sample."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("metrics_before", "metrics_after")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(results)


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def rerender(path, docs):
    """`run.py --report results.json [--docs]`: prints a saved run's report
    again (BENCH_NOTE replaces its note), and with --docs writes it to
    docs/benchmarks.md."""
    with open(path) as f:
        results = json.load(f)
    if env("BENCH_NOTE", ""):
        results["note"] = env("BENCH_NOTE", "")
    results["summary"] = report.evaluate(results)
    print(report.console(results))
    if docs:
        report.update_docs(os.path.join(ROOT, "docs", "benchmarks.md"), report.markdown(results))
    return 0


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--report":
        sys.exit(rerender(sys.argv[2], sys.argv[3:] == ["--docs"]))
    sys.exit(Run().main())
