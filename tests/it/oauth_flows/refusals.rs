//! Every refused callback: a clear error, the sign-in failed (when one is
//! known) and nothing created.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{failed_with, param, start, Social, REDIRECT_URL};
use crate::common::fapi::FapiClient;
use crate::common::oidc::{login_over_http, oidc_provider, IdTokenMode, ALICE};
use crate::common::Backend;

on_every_backend!(
    unknown_and_replayed_states_are_refused,
    a_code_with_another_sign_ins_state_is_refused,
    bad_id_tokens_are_refused,
    a_denial_at_the_provider_fails_the_sign_in,
    a_slow_provider_fails_the_sign_in_without_a_hang,
);

async fn unknown_and_replayed_states_are_refused(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let before = app.settled_row_counts().await;
    let answer = social
        .callback(&format!("{}?code=abc&state=unknown-state", social.callback))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(
        answer.body["errors"][0]["code"], "oauth_callback_invalid",
        "{answer:?}"
    );
    app.assert_rows_unchanged(&before, "an unknown state").await;

    let mut fapi = FapiClient::web(app);
    let (_, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
    let location = login_over_http(&url, ALICE.id).await;
    let first = social.callback(&location).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{first:?}");
    let before = app.settled_row_counts().await;
    let again = social.callback(&location).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{again:?}");
    assert_eq!(
        again.body["errors"][0]["code"], "oauth_callback_invalid",
        "{again:?}"
    );
    app.assert_rows_unchanged(&before, "a replayed callback")
        .await;
}

async fn a_code_with_another_sign_ins_state_is_refused(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let mut victim = FapiClient::web(app);
    let (_, victim_url) = start(&mut victim, "oauth_google", REDIRECT_URL).await;
    let mut attacker = FapiClient::web(app);
    let (attacker_id, attacker_url) = start(&mut attacker, "oauth_google", REDIRECT_URL).await;
    let victim_location = login_over_http(&victim_url, ALICE.id).await;
    let attacker_location = login_over_http(&attacker_url, ALICE.id).await;
    let code = param(&victim_location, "code").unwrap();
    let state = param(&attacker_location, "state").unwrap();
    let mut forged = url::Url::parse(&social.callback).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    let before = app.settled_row_counts().await;
    let users_before = app.user_count().await;
    let answer = social.callback(forged.as_str()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    app.assert_rows_unchanged(&before, "a code with another state")
        .await;
    assert_eq!(app.user_count().await, users_before);
    failed_with(&mut attacker, &attacker_id, "oauth_token_exchange_error").await;
}

async fn bad_id_tokens_are_refused(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let provider = oidc_provider();
    for mode in [
        IdTokenMode::WrongKey,
        IdTokenMode::WrongAudience,
        IdTokenMode::Expired,
        IdTokenMode::WrongNonce,
    ] {
        provider.set_mode(&social.client_id, mode);
        let mut fapi = FapiClient::web(app);
        let (id, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
        let location = login_over_http(&url, ALICE.id).await;
        let before = app.settled_row_counts().await;
        let answer = social.callback(&location).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{mode:?}: {answer:?}");
        assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL), "{mode:?}");
        app.assert_rows_unchanged(&before, &format!("{mode:?}"))
            .await;
        failed_with(&mut fapi, &id, "oauth_token_exchange_error").await;
    }
    provider.set_mode(&social.client_id, IdTokenMode::Valid);
    assert_eq!(app.user_count().await, 0);
}

async fn a_denial_at_the_provider_fails_the_sign_in(backend: Backend) {
    let social = Social::google(backend, "").await;
    let app = &social.app;
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
    let state = param(&url, "state").unwrap();
    let mut denied = url::Url::parse(&social.callback).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user said no")
        .append_pair("state", &state);
    let before = app.settled_row_counts().await;
    let answer = social.callback(denied.as_str()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    assert_eq!(answer.location.as_deref(), Some(REDIRECT_URL));
    app.assert_rows_unchanged(&before, "a denial").await;
    failed_with(&mut fapi, &id, "oauth_access_denied").await;
}

async fn a_slow_provider_fails_the_sign_in_without_a_hang(backend: Backend) {
    let social = Social::google(backend, "[modules.oauth]\nhttp_timeout_seconds = 1\n").await;
    let app = &social.app;
    let mut fapi = FapiClient::web(app);
    let (id, url) = start(&mut fapi, "oauth_google", REDIRECT_URL).await;
    let location = login_over_http(&url, ALICE.id).await;
    oidc_provider().set_token_delay(&social.client_id, 3000);
    let before = app.settled_row_counts().await;
    let began = Instant::now();
    let answer = social.callback(&location).await;
    let took = began.elapsed();
    oidc_provider().set_token_delay(&social.client_id, 0);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    app.assert_rows_unchanged(&before, "a slow provider").await;
    failed_with(&mut fapi, &id, "oauth_token_exchange_error").await;
}
