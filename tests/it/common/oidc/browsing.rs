//! Browsing the providers' pages over plain HTTP, as a browser would:
//! redirects not followed, cookies kept per path, forms found and posted.

use super::*;

pub(super) fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// Whether `url` is on `origin` (`http://127.0.0.1:PORT`).
pub(super) fn on_origin(url: &Url, origin: &str) -> bool {
    url.origin().ascii_serialization() == origin
}

pub(super) fn location_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) enum Page {
    /// A 3xx and its `Location` (possibly relative).
    Redirect(String),
    /// Anything else: the status and the body.
    Body(StatusCode, String),
}

/// Sends `request` for `url` with the jar's cookies, and stores the
/// cookies of the response.
pub(super) async fn send(request: reqwest::RequestBuilder, url: &Url, jar: &mut CookieJar) -> Page {
    let request = match jar.header_for(url.path()) {
        Some(cookies) => request.header(reqwest::header::COOKIE, cookies),
        None => request,
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("request to {url}: {e}"));
    for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
        if let Ok(value) = value.to_str() {
            jar.store(value);
        }
    }
    let status = response.status();
    if status.is_redirection() {
        let location = location_of(&response)
            .unwrap_or_else(|| panic!("{status} without Location from {url}"));
        return Page::Redirect(location);
    }
    Page::Body(status, response.text().await.unwrap_or_default())
}

/// The login or consent form on an interaction page: its action and the
/// fields to submit (`prompt` first).
pub(super) fn interaction_form(
    body: &str,
    account: &str,
) -> Option<(String, Vec<(&'static str, String)>)> {
    let action = attribute_after(body, "<form", "action")?;
    let prompt = body
        .split("name=\"prompt\"")
        .nth(1)
        .and_then(|rest| attribute_after(rest, "", "value"))?;
    let mut form = vec![("prompt", prompt.clone())];
    match prompt.as_str() {
        "login" => {
            form.push(("login", account.to_owned()));
            form.push(("password", "any password".to_owned()));
        }
        "consent" => {}
        _ => return None,
    }
    Some((action, form))
}

/// The value of `name="…"` in the first tag after `marker` in `html`.
pub(super) fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let tag = &html[start..start + html[start..].find('>')?];
    let needle = format!("{name}=\"");
    let value_start = tag.find(&needle)? + needle.len();
    let value = &tag[value_start..value_start + tag[value_start..].find('"')?];
    Some(value.replace("&amp;", "&").replace("&#x2F;", "/"))
}

/// Cookies by name and path, enough for one provider origin over http.
#[derive(Default)]
pub(super) struct CookieJar {
    /// (name, path, value)
    cookies: Vec<(String, String, String)>,
}

impl CookieJar {
    /// Stores (or, when expired or emptied, removes) a `Set-Cookie` value.
    pub(super) fn store(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        let mut path = "/".to_owned();
        let mut removed = value.is_empty();
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
            match key.as_str() {
                "path" if val.starts_with('/') => path = val.to_owned(),
                "max-age" => removed |= val.parse::<i64>().is_ok_and(|age| age <= 0),
                "expires" => removed |= val.contains("1970"),
                _ => {}
            }
        }
        self.cookies.retain(|(n, p, _)| !(*n == name && *p == path));
        if !removed {
            self.cookies.push((name, path, value));
        }
    }

    /// The `Cookie` header for a request to `path`, if any cookie matches.
    pub(super) fn header_for(&self, path: &str) -> Option<String> {
        let matching: Vec<String> = self
            .cookies
            .iter()
            .filter(|(_, cookie_path, _)| path_matches(path, cookie_path))
            .map(|(name, _, value)| format!("{name}={value}"))
            .collect();
        (!matching.is_empty()).then(|| matching.join("; "))
    }
}

/// RFC 6265 path-match.
pub(super) fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}
