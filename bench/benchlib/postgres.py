"""An ephemeral PostgreSQL cluster for one benchmark run.

As tests/it/common/postgres.rs does: initdb into a temp dir, owned by and run
as the `postgres` user when we are root (PostgreSQL refuses to run as
root), listening on 127.0.0.1 at a free port, socket dir outside the data
dir. Unlike the tests, durability stays at PostgreSQL's defaults (fsync,
synchronous_commit and full_page_writes on): sign-ins and seeding write,
and their numbers should be those of a real server. The postmaster is
started under `taskset` with the server's CPUs, so every backend it forks
shares the cores Steward is given, not the load generator's.
"""

import glob
import os
import re

from .procs import free_port, run_checked, spawn_watchdog


def bindir():
    """The newest /usr/lib/postgresql/*/bin holding initdb."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: run `make bench` (it installs postgresql)")
    return os.path.dirname(found[-1])


class PgCluster:
    def __init__(self, registry, cpus, log):
        self.bin = bindir()
        self.root = os.getuid() == 0
        self.base = registry.tempdir("pg-")
        self.data = os.path.join(self.base, "data")
        sockets = os.path.join(self.base, "sockets")
        os.makedirs(sockets)
        if self.root:
            run_checked(["chown", "-R", "postgres:postgres", self.base])
        self._pg("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.port = free_port()
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{sockets}'\nmax_connections = 200\n"
            )
        open(log, "a").close()  # pg_ctl opens it as the postgres user
        if self.root:
            run_checked(["chown", "postgres:postgres", log])
        stop = self._argv("pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        spawn_watchdog(" ".join(stop) + f" >/dev/null 2>&1; rm -rf {self.base}")
        registry.on_exit(self.stop)
        run_checked(["taskset", "-c", cpus, *self._argv("pg_ctl", "-D", self.data, "-l", log, "-w", "-t", "30", "start")])
        self.running = True
        found = re.search(r"PostgreSQL\)? ([\d.]+)", run_checked([os.path.join(self.bin, "postgres"), "--version"]))
        self.version = f"PostgreSQL {found.group(1)}" if found else "PostgreSQL"

    def _argv(self, program, *args):
        path = os.path.join(self.bin, program)
        return (["runuser", "-u", "postgres", "--", path] if self.root else [path]) + list(args)

    def _pg(self, program, *args):
        return run_checked(self._argv(program, *args))

    def create_database(self, name):
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def round_trip(self, database, cpus, seconds=3):
        """The floor under any query's latency here: `pgbench -M prepared`
        running `SELECT 1` back to back from one client over the same
        loopback TCP Steward uses, pinned to `cpus`."""
        script = os.path.join(self.base, "select1.sql")
        with open(script, "w") as f:
            f.write("SELECT 1;\n")
        out = run_checked(["taskset", "-c", cpus, os.path.join(self.bin, "pgbench"), "-n", "-h", "127.0.0.1",
                           "-p", str(self.port), "-U", "postgres", "-M", "prepared", "-c", "1",
                           "-T", str(seconds), "-f", script, database])
        found = re.search(r"latency average = ([\d.]+) ms", out)
        if not found:
            raise RuntimeError(f"cannot read pgbench output:\n{out}")
        return {"latency_us": float(found.group(1)) * 1000, "command": "pgbench -n -M prepared -c 1 -f select1.sql"}

    def paced_read(self, database, cpus, sql, rate, seconds):
        """The floor under the session read at a given rate: `pgbench -M
        prepared` running Steward's own primary-key `SELECT` from one client,
        paced at `rate` per second, pinned to `cpus` with nothing else
        running. Per-transaction latencies (minus pgbench's own schedule
        lag) from its log; microseconds."""
        script = os.path.join(self.base, "session_read.sql")
        with open(script, "w") as f:
            f.write(sql.rstrip(";") + ";\n")
        logs = os.path.join(self.base, "paced-read")
        os.makedirs(logs, exist_ok=True)
        run_checked(["taskset", "-c", cpus, os.path.join(self.bin, "pgbench"), "-n", "-h", "127.0.0.1",
                     "-p", str(self.port), "-U", "postgres", "-M", "prepared", "-c", "1",
                     "-T", str(seconds), "-R", f"{rate:.0f}", "-f", script,
                     "-l", "--log-prefix", os.path.join(logs, "txn"), database])
        latencies = []
        for name in glob.glob(os.path.join(logs, "txn*")):
            with open(name) as f:
                for line in f:
                    fields = line.split()
                    # client, txn, latency us, script, epoch s, epoch us, lag us
                    latencies.append(int(fields[2]) - int(fields[6]))
        if not latencies:
            raise RuntimeError("pgbench logged no transactions")
        latencies.sort()

        def at(q):
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

        return {"rate": rate, "count": len(latencies),
                **{f"p{q}_us": at(q / 100) for q in (50, 95, 99)},
                "command": f"pgbench -n -M prepared -c 1 -R {rate:.0f} -f session_read.sql -l"}

    def stop(self):
        if getattr(self, "running", False):
            self.running = False
            self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
