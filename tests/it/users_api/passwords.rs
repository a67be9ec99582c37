//! Password checks through the Backend API: native and imported digests,
//! cost limits on imported and stored digests, and a burst of checks beyond
//! the hash queue, which is shed.

use super::*;

on_every_backend!(
    verify_password_native_and_imported,
    imported_digests_above_the_cost_limits_are_refused,
    stored_digests_above_the_cost_limits_are_not_verified,
    a_burst_of_password_checks_beyond_the_queue_is_shed,
);

async fn verify_password_native_and_imported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let native = create(
        &app,
        json!({"email_address": ["n@example.com"], "password": "native password"}),
    )
    .await;
    let path = format!(
        "/v1/users/{}/verify_password",
        native["id"].as_str().unwrap()
    );
    let (status, body) = app
        .post(&path, json!({"password": "native password"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"verified": true})));
    assert_error(
        &app.post(&path, json!({"password": "wrong"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incorrect_password",
    );
    assert_error(
        &app.post(&path, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_param_missing",
    );

    // Digests imported from another system verify, and keep verifying after
    // Steward re-hashes them with Argon2id.
    let bcrypt_digest = bcrypt::hash("imported secret", 4).unwrap();
    let argon2i_digest = {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::default(),
        )
        .hash_password(b"password", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
    };
    for (digest, hasher, password) in [
        (bcrypt_digest.as_str(), "bcrypt", "imported secret"),
        (argon2i_digest.as_str(), "argon2i", "password"),
    ] {
        let user = create(
            &app,
            json!({"email_address": [format!("{hasher}@example.com")], "password_digest": digest, "password_hasher": hasher}),
        )
        .await;
        assert_eq!(user["password_enabled"], true);
        let path = format!("/v1/users/{}/verify_password", user["id"].as_str().unwrap());
        for _ in 0..2 {
            let (status, body) = app.post(&path, json!({"password": password})).await;
            assert_eq!(status, StatusCode::OK, "{hasher}: {body}");
        }
        assert_error(
            &app.post(&path, json!({"password": "nope"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "incorrect_password",
        );
    }

    let no_password = create(
        &app,
        json!({"email_address": ["np@example.com"], "skip_password_requirement": true}),
    )
    .await;
    let path = format!(
        "/v1/users/{}/verify_password",
        no_password["id"].as_str().unwrap()
    );
    assert_error(
        &app.post(&path, json!({"password": "anything"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "password_not_set",
    );
}

/// Well-formed digests far above the default cost limits: bcrypt cost 31
/// and Argon2id with 4 GiB of memory.
const BCRYPT_COST_31: &str = "$2b$31$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

const ARGON2ID_4GIB: &str =
    "$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

async fn imported_digests_above_the_cost_limits_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create(
        &app,
        json!({"email_address": ["kept@example.com"], "password": "kept password"}),
    )
    .await;
    let user_path = format!("/v1/users/{}", user["id"].as_str().unwrap());
    let cases = [
        (BCRYPT_COST_31, "bcrypt", "bcrypt cost is 31"),
        (ARGON2ID_4GIB, "argon2id", "memory (m) cost is 4194304 KiB"),
        (
            &ARGON2ID_4GIB.replace("m=4194304,t=3", "m=19456,t=11"),
            "argon2id",
            "time (t) cost is 11",
        ),
        (
            &ARGON2ID_4GIB.replace("m=4194304,t=3,p=1", "m=19456,t=2,p=64"),
            "argon2id",
            "parallelism (p) cost is 64",
        ),
    ];
    for (digest, hasher, what) in cases {
        let create = app
            .post(
                "/v1/users",
                json!({"email_address": ["n@example.com"], "password_digest": digest, "password_hasher": hasher}),
            )
            .await;
        let update = app
            .patch(
                &user_path,
                json!({"password_digest": digest, "password_hasher": hasher}),
            )
            .await;
        for response in [create, update] {
            let error = assert_error(
                &response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_value_invalid",
            );
            assert_eq!(error["meta"]["param_name"], "password_digest");
            let message = error["long_message"].as_str().unwrap();
            assert!(
                message.contains("cost is too high") && message.contains(what),
                "{message}"
            );
        }
    }
    assert_eq!(app.user_count().await, 1, "no refused import wrote a user");
    let (status, body) = app
        .post(
            &format!("{user_path}/verify_password"),
            json!({"password": "kept password"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"verified": true})),
        "the password was kept"
    );

    // The limits are settings: a server that allows cost 31 takes the digest.
    let lenient = TestApp::spawn_with(
        backend,
        "[security.digest_cost_limits]\nbcrypt_max_cost = 31\n",
    )
    .await;
    create(
        &lenient,
        json!({"email_address": ["n@example.com"], "password_digest": BCRYPT_COST_31, "password_hasher": "bcrypt"}),
    )
    .await;
}

/// A digest stored above the limits (before they existed, or written to the
/// database directly) is not verified, even with the right password; one
/// within them still is.
async fn stored_digests_above_the_cost_limits_are_not_verified(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[security.digest_cost_limits]\nbcrypt_max_cost = 5\n",
    )
    .await;
    let digest = |cost| bcrypt::hash("imported secret", cost).unwrap();
    let user = create(
        &app,
        json!({"email_address": ["n@example.com"], "password_digest": digest(5), "password_hasher": "bcrypt", "skip_password_checks": true}),
    )
    .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let above = digest(6);
    let state = app.state.clone();
    let user_id = id.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use steward::db::schema::users;
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(users::table.find(user_id))
            .set(users::password_digest.eq(above))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let path = format!("/v1/users/{id}/verify_password");
    assert_error(
        &app.post(&path, json!({"password": "imported secret"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "incorrect_password",
    );
    // Setting the password again makes the account usable.
    let (status, body) = app
        .patch(
            &format!("/v1/users/{id}"),
            json!({"password": "a new password", "skip_password_checks": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post(&path, json!({"password": "a new password"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"verified": true})));
}

/// One hashing thread and one waiting place: a burst of password checks
/// (Backend API verifications, and Frontend API sign-ins for unknown
/// addresses, hashed for timing equality) gets some answered and the rest
/// refused at once with 503 and `Retry-After`; token refreshes meanwhile
/// are untouched, and the queue has room again afterwards.
async fn a_burst_of_password_checks_beyond_the_queue_is_shed(backend: Backend) {
    const BURST: usize = 8;
    let app = TestApp::spawn_with(
        backend,
        "[security]\npassword_hash_threads = 1\npassword_hash_queue = 1\n",
    )
    .await;
    let user = create(
        &app,
        json!({"email_address": ["n@example.com"], "password": "native password"}),
    )
    .await;
    let mut signed_in = crate::common::fapi::FapiClient::native(&app);
    let session = signed_in.sign_in("n@example.com", "native password").await;
    let path = format!("/v1/users/{}/verify_password", user["id"].as_str().unwrap());
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (status, retry_after, response.json::<Value>().await.unwrap())
    };
    let verify = || async {
        let request = app
            .bapi(Method::POST, &path)
            .json(&json!({"password": "native password"}));
        answer(request.send().await.unwrap()).await
    };
    let app = &app;
    let unknown_sign_in = |n: usize| async move {
        let request = app
            .http
            .post(format!(
                "{}/v1/client/sign_ins?_is_native=1",
                app.frontend_url
            ))
            .form(&[
                ("identifier", format!("nobody{n}@example.com")),
                ("password", "a guess".to_owned()),
            ]);
        answer(request.send().await.unwrap()).await
    };
    let refreshes = async {
        let mut statuses = Vec::new();
        for _ in 0..BURST {
            statuses.push(signed_in.token(&session).await.0);
        }
        statuses
    };
    let (verifications, sign_ins, refreshed) = futures_util::future::join3(
        futures_util::future::join_all((0..BURST).map(|_| verify())),
        futures_util::future::join_all((0..BURST).map(unknown_sign_in)),
        refreshes,
    )
    .await;
    assert!(
        refreshed.iter().all(|s| *s == StatusCode::OK),
        "token refreshes during the burst: {refreshed:?}"
    );
    // Every check is either answered as it would be without load, or shed.
    let mut answered = 0;
    let mut shed = 0;
    for (status, retry_after, body) in verifications.into_iter().chain(sign_ins) {
        match status {
            StatusCode::OK => {
                assert_eq!(body, json!({"verified": true}));
                answered += 1;
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_error(&(status, body), status, "form_identifier_not_found");
                answered += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_error(&(status, body), status, "service_unavailable");
                assert!(
                    retry_after.is_some_and(|s| s >= 1),
                    "Retry-After: {retry_after:?}"
                );
                shed += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        answered >= 1 && shed >= 1,
        "answered {answered}, shed {shed}"
    );
    let (status, _, _) = verify().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the queue has room once the burst is done"
    );
}
