//! The schema cut into parts (src/db/migrations.rs): a database made with
//! the single migration set used before the split, once adopted and
//! migrated, has exactly the schema of a database made fresh (so the
//! parts' baselines match the legacy set), and it keeps its data.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

use crate::common::{Backend, TestApp};

on_every_backend!(
    an_adopted_database_has_the_schema_of_a_fresh_one,
    a_database_from_before_the_split_upgrades_in_place,
);

/// The legacy set's SQL, in order, with the version diesel recorded for
/// each migration.
fn legacy_migrations(backend: Backend) -> Vec<(String, String)> {
    let dir = format!(
        "{}/migrations/legacy/{}",
        env!("CARGO_MANIFEST_DIR"),
        if backend.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let sql = std::fs::read_to_string(format!("{dir}/{name}/up.sql")).unwrap();
            let version = name.split('_').next().unwrap().replace('-', "");
            (version, sql)
        })
        .collect()
}

/// A database as the release before the split left it: every legacy
/// migration run and recorded as diesel recorded it, then `rows`.
fn make_legacy_database(backend: Backend, url: &str, rows: &str) {
    let mut script = String::from(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
    );
    for (version, sql) in legacy_migrations(backend) {
        script.push_str(&sql);
        script.push_str(&format!(
            "\nINSERT INTO __diesel_schema_migrations (version) VALUES ('{version}');\n"
        ));
    }
    script.push_str(rows);
    execute(backend, url, &script);
}

fn execute(backend: Backend, url: &str, script: &str) {
    match backend {
        Backend::Sqlite => SqliteConnection::establish(url.trim_start_matches("sqlite://"))
            .unwrap()
            .batch_execute(script)
            .unwrap(),
        Backend::Postgres | Backend::PgBouncer => PgConnection::establish(url)
            .unwrap()
            .batch_execute(script)
            .unwrap(),
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

/// Everything the schema is made of, one line per column, index,
/// constraint, storage setting and table row count, sorted.
fn describe_schema(backend: Backend, url: &str) -> Vec<String> {
    const POSTGRES: &[&str] = &[
        "SELECT format('column %s.%s %s %s %s %s', table_name, column_name, ordinal_position, \
         data_type, is_nullable, column_default) AS line FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        "SELECT format('index %s', indexdef) AS line FROM pg_indexes WHERE schemaname = 'public' \
         AND tablename <> '__diesel_schema_migrations'",
        "SELECT format('constraint %s %s %s', conrelid::regclass, conname, \
         pg_get_constraintdef(oid)) AS line FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace \
         AND conrelid <> '__diesel_schema_migrations'::regclass",
        "SELECT format('storage %s %s', relname, reloptions) AS line FROM pg_class \
         WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    ];
    const SQLITE: &[&str] = &[
        "SELECT 'column ' || m.name || '.' || p.name || ' ' || p.cid || ' ' || p.type || ' ' \
         || p.\"notnull\" || ' ' || coalesce(p.dflt_value, '') || ' ' || p.pk AS line \
         FROM sqlite_master m, pragma_table_xinfo(m.name) p \
         WHERE m.type = 'table' AND m.name <> '__diesel_schema_migrations'",
        "SELECT 'index ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') AS line \
         FROM sqlite_master WHERE type = 'index' AND tbl_name <> '__diesel_schema_migrations'",
        "SELECT 'foreign key ' || m.name || ' ' || f.\"from\" || ' ' || f.\"table\" || ' ' \
         || f.\"to\" || ' ' || f.on_delete AS line \
         FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
    ];
    let tables_query = if backend.is_postgres() {
        "SELECT table_name AS line FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations'"
    } else {
        "SELECT name AS line FROM sqlite_master WHERE type = 'table' \
         AND name <> '__diesel_schema_migrations'"
    };
    let run = |queries: &[&str]| -> Vec<String> {
        let mut lines = Vec::new();
        match backend {
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
                for query in queries {
                    lines.extend(
                        diesel::sql_query(*query)
                            .load::<Line>(&mut conn)
                            .unwrap()
                            .into_iter()
                            .map(|l| l.line),
                    );
                }
            }
            Backend::Postgres | Backend::PgBouncer => {
                let mut conn = PgConnection::establish(url).unwrap();
                for query in queries {
                    lines.extend(
                        diesel::sql_query(*query)
                            .load::<Line>(&mut conn)
                            .unwrap()
                            .into_iter()
                            .map(|l| l.line),
                    );
                }
            }
        }
        lines
    };
    let mut lines = run(if backend.is_postgres() {
        POSTGRES
    } else {
        SQLITE
    });
    let counts: Vec<String> = run(&[tables_query])
        .into_iter()
        .map(|table| format!("SELECT '{table} rows ' || COUNT(*) AS line FROM \"{table}\""))
        .collect();
    let counts: Vec<&str> = counts.iter().map(String::as_str).collect();
    lines.extend(run(&counts));
    lines.sort();
    lines
}

/// Migrates the database at `url` the way `steward migrate` does.
fn migrate(backend: Backend, url: &str, dir: &std::path::Path) -> usize {
    let mut settings = crate::common::test_settings(url, dir, "", crate::common::TEST_SECRET_KEY);
    if backend == Backend::PgBouncer {
        settings.database.pooler = steward::config::Pooler::Transaction;
    }
    steward::app::connect_databases(&settings)
        .unwrap()
        .migrate()
        .unwrap()
}

async fn an_adopted_database_has_the_schema_of_a_fresh_one(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let legacy = crate::common::fresh_database(backend, dir.path());
    let legacy_dir = tempfile::tempdir().unwrap();
    let split = crate::common::fresh_database(backend, legacy_dir.path());
    let (legacy_schema, split_schema) = actix_web::rt::task::spawn_blocking(move || {
        make_legacy_database(backend, &legacy, "");
        let upgrade_dir = tempfile::tempdir().unwrap();
        migrate(backend, &legacy, upgrade_dir.path());
        migrate(backend, &split, legacy_dir.path());
        (
            describe_schema(backend, &legacy),
            describe_schema(backend, &split),
        )
    })
    .await
    .unwrap();
    assert!(legacy_schema.len() > 100, "{legacy_schema:?}");
    let only_legacy: Vec<_> = legacy_schema
        .iter()
        .filter(|line| !split_schema.contains(line))
        .collect();
    let only_split: Vec<_> = split_schema
        .iter()
        .filter(|line| !legacy_schema.contains(line))
        .collect();
    assert!(
        only_legacy.is_empty() && only_split.is_empty(),
        "only in the legacy schema: {only_legacy:#?}\nonly in the split one: {only_split:#?}"
    );
}

/// Ids of the rows the release before the split wrote.
const USER: &str = "user_2legacyUser0000000000000000";
const ORG: &str = "org_2legacyOrg00000000000000000";

async fn a_database_from_before_the_split_upgrades_in_place(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database(backend, dir.path());
    let rows = format!(
        "INSERT INTO users (id, first_name, public_metadata, private_metadata, unsafe_metadata, created_at, updated_at)
             VALUES ('{USER}', 'Ada', '{{}}', '{{}}', '{{}}', 1, 1);
         INSERT INTO email_addresses (id, user_id, email_address, verification_status, verification_strategy, created_at, updated_at)
             VALUES ('idn_2legacyEmail000000000000000', '{USER}', 'ada@example.com', 'verified', 'admin', 1, 1);
         UPDATE users SET primary_email_address_id = 'idn_2legacyEmail000000000000000';
         INSERT INTO organizations (id, name, slug, public_metadata, private_metadata, created_by, created_at, updated_at)
             VALUES ('{ORG}', 'Analytical Engines', 'engines', '{{}}', '{{}}', '{USER}', 1, 1);
         INSERT INTO organization_memberships (id, organization_id, user_id, role, public_metadata, private_metadata, created_at, updated_at)
             VALUES ('orgmem_2legacyMember00000000000000', '{ORG}', '{USER}', 'org:admin', '{{}}', '{{}}', 1, 1);"
    );
    let setup_url = url.clone();
    actix_web::rt::task::spawn_blocking(move || make_legacy_database(backend, &setup_url, &rows))
        .await
        .unwrap();

    let app = TestApp::spawn_on(backend, dir, url.clone(), "").await;
    let (status, user) = app.get(&format!("/v1/users/{USER}")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{user}");
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(
        user["email_addresses"][0]["email_address"],
        "ada@example.com"
    );
    let (_, memberships) = app
        .get(&format!("/v1/organizations/{ORG}/memberships"))
        .await;
    assert_eq!(memberships["total_count"], 1, "{memberships}");
    assert_eq!(
        memberships["data"][0]["public_user_data"]["user_id"],
        json!(USER)
    );
    // Data written after the upgrade lands next to the old.
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email_address": ["grace@example.com"], "password": "long enough"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(app.user_count().await, 2);

    // Adopted once: every part is recorded and nothing is left to run.
    let state = app.state.clone();
    let (recorded, again) = actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.primary().get_blocking().unwrap();
        let recorded = diesel::sql_query(
            "SELECT version AS line FROM __diesel_schema_migrations WHERE version LIKE '%:%'",
        )
        .load::<Line>(&mut *conn)
        .unwrap();
        (recorded.len(), state.db.migrate().unwrap())
    })
    .await
    .unwrap();
    assert!(
        recorded >= 7,
        "the baselines of the legacy parts: {recorded}"
    );
    assert_eq!(again, 0, "a second migration finds nothing to do");
}
