//! Instances created by earlier releases: the last-used badge after an
//! upgrade, and plaintext secrets sealed on the first start with an
//! encryption key.

use super::*;

on_every_backend!(
    last_used_badge_after_an_upgrade,
    plaintext_secrets_are_sealed_on_the_first_start_with_a_key,
);

/// `display_config.show_last_used_badge` of `/v1/environment`.
async fn badge(app: &TestApp) -> serde_json::Value {
    let url = format!("{}/v1/environment", app.frontend_url);
    let environment: serde_json::Value = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    environment["display_config"]["show_last_used_badge"].clone()
}

async fn last_used_badge_after_an_upgrade(backend: Backend) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    // A database as the first release left it: only the first migration,
    // and an instance created then.
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database(backend, dir.path());
    let first_migration = match backend {
        Backend::Sqlite => {
            include_str!("../../../migrations/legacy/sqlite/2026-11-26-000001_foundation/up.sql")
        }
        Backend::Postgres | Backend::PgBouncer => {
            include_str!("../../../migrations/legacy/postgres/2026-11-26-000001_foundation/up.sql")
        }
    };
    // Earlier releases stored the key's DER as plain base64.
    let key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        steward::crypto::signing_keys::generate_rsa_pkcs8().unwrap(),
    );
    let old_release = format!(
        "{first_migration}
        CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO __diesel_schema_migrations (version) VALUES ('20261126000001');
        INSERT INTO instances (id, environment_type, created_at, updated_at) VALUES ('ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'development', 1, 1);
        INSERT INTO signing_keys (kid, instance_id, algorithm, private_key_pkcs8, created_at) VALUES ('ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S', 'RS256', '{key}', 1);"
    );
    let setup_url = url.clone();
    actix_web::rt::task::spawn_blocking(move || match backend {
        Backend::Sqlite => {
            let path = setup_url.trim_start_matches("sqlite://");
            diesel::SqliteConnection::establish(path)
                .unwrap()
                .batch_execute(&old_release)
                .unwrap();
        }
        Backend::Postgres | Backend::PgBouncer => {
            diesel::PgConnection::establish(&setup_url)
                .unwrap()
                .batch_execute(&old_release)
                .unwrap();
        }
    })
    .await
    .unwrap();

    let app = TestApp::spawn_on(backend, dir, url, "").await;
    assert_eq!(
        app.state.instance.id, "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        "the upgrade keeps the instance"
    );
    assert_eq!(
        badge(&app).await,
        false,
        "an instance from before the upgrade starts without the badge"
    );
    let response = app
        .bapi(Method::PATCH, "/v1/instance")
        .json(&json!({"show_last_used_badge": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(badge(&app).await, true, "the operator turned it on");
    let refused = app
        .send(
            app.bapi(Method::PATCH, "/v1/instance")
                .json(&json!({"hibp": true})),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_unknown",
    );
    let (_, instance) = app.get("/v1/instance").await;
    assert_eq!(instance["object"], "instance");

    let overridden =
        TestApp::spawn_with(backend, "[sign_in]\nshow_last_used_badge = false\n").await;
    assert_eq!(
        badge(&overridden).await,
        false,
        "configuration overrides the stored setting"
    );
}

/// The instance id of the plaintext-secrets test's hand-made instance.
const OLD_INSTANCE: &str = "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S";

/// The stored signing keys and client-token key, as text.
async fn stored_secrets(app: &TestApp) -> (Vec<String>, String) {
    use diesel::prelude::*;
    use steward::db::schema::{instances, signing_keys};
    let state = app.state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = state.db.primary().get_blocking().unwrap();
        let keys = signing_keys::table
            .select(signing_keys::private_key_pkcs8)
            .load::<String>(&mut *conn)
            .unwrap();
        let client = instances::table
            .select(instances::client_token_key)
            .first::<Option<String>>(&mut *conn)
            .unwrap()
            .unwrap();
        (keys, client)
    })
    .await
    .unwrap()
}

async fn plaintext_secrets_are_sealed_on_the_first_start_with_a_key(backend: Backend) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    // A database as the previous version left it: migrated, with the
    // signing key and the client-token key stored as plain base64.
    let dir = tempfile::tempdir().unwrap();
    let url = crate::common::fresh_database(backend, dir.path());
    let der = steward::crypto::signing_keys::generate_rsa_pkcs8().unwrap();
    let client_key = [42u8; 32];
    let (plain_der, plain_client) = (STANDARD.encode(&der), STANDARD.encode(client_key));
    let settings_in = |dir: &std::path::Path| {
        let mut settings =
            crate::common::test_settings(&url, dir, "", crate::common::TEST_SECRET_KEY);
        if backend == Backend::PgBouncer {
            settings.database.pooler = steward::config::Pooler::Transaction;
        }
        settings
    };
    let settings = settings_in(dir.path());
    let rows = format!(
        "INSERT INTO instances (id, environment_type, created_at, updated_at, show_last_used_badge, client_token_key) VALUES ('{OLD_INSTANCE}', 'development', 1, 1, TRUE, '{plain_client}');
        INSERT INTO signing_keys (kid, instance_id, algorithm, private_key_pkcs8, created_at, activates_at) VALUES ('{OLD_INSTANCE}', '{OLD_INSTANCE}', 'RS256', '{plain_der}', 1, 0);"
    );
    let setup_url = url.clone();
    actix_web::rt::task::spawn_blocking(move || {
        steward::app::connect_databases(&settings)
            .unwrap()
            .migrate()
            .unwrap();
        match backend {
            Backend::Sqlite => {
                diesel::SqliteConnection::establish(setup_url.trim_start_matches("sqlite://"))
                    .unwrap()
                    .batch_execute(&rows)
                    .unwrap()
            }
            Backend::Postgres | Backend::PgBouncer => diesel::PgConnection::establish(&setup_url)
                .unwrap()
                .batch_execute(&rows)
                .unwrap(),
        }
    })
    .await
    .unwrap();
    // A client token and the public key the previous version handed out.
    let old_client_token = steward::crypto::client_tokens::ClientTokens::new(&client_key)
        .issue("client_before_the_upgrade", 1)
        .unwrap();
    let (n, e) = steward::crypto::jwt::Rs256Signer::new(OLD_INSTANCE.into(), &der)
        .unwrap()
        .public_components();

    let app = TestApp::spawn_on(backend, dir, url.clone(), "").await;
    assert_eq!(app.state.instance.id, OLD_INSTANCE);
    let (keys, client) = stored_secrets(&app).await;
    for stored in keys.iter().chain([&client]) {
        assert!(stored.starts_with("enc:v1:"), "sealed: {stored}");
    }
    assert!(!keys[0].contains(&plain_der[..40]) && !client.contains(&plain_client));

    // The same keys serve: the old client token still names its client, and
    // session tokens verify with the key published before the upgrade.
    assert_eq!(
        app.state
            .instance
            .client_tokens
            .client_of(&old_client_token)
            .as_deref(),
        Some("client_before_the_upgrade")
    );
    let jwks: serde_json::Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.frontend_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], OLD_INSTANCE);
    assert_eq!(
        (jwks["keys"][0]["n"].as_str(), jwks["keys"][0]["e"].as_str()),
        (Some(n.as_str()), Some(e.as_str()))
    );
    let now = steward::time::now_ms();
    let (token, kid) = app
        .state
        .instance
        .keys
        .sign(&json!({"sub": "user_1", "exp": now / 1000 + 60}), now)
        .unwrap();
    assert_eq!(kid, OLD_INSTANCE);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &decoding,
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256),
    )
    .expect("verifies with the key published before the upgrade")
    .claims;
    assert_eq!(claims["sub"], "user_1");

    // Another key opens nothing: a process configured with it refuses to
    // start, saying why, and changes nothing.
    let other_dir = tempfile::tempdir().unwrap();
    let mut wrong = settings_in(other_dir.path());
    wrong.instance.encryption_key = secrecy::SecretString::from(STANDARD.encode([9u8; 32]));
    let error = actix_web::rt::task::spawn_blocking(move || steward::app::prepare(wrong).map(drop))
        .await
        .unwrap()
        .expect_err("the wrong key refuses to start");
    let message = format!("{error:#}");
    assert!(
        message.contains("sealed under another encryption key"),
        "{message}"
    );
    assert!(message.contains("instance.encryption_key"), "{message}");
    assert!(!message.contains(&STANDARD.encode([9u8; 32])), "{message}");
    assert_eq!(
        stored_secrets(&app).await,
        (keys, client),
        "nothing was rewritten"
    );
}
