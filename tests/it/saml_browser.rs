//! Enterprise SSO end to end: a person signs in through SimpleSAMLphp's
//! login form in headless Chromium, on a page served by the test that
//! drives the Frontend API as clerk-js does (create the sign-in with
//! `strategy=enterprise_sso`, prepare it, follow
//! `external_verification_redirect_url`, read the client back on the
//! callback page). Then ForceAuthn, per connection: while it is off, the
//! IdP answers from its session without showing its form; once it is on
//! (through the Backend API), the form comes back; off again, silent again.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::browser::{new_browser, Browser};
use crate::common::postgres::free_port;
use crate::common::saml_idp::{self, simplesamlphp, IdpUser};
use crate::common::{Backend, TestApp};

/// How long a page, the IdP or a redirect chain may take.
const STEP: Duration = Duration::from_secs(30);

/// The app's pages: `/start?email=` begins a sign-in, `/callback` is the
/// `redirect_url` the ACS sends the browser back to, `/signout` ends the
/// client's sessions. Each sets the document title to what happened.
fn page(fapi: &str, script: &str) -> HttpResponse {
    let html = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>loading</title></head>
<body><script>
const fapi = {fapi:?};
const form = (fields) => new URLSearchParams(fields);
const call = async (method, path, fields) => {{
  const response = await fetch(fapi + path, {{ method, credentials: "include", body: fields ? form(fields) : undefined }});
  return [response.status, await response.json()];
}};
(async () => {{ try {{ {script} }} catch (e) {{ document.title = "error:" + e; }} }})();
</script></body></html>"#
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

const START: &str = r#"
const email = new URLSearchParams(location.search).get("email");
const back = location.origin + "/callback";
let [status, body] = await call("POST", "/v1/client/sign_ins", {
  strategy: "enterprise_sso", identifier: email, redirect_url: back, action_complete_redirect_url: location.origin + "/done" });
if (status !== 200) { document.title = "error:" + JSON.stringify(body); return; }
[status, body] = await call("POST", `/v1/client/sign_ins/${body.response.id}/prepare_first_factor`, {
  strategy: "enterprise_sso", redirect_url: back, action_complete_redirect_url: location.origin + "/done" });
const verification = body.response && body.response.first_factor_verification;
if (status !== 200 || verification.status !== "unverified" || !verification.external_verification_redirect_url) {
  document.title = "error:" + JSON.stringify(body); return;
}
location.href = verification.external_verification_redirect_url;
"#;

const CALLBACK: &str = r#"
const [status, body] = await call("GET", "/v1/client");
const client = body.response;
const session = client && client.sessions.find((s) => s.id === client.last_active_session_id && s.status === "active");
if (session) {
  document.title = "signed-in:" + session.user.email_addresses[0].email_address;
} else {
  document.title = "not-signed-in:" + JSON.stringify(client && client.sign_in);
}
"#;

const SIGN_OUT: &str = r#"
const [status] = await call("POST", "/v1/client/sessions?_method=DELETE");
document.title = status === 200 ? "signed-out" : "error:" + status;
"#;

/// Serves the app's pages on `listener`.
fn serve_pages(listener: TcpListener, fapi: String) {
    let server = HttpServer::new(move || {
        let fapi = fapi.clone();
        App::new().default_service(web::to(move |req: actix_web::HttpRequest| {
            let script = match req.path() {
                "/start" => START,
                "/callback" => CALLBACK,
                "/signout" => SIGN_OUT,
                _ => "document.title = 'done';",
            };
            let response = page(&fapi, script);
            async move { response }
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("serve the app's pages")
    .run();
    actix_web::rt::spawn(server);
}

/// Where a sign-in ends up: the IdP's login form, or back on the app.
#[derive(Debug, PartialEq, Eq)]
enum Arrival {
    LoginForm,
    SignedIn,
}

struct Scene {
    app: TestApp,
    browser: Browser,
    pages: String,
    connection_id: String,
    user: IdpUser,
}

impl Scene {
    async fn new(backend: Backend, user: IdpUser) -> Self {
        let idp = simplesamlphp();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app's pages");
        let pages = format!("http://{}", listener.local_addr().expect("address"));
        let fapi_port = free_port();
        let app = TestApp::spawn_public(
            backend,
            fapi_port,
            &format!("[frontend]\nallowed_origins = [{pages:?}]\n"),
        )
        .await;
        serve_pages(listener, app.frontend_url.clone());
        let (status, connection) = app
            .post(
                "/v1/saml_connections",
                json!({
                    "name": "SimpleSAMLphp",
                    "provider": "saml_custom",
                    "domains": [saml_idp::EMAIL_DOMAIN],
                    "idp_metadata_url": idp.metadata_url(),
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{connection}");
        assert_eq!(connection["force_authn"], false, "off by default");
        assert_eq!(connection["idp_entity_id"], idp.entity_id().as_str());
        let id = connection["id"].as_str().expect("id").to_owned();
        let (status, active) = app
            .patch(
                &format!("/v1/saml_connections/{id}"),
                json!({ "active": true }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{active}");
        idp.register_sp(
            connection["sp_entity_id"].as_str().expect("sp_entity_id"),
            connection["acs_url"].as_str().expect("acs_url"),
        );
        Self {
            app,
            browser: new_browser().await,
            pages,
            connection_id: id,
            user,
        }
    }

    async fn set_force_authn(&self, on: bool) {
        let (status, body) = self
            .app
            .patch(
                &format!("/v1/saml_connections/{}", self.connection_id),
                json!({ "force_authn": on }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["force_authn"], on);
    }

    /// Starts a sign-in on the app and returns where the browser lands.
    async fn start_sign_in(&self) -> Arrival {
        let login = format!("{}{}", simplesamlphp().base_url, saml_idp::LOGIN_PATH);
        let callback = format!("{}/callback", self.pages);
        self.browser
            .goto(&format!("{}/start?email={}", self.pages, self.user.email))
            .await
            .expect("open the app");
        let deadline = Instant::now() + STEP;
        loop {
            let url = self.browser.current_url().await.expect("url").to_string();
            let title = self.browser.title().await.unwrap_or_default();
            assert!(!title.starts_with("error:"), "the app failed: {title}");
            if url.starts_with(&login) {
                return Arrival::LoginForm;
            }
            if url.starts_with(&callback) && title != "loading" {
                return Arrival::SignedIn;
            }
            assert!(Instant::now() < deadline, "stuck at {url} ({title})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills in the IdP's login form.
    async fn log_in_at_idp(&self) {
        use fantoccini::Locator;
        let find = |selector: &'static str| self.browser.find(Locator::Css(selector));
        find(saml_idp::USERNAME_INPUT)
            .await
            .expect("username field")
            .send_keys(self.user.username)
            .await
            .expect("type the username");
        find(saml_idp::PASSWORD_INPUT)
            .await
            .expect("password field")
            .send_keys(self.user.password)
            .await
            .expect("type the password");
        find(saml_idp::SUBMIT_BUTTON)
            .await
            .expect("submit button")
            .click()
            .await
            .expect("submit");
    }

    async fn expect_signed_in(&self) {
        let title = format!("signed-in:{}", self.user.email);
        self.browser
            .wait_for_url(&format!("{}/callback", self.pages), STEP)
            .await;
        self.browser.wait_for_title(&title, STEP).await;
    }

    async fn sign_out(&self) {
        self.browser
            .goto(&format!("{}/signout", self.pages))
            .await
            .expect("open the sign-out page");
        self.browser.wait_for_title("signed-out", STEP).await;
    }

    /// The user Steward created for the IdP's person.
    async fn steward_user(&self) -> Value {
        let (status, users) = self
            .app
            .get(&format!("/v1/users?email_address={}", self.user.email))
            .await;
        assert_eq!(status, StatusCode::OK, "{users}");
        assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
        users[0].clone()
    }
}

async fn force_authn_is_honoured_per_connection(backend: Backend, user: IdpUser) {
    let scene = Scene::new(backend, user).await;

    // First sign-in: the IdP has no session yet and shows its form.
    assert_eq!(scene.start_sign_in().await, Arrival::LoginForm);
    scene.log_in_at_idp().await;
    scene.expect_signed_in().await;
    let created = scene.steward_user().await;
    assert_eq!(created["enterprise_accounts"][0]["provider"], "saml_custom");
    assert_eq!(
        created["email_addresses"][0]["verification"]["object"],
        "verification_saml"
    );

    // ForceAuthn off: the IdP's session answers; its form is not shown.
    scene.sign_out().await;
    assert_eq!(scene.start_sign_in().await, Arrival::SignedIn);
    scene.expect_signed_in().await;

    // ForceAuthn on: the IdP asks for the credentials again.
    scene.set_force_authn(true).await;
    scene.sign_out().await;
    assert_eq!(scene.start_sign_in().await, Arrival::LoginForm);
    scene.log_in_at_idp().await;
    scene.expect_signed_in().await;

    // Off again: silent again.
    scene.set_force_authn(false).await;
    scene.sign_out().await;
    assert_eq!(scene.start_sign_in().await, Arrival::SignedIn);
    scene.expect_signed_in().await;

    // One person, one user, however many sign-ins.
    assert_eq!(scene.steward_user().await["id"], created["id"]);
    let Scene { browser, .. } = scene;
    browser.close().await;
}

#[actix_web::test]
async fn force_authn_is_honoured_per_connection_on_sqlite() {
    force_authn_is_honoured_per_connection(Backend::Sqlite, saml_idp::ALICE).await;
}

#[actix_web::test]
async fn force_authn_is_honoured_per_connection_on_postgres() {
    force_authn_is_honoured_per_connection(Backend::Postgres, saml_idp::BOB).await;
}
