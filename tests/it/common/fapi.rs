//! A Frontend API caller for tests: native (client JWT in `Authorization`,
//! `_is_native=true`, as Clerk's Android SDK sends it) or web (`__client`
//! cookie, `Origin`), taking the updated client token from every response
//! as Clerk's SDKs do.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::TestApp;

/// Where tests' browser requests come from (allowed in their config).
pub const APP_ORIGIN: &str = "http://app.example.com";

/// A Frontend API client: one app installation or one browser.
pub struct FapiClient<'a> {
    app: &'a TestApp,
    native: bool,
    /// The current client token (native JWT or cookie value).
    pub token: Option<String>,
    pub origin: Option<String>,
}

impl<'a> FapiClient<'a> {
    pub fn native(app: &'a TestApp) -> Self {
        Self {
            app,
            native: true,
            token: None,
            origin: None,
        }
    }

    pub fn web(app: &'a TestApp) -> Self {
        Self {
            app,
            native: false,
            token: None,
            origin: Some(APP_ORIGIN.to_owned()),
        }
    }

    /// Sends a request with a form body; returns status and JSON, and keeps
    /// the client token the response hands back.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = if self.native {
            format!("{}{path}{separator}_is_native=true", self.app.frontend_url)
        } else {
            format!("{}{path}", self.app.frontend_url)
        };
        let mut request = self.app.http.request(method, url);
        if !form.is_empty() {
            request = request.form(form);
        }
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        if let Some(token) = &self.token {
            request = if self.native {
                request.header("authorization", token.as_str())
            } else {
                request.header("cookie", format!("__client={token}"))
            };
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        if self.native {
            if let Some(token) = response.headers().get("authorization") {
                self.token = Some(token.to_str().expect("ascii").to_owned());
            }
        } else {
            for cookie in response.headers().get_all("set-cookie") {
                let cookie = cookie.to_str().expect("ascii");
                if let Some(rest) = cookie.strip_prefix("__client=") {
                    let value = rest.split(';').next().unwrap_or_default();
                    self.token = (!value.is_empty()).then(|| value.to_owned());
                }
            }
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        assert_eq!(content_type, "application/json", "{status} {text}");
        (status, serde_json::from_str(&text).expect("JSON body"))
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        self.call(Method::POST, path, form).await
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, &[]).await
    }

    /// Signs in with identifier and password in one request; returns the
    /// created session id.
    pub async fn sign_in(&mut self, identifier: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/client/sign_ins",
                &[("identifier", identifier), ("password", password)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["response"]["status"], "complete", "{body}");
        body["response"]["created_session_id"]
            .as_str()
            .expect("session id")
            .to_owned()
    }

    /// A session token for `session_id`.
    pub async fn token(&mut self, session_id: &str) -> (StatusCode, Value) {
        self.post(&format!("/v1/client/sessions/{session_id}/tokens"), &[])
            .await
    }
}
