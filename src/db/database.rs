//! [`Database`]: every pool a process has (the primary, replicas, module
//! databases), which of them its role uses, read failover between the
//! primary and its replicas, migrations, and the background wait for a
//! module database that was down at start-up.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::migrations::Layout;
use super::{
    receipts, retry, BreakerState, DbConnection, DbError, DbPool, ReadFailover, Transient,
};
use crate::config::DatabaseSettings;
use crate::modules::id::Module;

/// Every pool this process uses.
#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<Pools>,
}

#[derive(Debug)]
struct Pools {
    primary: DbPool,
    replicas: Vec<DbPool>,
    modules: BTreeMap<Module, DbPool>,
    /// The modules whose own databases this process uses (see
    /// [`Database::connect`]).
    used: Vec<Module>,
    failover: ReadFailover,
}

impl Database {
    /// Builds the pools for the primary, the replicas and the own
    /// databases of `modules`. Those of `used` keep connections open from
    /// the start; the others connect only if a query ever needs them, so
    /// a process does not depend on databases its role does not use.
    /// Nothing is connected yet except what r2d2 opens in the background;
    /// call [`DbPool::check_connect`] to fail fast.
    ///
    /// `layout` says which parts of the schema each database holds (and
    /// migrates): an area's own database only that area's.
    pub fn connect(
        settings: &DatabaseSettings,
        layout: &Layout,
        modules: &[Module],
        used: &[Module],
    ) -> anyhow::Result<Self> {
        let own_database = |module| settings.modules.contains_key(&module);
        let primary = DbPool::connect(
            "primary",
            &settings.url,
            settings,
            true,
            layout.primary(own_database),
        )?;
        let replicas = settings
            .replica_urls
            .iter()
            .map(|url| DbPool::connect("replica", url, settings, true, Vec::new()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut module_pools = BTreeMap::new();
        for module in modules {
            if let Some(db) = settings.modules.get(module) {
                let eager = used.contains(module);
                let schema = layout.module(*module);
                let pool = DbPool::connect(module.name(), &db.url, settings, eager, schema)?;
                module_pools.insert(*module, pool);
            }
        }
        let used = used
            .iter()
            .copied()
            .filter(|module| module_pools.contains_key(module))
            .collect();
        Ok(Self {
            inner: Arc::new(Pools {
                primary,
                replicas,
                modules: module_pools,
                used,
                failover: ReadFailover::new(settings.primary_timeout, settings.breaker_cooldown),
            }),
        })
    }

    /// The read/write primary.
    pub fn primary(&self) -> &DbPool {
        &self.inner.primary
    }

    /// The database that holds `module`'s tables: its own, or the primary.
    pub fn for_module(&self, module: Module) -> &DbPool {
        self.inner
            .modules
            .get(&module)
            .unwrap_or(&self.inner.primary)
    }

    /// Runs a read for `module` that may fail over to a replica: on the
    /// module's own database when it has one, otherwise through the
    /// primary's circuit breaker (see [`ReadFailover`]). `work` may run
    /// more than once, so it must only read.
    pub async fn read_with_failover<T, E, F>(
        &self,
        module: Module,
        query: &'static str,
        work: F,
    ) -> Result<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Clone + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Transient + Send + 'static,
    {
        match self.inner.modules.get(&module) {
            Some(own) => own.run(query, work).await,
            None => self.read_primary_with_failover(query, work).await,
        }
    }

    /// Whether `module`'s tables live in a database of their own.
    pub fn has_own_database(&self, module: Module) -> bool {
        self.inner.modules.contains_key(&module)
    }

    /// A read of the primary's own tables (the instance, secret keys) that
    /// may fail over to a replica; see [`Database::read_with_failover`].
    pub async fn read_primary_with_failover<T, E, F>(
        &self,
        query: &'static str,
        work: F,
    ) -> Result<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Clone + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Transient + Send + 'static,
    {
        self.inner
            .failover
            .read(&self.inner.primary, &self.inner.replicas, query, work)
            .await
    }

    /// The read failover's breaker state, for `/readyz`.
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.failover.state()
    }

    /// The read replicas.
    pub fn replicas(&self) -> &[DbPool] {
        &self.inner.replicas
    }

    /// Whether read replicas are configured.
    pub fn has_replicas(&self) -> bool {
        !self.inner.replicas.is_empty()
    }

    /// The pools this process uses, which `/readyz` reports: the primary,
    /// the replicas, then the own databases of the modules it uses.
    pub fn used_pools(&self) -> impl Iterator<Item = &DbPool> {
        std::iter::once(&self.inner.primary)
            .chain(self.inner.replicas.iter())
            .chain(self.used_module_pools())
    }

    /// The own databases of the modules this process uses.
    fn used_module_pools(&self) -> impl Iterator<Item = &DbPool> {
        self.inner
            .used
            .iter()
            .filter_map(|module| self.inner.modules.get(module))
    }

    /// Pools that take writes and therefore migrations: the primary and the
    /// module databases (replicas follow the primary by replication),
    /// used by this process or not.
    pub fn writable_pools(&self) -> impl Iterator<Item = &DbPool> {
        std::iter::once(&self.inner.primary).chain(self.inner.modules.values())
    }

    /// The writable pools this process uses.
    pub fn used_writable_pools(&self) -> impl Iterator<Item = &DbPool> {
        std::iter::once(&self.inner.primary).chain(self.used_module_pools())
    }

    /// The modules whose own database this process uses, each with its pool.
    pub fn used_module_databases(&self) -> impl Iterator<Item = (Module, &DbPool)> {
        self.inner
            .used
            .iter()
            .filter_map(|module| Some((*module, self.inner.modules.get(module)?)))
    }

    /// Deletes old commit receipts (see [`receipts`]) from every writable
    /// PostgreSQL database every few minutes, until the process stops.
    /// Every process may run it: the delete is idempotent.
    pub async fn trim_commit_receipts(self) {
        let mut ticker = tokio::time::interval(receipts::RECEIPT_RETENTION / 3);
        loop {
            ticker.tick().await;
            let pools = self
                .used_writable_pools()
                .filter(|p| p.backend() == "postgres" && !p.is_waiting());
            for pool in pools {
                let outcome = pool
                    .run("commit_receipts.trim", |conn| {
                        receipts::trim(conn).map_err(DbError::from)
                    })
                    .await;
                match outcome {
                    Ok(deleted) => {
                        metrics::counter!("steward_job_rows_total", "job" => "trim_commit_receipts")
                            .increment(deleted as u64);
                    }
                    Err(error) => {
                        tracing::warn!(%error, pool = pool.label(), "trimming commit receipts failed; retrying later");
                    }
                }
            }
        }
    }

    /// Migrates every writable database; returns how many migrations ran.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        self.writable_pools().map(DbPool::migrate).sum()
    }

    /// Migrates the writable databases this process uses, except those it
    /// still waits for (they are migrated when reached); returns how many
    /// migrations ran.
    pub fn migrate_used(&self) -> anyhow::Result<usize> {
        self.used_writable_pools()
            .filter(|pool| !pool.is_waiting())
            .map(DbPool::migrate)
            .sum()
    }

    /// For a module database this process uses that was unreachable at
    /// start-up (marked waiting by the caller): tries it again with
    /// backoff until it answers, migrates it when `migrate`, then clears
    /// the mark, so `/readyz` reports it ready. Meanwhile queries that need
    /// it fail with 503 and the rest of the process serves.
    pub async fn await_module_database(self, module: Module, migrate: bool) {
        let Some(pool) = self.inner.modules.get(&module).cloned() else {
            return;
        };
        let mut backoff = retry::Backoff::new();
        loop {
            let attempt = pool.clone();
            // Err(true): not reachable yet; Err(false): reached, but the
            // migrations failed, which waiting alone will not mend.
            let outcome = tokio::task::spawn_blocking(move || {
                if let Err(error) = attempt.check_connect() {
                    return Err((true, error));
                }
                if migrate {
                    attempt.migrate().map_err(|error| (false, error))
                } else {
                    Ok(0)
                }
            })
            .await;
            match outcome {
                Ok(Ok(applied)) => {
                    pool.waiting.store(false, Ordering::Release);
                    tracing::info!(database = pool.label(), applied, "database reached");
                    return;
                }
                Ok(Err((true, error))) => {
                    tracing::debug!(%error, database = pool.label(), "still unreachable");
                }
                Ok(Err((false, error))) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        database = pool.label(),
                        "migrating a database reached late failed; retrying"
                    );
                }
                // The runtime is shutting down.
                Err(_) => return,
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}
