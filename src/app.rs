//! Builds the two HTTP listeners from the settings and the role's modules,
//! as the module registry (`modules::REGISTRY`) describes them.
//!
//! Start-up is split in two: [`prepare`] does the blocking work (connect,
//! migrate, load or create the instance) and [`Application::start`] binds
//! the listeners, so tests can run the first part off the async runtime and
//! bind port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::config::{RoleScope, Settings};
use crate::crypto::hash_threads::HashThreads;
use crate::crypto::password::PasswordHasher;
use crate::db::Database;
use crate::http::trace::{observe, Listener};
use crate::http::{backend_auth, fapi, health, nul, ApiError};
use crate::instance::{self, jwks, SecretKeyVerifier};
use crate::modules::session::{SessionWrites, TokenMinter, TokenSessionReads};
use crate::modules::{self, Module, REGISTRY};
use crate::notify::Mailer;
use crate::state::AppState;

/// Everything the listeners need, ready to serve.
#[derive(Debug)]
pub struct Prepared {
    pub state: Arc<AppState>,
    /// What this process serves.
    pub scope: RoleScope,
    /// The development secret key, when this run created the instance.
    pub created_secret_key: Option<String>,
}

/// Connects to the databases, migrates them when `database.migrate_on_start`
/// is set, and loads or creates the instance. Blocking.
pub fn prepare(settings: Settings) -> anyhow::Result<Prepared> {
    let scope = settings.role_scope()?;
    let db = connect_for_role(&settings, &databases_used(&settings, &scope))?;
    let primary_reachable = db.primary().check_connect().is_ok();
    if settings.database.migrate_on_start && primary_reachable {
        let applied = db.migrate_used()?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
    }
    let boot = if primary_reachable {
        instance::bootstrap(db.primary(), &settings)?
    } else {
        bootstrap_from_replica(&db, &settings)?
    };
    let passwords = PasswordHasher::from_settings(
        &settings.security.argon2,
        &settings.security.digest_cost_limits,
    )
    .map_err(anyhow::Error::msg)?;
    let secret_keys = SecretKeyVerifier::new(
        settings.instance.environment,
        &settings.instance.secret_key,
        db.clone(),
    );
    let public_url = settings.public_url();
    let tokens = TokenMinter::new(
        public_url.clone(),
        settings.session.token_lifetime,
        std::time::Duration::from_secs(settings.session.token_reuse_seconds),
    );
    let token_reads = TokenSessionReads::new(db.clone());
    let mailer = Mailer::from_settings(&settings)?;
    let session_writes = Arc::new(SessionWrites::open(&settings.spool.path)?);
    let areas = modules::AreaStates::init(&settings)?;
    let hash_threads = HashThreads::start(
        settings.security.password_hash_threads,
        settings.security.password_hash_queue,
    )?;
    Ok(Prepared {
        state: Arc::new(AppState {
            public_url,
            settings: Arc::new(settings),
            db,
            instance: boot.instance,
            secret_keys,
            passwords,
            tokens,
            token_reads,
            mailer,
            hash_threads,
            session_writes,
            areas,
        }),
        scope,
        created_secret_key: boot.created_secret_key,
    })
}

/// Whether this process runs the areas' jobs: a `worker`, or a process
/// serving the session area unless `retention.jobs_in_session_processes`
/// is off.
fn runs_jobs(settings: &Settings, scope: &RoleScope) -> bool {
    scope.worker || (scope.serves(Module::Session) && settings.retention.jobs_in_session_processes)
}

/// The modules whose databases a process in `scope` uses: those it serves
/// (routes or jobs) and those their services call.
fn databases_used(settings: &Settings, scope: &RoleScope) -> Vec<Module> {
    let mut served = scope.modules();
    if runs_jobs(settings, scope) {
        served.extend(modules::areas_with_jobs());
    }
    let enabled = settings.enabled_modules();
    served.retain(|module| enabled.contains(module));
    modules::databases_used(&served)
}

/// Connects to every configured database and checks they all answer: for
/// commands (`migrate`, `keys …`) that need every database.
pub fn connect_databases(settings: &Settings) -> anyhow::Result<Database> {
    let enabled = settings.enabled_modules();
    let db = Database::connect(
        &settings.database,
        &modules::schema_layout(),
        &enabled,
        &enabled,
    )?;
    for pool in db.writable_pools() {
        pool.check_connect()?;
    }
    Ok(db)
}

/// Connects to the databases of the modules in `used`. Pools are made
/// for every enabled module's own database, but only those of `used` are
/// connected: a database the role does not use can be down.
///
/// The primary must answer, except with replicas configured: a session
/// process restarted during a primary outage must come back and serve
/// tokens from a replica (see [`bootstrap_from_replica`]). A module
/// database in `used` that does not answer is marked waiting and tried
/// again in the background once the listeners start (see
/// [`Database::await_module_database`]); `/readyz` names it meanwhile.
pub fn connect_for_role(settings: &Settings, used: &[Module]) -> anyhow::Result<Database> {
    let db = Database::connect(
        &settings.database,
        &modules::schema_layout(),
        &settings.enabled_modules(),
        used,
    )?;
    match db.primary().check_connect() {
        Err(error) if db.has_replicas() => {
            tracing::warn!(%error, "the primary is unreachable; starting from a replica");
        }
        other => other?,
    }
    for (module, pool) in db.used_module_databases() {
        if let Err(error) = pool.check_connect() {
            tracing::warn!(%error, module = module.name(), "a module database is unreachable; retrying in the background");
            pool.set_waiting();
        }
    }
    Ok(db)
}

/// Loads the instance (keys, settings) from the first replica that has it,
/// without writing: for starting while the primary is down. Migrations wait
/// for the next start with the primary up.
fn bootstrap_from_replica(
    db: &Database,
    settings: &Settings,
) -> anyhow::Result<instance::Bootstrap> {
    let mut last = anyhow::anyhow!("no replica is configured");
    for replica in db.replicas() {
        match instance::bootstrap(replica, settings) {
            Ok(boot) => return Ok(boot),
            Err(error) => last = error,
        }
    }
    Err(last.context("the primary is unreachable and no replica could provide the instance"))
}

/// The bound listeners of a running Steward process.
pub struct Application {
    frontend_addr: SocketAddr,
    backend_addr: SocketAddr,
    frontend: Server,
    backend: Server,
}

impl Application {
    /// Binds both listeners (port 0 picks a free port).
    pub fn start(prepared: &Prepared) -> std::io::Result<Self> {
        let settings = &prepared.state.settings;
        let state = web::Data::from(prepared.state.clone());
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let body_limit = settings.server.max_body_bytes;

        let scope = &prepared.scope;
        start_background(&prepared.state, scope);
        // Routes are matched in the order they are mounted, and every
        // dynamic one tried costs a regex match: the session module, whose
        // token route every signed-in page calls, goes first.
        let mut frontend_routes = routes(&scope.frontend, |area| area.frontend);
        frontend_routes.sort_by_key(|(module, _)| *module != Module::Session);
        let frontend_state = state.clone();
        let cors_settings = settings.clone();
        let frontend = HttpServer::new(move || {
            let mut v1 = web::scope("/v1");
            for (_, configure) in &frontend_routes {
                v1 = v1.configure(*configure);
            }
            App::new()
                .app_data(frontend_state.clone())
                .app_data(web::Data::new(Listener("frontend")))
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap(from_fn(fapi::method_override))
                .wrap(fapi::cors(&cors_settings))
                .wrap(from_fn(nul::refuse_nul_in_path))
                .wrap(from_fn(observe))
                // `/v1` first: the token route is under it, and each route
                // tried before it costs a match.
                .service(v1.default_service(web::to(not_found)))
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz_bare))
                .route("/.well-known/jwks.json", web::get().to(jwks::get_jwks))
                .default_service(web::to(not_found))
        });
        let frontend = frontend
            .workers(workers)
            .bind(settings.server.frontend_addr)?;
        let frontend_addr = first_addr(&frontend.addrs())?;

        let backend_state = state;
        let backend_routes = routes(&scope.backend, |area| area.backend);
        let webhook_routes = routes(&scope.backend, |area| area.webhooks);
        let backend = HttpServer::new(move || {
            let mut v1 = web::scope("/v1")
                .wrap(from_fn(backend_auth::require_secret_key))
                .route("/jwks", web::get().to(jwks::get_jwks))
                .configure(instance::backend::configure);
            for (_, configure) in &backend_routes {
                v1 = v1.configure(*configure);
            }
            let mut app = App::new();
            // Before the `/v1` scope and outside it, so the secret key is
            // not asked for: each handler verifies its caller's signature
            // itself (Stripe's `Stripe-Signature`). They are exact paths,
            // so every other `/v1` path still reaches the scope.
            for (_, configure) in &webhook_routes {
                app = app.configure(*configure);
            }
            app.app_data(backend_state.clone())
                .app_data(web::Data::new(Listener("backend")))
                .app_data(web::PayloadConfig::new(body_limit))
                .wrap(from_fn(nul::refuse_nul_in_path))
                .wrap(from_fn(observe))
                // The detailed readiness and the metrics live here, on the
                // listener that stays on a private network, where the
                // operator's probes and Prometheus already reach every
                // process (see `http::health`).
                .route("/healthz", web::get().to(health::healthz))
                .route("/readyz", web::get().to(health::readyz))
                .route("/metrics", web::get().to(health::metrics))
                .service(v1.default_service(web::to(not_found)))
                .default_service(web::to(not_found))
        });
        let backend = backend
            .workers(workers)
            .bind(settings.server.backend_addr)?;
        let backend_addr = first_addr(&backend.addrs())?;

        Ok(Self {
            frontend_addr,
            backend_addr,
            frontend: frontend.run(),
            backend: backend.run(),
        })
    }

    /// Where the Frontend API listens.
    pub fn frontend_addr(&self) -> SocketAddr {
        self.frontend_addr
    }

    /// Where the Backend API listens.
    pub fn backend_addr(&self) -> SocketAddr {
        self.backend_addr
    }

    /// Serves until both listeners stop (SIGINT/SIGTERM stop them gracefully).
    pub async fn run(self) -> std::io::Result<()> {
        let (frontend, backend) = futures_util::future::join(self.frontend, self.backend).await;
        frontend.and(backend)
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("frontend_addr", &self.frontend_addr)
            .field("backend_addr", &self.backend_addr)
            .finish_non_exhaustive()
    }
}

/// The route mounters of `served` areas on one listener, as `pick` finds
/// them in each area's registry entry.
fn routes(
    served: &[Module],
    pick: fn(&modules::Area) -> Option<modules::Routes>,
) -> Vec<(Module, modules::Routes)> {
    served
        .iter()
        .filter_map(|module| Some((*module, pick(modules::area(*module))?)))
        .collect()
}

/// Starts, on the current runtime, the commit-receipt trim, the wait for
/// module databases that were down at start-up, the background work of
/// every area served here and, when this process runs them, the jobs.
fn start_background(state: &Arc<AppState>, scope: &RoleScope) {
    actix_web::rt::spawn(state.db.clone().trim_commit_receipts());
    let migrate = state.settings.database.migrate_on_start;
    let waiting: Vec<Module> = state
        .db
        .used_module_databases()
        .filter(|(_, pool)| pool.is_waiting())
        .map(|(module, _)| module)
        .collect();
    for module in waiting {
        actix_web::rt::spawn(state.db.clone().await_module_database(module, migrate));
    }
    let jobs = runs_jobs(&state.settings, scope);
    for area in REGISTRY {
        if scope.serves(area.id) {
            for task in area.background {
                actix_web::rt::spawn(task(state.clone()));
            }
        }
        if jobs {
            for task in area.jobs {
                actix_web::rt::spawn(task(state.clone()));
            }
        }
    }
    start_outbox(state, scope);
}

/// Delivers what areas push to other areas' copies (their registry
/// entries' `pushes`, see [`crate::outbox`]) from every process that serves
/// the pushing area, and from the worker.
fn start_outbox(state: &Arc<AppState>, scope: &RoleScope) {
    for area in modules::REGISTRY {
        // Delivered even while the receiving module is switched off, so the
        // outbox stays trimmed and its copy is current when it comes back.
        let source = area.id;
        if !(state.settings.modules.is_enabled(source) && (scope.worker || scope.serves(source))) {
            continue;
        }
        for push in area.pushes {
            actix_web::rt::spawn(crate::outbox::dispatch(
                state.clone(),
                source,
                push.receiver,
                push.backfill,
            ));
        }
    }
}

/// Re-reads signing keys and stored instance settings every
/// `session.key_reload_interval`, so a key rotation or a setting changed by
/// another process takes effect here. Runs until the process stops.
pub async fn keep_reloading(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.settings.session.key_reload_interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let current = state.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            instance::reload(current.db.primary(), &current.settings, &current.instance)
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "reloading signing keys failed"),
            Err(error) => tracing::warn!(%error, "reloading signing keys was cancelled"),
        }
    }
}

fn first_addr(addrs: &[SocketAddr]) -> std::io::Result<SocketAddr> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("listener bound no address"))
}

/// Unknown paths, and paths of modules this role does not serve.
async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("resource"))
}
