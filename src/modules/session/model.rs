//! Client and session rows, and their Clerk API objects.

use actix_web::web::Bytes;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::db::schema::{clients, sessions};

/// A `clients` row: one browser or app installation.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = clients, treat_none_as_null = true)]
pub struct ClientRow {
    pub id: String,
    pub sign_in_id: Option<String>,
    pub sign_up_id: Option<String>,
    pub last_active_session_id: Option<String>,
    pub last_authentication_strategy: Option<String>,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A `sessions` row. `claims_snapshot` holds what tokens need beyond the
/// row's own columns (kept current by other modules through the service).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = sessions, treat_none_as_null = true)]
pub struct SessionRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub status: String,
    pub last_active_organization_id: Option<String>,
    pub claims_snapshot: String,
    pub first_factor_verified_at: i64,
    pub last_active_at: i64,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Stored statuses; `expired` and `abandoned` are derived from time.
pub mod status {
    pub const ACTIVE: &str = "active";
    pub const ENDED: &str = "ended";
    pub const REMOVED: &str = "removed";
    pub const REVOKED: &str = "revoked";
    pub const REPLACED: &str = "replaced";
    pub const EXPIRED: &str = "expired";
    pub const ABANDONED: &str = "abandoned";
}

impl SessionRow {
    /// The status as clients see it at `now`.
    pub fn effective_status(&self, now: i64) -> &str {
        if self.status != status::ACTIVE {
            &self.status
        } else if now >= self.expire_at {
            status::EXPIRED
        } else if now >= self.abandon_at {
            status::ABANDONED
        } else {
            status::ACTIVE
        }
    }

    /// Whether the session may get tokens at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.effective_status(now) == status::ACTIVE
    }
}

/// Clerk's `session` object (Backend API form; `crate::fapi` adds the user
/// for the Frontend API's).
#[derive(Debug, Clone, Serialize)]
pub struct SessionObject {
    pub object: &'static str,
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub status: String,
    pub last_active_organization_id: Option<String>,
    pub actor: Option<Value>,
    pub last_active_at: i64,
    pub expire_at: i64,
    pub abandon_at: i64,
    /// Required by Clerk's schema and read by its SDK (see
    /// [`SessionActivity`]).
    pub latest_activity: SessionActivity,
    /// Frontend API only: minutes since the first and second factor
    /// verifications (`-1`: none), as the session token's `fva`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor_verification_age: Option<[i64; 2]>,
    pub tasks: Vec<Value>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Frontend API only: the last token minted, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_token: Option<Value>,
}

/// Clerk's `session_activity` object (`latest_activity` of a session):
/// where and on what device the session was last used. Steward records no
/// device, address or place, so only the required fields are sent, and
/// `is_mobile` is false because nothing says otherwise; the id is the
/// session's own, as a session has exactly one such activity here.
#[derive(Debug, Clone, Serialize)]
pub struct SessionActivity {
    pub object: &'static str,
    pub id: String,
    pub is_mobile: bool,
}

impl SessionActivity {
    fn of(row: &SessionRow) -> Self {
        Self {
            object: "session_activity",
            id: row.id.clone(),
            is_mobile: false,
        }
    }
}

impl SessionObject {
    /// The Backend API form.
    pub fn from_row(row: &SessionRow, now: i64) -> Self {
        Self {
            object: "session",
            id: row.id.clone(),
            user_id: row.user_id.clone(),
            client_id: row.client_id.clone(),
            status: row.effective_status(now).to_owned(),
            last_active_organization_id: row.last_active_organization_id.clone(),
            actor: None,
            last_active_at: row.last_active_at,
            expire_at: row.expire_at,
            abandon_at: row.abandon_at,
            latest_activity: SessionActivity::of(row),
            factor_verification_age: None,
            tasks: Vec::new(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_active_token: None,
        }
    }
}

/// Whole minutes between `then` and `now` (Clerk's `fva` unit).
pub fn minutes_since(then: i64, now: i64) -> i64 {
    (now - then).max(0) / 60_000
}

/// A session token as its API object, `{"object":"token","jwt":"…"}`,
/// written out once, when the token is signed. Every signed-in page load
/// asks for one and most are answered with a token already signed: handing
/// back a reference-counted copy of these bytes spares that path a copy of
/// the token, an allocation and the body's serialization.
#[derive(Debug, Clone)]
pub struct SessionToken {
    body: Bytes,
}

impl SessionToken {
    const HEAD: &'static str = r#"{"object":"token","jwt":""#;
    const TAIL: &'static str = r#""}"#;

    /// The object for `jwt`. Written out rather than serialized: a JWT is
    /// base64url and dots, so it needs no escaping.
    pub fn new(jwt: &str) -> Self {
        debug_assert!(jwt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')));
        let mut body = String::with_capacity(Self::HEAD.len() + jwt.len() + Self::TAIL.len());
        body.push_str(Self::HEAD);
        body.push_str(jwt);
        body.push_str(Self::TAIL);
        Self {
            body: Bytes::from(body),
        }
    }

    /// The object as an `application/json` response, not to be cached.
    pub fn into_response(self) -> actix_web::HttpResponse {
        let mut builder = actix_web::HttpResponse::Ok();
        crate::http::private_response(&mut builder);
        self.respond(&mut builder)
    }

    /// As [`SessionToken::into_response`], on a builder that already carries
    /// headers, `Cache-Control` among them (the Frontend API's come from
    /// [`crate::http::fapi::attach_client_token`]).
    pub fn respond(self, builder: &mut actix_web::HttpResponseBuilder) -> actix_web::HttpResponse {
        builder
            .content_type(actix_web::http::header::ContentType::json())
            .body(self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::SessionToken;

    #[actix_web::test]
    async fn the_written_token_body_is_what_serde_would_write() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2ln-_x";
        #[derive(serde::Serialize)]
        struct Object<'a> {
            object: &'a str,
            jwt: &'a str,
        }
        let expected = serde_json::to_vec(&Object {
            object: "token",
            jwt,
        })
        .unwrap();
        let response = SessionToken::new(jwt).into_response();
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(body.as_ref(), expected.as_slice());
    }
}
