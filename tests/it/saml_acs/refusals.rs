//! Answers the ACS refuses: unsigned or signed by another key, from or for
//! someone else, outside their validity window, replayed, for an unknown
//! or answered request, for an email outside the connection's domains,
//! and IdP-initiated where the connection does not allow it. None creates
//! a user or a session.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use super::{Sso, CONFIG, DOMAIN, REDIRECT_URL};
use crate::common::saml_responses::{ResponseBuilder, Signing, TestIdp};
use crate::common::{Backend, TestApp};

on_every_backend!(
    unsigned_or_foreign_signatures_are_refused,
    wrong_issuer_audience_or_destination_is_refused,
    answers_outside_their_validity_window_are_refused,
    replayed_and_unknown_requests_are_refused,
    an_email_outside_the_domains_is_refused,
    idp_initiated_answers_need_the_connection_to_allow_them,
);

const INVALID: &str = "saml_response_invalid";
const SIGNATURE: &str = "signature does not verify";
const ISSUER: &str = "was issued by https://evil.example/saml";
const AUDIENCE: &str = "addressed to another service provider";
const ENDPOINT: &str = "addressed to another endpoint";
const EXPIRED: &str = "has expired";

async fn unsigned_or_foreign_signatures_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    let mallory = TestIdp::new(super::IDP_ENTITY_ID);
    for (what, signing, other_key) in [
        ("unsigned", Signing::Unsigned, false),
        ("response signed by another key", Signing::Response, true),
        ("assertion signed by another key", Signing::Assertion, true),
    ] {
        let mut attempt = sso.start(&email).await;
        let mut answer = sso.answer(Some(&attempt), &email).signing(signing);
        if other_key {
            answer = answer.signed_by(&mallory);
        }
        eprintln!("case: {what}");
        sso.refused(&mut attempt, &answer.encoded(), INVALID, SIGNATURE)
            .await;
    }
    assert_eq!(app.user_count().await, 0);
}

async fn wrong_issuer_audience_or_destination_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    let other_acs = sso.acs_url.replace(&sso.id, "samlc_someoneelse");
    type Knob = for<'a, 'b> fn(ResponseBuilder<'a>, &'b str) -> ResponseBuilder<'a>;
    let cases: [(&str, Signing, &str, Knob); 7] = [
        ("issuer", Signing::Response, ISSUER, |a, _| {
            a.issuer("https://evil.example/saml")
        }),
        ("assertion issuer", Signing::Response, ISSUER, |a, _| {
            a.assertion_issuer("https://evil.example/saml")
        }),
        (
            "assertion issuer, assertion signed",
            Signing::Assertion,
            ISSUER,
            |a, _| a.issuer("https://evil.example/saml"),
        ),
        ("audience", Signing::Response, AUDIENCE, |a, _| {
            a.audience("https://other-sp.example/saml")
        }),
        (
            "audience, assertion signed",
            Signing::Assertion,
            AUDIENCE,
            |a, _| a.audience("https://other-sp.example/saml"),
        ),
        ("destination", Signing::Response, ENDPOINT, |a, other| {
            a.destination(other)
        }),
        ("recipient", Signing::Assertion, ENDPOINT, |a, other| {
            a.recipient(other)
        }),
    ];
    for (what, signing, why, knob) in cases {
        eprintln!("case: wrong {what}");
        let mut attempt = sso.start(&email).await;
        let answer = knob(
            sso.answer(Some(&attempt), &email).signing(signing),
            &other_acs,
        );
        sso.refused(&mut attempt, &answer.encoded(), INVALID, why)
            .await;
    }
    assert_eq!(app.user_count().await, 0);
}

async fn answers_outside_their_validity_window_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    let now = Utc::now();

    eprintln!("case: expired beyond the clock skew");
    let mut attempt = sso.start(&email).await;
    let answer = sso
        .answer(Some(&attempt), &email)
        .not_on_or_after(now - Duration::seconds(150));
    sso.refused(&mut attempt, &answer.encoded(), INVALID, EXPIRED)
        .await;

    eprintln!("case: issued long ago");
    let mut attempt = sso.start(&email).await;
    let answer = sso
        .answer(Some(&attempt), &email)
        .issue_instant(now - Duration::minutes(30));
    sso.refused(&mut attempt, &answer.encoded(), INVALID, EXPIRED)
        .await;

    eprintln!("case: not yet valid");
    let mut attempt = sso.start(&email).await;
    let answer = sso
        .answer(Some(&attempt), &email)
        .not_before(now + Duration::minutes(5))
        .not_on_or_after(now + Duration::minutes(10));
    sso.refused(&mut attempt, &answer.encoded(), INVALID, "not valid yet")
        .await;
    assert_eq!(app.user_count().await, 0);
}

async fn replayed_and_unknown_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");

    // An answer naming a request nobody sent, with or without the
    // RelayState of a real one.
    let attempt = sso.start(&email).await;
    let unknown = sso
        .answer(None, &email)
        .in_response_to(Some("_0123456789abcdef0123456789abcdef01234567"))
        .encoded();
    let posted = sso
        .refused_outright(&unknown, Some("_0123456789abcdef0123456789abcdef01234567"))
        .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{posted:?}");
    let posted = sso
        .refused_outright(&unknown, Some(&attempt.request_id))
        .await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{posted:?}");

    // The same answer twice: the second is refused.
    let mut attempt = sso.start(&email).await;
    let answer = sso.answer(Some(&attempt), &email).encoded();
    sso.accepted(&mut attempt, &answer).await;
    sso.refused_outright(&answer, Some(&attempt.request_id))
        .await;
    // A new answer to the request already answered: refused too.
    let again = sso.answer(Some(&attempt), &email).encoded();
    sso.refused_outright(&again, Some(&attempt.request_id))
        .await;
    let sign_in = attempt.sign_in().await;
    assert_eq!(sign_in["status"], "complete", "{sign_in}");
    assert_eq!(app.user_count().await, 1);
}

async fn an_email_outside_the_domains_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    for (what, name_id, attribute) in [
        (
            "attribute",
            email.clone(),
            "mallory@evil.example".to_owned(),
        ),
        (
            "attribute on a subdomain",
            email.clone(),
            format!("mallory@sub.{DOMAIN}"),
        ),
    ] {
        eprintln!("case: {what}");
        let mut attempt = sso.start(&email).await;
        let answer = sso
            .answer(Some(&attempt), &email)
            .name_id(&name_id)
            .email(&attribute)
            .encoded();
        sso.refused(
            &mut attempt,
            &answer,
            "saml_email_address_domain_mismatch",
            "outside this connection's domains",
        )
        .await;
    }
    assert_eq!(app.user_count().await, 0);
}

async fn idp_initiated_answers_need_the_connection_to_allow_them(backend: Backend) {
    let target = "http://app.example.com/after-sso";
    let config = format!("{CONFIG}[modules.saml]\nidp_initiated_redirect_url = \"{target}\"\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");

    let unsolicited = sso.answer(None, &email).in_response_to(None).encoded();
    let posted = sso.refused_outright(&unsolicited, None).await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{posted:?}");
    assert_eq!(app.user_count().await, 0);

    // Allowed, the same kind of answer signs in, once.
    let (status, body) = app
        .patch(
            &format!("/v1/saml_connections/{}", sso.id),
            json!({"allow_idp_initiated": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let unsolicited = sso.answer(None, &email).in_response_to(None).encoded();
    let posted = sso.post(&unsolicited, None).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
    assert_eq!(posted.location.as_deref(), Some(target));
    assert_eq!(app.user_count().await, 1);
    let posted = sso.refused_outright(&unsolicited, None).await;
    assert_eq!(posted.status, StatusCode::BAD_REQUEST, "{posted:?}");
    assert_ne!(posted.location.as_deref(), Some(REDIRECT_URL));
}
