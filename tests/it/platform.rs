//! Process-level behaviour: health, readiness, metrics, trace ids, JWKS,
//! roles, body limits, and the instance surviving a restart.

use crate::common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_every_backend!(
    health_readiness_and_metrics,
    invented_methods_add_no_series,
    trace_ids_and_exact_content_type,
    jwks_on_both_listeners,
    roles_mount_only_their_modules,
    oversized_bodies_are_refused,
    restart_reuses_the_instance,
    a_module_can_have_its_own_database,
    key_rotation_publishes_before_signing,
    last_used_badge_after_an_upgrade,
    plaintext_secrets_are_sealed_on_the_first_start_with_a_key,
);

async fn health_readiness_and_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for base in [&app.frontend_url, &app.backend_url] {
        let (status, body) = app.send(app.http.get(format!("{base}/healthz"))).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    }
    // The Backend API's readiness names each database; the Frontend API's,
    // for load balancers on the internet, says only whether it serves.
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["databases"][0]["name"], "primary");
    assert_eq!(
        body["databases"][0]["backend"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let (status, body) = app
        .send(app.http.get(format!("{}/readyz", app.frontend_url)))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
    let public_metrics = app
        .send(app.http.get(format!("{}/metrics", app.frontend_url)))
        .await;
    assert_error(&public_metrics, StatusCode::NOT_FOUND, "resource_not_found");

    app.get("/v1/users").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("steward_http_request_duration_seconds_bucket{listener=\"backend\",method=\"GET\",route=\"/v1/users\",status=\"200\""),
        "HTTP latency per route"
    );
    assert!(
        metrics.contains("steward_http_request_duration_seconds_bucket{listener=\"frontend\",method=\"GET\",route=\"/healthz\",status=\"200\""),
        "HTTP latency of a hot route, recorded through its cached handle"
    );
    assert!(
        metrics.contains(
            "steward_db_query_duration_seconds_bucket{pool=\"primary\",query=\"users.list\""
        ),
        "DB latency per query"
    );
}

/// The request-duration series of the Frontend API's `/healthz`, by labels.
fn healthz_series(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|line| line.starts_with("steward_http_request_duration_seconds_count{"))
        .filter(|line| line.contains("listener=\"frontend\"") && line.contains("/healthz"))
        .map(|line| line.split_once('}').unwrap().0)
        .collect()
}

async fn invented_methods_add_no_series(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let healthz = format!("{}/healthz", app.frontend_url);
    let invented = |n: usize| Method::from_bytes(format!("M{n:05}ZZ").as_bytes()).unwrap();
    let response = app.send(app.http.request(invented(0), &healthz)).await;
    assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    let before = app.metrics().await;
    let series_before = healthz_series(&before);
    assert!(
        series_before.iter().any(|s| s.contains("method=\"other\"")),
        "an invented method is counted as `other`: {series_before:?}"
    );
    for n in 1..=200 {
        let response = app
            .http
            .request(invented(n), &healthz)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let after = app.metrics().await;
    assert_eq!(
        healthz_series(&after),
        series_before,
        "200 invented methods add no time series"
    );
    assert!(
        !after.contains("ZZ\""),
        "no label carries an invented method"
    );
    // Other tests of this binary share the recorder and may add their own
    // routes' series meanwhile; 200 new series would add about 480 KB.
    assert!(
        after.len() < before.len() + 64 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

async fn trace_ids_and_exact_content_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .bapi(Method::GET, "/v1/users/user_missing")
        .send()
        .await
        .unwrap();
    let header = response.headers()["clerk-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["clerk_trace_id"],
        header.as_str(),
        "body and header carry the same id"
    );
    assert_eq!(header.len(), 32);
    // Every response gets one, successful or not, and each is different.
    let ok = app.bapi(Method::GET, "/v1/users").send().await.unwrap();
    assert_ne!(ok.headers()["clerk-trace-id"].to_str().unwrap(), header);
    // Unknown paths outside /v1 get a Clerk-style 404 on both listeners.
    for base in [&app.frontend_url, &app.backend_url] {
        let response = app.send(app.http.get(format!("{base}/nope"))).await;
        assert_error(&response, StatusCode::NOT_FOUND, "resource_not_found");
    }
}

async fn jwks_on_both_listeners(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, public) = app
        .send(
            app.http
                .get(format!("{}/.well-known/jwks.json", app.frontend_url)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, private) = app.get("/v1/jwks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public, private);
    let key = &public["keys"][0];
    assert_eq!(
        key["kid"],
        app.state.instance.id.as_str(),
        "first key's kid is the instance id"
    );
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert_eq!(
        key["n"].as_str().unwrap().len(),
        342,
        "2048-bit modulus, base64url"
    );
    let unauthenticated = app
        .send(app.http.get(format!("{}/v1/jwks", app.backend_url)))
        .await;
    assert_error(
        &unauthenticated,
        StatusCode::UNAUTHORIZED,
        "authorization_header_format_invalid",
    );
}

async fn roles_mount_only_their_modules(backend: Backend) {
    let core = TestApp::spawn_with(backend, "role = \"core\"\n[roles]\ncore = []\n").await;
    assert_error(
        &core.get("/v1/users").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );
    let (status, _) = core.get("/v1/jwks").await;
    assert_eq!(status, StatusCode::OK, "the core stays on in every role");

    let disabled = TestApp::spawn_with(backend, "[modules.users]\nenabled = false\n").await;
    assert_error(
        &disabled.get("/v1/users").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );

    let users_role = TestApp::spawn_with(backend, "role = \"users\"\n").await;
    let (status, body) = users_role.get("/v1/users").await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[server]\nmax_body_bytes = 2048\n").await;
    let body = json!({"email_address": ["big@example.com"], "password": "long enough", "first_name": "x".repeat(4000)});
    let response = app.post("/v1/users", body).await;
    assert_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_body_too_large",
    );
    assert_eq!(app.user_count().await, 0);
}

async fn restart_reuses_the_instance(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let (status, user) = first
        .post(
            "/v1/users",
            json!({"email_address": ["kept@example.com"], "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, jwks_before) = first.get("/v1/jwks").await;
    let TestApp {
        dir,
        database_url,
        state,
        ..
    } = first;
    let instance_id = state.instance.id.clone();
    let second = TestApp::spawn_on(backend, dir, database_url, "").await;
    assert_eq!(second.state.instance.id, instance_id);
    let (_, jwks_after) = second.get("/v1/jwks").await;
    assert_eq!(jwks_before, jwks_after, "the signing key is reused");
    let (status, fetched) = second
        .get(&format!("/v1/users/{}", user["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetched["email_addresses"][0]["email_address"],
        "kept@example.com"
    );
}

async fn a_module_can_have_its_own_database(backend: Backend) {
    let app = TestApp::spawn_with_module_database(backend, "users", "").await;
    let (status, _) = app
        .post(
            "/v1/users",
            json!({"email_address": ["own@example.com"], "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.user_count().await, 1);

    let (_, ready) = app.get("/readyz").await;
    let names: Vec<&str> = ready["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["primary", "users"]);
    let rows = app.row_counts().await;
    let (in_primary, in_module) = (rows.rows("primary", "users"), rows.rows("users", "users"));
    assert_eq!(
        (in_primary, in_module),
        (0, 1),
        "users live in the module database only"
    );

    // The client object reads its sessions from the primary and each
    // session's user from the users database.
    let mut phone = crate::common::fapi::FapiClient::native(&app);
    let session_id = phone.sign_in("own@example.com", "long enough").await;
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    let session = &client["response"]["sessions"][0];
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(
        session["user"]["email_addresses"][0]["email_address"],
        "own@example.com"
    );
    assert_eq!(session["public_user_data"]["identifier"], "own@example.com");
}

/// A token for a new session of `user_id`, minted through the Backend API.
async fn new_session_token(app: &TestApp, user_id: &serde_json::Value) -> String {
    let (_, session) = app.post("/v1/sessions", json!({"user_id": user_id})).await;
    let (_, token) = app
        .post(
            &format!("/v1/sessions/{}/tokens", session["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    token["jwt"].as_str().unwrap().to_owned()
}

async fn key_rotation_publishes_before_signing(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[session]\nkey_activation_delay = \"0s\"\n").await;
    let (_, user) = app
        .post(
            "/v1/users",
            json!({"email_address": ["rotate@example.com"], "password": "long enough"}),
        )
        .await;
    let kid_of = |jwt: &str| jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let old_token = new_session_token(&app, &user["id"]).await;
    let old_kid = kid_of(&old_token);

    let state = app.state.clone();
    let (new_kid, _) = actix_web::rt::task::spawn_blocking(move || {
        let rotated = steward::instance::rotate_signing_key(
            state.db.primary(),
            &state.settings,
            &state.instance,
        )?;
        steward::instance::reload(state.db.primary(), &state.settings, &state.instance)?;
        Ok::<_, anyhow::Error>(rotated)
    })
    .await
    .unwrap()
    .unwrap();
    assert_ne!(new_kid, old_kid);
    let (_, jwks) = app.get("/v1/jwks").await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        published,
        [new_kid.as_str(), old_kid.as_str()],
        "the old key stays published for its tokens"
    );
    let new_token = new_session_token(&app, &user["id"]).await;
    assert_eq!(kid_of(&new_token), new_kid, "the new key signs");
}

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
            include_str!("../../migrations/sqlite/2026-11-26-000001_foundation/up.sql")
        }
        Backend::Postgres | Backend::PgBouncer => {
            include_str!("../../migrations/postgres/2026-11-26-000001_foundation/up.sql")
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
