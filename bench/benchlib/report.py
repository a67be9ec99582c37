"""Ratios, targets (met / not met), and the printed and Markdown reports."""

import re

from . import metrics

DB_QUERY = "steward_db_query_duration_seconds"
SESSION_READ = "sessions.get_for_token"
TOKENS = "steward_session_tokens_total"
BEGIN, END = "<!-- bench-results:begin -->", "<!-- bench-results:end -->"

# Scenario rows, in report order: (key, label).
STEWARD_ROWS = [
    ("healthz", "GET /healthz (HTTP floor)"),
    ("token_reuse", "token refresh, reuse hits"),
    ("healthz_after", "GET /healthz again, right after"),
    ("token_half", "token refresh at half peak (paced)"),
    ("token_mint", "token refresh, fresh RS256 mints"),
    ("token_mint_half", "fresh mints at half peak (paced)"),
    ("token_mint_serial", "fresh mints, one connection"),
    ("session_role_healthz", "`--role session`: GET /healthz"),
    ("token_reuse_session_role", "`--role session`: token refresh, reuse hits only"),
    ("session_role_healthz_after", "`--role session`: GET /healthz again"),
    ("client_read", "FAPI GET /v1/client"),
    ("bapi_user", "BAPI GET /v1/users/{id}"),
    ("bapi_list", "BAPI GET /v1/users?limit=10"),
    ("sign_in", "password sign-in"),
    ("contention_baseline", "token (paced), server on all CPUs"),
    ("contention_with_sign_ins", "same, beside 1 sign-in stream"),
]
BA_ROWS = [
    ("ok", "GET /api/auth/ok (HTTP floor)"),
    ("token", "GET /api/auth/token (jwt plugin)"),
    ("get_session", "GET /api/auth/get-session"),
    ("sign_in", "POST /api/auth/sign-in/email"),
]


def _ratio(a, b):
    return a / b if b else float("nan")


def _session_read(result):
    """Quantiles (seconds) of the token path's session read in a scenario."""
    if not result or "metrics_after" not in result:
        return None
    after = metrics.histogram(result["metrics_after"], DB_QUERY, query=SESSION_READ)
    before = metrics.histogram(result["metrics_before"], DB_QUERY, query=SESSION_READ)
    buckets = metrics.delta(after, before)
    count = buckets.get(float("inf"), 0)
    return {
        "count": count,
        "buckets": {("+Inf" if le == float("inf") else f"{le:g}"): n for le, n in sorted(buckets.items())},
        **{f"p{q}": metrics.quantile(buckets, q / 100) for q in (50, 95, 99)},
    }


def _token_outcomes(result):
    if not result or "metrics_after" not in result:
        return None
    out = {}
    for outcome in ("reused", "minted"):
        out[outcome] = (metrics.counter(result["metrics_after"], TOKENS, outcome=outcome)
                        - metrics.counter(result["metrics_before"], TOKENS, outcome=outcome))
    total = out["reused"] + out["minted"]
    out["reuse_ratio"] = out["reused"] / total if total else 0.0
    return out


def _queries_per_request(result):
    """{query: database calls per HTTP request} during a scenario, from the
    query histogram's counts: what each request costs the database."""
    if not result or "metrics_after" not in result or not result["requests"]:
        return None
    counts = {}
    for samples, sign in ((result["metrics_after"], 1), (result["metrics_before"], -1)):
        for name, labels, value in samples:
            if name == DB_QUERY + "_count":
                counts[labels.get("query", "?")] = counts.get(labels.get("query", "?"), 0) + sign * value
    per_request = {q: n / result["requests"] for q, n in sorted(counts.items(), key=lambda kv: -kv[1])}
    return {q: x for q, x in per_request.items() if x >= 0.005}


def evaluate(results):
    """Adds derived numbers; returns {'ratios': [...], 'targets': [...]}."""
    ratios, targets = [], []
    ba = results.get("better_auth", {})
    ceiling = results.get("openssl", {}).get("ceiling_sign_per_s", 0)

    def target(name, backend, value, goal, verdict, shown):
        targets.append({"target": name, "backend": backend, "value": value, "goal": goal,
                        "verdict": verdict, "shown": shown})

    for backend, r in results.get("steward", {}).items():
        for key in ("token_reuse", "token_half", "token_mint", "token_mint_half", "token_mint_serial",
                    "token_reuse_session_role"):
            if key in r and "metrics_after" in r[key]:
                r[key]["session_read"] = _session_read(r[key])
                r[key]["token_outcomes"] = _token_outcomes(r[key])
        for key, _ in STEWARD_ROWS:
            if key in r and "metrics_after" in r[key]:
                r[key]["queries_per_request"] = _queries_per_request(r[key])
        reuse = r["token_reuse"]["rps"]
        # The HTTP floor measured on both sides of the reuse run (older
        # runs have only the one before it).
        floors = [r[k] for k in ("healthz", "healthz_after") if k in r]
        healthz = sum(f["rps"] for f in floors) / len(floors)
        healthz_cpu = sum(f["server_cpu_percent"] for f in floors) / len(floors)
        if ba:
            ratios += [
                {"name": "token refresh (reuse) / Better Auth /token", "backend": backend,
                 "value": _ratio(reuse, ba["token"]["rps"])},
                {"name": "GET /v1/client / Better Auth get-session", "backend": backend,
                 "value": _ratio(r["client_read"]["rps"], ba["get_session"]["rps"])},
                {"name": "sign-in / Better Auth sign-in (equal hash time)", "backend": backend,
                 "value": _ratio(r["sign_in"]["rps"], ba["sign_in"]["rps"])},
                {"name": "/healthz / Better Auth /ok (HTTP floors)", "backend": backend,
                 "value": _ratio(healthz, ba["ok"]["rps"])},
            ]
        ratios.append({"name": "token refresh (reuse, default window) / own /healthz", "backend": backend,
                       "value": _ratio(reuse, healthz)})
        # Reuse hits alone: the session-role process, whose reuse window
        # outlasts the run, between two /healthz runs of its own (runs
        # before this scenario existed judged the default-window run).
        hit_floors = [r[k] for k in ("session_role_healthz", "session_role_healthz_after") if k in r]
        if hit_floors:
            hits = r["token_reuse_session_role"]["rps"]
            hits_healthz = sum(f["rps"] for f in hit_floors) / len(hit_floors)
            ratios.append({"name": "token refresh (reuse hits only, `--role session`) / own /healthz",
                           "backend": backend, "value": _ratio(hits, hits_healthz)})
        ratios.append({"name": "same, per server CPU-second", "backend": backend,
                       "value": _ratio(reuse / max(r["token_reuse"]["server_cpu_percent"], 1e-9),
                                       healthz / max(healthz_cpu, 1e-9))})
        around = r["token_mint"].get("openssl_around")
        ratios.append({"name": "fresh mints / openssl sign ceiling (measured around the mints)",
                       "backend": backend,
                       "value": _ratio(r["token_mint"]["rps"],
                                       around["ceiling_sign_per_s"] if around else ceiling)})

        if ba:
            x = _ratio(reuse, ba["token"]["rps"])
            target("token reuse >= 30x Better Auth /token", backend, x, 30,
                   "met" if x >= 30 else "not met", f"{x:.1f}x")
        if hit_floors:
            x = _ratio(hits, hits_healthz)
            target("token reuse hits >= 50% of own /healthz", backend, x, 0.5,
                   "met" if x >= 0.5 else "not met",
                   f"{hits:.0f} vs {hits_healthz:.0f} req/s = {100 * x:.0f}% (`--role session`, all hits; "
                   f"/healthz {hit_floors[0]['rps']:.0f} before, {hit_floors[-1]['rps']:.0f} after); "
                   f"default window, all roles: {reuse:.0f} vs {healthz:.0f} = {100 * _ratio(reuse, healthz):.0f}%")
        else:
            x = _ratio(reuse, healthz)
            target("token reuse >= 50% of own /healthz", backend, x, 0.5,
                   "met" if x >= 0.5 else "not met",
                   f"{reuse:.0f} vs {healthz:.0f} req/s = {100 * x:.0f}%"
                   + (f" (/healthz {floors[0]['rps']:.0f} before, {floors[1]['rps']:.0f} after)"
                      if len(floors) == 2 else ""))
        around = r["token_mint"].get("openssl_around")
        mint_ceiling = around["ceiling_sign_per_s"] if around else ceiling
        x = _ratio(r["token_mint"]["rps"], mint_ceiling)
        target("fresh mints >= 80% of openssl rsa2048 sign/s x server cores", backend, x, 0.8,
               "met" if x >= 0.8 else "not met",
               f"{r['token_mint']['rps']:.0f} vs {mint_ceiling:.0f}/s = {100 * x:.0f}%"
               + (f" (openssl {around['before']:.0f} before, {around['after']:.0f} after; "
                  f"{100 * _ratio(r['token_mint']['rps'], ceiling):.0f}% of the start-of-run {ceiling:.0f}/s)"
                  if around else ""))
        if backend == "postgres":
            # At saturation a closed loop's latency is queueing (Little's
            # law), so the query targets are judged at half the peak rate,
            # on the mint instance: a reuse hit may not read the database.
            read = r.get("token_mint_half", {}).get("session_read")
            floor = r.get("pg_paced_read")
            for q, goal_us in (("p50", 40), ("p95", 96), ("p99", 300)):
                found = read[q] if read else None
                verdict = metrics.judge(found, goal_us / 1e6)
                shown = "no samples" if not found else (
                    f"{found[0] * 1e6:.0f} us (bucket {_us(found[1])}-{_us(found[2])} us)")
                if floor:
                    # What PostgreSQL's own client gets for the same query at
                    # the same rate on the same core.
                    shown += f"; pgbench, same SQL and rate: {floor[q + '_us']} us"
                target(f"session read {q.upper()} <= {goal_us} us (PostgreSQL, mints at half peak)", backend,
                       found[0] * 1e6 if found else None, goal_us, verdict, shown)
        half = r["token_half"]
        p99_ms = half["latency_us"]["p99"] / 1000
        target("token p99 <= 5 ms at half the peak rate", backend, p99_ms, 5,
               "met" if p99_ms <= 5 else "not met",
               f"{p99_ms:.2f} ms at {half['rps']:.0f} req/s (peak {reuse:.0f})")
        peak = r["token_reuse_session_role"]["server_peak_rss_mib"]
        target("session-role RSS <= 64 MiB under load", backend, peak, 64,
               "met" if peak <= 64 else "not met", f"{peak:.1f} MiB peak (VmHWM)")
        base = r["contention_baseline"]["latency_us"]["p99"]
        loaded = r["contention_with_sign_ins"]["latency_us"]["p99"]
        x = _ratio(loaded, base)
        target("token p99 within 20% while sign-ins saturate a core", backend, x, 1.2,
               "met" if x <= 1.2 else "not met",
               f"{base / 1000:.2f} -> {loaded / 1000:.2f} ms ({100 * (x - 1):+.0f}%), "
               f"{r['contention_with_sign_ins']['beside']['rps']:.1f} sign-ins/s")
    return {"ratios": ratios, "targets": targets}


def _us(seconds):
    return "inf" if seconds == float("inf") else f"{seconds * 1e6:g}"


def _row(label, r):
    lat = r["latency_us"]
    return [label, f"{r['rps']:.0f}" if r["rps"] >= 100 else f"{r['rps']:.1f}",
            f"{lat['p50'] / 1000:.2f}", f"{lat['p95'] / 1000:.2f}", f"{lat['p99'] / 1000:.2f}",
            f"{r['server_cpu_percent']:.0f}%", _per_cpu(r),
            f"{r['server_rss_mib']:.1f} / {r['server_peak_rss_mib']:.1f}",
            str(r["connections"]) + (f" (+{r['delay_ms']} ms wait)" if r.get("delay_ms") else ""),
            str(r["errors_total"])]


HEAD = ["scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU", "req/CPU-s", "RSS / peak MiB",
        "connections", "errors"]


def _per_cpu(r):
    """Requests per second of server CPU time: what a request costs the
    server, whether or not the load generator could saturate it."""
    cpu = r["server_cpu_percent"] / 100
    return f"{r['rps'] / cpu:.0f}" if cpu > 0 else "-"


def _table(rows, markdown):
    rows = [HEAD] + rows
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _scenario_tables(results, markdown):
    parts = []
    h = "### " if markdown else "== "
    ba = results.get("better_auth")
    if ba:
        parts.append(f"{h}Better Auth {results['machine']['better_auth']} (SQLite, Node {results['machine']['node']})")
        parts.append(_table([_row(label, ba[k]) for k, label in BA_ROWS if k in ba], markdown))
    for backend, r in results.get("steward", {}).items():
        parts.append(f"{h}Steward on {backend} ({r['database']})")
        parts.append(_table([_row(label, r[k]) for k, label in STEWARD_ROWS if k in r], markdown))
        extra = []
        outcomes = r["token_reuse"].get("token_outcomes")
        if outcomes:
            extra.append(f"reuse run: {outcomes['reused']:.0f} reused, {outcomes['minted']:.0f} minted "
                         f"({100 * outcomes['reuse_ratio']:.1f}% hits)")
        hit_run = r.get("token_reuse_session_role", {}).get("token_outcomes")
        if hit_run:
            extra.append(f"`--role session` run: {hit_run['reused']:.0f} reused, {hit_run['minted']:.0f} minted "
                         f"({100 * hit_run['reuse_ratio']:.1f}% hits)")
        mint = r["token_mint"].get("token_outcomes")
        if mint:
            extra.append(f"mint run: {mint['minted']:.0f} minted, {mint['reused']:.0f} reused")
        for key in ("token_reuse", "token_half", "token_mint", "token_mint_half", "token_mint_serial"):
            read = r.get(key, {}).get("session_read")
            if read and read["count"]:
                qs = ", ".join(f"{q.upper()} {read[q][0] * 1e6:.0f} us" for q in ("p50", "p95", "p99"))
                extra.append(f"session read (`{SESSION_READ}`) during {key}: {qs} "
                             f"over {read['count']:.0f} reads; buckets (le s: count) "
                             + _buckets(read))
        per_request = [
            f"{key}: " + ", ".join(f"{q} {n:.2f}" for q, n in r[key]["queries_per_request"].items())
            for key, _ in STEWARD_ROWS
            if r.get(key, {}).get("queries_per_request")
        ]
        if per_request:
            extra.append("database calls per request (`" + DB_QUERY + "` counts / requests): "
                         + "; ".join(per_request))
        if r.get("pg_round_trip"):
            extra.append(f"PostgreSQL round-trip floor: {r['pg_round_trip']['latency_us']:.0f} us per "
                         f"`SELECT 1` ({r['pg_round_trip']['command']}, on the server CPUs)")
        if r.get("pg_paced_read"):
            floor = r["pg_paced_read"]
            extra.append(f"PostgreSQL paced read floor: P50 {floor['p50_us']} us, P95 {floor['p95_us']} us, "
                         f"P99 {floor['p99_us']} us for the session read's own SQL at {floor['rate']:.0f}/s "
                         f"(the mints' half peak), {floor['count']} reads ({floor['command']}, on the "
                         f"server CPUs, nothing else running)")
        check = r["argon2_check_ms"]
        extra.append(f"seeding: {r['seed_seconds']:.1f} s; one Argon2id check via BAPI verify_password: "
                     f"{check['min']:.1f} ms min, {check['median']:.1f} ms median of 5")
        parts.append("\n".join(("- " if markdown else "  ") + e for e in extra))
    return parts


def _buckets(read):
    """Cumulative bucket counts, up to the first bucket holding every read."""
    shown = []
    for le, n in read["buckets"].items():
        shown.append(f"{le}: {n:.0f}")
        if n >= read["count"]:
            break
    return ", ".join(shown)


def _summary_lines(results, markdown):
    s = results["summary"]
    bullet = "- " if markdown else "  "
    lines = [("### " if markdown else "== ") + "Ratios (same run)"]
    lines += [f"{bullet}{x['backend']}: {x['name']}: **{x['value']:.2f}x**" if markdown
              else f"{bullet}{x['backend']:8} {x['name']}: {x['value']:.2f}x" for x in s["ratios"]]
    lines.append("")
    met = sum(t["verdict"] == "met" for t in s["targets"])
    lines.append(("### " if markdown else "== ") + f"Targets ({met} of {len(s['targets'])} met)")
    for t in s["targets"]:
        mark = {"met": "MET", "not met": "NOT MET"}.get(t["verdict"], t["verdict"].upper())
        lines.append(f"{bullet}{t['backend']}: {t['target']}: {t['shown']} -> **{mark}**" if markdown
                     else f"{bullet}{t['backend']:8} {t['target']}: {t['shown']} -> {mark}")
    return lines


def _header(results, markdown):
    m, c, pc = results["machine"], results["config"], results["password_cost"]
    o = results["openssl"]
    argon = pc["steward_argon2id"]
    lines = [
        f"Run {results['started']} ({results['mode']} mode, {c['seconds']} s per scenario after "
        f"{c['warmup_seconds']} s warm-up, {c['sessions']} sessions, {c['connections']} connections; "
        f"whole run {results.get('wall_seconds', 0) / 60:.1f} min)",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Linux {m['kernel']}",
        f"Server CPUs {c['server_cpus']}, wrk CPUs {c['load_cpus']}, PostgreSQL CPUs "
        f"{c.get('db_cpus', c['server_cpus'])} (taskset), kernel autogroup {m.get('autogroup', 'on')}; Steward {m['steward']} "
        f"({m['commit']}), {m['wrk']}, Node {m['node']}, Better Auth {m['better_auth']}, {m['openssl']}",
        f"openssl speed rsa2048: {o['rsa2048_sign_per_s_one_core']:.0f} sign/s per core x "
        f"{o['server_cores']} server core(s) = {o['ceiling_sign_per_s']:.0f}/s",
        f"Equal hash time: Better Auth scrypt {pc['better_auth_scrypt_ms']:.1f} ms per hash; Steward "
        f"Argon2id m={argon['memory_kib']} KiB t={argon['iterations']} p={argon['parallelism']}: "
        f"{pc['steward_calibration_ms']:.1f} ms per check (minimums of repeated timings)",
    ]
    if results.get("note"):
        lines.insert(0, f"Note: {results['note']}")
    return [("- " if markdown else "") + line for line in lines]


def console(results):
    parts = ["Steward benchmark (make bench)", *_header(results, False), ""]
    for p in _scenario_tables(results, False):
        parts += [p, ""]
    parts += _summary_lines(results, False)
    return "\n".join(parts)


def markdown(results):
    parts = [*_header(results, True), ""]
    for p in _scenario_tables(results, True):
        parts += [p, ""]
    parts += _summary_lines(results, True)
    return "\n".join(parts) + "\n"


def update_docs(path, section):
    """Replaces the results between the markers in docs/benchmarks.md."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    block = f"{BEGIN}\n{section}{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
