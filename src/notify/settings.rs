//! The `[email]` settings and the parsing shared by start-up validation and
//! [`super::Mailer`], so a value that validates is exactly one that works.

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How Steward sends email: through an SMTP server, or (with no server
/// configured, development only) into the log.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host:port`, `smtp://host:port?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465`; empty means the development log
    /// transport. Serialised with the password masked.
    #[serde(serialize_with = "crate::config::serialize_masked_url")]
    pub smtp_url: String,
    /// The sender mailbox, e.g. `Steward <no-reply@example.com>`.
    pub from: String,
    /// The product name users see in subjects and bodies.
    pub application_name: String,
}

impl EmailSettings {
    /// The sender as a mailbox; the error says why `from` is not one.
    pub fn sender(&self) -> Result<Mailbox, String> {
        self.from.parse::<Mailbox>().map_err(|e| {
            format!("not a mailbox ({e}): use \"Name <address@example.com>\" or a bare address")
        })
    }

    /// An SMTP transport builder from `smtp_url`, or `None` when it is empty
    /// (the log transport). The error never repeats the URL, which may hold
    /// a password.
    pub fn smtp_transport_builder(&self) -> Result<Option<AsyncSmtpTransportBuilder>, String> {
        if self.smtp_url.is_empty() {
            return Ok(None);
        }
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.smtp_url)
            .map(Some)
            .map_err(|e| {
                format!(
                    "{e}: use smtp://host:port, smtp://host:port?tls=required or smtps://user:pass@host:465"
                )
            })
    }
}
