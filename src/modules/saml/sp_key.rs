//! The instance's service-provider key and certificate: made on first use,
//! stored sealed under the instance encryption key like the token signing
//! keys, and kept in memory once read. It signs AuthnRequests, and its
//! certificate is published in each connection's SP metadata.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use super::{certificates, pool, store};
use crate::config::Settings;
use crate::crypto::sealed::EncryptionKey;
use crate::http::ApiError;
use crate::instance::encryption::configured_key;
use crate::state::AppState;
use crate::time::now_ms;

/// The SP credentials.
pub struct SpKey {
    pub key: PKey<Private>,
    pub certificate: X509,
    /// The certificate as PEM.
    pub certificate_pem: String,
}

impl std::fmt::Debug for SpKey {
    // The private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey").finish_non_exhaustive()
    }
}

/// The SP key of this process, read once.
pub struct SpKeyCell {
    sealing_key: EncryptionKey,
    key: OnceCell<SpKey>,
}

impl std::fmt::Debug for SpKeyCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKeyCell")
            .field("loaded", &self.key.initialized())
            .finish_non_exhaustive()
    }
}

/// What the sealed key is bound to, so it opens only in its own row.
const SEAL_CONTEXT: &str = "saml_sp_keys.private_key:current";

/// `steward keys rewrap` for the SP key: sealed anew under `new` unless it
/// already is (then it is only checked to open).
pub fn reseal(
    conn: &mut crate::db::DbConnection,
    old: &EncryptionKey,
    new: &EncryptionKey,
) -> anyhow::Result<usize> {
    crate::db::write_transaction(conn, |conn| {
        let Some((sealed, _)) = store::sp_key(conn)? else {
            return Ok(0);
        };
        if sealed.starts_with(&format!("enc:v1:{}:", new.id())) {
            new.open(&sealed, SEAL_CONTEXT)
                .map_err(|e| anyhow::anyhow!("the SAML SP key: {e}"))?;
            return Ok(0);
        }
        let der = old
            .open(&sealed, SEAL_CONTEXT)
            .map_err(|e| anyhow::anyhow!("the SAML SP key: {e}"))?;
        let resealed = new.seal(der.expose_secret(), SEAL_CONTEXT)?;
        Ok(usize::from(store::replace_sp_key(
            conn, &sealed, &resealed,
        )?))
    })
}

impl SpKeyCell {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            sealing_key: configured_key(settings)?,
            key: OnceCell::new(),
        })
    }

    /// The SP key: read from the database, or made and stored there by the
    /// first process that needs one (the others read back the winner's).
    pub async fn get(&self, state: &AppState) -> Result<&SpKey, ApiError> {
        self.key
            .get_or_try_init(|| async {
                if let Some(key) = self.load(state).await? {
                    return Ok(key);
                }
                let (key, certificate) =
                    certificates::generate_sp_credentials("Steward SAML service provider")
                        .map_err(ApiError::internal)?;
                let der = key.private_key_to_pkcs8().map_err(ApiError::internal)?;
                let sealed = self
                    .sealing_key
                    .seal(&der, SEAL_CONTEXT)
                    .map_err(ApiError::internal)?;
                let pem = certificates::to_pem(&certificate)
                    .ok_or_else(|| ApiError::internal("SP certificate not encodable"))?;
                pool(state)
                    .run("saml.sp_key.insert", move |conn| {
                        store::insert_sp_key(conn, &sealed, &pem, now_ms()).map_err(ApiError::from)
                    })
                    .await?;
                tracing::info!("made the SAML service-provider key");
                self.load(state)
                    .await?
                    .ok_or_else(|| ApiError::internal("SP key missing after insert"))
            })
            .await
    }

    async fn load(&self, state: &AppState) -> Result<Option<SpKey>, ApiError> {
        let Some((sealed, pem)) = pool(state)
            .run("saml.sp_key.get", |conn| {
                store::sp_key(conn).map_err(ApiError::from)
            })
            .await?
        else {
            return Ok(None);
        };
        let der = self
            .sealing_key
            .open(&sealed, SEAL_CONTEXT)
            .map_err(|e| ApiError::internal(format!("the SAML SP key cannot be opened: {e}")))?;
        let key = PKey::private_key_from_pkcs8(der.expose_secret()).map_err(ApiError::internal)?;
        let certificate = certificates::parse(&pem)
            .ok_or_else(|| ApiError::internal("the stored SAML SP certificate is damaged"))?;
        Ok(Some(SpKey {
            key,
            certificate,
            certificate_pem: pem,
        }))
    }
}
