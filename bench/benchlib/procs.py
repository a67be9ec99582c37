"""Processes of a benchmark run: start pinned, sample, and always stop.

Every server the run starts (Steward, Better Auth, PostgreSQL) binds
127.0.0.1 on a free port, keeps its files in a temp dir, and is stopped by
PID when the run ends, however it ends:

- normal end, an exception, Ctrl-C or SIGTERM: `Registry.stop_all()` from
  the driver's `finally` (SIGTERM is turned into KeyboardInterrupt);
- the driver killed with SIGKILL: direct children get PR_SET_PDEATHSIG, and
  PostgreSQL (which daemonizes, so is not our child) has a watchdog shell
  that stops it once the driver's PID is gone.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the driver dies."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    """A free loopback port (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30.0, proc=None, log=None):
    """Waits until `url` answers 200; fails early if `proc` exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc is not None and proc.poll() is not None:
            tail = _tail(log)
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}){tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f}s{_tail(log)}")
        time.sleep(0.05)


def _tail(log, lines=15):
    if not log or not os.path.exists(log):
        return ""
    with open(log, errors="replace") as f:
        return "\n--- " + log + " ---\n" + "".join(f.readlines()[-lines:])


class Registry:
    """The processes and temp dirs of this run, stopped in reverse order."""

    def __init__(self):
        self.procs = []  # (name, Popen)
        self.cleanups = []  # callables
        # One root for every temp dir of the run, removed at the end, or by
        # a watchdog if the driver is killed. 0711: the postgres user must
        # reach its cluster dir inside.
        self.root = tempfile.mkdtemp(prefix="steward-bench-", dir="/tmp")
        os.chmod(self.root, 0o711)
        spawn_watchdog(f"rm -rf {self.root}")

    def start(self, name, argv, cpus, env=None, cwd=None, log=None):
        """Starts `argv` pinned to `cpus` (taskset execs it: same PID)."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        if log:
            out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc, grace=5.0):
        """SIGTERM, then SIGKILL after `grace` seconds; by PID only."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def tempdir(self, prefix):
        return tempfile.mkdtemp(prefix=prefix, dir=self.root)

    def on_exit(self, fn):
        self.cleanups.append(fn)

    def stop_all(self):
        for _, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass
        self.cleanups = []
        shutil.rmtree(self.root, ignore_errors=True)


def sigterm_as_interrupt():
    """SIGTERM (e.g. from a CI timeout) and SIGINT unwind like Ctrl-C, also
    when the shell that started us in the background ignored SIGINT."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class ProcStats:
    """CPU time and memory of one process, from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def cpu_seconds(self):
        """utime + stime of the process and its threads, in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            # The command name may hold spaces: fields start after ')'.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_kib(self):
        """{'VmRSS': kib, 'VmHWM': kib}."""
        found = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0])
        return found

    def reset_peak(self):
        """Resets VmHWM (peak RSS) so the next read is this scenario's peak.
        Writing 5 to clear_refs does that (Linux 4.0+); ignored if refused."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


def run_checked(argv, **kwargs):
    """Runs a short command; raises with its output when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stdout}{result.stderr}"
        )
    return result.stdout


def spawn_watchdog(command):
    """Runs `command` (sh) once this driver's PID is gone, however it died."""
    script = f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; {command}"
    subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"


def without_autogroup(registry):
    """Turns the kernel's autogroup scheduling off for the run, and back on
    at its end; returns what the run had, for the report.

    PostgreSQL's backends each call setsid(). With autogroup on and every
    process in the root cgroup (as on this machine), each backend is then a
    scheduling group of its own, and next to a Steward saturating the same
    core they were starved: session reads stalled for seconds (see "PostgreSQL
    stalls at saturation" in docs/benchmarks.md). A production host runs
    PostgreSQL as a service in its own cgroup, where autogroup does not apply.
    """
    try:
        with open(AUTOGROUP) as f:
            was = f.read().strip()
    except OSError:
        return "absent"
    if was == "0":
        return "off"
    try:
        with open(AUTOGROUP, "w") as f:
            f.write("0")
    except OSError as error:
        return f"on (could not turn it off: {error.strerror})"

    def restore():
        with open(AUTOGROUP, "w") as f:
            f.write(was)

    registry.on_exit(restore)
    return "off for the run"
