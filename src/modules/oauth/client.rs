//! Talking to providers, with the `openidconnect` and `oauth2` crates over
//! the area's HTTP client (timeouts, no redirects followed): the
//! authorization URL (code flow, PKCE S256, state, and a nonce for OpenID
//! Connect), the code exchange, and who signed in — from the verified ID
//! token (signature by the provider's JWKS, issuer, audience, expiry,
//! nonce) or, for GitHub, from its user API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::BasicClient;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKeySet, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::providers::{is_multi_tenant, Connection, Provider};
use crate::http::{ApiError, ErrorCode};

/// Where to send the browser, and what the callback needs to finish.
#[derive(Debug)]
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in, with the tokens it gave.
#[derive(Debug, Clone, Default)]
pub struct ProviderUser {
    pub provider_user_id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
}

fn exchange_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::OauthTokenExchangeError,
        "Token exchange error",
        format!("The provider's answer could not be used: {detail}."),
    )
}

fn fetch_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::OauthFetchUserError,
        "Fetch user error",
        format!("The provider's user could not be read: {detail}."),
    )
}

fn misconfigured(detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::OauthProviderNotEnabled,
        "OAuth provider unusable",
        format!("The OAuth connection cannot be used: {detail}."),
    )
}

/// The provider's OpenID Connect metadata with its JWKS. Microsoft's
/// multi-tenant issuers publish a `{tenantid}` placeholder as their issuer,
/// which discovery's issuer check refuses; they are read without it, and
/// the ID token's issuer is checked against its own tenant instead.
async fn metadata(
    http: &reqwest::Client,
    connection: &Connection,
) -> Result<CoreProviderMetadata, ApiError> {
    let issuer = IssuerUrl::new(connection.issuer.clone()).map_err(misconfigured)?;
    if connection.provider == Provider::Microsoft && is_multi_tenant(&connection.tenant) {
        let url = format!(
            "{}/.well-known/openid-configuration",
            connection.issuer.trim_end_matches('/')
        );
        let body = http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| misconfigured(e.without_url()))?
            .bytes()
            .await
            .map_err(|e| misconfigured(e.without_url()))?;
        let metadata: CoreProviderMetadata =
            serde_json::from_slice(&body).map_err(misconfigured)?;
        let jwks = JsonWebKeySet::fetch_async(metadata.jwks_uri(), http)
            .await
            .map_err(misconfigured)?;
        return Ok(metadata.set_jwks(jwks));
    }
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(misconfigured)
}

fn redirect(redirect_uri: &str) -> Result<RedirectUrl, ApiError> {
    RedirectUrl::new(redirect_uri.to_owned()).map_err(ApiError::internal)
}

/// GitHub's client: authorization and token endpoints set.
type GithubClient = oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn github_client(connection: &Connection, redirect_uri: &str) -> Result<GithubClient, ApiError> {
    let web = connection.github_web_url.trim_end_matches('/');
    Ok(
        BasicClient::new(ClientId::new(connection.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                connection.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(format!("{web}/login/oauth/authorize")).map_err(misconfigured)?,
            )
            .set_token_uri(
                TokenUrl::new(format!("{web}/login/oauth/access_token")).map_err(misconfigured)?,
            )
            .set_redirect_uri(redirect(redirect_uri)?)
            // GitHub documents client_id and client_secret as form
            // parameters of the access token request.
            .set_auth_type(oauth2::AuthType::RequestBody),
    )
}

/// The authorization URL for `connection`, returning to `redirect_uri`.
pub async fn authorize(
    http: &reqwest::Client,
    connection: &Connection,
    redirect_uri: &str,
    extra_scopes: &[String],
) -> Result<Authorization, ApiError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut wanted: Vec<&String> = connection.scopes.iter().chain(extra_scopes).collect();
    wanted.dedup();
    let scopes = wanted
        .into_iter()
        .filter(|s| *s != "openid")
        .map(|s| Scope::new(s.clone()));
    if !connection.provider.is_oidc() {
        let client = github_client(connection, redirect_uri)?;
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        return Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: String::new(),
            pkce_verifier: verifier.secret().clone(),
        });
    }
    let client = CoreClient::from_provider_metadata(
        metadata(http, connection).await?,
        ClientId::new(connection.client_id.clone()),
        Some(ClientSecret::new(
            connection.client_secret.expose_secret().to_owned(),
        )),
    )
    .set_redirect_uri(redirect(redirect_uri)?);
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes)
        .set_pkce_challenge(challenge)
        .url();
    Ok(Authorization {
        url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchanges `code` and reads who signed in.
pub async fn exchange(
    http: &reqwest::Client,
    connection: &Connection,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: &str,
    nonce: &str,
) -> Result<ProviderUser, ApiError> {
    if !connection.provider.is_oidc() {
        return github(http, connection, redirect_uri, code, pkce_verifier).await;
    }
    let client = CoreClient::from_provider_metadata(
        metadata(http, connection).await?,
        ClientId::new(connection.client_id.clone()),
        Some(ClientSecret::new(
            connection.client_secret.expose_secret().to_owned(),
        )),
    )
    .set_redirect_uri(redirect(redirect_uri)?);
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(misconfigured)?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(http)
        .await
        .map_err(exchange_error)?;
    let id_token = token
        .id_token()
        .ok_or_else(|| exchange_error("the provider sent no ID token"))?;
    let multi_tenant =
        connection.provider == Provider::Microsoft && is_multi_tenant(&connection.tenant);
    let verifier = client
        .id_token_verifier()
        .require_issuer_match(!multi_tenant);
    let claims = id_token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(exchange_error)?;
    if multi_tenant {
        check_microsoft_issuer(&id_token.to_string(), claims.issuer().as_str())?;
    }
    Ok(ProviderUser {
        provider_user_id: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_lowercase()),
        email_verified: claims.email_verified().unwrap_or(false),
        first_name: claims
            .given_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned()),
        last_name: claims
            .family_name()
            .and_then(|c| c.get(None))
            .map(|n| n.as_str().to_owned()),
        image_url: claims
            .picture()
            .and_then(|c| c.get(None))
            .map(|p| p.as_str().to_owned()),
        username: claims.preferred_username().map(|u| u.as_str().to_owned()),
        scopes: granted_scopes(token.scopes(), connection),
        access_token: token.access_token().secret().clone(),
        refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        expires_at: expires_at(token.expires_in()),
    })
}

fn granted_scopes(granted: Option<&Vec<Scope>>, connection: &Connection) -> Vec<String> {
    match granted {
        Some(scopes) => scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        None => connection.scopes.clone(),
    }
}

fn expires_at(expires_in: Option<std::time::Duration>) -> Option<i64> {
    expires_in.map(|d| crate::time::now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
}

/// A multi-tenant Microsoft ID token names its tenant (`tid`) and must be
/// issued by that tenant's issuer.
fn check_microsoft_issuer(jwt: &str, issuer: &str) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct Tenant {
        tid: String,
    }
    let payload = jwt
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Tenant>(&bytes).ok())
        .ok_or_else(|| exchange_error("the ID token names no tenant"))?;
    let expected = format!("https://login.microsoftonline.com/{}/v2.0", payload.tid);
    if issuer != expected {
        return Err(exchange_error("the ID token's issuer is not its tenant's"));
    }
    Ok(())
}

#[derive(Deserialize)]
struct GithubUser {
    id: i64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// GitHub: plain OAuth 2.0, then its user API (`/user`, `/user/emails`,
/// whose primary, verified address is the one used).
async fn github(
    http: &reqwest::Client,
    connection: &Connection,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: &str,
) -> Result<ProviderUser, ApiError> {
    let client = github_client(connection, redirect_uri)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
        .request_async(http)
        .await
        .map_err(exchange_error)?;
    let access_token = token.access_token().secret().clone();
    let api = connection.github_api_url.trim_end_matches('/');
    let get = |path: &'static str| {
        http.get(format!("{api}{path}"))
            .bearer_auth(&access_token)
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "steward")
            .send()
    };
    let read = |body: Result<reqwest::Response, reqwest::Error>| async move {
        let bytes = body
            .and_then(|r| r.error_for_status())
            .map_err(|e| fetch_error(e.without_url()))?
            .bytes()
            .await
            .map_err(|e| fetch_error(e.without_url()))?;
        Ok::<_, ApiError>(bytes)
    };
    let user: GithubUser =
        serde_json::from_slice(&read(get("/user").await).await?).map_err(fetch_error)?;
    let emails: Vec<GithubEmail> =
        serde_json::from_slice(&read(get("/user/emails").await).await?).map_err(fetch_error)?;
    let primary = emails.iter().find(|e| e.primary && e.verified);
    let (first_name, last_name) = match user.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => match name.rsplit_once(' ') {
            Some((first, last)) => (Some(first.to_owned()), Some(last.to_owned())),
            None => (Some(name.to_owned()), None),
        },
        _ => (None, None),
    };
    Ok(ProviderUser {
        provider_user_id: user.id.to_string(),
        email: primary.map(|e| e.email.to_lowercase()),
        email_verified: primary.is_some(),
        first_name,
        last_name,
        image_url: user.avatar_url,
        username: Some(user.login),
        scopes: match token.scopes() {
            Some(scopes) => scopes
                .iter()
                .flat_map(|s| s.as_str().split(','))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => connection.scopes.clone(),
        },
        access_token,
        refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        expires_at: expires_at(token.expires_in()),
    })
}
