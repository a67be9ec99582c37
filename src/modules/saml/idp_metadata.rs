//! An IdP's metadata, pasted (`idp_metadata`) or fetched
//! (`idp_metadata_url`): parsed with samael for the three values a
//! connection needs.

use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};

use super::certificates;
use crate::http::ApiError;

/// Largest metadata document accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;

/// What a connection takes from its IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpValues {
    pub entity_id: String,
    /// The SingleSignOnService location for the HTTP-Redirect binding.
    pub sso_url: String,
    /// The signing certificate, as PEM.
    pub certificate: String,
}

fn invalid(param: &str, why: &str) -> ApiError {
    ApiError::param_format(param, format!("The IdP metadata is not usable: {why}."))
}

/// Reads an IdP's entity id, Redirect-binding SSO URL and signing
/// certificate from its metadata; `param` names the field it came from.
pub fn parse(xml: &str, param: &str) -> Result<IdpValues, ApiError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(ApiError::param_too_long(param, MAX_METADATA_BYTES));
    }
    let entity: EntityDescriptor = xml
        .trim()
        .parse()
        .map_err(|_| invalid(param, "it is not a SAML EntityDescriptor"))?;
    let entity_id = entity
        .entity_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid(param, "it has no entityID"))?;
    let descriptors = entity
        .idp_sso_descriptors
        .as_deref()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            invalid(
                param,
                "it describes no identity provider (IDPSSODescriptor)",
            )
        })?;
    let sso_url = descriptors
        .iter()
        .flat_map(|d| &d.single_sign_on_services)
        .find(|service| service.binding == HTTP_REDIRECT_BINDING)
        .map(|service| service.location.clone())
        .ok_or_else(|| {
            invalid(
                param,
                "it has no SingleSignOnService for the HTTP-Redirect binding",
            )
        })?;
    let keys: Vec<_> = descriptors
        .iter()
        .flat_map(|d| &d.key_descriptors)
        .collect();
    let signing = keys
        .iter()
        .filter(|k| k.key_use.as_deref() == Some("signing"))
        .chain(
            keys.iter()
                .filter(|k| k.key_use.as_deref().unwrap_or("").is_empty()),
        )
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|data| &data.certificates)
        .find_map(|text| certificates::parse(text))
        .ok_or_else(|| invalid(param, "it has no signing certificate"))?;
    let certificate = certificates::to_pem(&signing)
        .ok_or_else(|| invalid(param, "its signing certificate cannot be read"))?;
    Ok(IdpValues {
        entity_id,
        sso_url,
        certificate,
    })
}

/// Fetches and parses the metadata at `url` (http or https), at most
/// [`MAX_METADATA_BYTES`], within the client's timeout.
pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<(String, IdpValues), ApiError> {
    const PARAM: &str = "idp_metadata_url";
    let parsed = url::Url::parse(url)
        .map_err(|_| ApiError::param_format(PARAM, "idp_metadata_url must be an absolute URL."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::param_format(
            PARAM,
            "idp_metadata_url must be an http(s) URL.",
        ));
    }
    let unreachable = |why: String| {
        ApiError::param_value(
            PARAM,
            format!("The IdP metadata could not be fetched: {why}."),
        )
    };
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| unreachable(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!(
            "the server answered {}",
            response.status()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(unreachable(format!(
                "it is larger than {MAX_METADATA_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let xml = String::from_utf8(body).map_err(|_| unreachable("it is not UTF-8".to_owned()))?;
    let values = parse(&xml, PARAM)?;
    Ok((xml, values))
}
