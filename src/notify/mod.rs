//! Email delivery: verification codes for sign-up, sign-in and new email
//! addresses, organization invitations, billing's trial-ending notices.
//!
//! [`Mailer`] sends through SMTP (`email.smtp_url`) or, when no server is
//! configured, through the development log transport, which writes the code
//! to the log so a developer can sign in without a mail server. That is the
//! only place a code may ever appear in a log; configuration validation
//! refuses the log transport when the public URL is `https://`.

mod message;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::Settings;
pub use message::CodePurpose;
use message::Email;
pub use settings::EmailSettings;

/// How long a verification code stays valid, in minutes; the emails say so,
/// and code verification must use the same value.
pub const CODE_TTL_MINUTES: u32 = 10;

/// The longest one delivery may take, connection included, so a slow or
/// unreachable mail server cannot hold a request for long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an email was not sent. No variant carries the code, so logging an
/// error cannot leak it.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The recipient is not a valid email address.
    #[error("invalid recipient address: {0}")]
    InvalidRecipient(lettre::address::AddressError),
    /// The message could not be assembled (a malformed header value).
    #[error("could not build the email: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server could not be reached, refused the message, or failed.
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The SMTP exchange did not finish within [`SEND_TIMEOUT`].
    #[error("SMTP delivery did not finish within {} seconds", SEND_TIMEOUT.as_secs())]
    Timeout,
}

/// Sends verification-code emails. Cheap to clone: clones share one
/// transport.
#[derive(Debug, Clone)]
pub struct Mailer {
    inner: Arc<MailerInner>,
}

#[derive(Debug)]
struct MailerInner {
    from: Mailbox,
    application_name: String,
    transport: Transport,
}

/// Where messages go.
#[derive(Debug)]
enum Transport {
    /// Production: the configured SMTP server, one connection per message.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development only: the message is written to the log.
    Log,
}

impl Mailer {
    /// The mailer `settings.email` describes. Settings are validated at
    /// load, so an error here means they were built by hand.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let email = &settings.email;
        let from = email
            .sender()
            .map_err(|problem| anyhow::anyhow!("email.from: {problem}"))?;
        let transport = match email
            .smtp_transport_builder()
            .map_err(|problem| anyhow::anyhow!("email.smtp_url: {problem}"))?
        {
            Some(builder) => Transport::Smtp(builder.timeout(Some(SEND_TIMEOUT)).build()),
            None => Transport::Log,
        };
        Ok(Self {
            inner: Arc::new(MailerInner {
                from,
                application_name: email.application_name.clone(),
                transport,
            }),
        })
    }

    /// Emails `code` to `to`, worded for `purpose`, saying it expires in
    /// [`CODE_TTL_MINUTES`]. Returns once the SMTP server has accepted the
    /// message (or the log transport has written it).
    pub async fn send_code(
        &self,
        to: &str,
        code: &str,
        purpose: CodePurpose,
    ) -> Result<(), NotifyError> {
        let email = Email::code(
            &self.inner.application_name,
            code,
            purpose,
            CODE_TTL_MINUTES,
        );
        // The development log transport shows the code: that is its purpose.
        self.send(to, &email, code).await
    }

    /// Emails an invitation to join `organization`, accepted at `url`.
    pub async fn send_invitation(
        &self,
        to: &str,
        organization: &str,
        url: &str,
        expires_in_days: i64,
    ) -> Result<(), NotifyError> {
        let email = Email::invitation(
            &self.inner.application_name,
            organization,
            url,
            expires_in_days,
        );
        self.send(to, &email, url).await
    }

    /// Tells a payer that the free trial of `plan` ends on `ends_on` (a
    /// date already formatted for people) and that `amount` (formatted,
    /// with its currency) will then be charged, unless `charged` is false
    /// (no card on file: the subscription then falls back to the free plan).
    pub async fn send_trial_ending(
        &self,
        to: &str,
        plan: &str,
        ends_on: &str,
        amount: &str,
        charged: bool,
    ) -> Result<(), NotifyError> {
        let email =
            Email::trial_ending(&self.inner.application_name, plan, ends_on, amount, charged);
        self.send(to, &email, ends_on).await
    }

    /// Sends `email`; the log transport writes `essence` (the code or link)
    /// so a developer can use it.
    async fn send(&self, to: &str, email: &Email, essence: &str) -> Result<(), NotifyError> {
        let inner = &*self.inner;
        let recipient: Mailbox = to.parse().map_err(NotifyError::InvalidRecipient)?;
        let message = email.to_message(inner.from.clone(), recipient)?;
        match &inner.transport {
            Transport::Smtp(smtp) => {
                tokio::time::timeout(SEND_TIMEOUT, smtp.send(message))
                    .await
                    .map_err(|_| NotifyError::Timeout)??;
            }
            Transport::Log => {
                tracing::info!(
                    to,
                    subject = %email.subject,
                    content = essence,
                    "development email (no email.smtp_url configured)"
                );
            }
        }
        Ok(())
    }
}
