//! Signature wrapping and tampering: a signed answer rearranged or edited
//! after signing so that an unsigned assertion for someone else sits where
//! a careless service provider reads. Each is refused, or (where samael
//! reduces the answer to what the signature covers) signs in the person
//! the IdP signed for, never the injected one.

use serde_json::json;

use super::{Attempt, Sso, CONFIG, DOMAIN, REDIRECT_URL};
use crate::common::saml_responses::{encode, Signing};
use crate::common::{Backend, TestApp};

on_every_backend!(
    wrapped_answers_never_sign_in_the_injected_email,
    tampered_answers_are_refused,
);

const ASSERTION_OPEN: &str = "<saml2:Assertion";
const ASSERTION_CLOSE: &str = "</saml2:Assertion>";

/// Where the first `<saml2:Assertion>…</saml2:Assertion>` is in `xml`.
fn assertion_span(xml: &str) -> (usize, usize) {
    let start = xml.find(ASSERTION_OPEN).expect("an assertion");
    let end = xml[start..].find(ASSERTION_CLOSE).expect("its end") + start + ASSERTION_CLOSE.len();
    (start, end)
}

/// Where the response's own Issuer ends (its first element).
fn after_issuer(xml: &str) -> usize {
    let close = "</saml2:Issuer>";
    xml.find(close).expect("an issuer") + close.len()
}

/// `xml` without its XML declaration, to nest it in another document.
fn without_declaration(xml: &str) -> &str {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest[rest.find("?>").unwrap() + 2..].trim_start(),
        None => xml,
    }
}

/// An unsigned assertion for `email` answering `attempt`, as XML.
fn injected_assertion(sso: &Sso<'_>, attempt: &Attempt<'_>, email: &str) -> String {
    let evil = sso
        .answer(Some(attempt), email)
        .signing(Signing::Unsigned)
        .xml();
    let (start, end) = assertion_span(&evil);
    evil[start..end].to_owned()
}

/// Posts a rearranged answer: refused, or accepted for `signed_email`.
async fn never_the_injected(
    sso: &Sso<'_>,
    attempt: &mut Attempt<'_>,
    xml: &str,
    what: &str,
    signed_email: &str,
) {
    eprintln!("case: {what}");
    let before = sso.app.settled_row_counts().await;
    let posted = sso.post(&encode(xml), Some(&attempt.request_id)).await;
    let sign_in = attempt.sign_in().await;
    if sign_in["status"] == "complete" {
        assert_eq!(posted.location.as_deref(), Some(REDIRECT_URL));
        let (_, client) = attempt.fapi.get("/v1/client").await;
        let session = &client["response"]["sessions"][0];
        let user_id = session["user"]["id"].as_str().unwrap();
        let user = super::user(sso.app, user_id).await;
        let emails: Vec<&str> = user["email_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["email_address"].as_str().unwrap())
            .collect();
        assert_eq!(emails, [signed_email], "{what}: signed in {user}");
        eprintln!("  accepted for the signed email");
    } else {
        super::nothing_created(sso.app, &before, what, false).await;
        assert!(sign_in["created_session_id"].is_null(), "{what}: {sign_in}");
        let verification = &sign_in["first_factor_verification"];
        if posted.status == reqwest::StatusCode::BAD_REQUEST {
            // Not even read as a Response: refused before its request is
            // looked up, so the sign-in still waits.
            assert_eq!(
                posted.body["errors"][0]["code"], "saml_response_invalid",
                "{what}: {posted:?}"
            );
            assert_eq!(verification["status"], "unverified", "{what}: {sign_in}");
        } else {
            assert_eq!(posted.status, reqwest::StatusCode::SEE_OTHER, "{posted:?}");
            assert_eq!(verification["status"], "failed", "{what}: {sign_in}");
            assert_eq!(
                verification["error"]["code"], "saml_response_invalid",
                "{what}: {sign_in}"
            );
        }
        eprintln!("  refused: {posted:?} {}", verification["error"]);
    }
}

async fn wrapped_answers_never_sign_in_the_injected_email(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let alice = format!("alice@{DOMAIN}");
    let mallory = format!("mallory@{DOMAIN}");

    for signing in [Signing::Assertion, Signing::Response] {
        // An unsigned assertion for mallory before the signed one.
        let mut attempt = sso.start(&alice).await;
        let signed = sso.answer(Some(&attempt), &alice).signing(signing).xml();
        let injected = injected_assertion(&sso, &attempt, &mallory);
        let (start, _) = assertion_span(&signed);
        let wrapped = format!("{}{injected}{}", &signed[..start], &signed[start..]);
        let what = format!("{signing:?}-signed, an unsigned assertion first");
        never_the_injected(&sso, &mut attempt, &wrapped, &what, &alice).await;

        // An unsigned assertion for mallory after the signed one.
        let mut attempt = sso.start(&alice).await;
        let signed = sso.answer(Some(&attempt), &alice).signing(signing).xml();
        let injected = injected_assertion(&sso, &attempt, &mallory);
        let (_, end) = assertion_span(&signed);
        let wrapped = format!("{}{injected}{}", &signed[..end], &signed[end..]);
        let what = format!("{signing:?}-signed, an unsigned assertion last");
        never_the_injected(&sso, &mut attempt, &wrapped, &what, &alice).await;
    }

    // The signed assertion moved into the response's Extensions, an
    // unsigned one for mallory in its place.
    let mut attempt = sso.start(&alice).await;
    let signed = sso
        .answer(Some(&attempt), &alice)
        .signing(Signing::Assertion)
        .xml();
    let injected = injected_assertion(&sso, &attempt, &mallory);
    let (start, end) = assertion_span(&signed);
    let moved = &signed[start..end];
    let mut wrapped = format!("{}{injected}{}", &signed[..start], &signed[end..]);
    let at = after_issuer(&wrapped);
    wrapped.insert_str(
        at,
        &format!("<saml2p:Extensions>{moved}</saml2p:Extensions>"),
    );
    let what = "the signed assertion in Extensions";
    never_the_injected(&sso, &mut attempt, &wrapped, what, &alice).await;

    // The whole signed response inside the signature's Object of an
    // unsigned response for mallory (XSW1).
    let mut attempt = sso.start(&alice).await;
    let signed = sso.answer(Some(&attempt), &alice).xml();
    let evil = sso
        .answer(Some(&attempt), &mallory)
        .signing(Signing::Unsigned)
        .xml();
    let signature_start = signed.find("<ds:Signature").expect("a signature");
    let signature_end = signed.find("</ds:Signature>").expect("its end");
    let object = format!(
        "{}<ds:Object>{}</ds:Object></ds:Signature>",
        &signed[signature_start..signature_end],
        without_declaration(&signed)
    );
    let at = after_issuer(&evil);
    let wrapped = format!("{}{object}{}", &evil[..at], &evil[at..]);
    let what = "the signed response inside ds:Object of an unsigned one";
    never_the_injected(&sso, &mut attempt, &wrapped, what, &alice).await;

    // The signed assertion inside the signature's Object, an unsigned
    // one for mallory where the assertion belongs.
    let mut attempt = sso.start(&alice).await;
    let signed = sso
        .answer(Some(&attempt), &alice)
        .signing(Signing::Assertion)
        .xml();
    let injected = injected_assertion(&sso, &attempt, &mallory);
    let (start, end) = assertion_span(&signed);
    let original = signed[start..end].to_owned();
    let signature_start = original.find("<ds:Signature").expect("a signature");
    let signature_end = original.find("</ds:Signature>").expect("its end");
    let signature = format!(
        "{}<ds:Object>{original}</ds:Object></ds:Signature>",
        &original[signature_start..signature_end]
    );
    // The injected assertion carries the signature (with the original
    // inside) after its Issuer.
    let issuer_end = injected.find("</saml2:Issuer>").unwrap() + "</saml2:Issuer>".len();
    let carrier = format!(
        "{}{signature}{}",
        &injected[..issuer_end],
        &injected[issuer_end..]
    );
    let wrapped = format!("{}{carrier}{}", &signed[..start], &signed[end..]);
    let what = "the signed assertion inside ds:Object of an unsigned one";
    never_the_injected(&sso, &mut attempt, &wrapped, what, &alice).await;
    assert!(app.user_count().await <= 1);
}

async fn tampered_answers_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let alice = format!("alice@{DOMAIN}");
    let mallory = format!("mallory@{DOMAIN}");
    for signing in [Signing::Response, Signing::Assertion] {
        eprintln!("case: {signing:?}-signed, the email attribute changed after signing");
        let mut attempt = sso.start(&alice).await;
        let answer = sso
            .answer(Some(&attempt), &alice)
            .name_id("alice-at-idp")
            .signing(signing);
        let signed = answer.xml();
        let needle = format!(">{alice}<");
        assert_eq!(signed.matches(&needle).count(), 1, "{signed}");
        let tampered = signed.replace(&needle, &format!(">{mallory}<"));
        sso.refused(
            &mut attempt,
            &encode(&tampered),
            "saml_response_invalid",
            "signature does not verify",
        )
        .await;

        // A comment in the signed email (canonicalisation drops it, so
        // the signature still verifies): never alice@acme-corp.com.
        eprintln!("case: {signing:?}-signed, a comment in the signed email");
        let mut attempt = sso.start(&alice).await;
        let long = format!("{alice}.evil.example");
        let signed = sso.answer(Some(&attempt), &long).signing(signing).xml();
        let commented = signed.replace(&long, &format!("{alice}<!---->.evil.example"));
        let before = app.settled_row_counts().await;
        let posted = sso
            .post(&encode(&commented), Some(&attempt.request_id))
            .await;
        super::nothing_created(&app, &before, "a commented email", true).await;
        assert_eq!(posted.location.as_deref(), Some(REDIRECT_URL));
        let sign_in = attempt.sign_in().await;
        assert_eq!(
            sign_in["first_factor_verification"]["status"], "failed",
            "{sign_in}"
        );
    }
    assert_eq!(app.user_count().await, 0);
}
