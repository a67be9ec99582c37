//! The wording of Steward's emails (verification codes, organization
//! invitations, trial-ending notices): subject, plain text and HTML.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

/// Why a code is sent; it picks the subject and the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Verifying the email address of a new sign-up.
    SignUp,
    /// Signing in with a one-time code instead of (or after) a password.
    SignIn,
    /// Verifying an address a signed-in user adds to their account.
    AddEmailAddress,
}

/// An email before it is addressed: what every transport sends or logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Email {
    /// An invitation to join `organization`, accepted at `url`.
    pub fn invitation(
        application_name: &str,
        organization: &str,
        url: &str,
        expires_in_days: i64,
    ) -> Self {
        let app = application_name;
        let subject = format!("You are invited to join {organization} on {app}");
        let action = format!(
            "You have been invited to join {organization} on {app}. Accept the invitation here:"
        );
        let expiry = format!("The invitation expires in {expires_in_days} days.");
        let not_you = "If you did not expect this invitation, you can ignore this email.";
        let text = format!("{action}\n\n{url}\n\n{expiry}\n\n{not_you}\n");
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; color: #222;\">\n\
             <p>{}</p>\n<p><a href=\"{}\">Accept the invitation</a></p>\n<p>{}</p>\n\
             <p style=\"color: #666;\">{}</p>\n</body></html>\n",
            escape_html(&action),
            escape_html(url),
            escape_html(&expiry),
            escape_html(not_you),
        );
        Self {
            subject,
            text,
            html,
        }
    }

    /// The notice that a free trial of `plan` ends on `ends_on`.
    pub fn trial_ending(
        application_name: &str,
        plan: &str,
        ends_on: &str,
        amount: &str,
        charged: bool,
    ) -> Self {
        let app = application_name;
        let subject = format!("Your {app} free trial of {plan} ends on {ends_on}");
        let what = format!("Your free trial of the {plan} plan on {app} ends on {ends_on}.");
        let then = if charged {
            format!("Your card on file will then be charged {amount} for the next period, unless you cancel before.")
        } else {
            format!("Add a card before then to keep {plan} ({amount} per period); otherwise your subscription moves back to the free plan.")
        };
        let text = format!("{what}\n\n{then}\n");
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; color: #222;\">\n\
             <p>{}</p>\n<p>{}</p>\n</body></html>\n",
            escape_html(&what),
            escape_html(&then),
        );
        Self {
            subject,
            text,
            html,
        }
    }

    /// The email for `code`, which expires after `ttl_minutes`.
    pub fn code(
        application_name: &str,
        code: &str,
        purpose: CodePurpose,
        ttl_minutes: u32,
    ) -> Self {
        let app = application_name;
        let (subject, action, not_you) = match purpose {
            CodePurpose::SignUp => (
                format!("Your {app} verification code"),
                format!("Enter this code to finish signing up for {app}:"),
                "If you did not try to sign up, you can ignore this email.",
            ),
            CodePurpose::SignIn => (
                format!("Your {app} sign-in code"),
                format!("Enter this code to sign in to {app}:"),
                "If you did not try to sign in, you can ignore this email; your account stays safe as long as nobody has this code.",
            ),
            CodePurpose::AddEmailAddress => (
                format!("Verify your email address for {app}"),
                format!("Enter this code to add this email address to your {app} account:"),
                "If you did not ask for this, you can ignore this email.",
            ),
        };
        let expiry = format!("This code expires in {ttl_minutes} minutes.");
        let text = format!("{action}\n\n    {code}\n\n{expiry}\n\n{not_you}\n");
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; color: #222;\">\n\
             <p>{}</p>\n\
             <p style=\"font-size: 32px; font-weight: bold; letter-spacing: 6px; font-family: monospace;\">{}</p>\n\
             <p>{}</p>\n<p style=\"color: #666;\">{}</p>\n</body></html>\n",
            escape_html(&action),
            escape_html(code),
            escape_html(&expiry),
            escape_html(not_you),
        );
        Self {
            subject,
            text,
            html,
        }
    }

    /// The MIME message from `from` to `to`, with plain-text and HTML
    /// alternatives and a Message-ID in the sender's domain (spam filters
    /// distrust mail without one, and not every relay adds it).
    pub fn to_message(&self, from: Mailbox, to: Mailbox) -> Result<Message, lettre::error::Error> {
        let message_id = format!("<{:032x}@{}>", rand::random::<u128>(), from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(from)
            .to(to)
            .subject(self.subject.as_str())
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
    }
}

/// Escapes text for HTML element content; the application name is
/// operator-supplied and may contain `&` or `<`.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purpose_has_its_subject_the_code_and_the_expiry() {
        let subjects = [
            (CodePurpose::SignUp, "Your Acme verification code"),
            (CodePurpose::SignIn, "Your Acme sign-in code"),
            (
                CodePurpose::AddEmailAddress,
                "Verify your email address for Acme",
            ),
        ];
        for (purpose, subject) in subjects {
            let email = Email::code("Acme", "424242", purpose, 10);
            assert_eq!(email.subject, subject);
            for body in [&email.text, &email.html] {
                assert!(body.contains("424242"), "{purpose:?}: {body}");
                assert!(
                    body.contains("expires in 10 minutes"),
                    "{purpose:?}: {body}"
                );
            }
        }
    }

    #[test]
    fn html_escapes_the_application_name() {
        let email = Email::code("A & <B>", "123456", CodePurpose::SignIn, 10);
        assert!(email.html.contains("A &amp; &lt;B&gt;"), "{}", email.html);
        assert!(email.text.contains("A & <B>"));
    }
}
