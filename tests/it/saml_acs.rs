//! The SAML assertion consumer service (`POST /v1/saml/acs/{id}`) against
//! a test IdP (common::saml_responses): a good answer signs in (and
//! creates the user once); every bad one is refused and creates nothing.
//! Signature wrapping is in `wrapping`, ForceAuthn in `force_authn`.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::fapi::FapiClient;
use crate::common::saml_responses::{ResponseBuilder, Signing, TestIdp};
use crate::common::{Backend, RowCounts, TestApp};

mod flows;
mod force_authn;
mod refusals;
mod wrapping;

on_every_backend!(
    a_valid_answer_signs_in_and_reuses_the_user,
    an_assertion_only_signature_is_accepted,
);

/// Browsers come from here; the sign-in returns here.
const CONFIG: &str = "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n";
const REDIRECT_URL: &str = "http://app.example.com/sso-callback";
const DOMAIN: &str = "acme-corp.com";
const IDP_ENTITY_ID: &str = "https://idp.acme-corp.com/saml";

/// A SAML connection served by a test IdP.
struct Sso<'a> {
    app: &'a TestApp,
    idp: TestIdp,
    id: String,
    sp_entity_id: String,
    acs_url: String,
    /// Posts to the ACS as a browser would, without following redirects.
    browser: reqwest::Client,
}

/// One sign-in started with `enterprise_sso`, waiting for the IdP.
struct Attempt<'a> {
    fapi: FapiClient<'a>,
    sign_in_id: String,
    request_id: String,
    idp_url: String,
}

/// What the ACS answered: status, `Location`, and the JSON body if any.
#[derive(Debug)]
struct Posted {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl<'a> Sso<'a> {
    /// A new active connection for [`DOMAIN`] with `extra` fields.
    async fn new(app: &'a TestApp, extra: Value) -> Self {
        let idp = TestIdp::new(IDP_ENTITY_ID);
        let mut body = json!({
            "name": "Acme",
            "provider": "saml_custom",
            "domains": [DOMAIN],
            "idp_entity_id": IDP_ENTITY_ID,
            "idp_sso_url": "https://idp.acme-corp.com/sso",
            "idp_certificate": idp.certificate_pem(),
        });
        for (key, value) in extra.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        let (status, created) = app.post("/v1/saml_connections", body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let (status, active) = app
            .patch(
                &format!("/v1/saml_connections/{id}"),
                json!({"active": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{active}");
        assert_eq!(active["active"], true);
        Self {
            app,
            idp,
            id,
            sp_entity_id: created["sp_entity_id"].as_str().unwrap().to_owned(),
            acs_url: created["acs_url"].as_str().unwrap().to_owned(),
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Starts a sign-in for `email` in a new browser.
    async fn start(&self, email: &str) -> Attempt<'a> {
        let mut fapi = FapiClient::web(self.app);
        let (status, body) = fapi
            .post(
                "/v1/client/sign_ins",
                &[
                    ("strategy", "enterprise_sso"),
                    ("identifier", email),
                    ("redirect_url", REDIRECT_URL),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sign_in = &body["response"];
        assert_eq!(sign_in["status"], "needs_first_factor", "{body}");
        let verification = &sign_in["first_factor_verification"];
        assert_eq!(verification["status"], "unverified", "{body}");
        let idp_url = verification["external_verification_redirect_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let url = url::Url::parse(&idp_url).unwrap();
        let request_id = url
            .query_pairs()
            .find(|(k, _)| k == "RelayState")
            .map(|(_, v)| v.into_owned())
            .expect("RelayState");
        let request = steward::modules::saml::authn_request::decode_from_url(&idp_url)
            .expect("an AuthnRequest in the URL");
        assert!(
            request.contains(&format!("ID=\"{request_id}\"")),
            "{request}"
        );
        Attempt {
            fapi,
            sign_in_id: sign_in["id"].as_str().unwrap().to_owned(),
            request_id,
            idp_url,
        }
    }

    /// The IdP's answer to `attempt` for `email`, as a builder.
    fn answer(&self, attempt: Option<&Attempt<'_>>, email: &str) -> ResponseBuilder<'_> {
        self.idp.response(
            &self.sp_entity_id,
            &self.acs_url,
            attempt.map(|a| a.request_id.as_str()),
            email,
        )
    }

    /// Posts `saml_response` (base64) with `relay_state` to the ACS.
    async fn post(&self, saml_response: &str, relay_state: Option<&str>) -> Posted {
        let mut form = vec![("SAMLResponse", saml_response)];
        if let Some(relay_state) = relay_state {
            form.push(("RelayState", relay_state));
        }
        let response = self
            .browser
            .post(format!("{}/v1/saml/acs/{}", self.app.frontend_url, self.id))
            .header("origin", "https://idp.acme-corp.com")
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Posted {
            status,
            location,
            body,
        }
    }

    /// Posts the answer to `attempt` and expects it accepted: the browser
    /// goes back and the sign-in is complete. Returns the signed-in user's
    /// id.
    async fn accepted(&self, attempt: &mut Attempt<'_>, saml_response: &str) -> String {
        let posted = self.post(saml_response, Some(&attempt.request_id)).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
        assert_eq!(posted.location.as_deref(), Some(REDIRECT_URL));
        let sign_in = attempt.sign_in().await;
        assert_eq!(sign_in["status"], "complete", "{sign_in}");
        assert!(sign_in["created_session_id"].is_string(), "{sign_in}");
        let session_id = sign_in["created_session_id"].as_str().unwrap();
        let (status, client) = attempt.fapi.get("/v1/client").await;
        assert_eq!(status, StatusCode::OK, "{client}");
        let session = client["response"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == session_id)
            .unwrap_or_else(|| panic!("session {session_id} on the client: {client}"));
        session["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Posts `saml_response` for `attempt` and expects it refused with
    /// `code` for the reason `why` (part of its long message): the browser
    /// goes back, the sign-in shows the refusal, and nothing was written
    /// but the sign-in's state.
    async fn refused(&self, attempt: &mut Attempt<'_>, saml_response: &str, code: &str, why: &str) {
        let before = self.app.settled_row_counts().await;
        let posted = self.post(saml_response, Some(&attempt.request_id)).await;
        // An answer that verified and was refused for whom it names has
        // its assertion id recorded (so it cannot be tried again).
        let verified = code == "saml_email_address_domain_mismatch";
        nothing_created(self.app, &before, code, verified).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
        assert_eq!(posted.location.as_deref(), Some(REDIRECT_URL));
        let sign_in = attempt.sign_in().await;
        assert_eq!(sign_in["status"], "needs_first_factor", "{sign_in}");
        assert!(sign_in["created_session_id"].is_null(), "{sign_in}");
        let verification = &sign_in["first_factor_verification"];
        assert_eq!(verification["status"], "failed", "{sign_in}");
        assert_eq!(verification["error"]["code"], code, "{sign_in}");
        let message = verification["error"]["long_message"].as_str().unwrap();
        assert!(message.contains(why), "{why}: {message}");
    }

    /// Posts `saml_response` and expects it refused without a sign-in to
    /// mark (400 JSON, or back to the app with nothing changed), and
    /// nothing written.
    async fn refused_outright(&self, saml_response: &str, relay_state: Option<&str>) -> Posted {
        let before = self.app.settled_row_counts().await;
        let posted = self.post(saml_response, relay_state).await;
        nothing_created(self.app, &before, "a refused answer", false).await;
        assert_ne!(posted.status, StatusCode::OK, "{posted:?}");
        if posted.status == StatusCode::BAD_REQUEST {
            assert_eq!(
                posted.body["errors"][0]["code"], "saml_response_invalid",
                "{posted:?}"
            );
        } else {
            assert_eq!(posted.status, StatusCode::SEE_OTHER, "{posted:?}");
        }
        posted
    }
}

impl Attempt<'_> {
    /// The sign-in as its browser reads it now.
    async fn sign_in(&mut self) -> Value {
        let (status, body) = self
            .fapi
            .get(&format!("/v1/client/sign_ins/{}", self.sign_in_id))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"].clone()
    }
}

/// Asserts that no table gained or lost a row since `before`: a refused
/// answer writes nothing but the sign-in's failure (an update). `verified`
/// says whether the answer's signature verified (kept for the callers'
/// messages: such a refusal must not use the request up either).
async fn nothing_created(app: &TestApp, before: &RowCounts, what: &str, verified: bool) {
    let after = app.row_counts().await;
    for table in before.tables("primary") {
        let (was, is) = (before.rows("primary", table), after.rows("primary", table));
        assert_eq!(
            was, is,
            "{what} (verified: {verified}) wrote rows in {table}"
        );
    }
    assert_eq!(before.tables("primary"), after.tables("primary"));
}

/// The user `id` by the Backend API.
async fn user(app: &TestApp, id: &str) -> Value {
    let (status, user) = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

async fn a_valid_answer_signs_in_and_reuses_the_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let sso = Sso::new(&app, json!({})).await;
    let email = format!("alice@{DOMAIN}");
    let users_before = app.user_count().await;

    let mut first = sso.start(&email).await;
    assert!(first.idp_url.starts_with("https://idp.acme-corp.com/sso?"));
    let answer = sso.answer(Some(&first), &email).encoded();
    let user_id = sso.accepted(&mut first, &answer).await;
    assert_eq!(app.user_count().await, users_before + 1);

    let user = user(&app, &user_id).await;
    let address = &user["email_addresses"][0];
    assert_eq!(address["email_address"], email.as_str(), "{user}");
    assert_eq!(address["verification"]["status"], "verified", "{user}");
    assert_eq!(address["verification"]["strategy"], "saml", "{user}");
    assert_eq!(
        address["verification"]["object"], "verification_saml",
        "{user}"
    );
    assert_eq!(user["primary_email_address_id"], address["id"]);
    let account = &user["enterprise_accounts"][0];
    assert_eq!(account["object"], "enterprise_account", "{user}");
    assert_eq!(account["email_address"], email.as_str(), "{user}");
    assert_eq!(account["enterprise_connection_id"], sso.id.as_str());
    let saml = &user["saml_accounts"][0];
    assert_eq!(saml["object"], "saml_account", "{user}");
    assert_eq!(saml["saml_connection"]["id"], sso.id.as_str(), "{user}");

    // A second sign-in, with a new request, is the same user.
    let mut second = sso.start(&email).await;
    assert_ne!(second.request_id, first.request_id);
    let answer = sso.answer(Some(&second), &email).encoded();
    assert_eq!(sso.accepted(&mut second, &answer).await, user_id);
    assert_eq!(app.user_count().await, users_before + 1);
    let user = self::user(&app, &user_id).await;
    assert_eq!(user["enterprise_accounts"].as_array().unwrap().len(), 1);
    assert_eq!(user["email_addresses"].as_array().unwrap().len(), 1);

    // An answer that is a few seconds past NotOnOrAfter is within the
    // clock skew.
    let mut third = sso.start(&email).await;
    let late = sso
        .answer(Some(&third), &email)
        .not_on_or_after(Utc::now() - Duration::seconds(30))
        .encoded();
    assert_eq!(sso.accepted(&mut third, &late).await, user_id);
}

async fn an_assertion_only_signature_is_accepted(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    // A certificate given as bare base64 DER, as metadata carries it.
    let sso = Sso::new(&app, json!({})).await;
    let (status, _) = app
        .patch(
            &format!("/v1/saml_connections/{}", sso.id),
            json!({"idp_certificate": sso.idp.certificate_base64()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let email = format!("bob@{DOMAIN}");
    let mut attempt = sso.start(&email).await;
    let answer = sso
        .answer(Some(&attempt), &email)
        .signing(Signing::Assertion)
        .encoded();
    let user_id = sso.accepted(&mut attempt, &answer).await;
    let user = user(&app, &user_id).await;
    assert_eq!(user["email_addresses"][0]["email_address"], email.as_str());
}
