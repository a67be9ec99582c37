//! An ephemeral PostgreSQL cluster for the test run.
//!
//! Started once per run (the integration tests are one binary) with
//! initdb/pg_ctl (as the `postgres` user when running as root, because
//! PostgreSQL refuses to run as root), on a free loopback port, with its
//! data and socket in a temp dir. Each test gets its own database. A watchdog shell stops the cluster and removes its
//! files when the test process exits, however it exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The running cluster.
pub struct PgCluster {
    port: u16,
}

static CLUSTER: OnceLock<PgCluster> = OnceLock::new();

/// The cluster of this run, started on first use. Panics with the reason
/// when PostgreSQL cannot be started: a test that needs it must fail loudly,
/// never skip.
pub fn cluster() -> &'static PgCluster {
    CLUSTER.get_or_init(|| {
        PgCluster::start().unwrap_or_else(|e| panic!("PostgreSQL test cluster: {e}"))
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Where initdb and pg_ctl live: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn pg_bindir() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    if let Some(dir) = candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").is_file())
    {
        return Ok(dir);
    }
    let output = Command::new("pg_config").arg("--bindir").output();
    match output {
        Ok(o) if o.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            if dir.join("initdb").is_file() {
                return Ok(dir);
            }
            Err(format!("initdb not found in {}", dir.display()))
        }
        _ => {
            Err("PostgreSQL server binaries not found: install postgresql (make test does)".into())
        }
    }
}

fn run_as_postgres(program: &Path, args: &[&str], root: bool) -> Result<(), String> {
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A new directory under /tmp for a cluster's data, with a `sockets`
/// directory inside, owned by `postgres` when running as root. It outlives
/// this process until the watchdog removes it.
fn postgres_dir(prefix: &str, root: bool) -> Result<PathBuf, String> {
    let base = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .map_err(|e| e.to_string())?
        .keep();
    std::fs::create_dir_all(base.join("sockets")).map_err(|e| e.to_string())?;
    if root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("chown to postgres failed (does the postgres user exist?)".into());
        }
    }
    Ok(base)
}

/// A new cluster in `data`: UTF-8, superuser `postgres`, trusted local
/// connections, and no fsync (test data need not survive a crash).
fn initdb(bindir: &Path, data: &str, root: bool) -> Result<(), String> {
    run_as_postgres(
        &bindir.join("initdb"),
        &[
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        root,
    )
}

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// PgBouncer 1.18 in transaction mode in front of the test cluster, one per
/// run; every database of the cluster is reachable through it.
pub struct Bouncer {
    port: u16,
}

static BOUNCER: OnceLock<Bouncer> = OnceLock::new();

/// The bouncer of this run, started on first use; fails loudly when
/// PgBouncer is not installed.
pub fn bouncer() -> &'static Bouncer {
    BOUNCER
        .get_or_init(|| Bouncer::start(cluster().port).unwrap_or_else(|e| panic!("PgBouncer: {e}")))
}

impl Bouncer {
    fn start(pg_port: u16) -> Result<Self, String> {
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .ok_or("pgbouncer is not installed: run make test-deps (apt package pgbouncer)")?;
        let root = is_root();
        let base = tempfile::Builder::new()
            .prefix("steward-pgbouncer-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?
            .keep();
        let port = free_port();
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port={pg_port}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {dir}/users.txt\npool_mode = transaction\n\
             max_client_conn = 1000\ndefault_pool_size = 20\nlogfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\nignore_startup_parameters = extra_float_digits\n",
            dir = base.display()
        );
        std::fs::write(base.join("pgbouncer.ini"), ini).map_err(|e| e.to_string())?;
        std::fs::write(base.join("users.txt"), "\"postgres\" \"\"\n").map_err(|e| e.to_string())?;
        if root {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&base)
                .status()
                .map_err(|e| e.to_string())?;
        }
        let ini = base.join("pgbouncer.ini").to_string_lossy().into_owned();
        run_as_postgres(Path::new(program), &["-d", &ini], root)?;
        let pidfile = base.join("pgbouncer.pid");
        run_after_exit(&format!("kill $(cat {})", pidfile.display()), &base);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return Err("PgBouncer did not start listening".into());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(Self { port })
    }

    /// A new database in the cluster, reached through the bouncer.
    pub fn create_database(&self, name: &str) -> String {
        cluster().create_database(name);
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl PgCluster {
    fn start() -> Result<Self, String> {
        let bindir = pg_bindir()?;
        let root = is_root();
        let base = postgres_dir("steward-pg-", root)?;
        let data = base.join("data");
        let sockets = base.join("sockets");
        let data_str = data.to_string_lossy().into_owned();
        initdb(&bindir, &data_str, root)?;
        let port = free_port();
        // Every test of the run shares this cluster, and the pools of a
        // finished test's app are not all closed before the process ends
        // (a few idle connections per test stay open), so the limit is
        // sized for the whole suite rather than for two tests at a time.
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 1500\n",
            sockets.display()
        );
        append(&format!("{data_str}/postgresql.conf"), &conf)?;
        let log = base.join("postgres.log").to_string_lossy().into_owned();
        run_as_postgres(
            &bindir.join("pg_ctl"),
            &["-D", &data_str, "-l", &log, "-w", "-t", "30", "start"],
            root,
        )?;
        spawn_watchdog(&bindir, &data_str, &base, root);
        Ok(Self { port })
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn =
            PgConnection::establish(&admin).unwrap_or_else(|e| panic!("connect {admin}: {e}"));
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// Stops the cluster and deletes its directory once this process is gone.
fn spawn_watchdog(bindir: &Path, data: &str, base: &Path, root: bool) {
    let pg_ctl = bindir.join("pg_ctl");
    let stop = if root {
        format!(
            "runuser -u postgres -- {} -D {data} -m immediate stop",
            pg_ctl.display()
        )
    } else {
        format!("{} -D {data} -m immediate stop", pg_ctl.display())
    };
    run_after_exit(&stop, base);
}

/// Runs `stop` and deletes `base` once this process is gone, however it ends.
fn run_after_exit(stop: &str, base: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {base}",
        pid = std::process::id(),
        base = base.display()
    );
    let spawned = Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("warning: test watchdog not started ({e}); run `{stop}` by hand");
    }
}

/// A PostgreSQL primary with a streaming replica, for failover tests.
/// Each test that kills a primary gets its own pair.
pub struct PgPair {
    pub primary_url: String,
    pub replica_url: String,
    bindir: PathBuf,
    primary_data: String,
    root: bool,
}

impl PgPair {
    /// Starts a primary and a replica streaming from it; both hold a
    /// `steward` database.
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("PostgreSQL primary + replica: {e}"))
    }

    fn try_start() -> Result<Self, String> {
        let bindir = pg_bindir()?;
        let root = is_root();
        let base = postgres_dir("steward-pgpair-", root)?;
        let sockets = base.join("sockets");
        let primary = base.join("primary").to_string_lossy().into_owned();
        let replica = base.join("replica").to_string_lossy().into_owned();
        initdb(&bindir, &primary, root)?;
        let (primary_port, replica_port) = (free_port(), free_port());
        let settings = |port: u16| {
            format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
                 fsync = off\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nmax_connections = 100\n",
                sockets.display()
            )
        };
        append(
            &format!("{primary}/postgresql.conf"),
            &settings(primary_port),
        )?;
        append(
            &format!("{primary}/pg_hba.conf"),
            "\nhost replication all 127.0.0.1/32 trust\n",
        )?;
        let log = base.join("primary.log").to_string_lossy().into_owned();
        run_as_postgres(
            &bindir.join("pg_ctl"),
            &["-D", &primary, "-l", &log, "-w", "start"],
            root,
        )?;
        let admin = format!("postgres://postgres@127.0.0.1:{primary_port}/postgres");
        PgConnection::establish(&admin)
            .map_err(|e| e.to_string())?
            .batch_execute("CREATE DATABASE steward")
            .map_err(|e| e.to_string())?;
        let port = primary_port.to_string();
        run_as_postgres(
            Path::new("/usr/bin/pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &replica,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            root,
        )?;
        append(
            &format!("{replica}/postgresql.conf"),
            &settings(replica_port),
        )?;
        let log = base.join("replica.log").to_string_lossy().into_owned();
        run_as_postgres(
            &bindir.join("pg_ctl"),
            &["-D", &replica, "-l", &log, "-w", "start"],
            root,
        )?;
        spawn_watchdog(&bindir, &primary, &base, root);
        spawn_watchdog(&bindir, &replica, &base, root);
        Ok(Self {
            primary_url: format!("postgres://postgres@127.0.0.1:{primary_port}/steward"),
            replica_url: format!("postgres://postgres@127.0.0.1:{replica_port}/steward"),
            bindir,
            primary_data: primary,
            root,
        })
    }

    /// Stops the primary the hard way (`pg_ctl stop -m immediate`).
    pub fn kill_primary(&self) {
        run_as_postgres(
            &self.bindir.join("pg_ctl"),
            &["-D", &self.primary_data, "-m", "immediate", "-w", "stop"],
            self.root,
        )
        .unwrap_or_else(|e| panic!("stopping the primary: {e}"));
    }

    /// Starts the primary again after [`PgPair::kill_primary`].
    pub fn start_primary(&self) {
        self.pg_ctl_primary(&["-w", "start"], "starting");
    }

    /// Restarts the primary the way an upgrade or a config change does
    /// (`pg_ctl restart -m fast`: open connections are terminated).
    pub fn restart_primary(&self) {
        self.pg_ctl_primary(&["-m", "fast", "-w", "restart"], "restarting");
    }

    fn pg_ctl_primary(&self, args: &[&str], what: &str) {
        let log = format!("{}/../primary.log", self.primary_data);
        let mut full = vec!["-D", &self.primary_data, "-l", &log];
        full.extend_from_slice(args);
        run_as_postgres(&self.bindir.join("pg_ctl"), &full, self.root)
            .unwrap_or_else(|e| panic!("{what} the primary: {e}"));
    }
}

fn append(path: &str, text: &str) -> Result<(), String> {
    let mut existing = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    existing.push_str(text);
    std::fs::write(path, existing).map_err(|e| e.to_string())
}
