"""Running wrk for one scenario, and what the server did meanwhile.

A scenario is: a request file (see bench/wrk/requests.lua), a connection
count, an optional per-connection pacing delay, and a duration. wrk runs
with one thread on the load generator's cores; the server's CPU time and
peak RSS are sampled from /proc around the measured interval, and
Prometheus histograms are read from the server before and after so their
difference covers exactly this scenario.
"""

import json
import os
import subprocess
import time

from .procs import ProcStats

WRK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "wrk")
SCRIPT = os.path.join(WRK_DIR, "requests.lua")


def write_requests(path, lines):
    """Writes the request file: tuples (method, path, body|None, {headers})."""
    with open(path, "w") as f:
        for method, target, body, headers in lines:
            fields = [method, target, "-" if body is None else body]
            fields += [f"{k}: {v}" for k, v in headers.items()]
            for field in fields:
                if "\t" in field or "\n" in field:
                    raise ValueError(f"tab or newline in request field {field!r}")
            f.write("\t".join(fields) + "\n")
    return path


def start_wrk(url, requests_file, connections, seconds, cpus, delay_ms=0, timeout_s=10):
    """Starts wrk in the background; returns the Popen (stdout piped)."""
    env = dict(os.environ, BENCH_REQUESTS=requests_file, BENCH_DELAY_MS=str(delay_ms))
    argv = [
        "taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
        f"--timeout={timeout_s}s", "-s", SCRIPT, url,
    ]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(proc):
    """Waits for wrk and returns its BENCH_JSON summary as a dict."""
    out, err = proc.communicate()
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            seconds = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds if seconds else 0.0
            result["errors_total"] = sum(result["errors"].values())
            return result
    raise RuntimeError(f"wrk printed no summary (exit {proc.returncode}):\n{out}\n{err}")


class Server:
    """A server under test: its PID and, for Steward, its /metrics URL."""

    def __init__(self, name, pid, metrics_url=None):
        self.name = name
        self.stats = ProcStats(pid)
        self.metrics_url = metrics_url


def measure(server, url, requests_file, connections, seconds, cpus, delay_ms=0,
            warmup_s=1, extra=None, scrape=None):
    """Runs one wrk load and returns its result with the server's CPU and RSS.

    `extra` is another already-started load (a Popen from start_wrk) to
    collect as well, e.g. sign-ins running beside token refreshes.
    `scrape(server)` is called before and after for metric deltas.
    """
    if warmup_s:
        finish_wrk(start_wrk(url, requests_file, connections, warmup_s, cpus, delay_ms))
    before_metrics = scrape(server) if scrape else None
    server.stats.reset_peak()
    cpu0, t0 = server.stats.cpu_seconds(), time.monotonic()
    proc = start_wrk(url, requests_file, connections, seconds, cpus, delay_ms)
    result = finish_wrk(proc)
    cpu1, t1 = server.stats.cpu_seconds(), time.monotonic()
    memory = server.stats.memory_kib()
    result["server_cpu_percent"] = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    result["server_rss_mib"] = memory.get("VmRSS", 0) / 1024
    result["server_peak_rss_mib"] = memory.get("VmHWM", 0) / 1024
    result["connections"] = connections
    result["delay_ms"] = delay_ms
    if scrape:
        result["metrics_before"] = before_metrics
        result["metrics_after"] = scrape(server)
    if extra is not None:
        result["beside"] = finish_wrk(extra)
    return result
