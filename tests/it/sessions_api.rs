//! Sessions and session tokens over the Frontend API (native and web), on
//! SQLite and PostgreSQL; the sign-in flows are in `sign_in`, the Backend
//! API's sessions and clients in `backend`.

use crate::common::fapi::{FapiClient, APP_ORIGIN};
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_every_backend!(
    native_password_sign_in_token_and_reuse,
    web_cookies_multi_session_and_sign_out,
    revoked_ended_and_foreign_sessions_get_no_token,
    session_module_on_its_own_database,
    concurrent_fresh_tokens_share_session_reads,
);

mod backend;
mod sign_in;

const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n";

/// Verifies a session token against the instance's JWKS and returns its claims.
async fn verify(app: &TestApp, jwt: &str) -> Value {
    let (_, jwks) = app.get("/v1/jwks").await;
    let header = decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("kid is published");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
    decode::<Value>(jwt, &decoding, &validation)
        .expect("valid token")
        .claims
}

async fn native_password_sign_in_token_and_reuse(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "native@example.com").await;
    let mut phone = FapiClient::native(&app);
    let (status, body) = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "native@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        phone.token.is_some(),
        "the client JWT comes back in Authorization"
    );
    assert_eq!(body["response"]["object"], "sign_in_attempt");
    assert_eq!(body["response"]["status"], "complete");
    let session_id = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(session_id.starts_with("sess_"));
    assert_eq!(body["client"]["last_authentication_strategy"], "password");
    assert_eq!(body["client"]["sessions"][0]["id"], session_id.as_str());
    assert_eq!(
        body["client"]["sessions"][0]["user"]["id"],
        user_id.as_str()
    );
    assert!(body["client"]["sessions"][0]["user"]
        .get("private_metadata")
        .is_none());

    let client_token = phone.token.clone();
    let (status, token) = phone.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["object"], "token", "tokens are not enveloped");
    assert_eq!(
        phone.token, client_token,
        "a client token that names the same client comes back as it is"
    );
    let jwt = token["jwt"].as_str().unwrap().to_owned();
    let claims = verify(&app, &jwt).await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["iss"], app.state.settings.public_url().as_str());
    assert_eq!(claims["v"], 2);
    assert_eq!(claims["sts"], "active");
    assert_eq!(claims["fva"], json!([0, -1]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(
        claims["iat"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
        10
    );
    assert!(claims.get("azp").is_none(), "no Origin, no azp");

    let (_, again) = phone.token(&session_id).await;
    assert_eq!(
        again["jwt"].as_str(),
        Some(jwt.as_str()),
        "reuse window returns the same token"
    );
    // A native client token may come as `Bearer <token>`: the same client,
    // and the bare token comes back.
    let bare = phone.token.clone().unwrap();
    phone.token = Some(format!("Bearer {bare}"));
    let (status, bearer) = phone.token(&session_id).await;
    assert_eq!(status, StatusCode::OK, "{bearer}");
    assert_eq!(
        bearer["jwt"], again["jwt"],
        "the same client's reused token"
    );
    assert_eq!(phone.token.as_deref(), Some(bare.as_str()));
    let metrics = app.metrics().await;
    assert!(metrics.contains("steward_session_tokens_total{outcome=\"reused\"}"));
    phone.origin = Some(APP_ORIGIN.to_owned());
    let (_, with_origin) = phone.token(&session_id).await;
    assert_ne!(
        with_origin["jwt"], again["jwt"],
        "a claims change mints a new token"
    );
    assert_eq!(
        verify(&app, with_origin["jwt"].as_str().unwrap()).await["azp"],
        APP_ORIGIN
    );

    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        client["response"]["last_authentication_strategy"],
        "password"
    );
    // The client is both the response and the envelope's client; its
    // session carries the user without private metadata.
    assert_eq!(client["response"], client["client"]);
    let session = &client["response"]["sessions"][0];
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(session["user"]["id"], user_id.as_str());
    assert!(
        session["user"].get("private_metadata").is_none(),
        "{session}"
    );
    assert!(session["user"]["public_metadata"].is_object());
    assert_eq!(
        session["public_user_data"]["identifier"],
        session["user"]["email_addresses"][0]["email_address"]
    );
    let (_, fetched) = app.get(&format!("/v1/users/{user_id}")).await;
    assert!(fetched["last_sign_in_at"].is_i64());

    let (status, touched) = phone
        .post(
            &format!("/v1/client/sessions/{session_id}/touch"),
            &[("active_organization_id", "")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{touched}");
    assert_eq!(touched["response"]["status"], "active");
    let (status, ended) = phone
        .post(&format!("/v1/client/sessions/{session_id}/end"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["response"]["status"], "ended");
    assert_eq!(ended["client"]["sessions"], json!([]));
    assert_error(
        &phone.token(&session_id).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
}

async fn web_cookies_multi_session_and_sign_out(backend: Backend) {
    let config = format!("{CONFIG}[session]\nmulti_session = true\n");
    let app = TestApp::spawn_with(backend, &config).await;
    user(&app, "first@example.com").await;
    user(&app, "second@example.com").await;
    let mut browser = FapiClient::web(&app);
    let (_, empty) = browser.get("/v1/client").await;
    assert_eq!(empty, json!({"response": null, "client": null}));
    let first = browser.sign_in("first@example.com", PASSWORD).await;
    assert!(browser.token.is_some(), "__client cookie set");
    let (_, before) = browser.get("/v1/client").await;
    let second = browser.sign_in("second@example.com", PASSWORD).await;
    let (_, client) = browser.get("/v1/client").await;
    assert_eq!(
        client["response"]["id"], before["response"]["id"],
        "same client"
    );
    assert_eq!(
        client["response"]["sessions"].as_array().unwrap().len(),
        2,
        "multi-session keeps both"
    );
    assert_eq!(
        client["response"]["last_active_session_id"],
        second.as_str()
    );
    assert_eq!(browser.token(&first).await.0, StatusCode::OK);

    // Method override, as clerk-js sends DELETE.
    let (status, _) = browser
        .post(&format!("/v1/client/sessions/{first}/remove"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, client) = browser.get("/v1/client").await;
    assert_eq!(client["response"]["sessions"].as_array().unwrap().len(), 1);
    let (status, signed_out) = browser
        .post("/v1/client/sessions?_method=DELETE", &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_out}");
    assert_eq!(signed_out["response"]["sessions"], json!([]));
    assert_error(
        &browser.token(&second).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );

    // Single-session mode replaces the active session instead.
    let single = TestApp::spawn_with(backend, CONFIG).await;
    user(&single, "solo@example.com").await;
    let mut browser = FapiClient::web(&single);
    let old = browser.sign_in("solo@example.com", PASSWORD).await;
    let new = browser.sign_in("solo@example.com", PASSWORD).await;
    assert_ne!(old, new);
    let (_, session) = single.get(&format!("/v1/sessions/{old}")).await;
    assert_eq!(session["status"], "replaced");
    let (status, _) = browser.call(Method::DELETE, "/v1/client", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(browser.token, None, "the cookie is cleared");
}

async fn revoked_ended_and_foreign_sessions_get_no_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "rev@example.com").await;
    user(&app, "other@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("rev@example.com", PASSWORD).await;
    let mut other = FapiClient::native(&app);
    other.sign_in("other@example.com", PASSWORD).await;
    assert_error(
        &other.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    assert_error(
        &phone.token("sess_unknown").await,
        StatusCode::NOT_FOUND,
        "resource_not_found",
    );

    let (status, revoked) = app
        .post(&format!("/v1/sessions/{session}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert_error(
        &phone.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );

    // An expired session gets no token, whatever its stored status.
    let expiring = phone.sign_in("rev@example.com", PASSWORD).await;
    let state = app.state.clone();
    let id = expiring.clone();
    actix_web::rt::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use steward::db::schema::sessions;
        let mut conn = state.db.primary().get_blocking().unwrap();
        diesel::update(sessions::table.find(&id))
            .set((
                sessions::expire_at.eq(1_i64),
                sessions::updated_at.eq(2_i64),
            ))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    assert_error(
        &phone.token(&expiring).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let (_, expired) = app.get(&format!("/v1/sessions/{expiring}")).await;
    assert_eq!(expired["status"], "expired");

    // An administrator's lock revokes sessions too.
    let locked_session = phone.sign_in("rev@example.com", PASSWORD).await;
    app.post(&format!("/v1/users/{user_id}/lock"), json!({}))
        .await;
    assert_error(
        &phone.token(&locked_session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    app.post(&format!("/v1/users/{user_id}/unlock"), json!({}))
        .await;

    // A ban revokes the user's sessions and refuses new sign-ins.
    let fresh = phone.sign_in("rev@example.com", PASSWORD).await;
    assert_eq!(phone.token(&fresh).await.0, StatusCode::OK);
    app.post(&format!("/v1/users/{user_id}/ban"), json!({}))
        .await;
    assert_error(
        &phone.token(&fresh).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let banned = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "rev@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_error(&banned, StatusCode::FORBIDDEN, "user_banned");
}

/// With `database.modules.session.url`, clients and sessions live in their
/// own database; sign-in, tokens and organization claims still work.
async fn session_module_on_its_own_database(backend: Backend) {
    let app = TestApp::spawn_with_module_database(backend, "session", CONFIG).await;
    let user_id = user(&app, "isolated@example.com").await;
    let (_, org) = app
        .post(
            "/v1/organizations",
            json!({"name": "Isolated", "created_by": user_id}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("isolated@example.com", PASSWORD).await;
    phone
        .post(
            &format!("/v1/client/sessions/{session}/touch"),
            &[("active_organization_id", org_id.as_str())],
        )
        .await;
    let (status, token) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(
        verify(&app, token["jwt"].as_str().unwrap()).await["o"]["id"],
        org_id.as_str()
    );

    // A membership change made by the orgs module reaches the session database.
    app.patch(
        &format!("/v1/organizations/{org_id}/memberships/{user_id}"),
        json!({"role": "org:admin"}),
    )
    .await;
    let other = user(&app, "second-admin@example.com").await;
    app.post(
        &format!("/v1/organizations/{org_id}/memberships"),
        json!({"user_id": other, "role": "org:admin"}),
    )
    .await;
    app.delete(&format!("/v1/organizations/{org_id}/memberships/{user_id}"))
        .await;
    let (_, token) = phone.token(&session).await;
    assert!(verify(&app, token["jwt"].as_str().unwrap())
        .await
        .get("o")
        .is_none());

    let rows = app.row_counts().await;
    let (in_primary, in_session_db) = (
        rows.rows("primary", "sessions"),
        rows.rows("session", "sessions"),
    );
    assert_eq!(
        (in_primary, in_session_db),
        (0, 1),
        "sessions live in the session database only"
    );
}

/// With reuse off every token reads its session; reads that arrive while
/// one is in flight go together. Each caller must still get its own
/// session's answer: a token with its `sid`, 401 for a revoked session, 404
/// for an unknown one, also when a batch mixes them and repeats ids.
async fn concurrent_fresh_tokens_share_session_reads(backend: Backend) {
    let config = format!("{CONFIG}[session]\ntoken_reuse_seconds = 0\n");
    let app = TestApp::spawn_with(backend, &config).await;
    user(&app, "one@example.com").await;
    user(&app, "two@example.com").await;
    let mut one = FapiClient::native(&app);
    let first = one.sign_in("one@example.com", PASSWORD).await;
    let mut two = FapiClient::native(&app);
    let second = two.sign_in("two@example.com", PASSWORD).await;
    let mut three = FapiClient::native(&app);
    let revoked = three.sign_in("two@example.com", PASSWORD).await;
    let (status, _) = app
        .post(&format!("/v1/sessions/{revoked}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Over HTTP, all at once: each asks with its own client's token.
    let mut asks = Vec::new();
    for round in 0..6 {
        for (owner, session) in [(&one, &first), (&two, &second), (&three, &revoked)] {
            let mut caller = FapiClient::native(&app);
            caller.token = owner.token.clone();
            asks.push((caller, session.clone()));
        }
        let mut caller = FapiClient::native(&app);
        caller.token = one.token.clone();
        asks.push((caller, format!("sess_unknown{round}")));
    }
    let answers =
        futures_util::future::join_all(asks.iter_mut().map(|(caller, session)| async move {
            (session.clone(), caller.token(session).await)
        }))
        .await;
    for (session, (status, body)) in answers {
        if session == first || session == second {
            assert_eq!(status, StatusCode::OK, "{session}: {body}");
            let claims = verify(&app, body["jwt"].as_str().unwrap()).await;
            assert_eq!(claims["sid"], session.as_str());
        } else if session == revoked {
            assert_error(&(status, body), StatusCode::UNAUTHORIZED, "signed_out");
        } else {
            assert_error(&(status, body), StatusCode::NOT_FOUND, "resource_not_found");
        }
    }

    // Asked together on one thread, they are one read (five distinct ids:
    // on PostgreSQL an `IN` list padded to eight).
    let reads = &app.state.token_reads;
    let before = reads.reads();
    let ids = [
        &first,
        &second,
        &first,
        &revoked,
        &"sess_nothere".to_owned(),
        &"sess_gone".to_owned(),
    ];
    let rows = futures_util::future::join_all(ids.iter().map(|id| reads.find((*id).clone()))).await;
    assert_eq!(reads.reads(), before + 1);
    let found: Vec<Option<String>> = rows
        .into_iter()
        .map(|row| row.unwrap().map(|row| row.id))
        .collect();
    assert_eq!(
        found,
        [
            Some(first.clone()),
            Some(second.clone()),
            Some(first.clone()),
            Some(revoked.clone()),
            None,
            None
        ]
    );
}
