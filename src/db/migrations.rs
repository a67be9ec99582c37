//! Embedded migrations, one set per part of the schema and backend.
//!
//! The schema is cut into parts: [`CORE`] (the instance and its keys, in
//! the primary only), [`COMMON`] (what every database has: the outbox and
//! commit receipts) and one part per area, kept in the area's folder
//! (`src/modules/<area>/migrations/<backend>/`) and named by its registry
//! entry. A database runs the migrations of the parts it holds (see
//! [`Layout`]), so an area's own database holds only that area's tables.
//!
//! Diesel records each applied migration by version in
//! `__diesel_schema_migrations`; a part's versions are recorded as
//! `<part>:<version>`, so parts number their migrations independently and
//! a database knows which parts it holds.
//!
//! Databases made before the split ran one set of migrations, [`LEGACY`],
//! recorded by bare version, and hold every part's tables. They are
//! adopted in place: their pending legacy migrations run, and the
//! baseline of every part that existed then is recorded as applied (its
//! tables are there, with their data); later migrations of each part run
//! as usual. `tests/it/platform/schema_layout.rs` checks that the
//! baselines make the same schema as the legacy set.

use std::fmt;

use diesel::backend::Backend;
use diesel::connection::SimpleConnection;
use diesel::migration::{
    Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::DbConnection;
use crate::modules::id::Module;

/// The migrations of one part of the schema, for each backend.
pub struct Migrations {
    /// The part's name, which prefixes its recorded versions: the area's
    /// module name, or `core` / `common`.
    pub part: &'static str,
    pub postgres: EmbeddedMigrations,
    pub sqlite: EmbeddedMigrations,
}

impl fmt::Debug for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.part)
    }
}

/// The instance, its signing keys and secret keys: the primary only.
pub const CORE: Migrations = Migrations {
    part: "core",
    postgres: embed_migrations!("migrations/core/postgres"),
    sqlite: embed_migrations!("migrations/core/sqlite"),
};

/// The outbox and commit receipts: every database.
pub const COMMON: Migrations = Migrations {
    part: "common",
    postgres: embed_migrations!("migrations/common/postgres"),
    sqlite: embed_migrations!("migrations/common/sqlite"),
};

/// The single set every database ran before the schema was cut into
/// parts. Frozen: only run to bring such a database to its last state
/// before it is adopted.
const LEGACY: Migrations = Migrations {
    part: "legacy",
    postgres: embed_migrations!("migrations/legacy/postgres"),
    sqlite: embed_migrations!("migrations/legacy/sqlite"),
};

/// The parts that existed before the split, whose baseline migration
/// (version [`BASELINE`]) makes exactly the tables the legacy set made.
const LEGACY_PARTS: &[&str] = &[
    "core", "common", "session", "signin", "signup", "users", "orgs",
];

/// The version of each legacy part's first migration, its baseline.
const BASELINE: &str = "20261203000000";

/// An arbitrary, fixed advisory-lock key that serialises migrations when
/// several Steward processes start against one PostgreSQL database at once.
const MIGRATION_LOCK_KEY: i64 = 0x0053_7465_7761_7264;

/// Which parts each database holds: the primary holds the core, the common
/// part and every area without a database of its own; an area's own
/// database holds the common part and that area.
#[derive(Debug, Clone)]
pub struct Layout {
    areas: Vec<(Module, &'static Migrations)>,
}

impl Layout {
    /// The layout of a build whose areas have these migrations.
    pub fn new(areas: impl IntoIterator<Item = (Module, &'static Migrations)>) -> Self {
        Self {
            areas: areas.into_iter().collect(),
        }
    }

    /// The parts the primary holds, given the areas that have a database
    /// of their own.
    pub fn primary(&self, own_database: impl Fn(Module) -> bool) -> Vec<&'static Migrations> {
        [&CORE, &COMMON]
            .into_iter()
            .chain(
                self.areas
                    .iter()
                    .filter(|(module, _)| !own_database(*module))
                    .map(|(_, migrations)| *migrations),
            )
            .collect()
    }

    /// The parts `module`'s own database holds.
    pub fn module(&self, module: Module) -> Vec<&'static Migrations> {
        std::iter::once(&COMMON)
            .chain(
                self.areas
                    .iter()
                    .filter(|(id, _)| *id == module)
                    .map(|(_, migrations)| *migrations),
            )
            .collect()
    }
}

/// Runs every pending migration of `parts` (adopting a database made
/// before the split first) and returns how many ran.
///
/// Everything runs in one transaction: on PostgreSQL it holds a
/// transaction-scoped advisory lock, so concurrent starters wait for each
/// other and the lock cannot leak behind a transaction-mode pooler (a
/// session lock would); on SQLite it is an immediate transaction, which
/// takes the write lock at once. A failure leaves nothing half-applied.
pub fn run_pending(
    conn: &mut DbConnection,
    parts: &[&'static Migrations],
) -> anyhow::Result<usize> {
    use diesel::Connection;
    let applied = match conn {
        DbConnection::Pg(pg) => pg.transaction(|pg| {
            pg.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))?;
            migrate(pg, parts, |m| &m.postgres)
        }),
        DbConnection::Sqlite(sqlite) => {
            sqlite.immediate_transaction(|sqlite| migrate(sqlite, parts, |m| &m.sqlite))
        }
    };
    applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn migrate<C, DB>(
    conn: &mut C,
    parts: &[&'static Migrations],
    backend: fn(&'static Migrations) -> &'static EmbeddedMigrations,
) -> Result<usize, BoxError>
where
    DB: Backend + 'static,
    C: MigrationHarness<DB> + SimpleConnection,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let adopted = adopt_legacy(conn, backend(&LEGACY))?;
    let source = Parts {
        parts: parts.iter().map(|m| (m.part, backend(m))).collect(),
    };
    let ran = conn.run_pending_migrations(source)?.len();
    Ok(adopted + ran)
}

/// Brings a database made before the split to the legacy set's last
/// state and records every legacy part's baseline as applied; returns
/// how many legacy migrations ran. Does nothing to a database that is
/// new or already adopted.
fn adopt_legacy<C, DB>(conn: &mut C, legacy: &'static EmbeddedMigrations) -> Result<usize, BoxError>
where
    DB: Backend,
    C: MigrationHarness<DB> + SimpleConnection,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let applied = conn.applied_migrations()?;
    let is_legacy = !applied.is_empty() && applied.iter().all(|v| !v.to_string().contains(':'));
    if !is_legacy {
        return Ok(0);
    }
    let ran = conn.run_pending_migrations(Legacy(legacy))?.len();
    let values = LEGACY_PARTS
        .iter()
        .map(|part| format!("('{part}:{BASELINE}')"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.batch_execute(&format!(
        "INSERT INTO __diesel_schema_migrations (version) VALUES {values}"
    ))?;
    tracing::info!(
        legacy_migrations = ran,
        "database from before the schema split adopted"
    );
    Ok(ran)
}

/// The legacy set, recorded by bare version as before the split.
struct Legacy(&'static EmbeddedMigrations);

impl<DB: Backend> MigrationSource<DB> for Legacy
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        MigrationSource::<DB>::migrations(self.0)
    }
}

/// The migrations of several parts, each recorded as `<part>:<version>`.
struct Parts {
    parts: Vec<(&'static str, &'static EmbeddedMigrations)>,
}

impl<DB: Backend + 'static> MigrationSource<DB> for Parts
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        let mut all: Vec<Box<dyn Migration<DB>>> = Vec::new();
        for (part, migrations) in &self.parts {
            for inner in MigrationSource::<DB>::migrations(*migrations)? {
                let version = format!("{part}:{}", inner.name().version());
                let display = format!("{part}/{}", inner.name());
                all.push(Box::new(InPart {
                    inner,
                    name: PartName { version, display },
                }));
            }
        }
        Ok(all)
    }
}

/// One migration of a part, under its prefixed version.
struct InPart<DB: Backend> {
    inner: Box<dyn Migration<DB>>,
    name: PartName,
}

struct PartName {
    version: String,
    display: String,
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl MigrationName for PartName {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(self.version.as_str())
    }
}

impl<DB: Backend> Migration<DB> for InPart<DB> {
    fn run(
        &self,
        conn: &mut dyn diesel::connection::BoxableConnection<DB>,
    ) -> diesel::migration::Result<()> {
        self.inner.run(conn)
    }

    fn revert(
        &self,
        conn: &mut dyn diesel::connection::BoxableConnection<DB>,
    ) -> diesel::migration::Result<()> {
        self.inner.revert(conn)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self.inner.metadata()
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_part_starts_with_its_baseline() {
        for migrations in [&CORE, &COMMON] {
            let first =
                MigrationSource::<diesel::pg::Pg>::migrations(&migrations.postgres).unwrap();
            assert_eq!(
                first[0].name().version().to_string(),
                BASELINE,
                "{}",
                migrations.part
            );
        }
        assert!(LEGACY_PARTS.contains(&CORE.part) && LEGACY_PARTS.contains(&COMMON.part));
    }
}
