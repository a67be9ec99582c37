//! Email delivery through a real SMTP server (aiosmtpd capturing to a
//! Maildir), and what happens when no server answers.

use std::time::{Duration, Instant};

use crate::common::smtp::SmtpCapture;
use crate::common::{fresh_database, test_settings, Backend, TEST_SECRET_KEY};
use steward::config::Settings;
use steward::notify::{CodePurpose, Mailer, NotifyError, SEND_TIMEOUT};

/// Settings whose `[email]` section sends through `smtp_url`.
fn settings_with_smtp(dir: &tempfile::TempDir, smtp_url: &str) -> Settings {
    let database_url = fresh_database(Backend::Sqlite, dir.path());
    let extra = format!("[email]\nsmtp_url = \"{smtp_url}\"\n");
    test_settings(&database_url, dir.path(), &extra, TEST_SECRET_KEY)
}

/// The value of header `name` in a raw message (unfolded headers only).
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
        .unwrap_or_else(|| panic!("no {name} header in:\n{message}"))
}

#[tokio::test]
async fn sign_up_code_reaches_the_smtp_server() {
    let capture = SmtpCapture::start();
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::from_settings(&settings_with_smtp(&dir, &capture.url)).unwrap();

    mailer
        .send_code("ada@example.com", "493817", CodePurpose::SignUp)
        .await
        .expect("the capture server accepts the message");

    let message = capture.wait_for_message("ada@example.com", Duration::from_secs(10));
    assert_eq!(header(&message, "To"), "ada@example.com");
    assert_eq!(
        header(&message, "From"),
        "Steward <no-reply@steward.invalid>"
    );
    assert_eq!(
        header(&message, "Subject"),
        "Your Steward verification code"
    );
    assert!(header(&message, "Message-ID").ends_with("@steward.invalid>"));
    assert!(header(&message, "Content-Type").starts_with("multipart/alternative"));
    assert!(message.contains("Content-Type: text/plain"), "{message}");
    assert!(message.contains("Content-Type: text/html"), "{message}");
    assert!(message.contains("493817"), "{message}");
    assert!(message.contains("expires in 10 minutes"), "{message}");
}

#[tokio::test]
async fn unreachable_server_is_an_error_without_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let nothing_listens = format!("smtp://127.0.0.1:{}", crate::common::postgres::free_port());
    let mailer = Mailer::from_settings(&settings_with_smtp(&dir, &nothing_listens)).unwrap();

    let started = Instant::now();
    let error = mailer
        .send_code("ada@example.com", "493817", CodePurpose::SignIn)
        .await
        .expect_err("nothing listens on the port");

    assert!(
        started.elapsed() <= SEND_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, NotifyError::Smtp(_)), "{error:?}");
    let shown = error.to_string();
    assert!(!shown.contains("493817"), "the code leaked: {shown}");
}

#[tokio::test]
async fn invalid_recipient_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::from_settings(&settings_with_smtp(&dir, "")).unwrap();

    let error = mailer
        .send_code("not an address", "493817", CodePurpose::AddEmailAddress)
        .await
        .expect_err("the recipient is not an address");

    assert!(
        matches!(error, NotifyError::InvalidRecipient(_)),
        "{error:?}"
    );
    assert!(!error.to_string().contains("493817"));
}

#[tokio::test]
async fn log_transport_sends_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::from_settings(&settings_with_smtp(&dir, "")).unwrap();

    mailer
        .send_code("ada@example.com", "493817", CodePurpose::SignIn)
        .await
        .expect("the development log transport always accepts");
}
