//! What must hold however requests interleave: a deleted user keeps no
//! session and gets no token; the lockout and the email-code attempt limit
//! count every concurrent failure and no more; of concurrent requests for
//! the same email address or username exactly one wins. Each runs on
//! SQLite, PostgreSQL and PgBouncer; on PostgreSQL the concurrent requests
//! really overlap in the database (SQLite's write lock serialises them).

use crate::common::fapi::FapiClient;
use crate::common::smtp::{code_for, SmtpCapture};
use crate::common::{assert_error, user, Backend, TestApp, PASSWORD};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

on_every_backend!(
    deleting_a_user_ends_their_sessions_at_once,
    no_session_starts_for_a_user_deleted_meanwhile,
    concurrent_sign_ins_and_a_deletion_leave_no_live_session,
    a_right_password_after_a_concurrent_lock_is_refused,
    concurrent_wrong_codes_count_up_to_the_limit,
    a_code_is_used_once_by_concurrent_right_guesses,
    concurrent_duplicate_identifiers_have_one_winner,
);

/// Room in the hash queue for every request of a burst: these tests are
/// about races, not about shedding load.
const CONFIG: &str =
    "[frontend]\nallowed_origins = [\"http://app.example.com\"]\n[security]\npassword_hash_queue = 64\n";
/// Wrong guesses a code allows before it is void: the fifth is refused as
/// "too many" (`otp::MAX_ATTEMPTS`).
const INCORRECT_ANSWERS_PER_CODE: usize = 4;

/// How many answers had each (status, error code); `ok` for a 200.
fn tally(answers: &[(StatusCode, Value)]) -> BTreeMap<(u16, String), usize> {
    let mut counts = BTreeMap::new();
    for (status, body) in answers {
        let code = if *status == StatusCode::OK {
            "ok".to_owned()
        } else {
            body["errors"][0]["code"].as_str().unwrap_or("?").to_owned()
        };
        *counts.entry((status.as_u16(), code)).or_default() += 1;
    }
    counts
}

fn counts(entries: &[(u16, &str, usize)]) -> BTreeMap<(u16, String), usize> {
    entries
        .iter()
        .map(|(status, code, n)| ((*status, (*code).to_owned()), *n))
        .collect()
}

/// `n` callers acting as `owner`'s client.
fn copies<'a>(app: &'a TestApp, owner: &FapiClient<'a>, n: usize) -> Vec<FapiClient<'a>> {
    (0..n)
        .map(|_| {
            let mut caller = FapiClient::native(app);
            caller.token = owner.token.clone();
            caller
        })
        .collect()
}

fn wrong_code(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// The statuses of the user's sessions, by the Backend API.
async fn session_statuses(app: &TestApp, user_id: &str) -> Vec<String> {
    let (status, sessions) = app.get(&format!("/v1/sessions?user_id={user_id}")).await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Deleting a user removes every session of theirs at once: no token from
/// either API (not even one this process had cached), no session in the
/// client, no touch.
async fn deleting_a_user_ends_their_sessions_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "gone@example.com").await;
    let bystander = user(&app, "stays@example.com").await;
    let mut phone = FapiClient::native(&app);
    let session = phone.sign_in("gone@example.com", PASSWORD).await;
    let mut browser = FapiClient::web(&app);
    let other_session = browser.sign_in("gone@example.com", PASSWORD).await;
    let mut neighbour = FapiClient::native(&app);
    let kept = neighbour.sign_in("stays@example.com", PASSWORD).await;
    let (status, _) = phone.token(&session).await;
    assert_eq!(status, StatusCode::OK, "a token, now cached for reuse");
    let bapi_token = format!("/v1/sessions/{session}/tokens");
    assert_eq!(app.post(&bapi_token, json!({})).await.0, StatusCode::OK);

    let (status, deleted) = app.delete(&format!("/v1/users/{user_id}")).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);

    assert_error(
        &phone.token(&session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    assert_error(
        &browser.token(&other_session).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    assert_error(
        &app.post(&bapi_token, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );
    let (status, backend_view) = app.get(&format!("/v1/sessions/{session}")).await;
    assert_eq!(status, StatusCode::OK, "{backend_view}");
    assert_eq!(backend_view["status"], "removed");
    assert_eq!(
        session_statuses(&app, &user_id).await,
        ["removed", "removed"]
    );
    let (status, client) = phone.get("/v1/client").await;
    assert_eq!(status, StatusCode::OK, "{client}");
    assert_eq!(client["response"]["sessions"], json!([]), "{client}");
    assert_error(
        &phone
            .post(&format!("/v1/client/sessions/{session}/touch"), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "signed_out",
    );

    // Nobody else's session is touched.
    assert_eq!(neighbour.token(&kept).await.0, StatusCode::OK);
    assert_eq!(session_statuses(&app, &bystander).await, ["active"]);
}

/// The race the deletion must close: a sign-in (or a Backend API session)
/// that read the user just before the deletion asks for its session just
/// after the user's sessions were removed. The session service refuses it,
/// from what the deletion recorded in the session tables.
async fn no_session_starts_for_a_user_deleted_meanwhile(backend: Backend) {
    use steward::ids::{ClientId, UserId};
    use steward::modules::session::service as sessions;

    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "late@example.com").await;
    let mut phone = FapiClient::native(&app);
    phone.sign_in("late@example.com", PASSWORD).await;
    let (status, _) = app.delete(&format!("/v1/users/{user_id}")).await;
    assert_eq!(status, StatusCode::OK);

    let client = sessions::ensure_client(&app.state, None).await.unwrap();
    let refused = sessions::create_session(
        &app.state,
        ClientId::from(client.id),
        UserId::from(user_id.clone()),
        Some("password"),
    )
    .await
    .expect_err("no session for a deleted user");
    assert_eq!(refused.code().as_str(), "resource_not_found");
    assert_eq!(session_statuses(&app, &user_id).await, ["removed"]);
}

/// Sign-ins of a user racing the user's deletion: whichever finish first,
/// afterwards the user has no active session and no session gets a token.
async fn concurrent_sign_ins_and_a_deletion_leave_no_live_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, CONFIG).await;
    let user_id = user(&app, "racing@example.com").await;
    let mut callers: Vec<FapiClient> = (0..6).map(|_| FapiClient::native(&app)).collect();
    let sign_ins = join_all(callers.iter_mut().map(|caller| {
        caller.post(
            "/v1/client/sign_ins",
            &[("identifier", "racing@example.com"), ("password", PASSWORD)],
        )
    }));
    let path = format!("/v1/users/{user_id}");
    let deletion = app.delete(&path);
    let (answers, deleted) = futures_util::future::join(sign_ins, deletion).await;
    assert_eq!(deleted.0, StatusCode::OK, "{}", deleted.1);

    for (caller, (status, body)) in callers.iter_mut().zip(&answers) {
        if *status != StatusCode::OK {
            // Refused: the user was gone by the time it looked.
            assert!(status.is_client_error(), "{status} {body}");
            continue;
        }
        let session = body["response"]["created_session_id"].as_str().unwrap();
        assert_error(
            &caller.token(session).await,
            StatusCode::UNAUTHORIZED,
            "signed_out",
        );
    }
    let statuses = session_statuses(&app, &user_id).await;
    assert!(
        statuses.iter().all(|s| s == "removed"),
        "every session that started was removed: {statuses:?}"
    );
}

/// 30 wrong passwords at once, then the right one while they are still
/// being checked: the lock fires on the fifth failure, every check decided
/// after it is refused as locked, the right password included.
async fn a_right_password_after_a_concurrent_lock_is_refused(backend: Backend) {
    // One hashing thread: the checks finish one after the other, so the
    // right password, sent when the first answer is in, is read before the
    // lock fires and checked after it.
    let config =
        format!("{CONFIG}password_hash_threads = 1\n[security.lockout]\nmax_attempts = 5\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let user_id = user(&app, "burst@example.com").await;
    let first_answer = tokio::sync::Notify::new();
    let wrong = join_all((0..30).map(|_| async {
        let mut caller = FapiClient::native(&app);
        let answer = caller
            .post(
                "/v1/client/sign_ins",
                &[
                    ("identifier", "burst@example.com"),
                    ("password", "wrong password"),
                ],
            )
            .await;
        first_answer.notify_one();
        answer
    }));
    let right = async {
        first_answer.notified().await;
        let mut caller = FapiClient::native(&app);
        caller
            .post(
                "/v1/client/sign_ins",
                &[("identifier", "burst@example.com"), ("password", PASSWORD)],
            )
            .await
    };
    let (wrong, right) = futures_util::future::join(wrong, right).await;

    assert_eq!(
        tally(&wrong),
        counts(&[
            (422, "form_password_incorrect", 4),
            (403, "user_locked", 26)
        ]),
        "four failures answered as such, the fifth locks, the rest find the lock"
    );
    let error = assert_error(&right, StatusCode::FORBIDDEN, "user_locked");
    assert!(
        error["meta"]["lockout_expires_in_seconds"]
            .as_i64()
            .unwrap()
            > 3500
    );
    let (_, locked) = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(locked["locked"], true);
    assert_eq!(session_statuses(&app, &user_id).await, Vec::<String>::new());
}

/// Sends 20 wrong guesses at `attempt` at once, as `owner`'s client: four
/// are answered "incorrect", the rest find the code void, and so does the
/// right code after them.
async fn twenty_wrong_guesses(
    app: &TestApp,
    owner: &mut FapiClient<'_>,
    attempt: &str,
    code: &str,
) {
    let guess = [("strategy", "email_code"), ("code", wrong_code(code))];
    let mut guessers = copies(app, owner, 20);
    let answers = join_all(guessers.iter_mut().map(|c| c.post(attempt, &guess))).await;
    let expected = counts(&[
        (422, "form_code_incorrect", INCORRECT_ANSWERS_PER_CODE),
        (429, "verification_failed", 20 - INCORRECT_ANSWERS_PER_CODE),
    ]);
    assert_eq!(tally(&answers), expected, "{attempt}");
    let right = [("strategy", "email_code"), ("code", code)];
    assert_error(
        &owner.post(attempt, &right).await,
        StatusCode::TOO_MANY_REQUESTS,
        "verification_failed",
    );
}

/// 20 wrong codes at once get exactly four "incorrect" answers, for a
/// sign-in, a sign-up and an added email address alike; the code is void
/// after, so the right one fails too.
async fn concurrent_wrong_codes_count_up_to_the_limit(backend: Backend) {
    let smtp = SmtpCapture::start();
    let config = format!("{CONFIG}[email]\nsmtp_url = \"{}\"\n", smtp.url);
    let app = TestApp::spawn_with(backend, &config).await;

    // Sign-in with an email code.
    user(&app, "signin@example.com").await;
    let mut phone = FapiClient::native(&app);
    let (_, body) = phone
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "signin@example.com")],
        )
        .await;
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let (status, body) = phone
        .post(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = code_for(&smtp, "signin@example.com");
    let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    twenty_wrong_guesses(&app, &mut phone, &attempt, &code).await;

    // Sign-up.
    let mut newcomer = FapiClient::native(&app);
    let (status, body) = newcomer
        .post(
            "/v1/client/sign_ups",
            &[
                ("email_address", "signup@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    let (status, body) = newcomer
        .post(
            &format!("/v1/client/sign_ups/{id}/prepare_verification"),
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = code_for(&smtp, "signup@example.com");
    let attempt = format!("/v1/client/sign_ups/{id}/attempt_verification");
    twenty_wrong_guesses(&app, &mut newcomer, &attempt, &code).await;

    // An email address added by a signed-in user.
    user(&app, "owner@example.com").await;
    let mut owner = FapiClient::native(&app);
    owner.sign_in("owner@example.com", PASSWORD).await;
    let (status, added) = owner
        .post(
            "/v1/me/email_addresses",
            &[("email_address", "added@example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let email_id = added["response"]["id"].as_str().unwrap().to_owned();
    let (status, body) = owner
        .post(
            &format!("/v1/me/email_addresses/{email_id}/prepare_verification"),
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let code = code_for(&smtp, "added@example.com");
    let attempt = format!("/v1/me/email_addresses/{email_id}/attempt_verification");
    twenty_wrong_guesses(&app, &mut owner, &attempt, &code).await;
}

/// The right code sent five times at once signs in once: one session.
async fn a_code_is_used_once_by_concurrent_right_guesses(backend: Backend) {
    let smtp = SmtpCapture::start();
    let config = format!("{CONFIG}[email]\nsmtp_url = \"{}\"\n", smtp.url);
    let app = TestApp::spawn_with(backend, &config).await;
    let user_id = user(&app, "once@example.com").await;
    let mut phone = FapiClient::native(&app);
    let (_, body) = phone
        .post("/v1/client/sign_ins", &[("identifier", "once@example.com")])
        .await;
    let id = body["response"]["id"].as_str().unwrap().to_owned();
    phone
        .post(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor"),
            &[("strategy", "email_code")],
        )
        .await;
    let code = code_for(&smtp, "once@example.com");
    let attempt = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    let right = [("strategy", "email_code"), ("code", code.as_str())];
    let mut guessers = copies(&app, &phone, 5);
    let answers = join_all(guessers.iter_mut().map(|c| c.post(&attempt, &right))).await;
    let wins = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(wins, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["code"], "verification_expired", "{body}");
    }
    assert_eq!(session_statuses(&app, &user_id).await, ["active"]);
}

/// Concurrent creations of the same email address or username, by the
/// Backend API, by sign-ups, and by adding an address: exactly one wins,
/// the others get Clerk's 422 `form_identifier_exists` naming the field.
async fn concurrent_duplicate_identifiers_have_one_winner(backend: Backend) {
    let config = format!("{CONFIG}[auth]\nemail_address_required = false\n");
    let app = &TestApp::spawn_with(backend, &config).await;
    let one_winner = |param: &str| {
        counts(&[(200, "ok", 1), (422, "form_identifier_exists", 7)])
            .into_iter()
            .chain(std::iter::once(((0, param.to_owned()), 7)))
            .collect::<BTreeMap<_, _>>()
    };
    /// The tally, plus how many errors named each parameter (status 0).
    fn with_params(answers: &[(StatusCode, Value)]) -> BTreeMap<(u16, String), usize> {
        let mut counts = tally(answers);
        for (_, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
            let param = body["errors"][0]["meta"]["param_name"]
                .as_str()
                .unwrap_or("?");
            *counts.entry((0, param.to_owned())).or_default() += 1;
        }
        counts
    }

    let creates = join_all((0..8).map(|i| {
        app.post(
            "/v1/users",
            json!({"email_address": ["same@example.com"], "username": format!("person{i}"), "password": PASSWORD}),
        )
    }))
    .await;
    assert_eq!(
        with_params(&creates),
        one_winner("email_address"),
        "{creates:?}"
    );
    let creates = join_all((0..8).map(|i| {
        app.post(
            "/v1/users",
            json!({"email_address": [format!("u{i}@example.com")], "username": "samename", "password": PASSWORD}),
        )
    }))
    .await;
    assert_eq!(with_params(&creates), one_winner("username"), "{creates:?}");
    assert_eq!(app.user_count().await, 2, "one user from each batch");

    // Renames to one username at once.
    let mut renamed = Vec::new();
    for i in 0..8 {
        renamed.push(user(app, &format!("rename{i}@example.com")).await);
    }
    let renames = join_all(renamed.iter().map(|id| async move {
        app.patch(&format!("/v1/users/{id}"), json!({"username": "newname"}))
            .await
    }))
    .await;
    assert_eq!(with_params(&renames), one_winner("username"), "{renames:?}");

    // Sign-ups that complete at once with the same username.
    let mut newcomers: Vec<FapiClient> = (0..8).map(|_| FapiClient::native(app)).collect();
    let mut ids = Vec::new();
    for newcomer in &mut newcomers {
        let (status, body) = newcomer
            .post(
                "/v1/client/sign_ups",
                &[("username", "signupname"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["response"]["id"].as_str().unwrap().to_owned());
    }
    let completions = join_all(
        newcomers
            .iter_mut()
            .zip(&ids)
            .map(|(newcomer, id)| async move {
                newcomer
                    .call(
                        Method::PATCH,
                        &format!("/v1/client/sign_ups/{id}"),
                        &[("first_name", "New")],
                    )
                    .await
            }),
    )
    .await;
    assert_eq!(
        with_params(&completions),
        one_winner("username"),
        "{completions:?}"
    );

    // Signed-in users adding the same address at once.
    let mut owners = Vec::new();
    for i in 0..8 {
        let email = format!("adder{i}@example.com");
        user(app, &email).await;
        let mut owner = FapiClient::native(app);
        owner.sign_in(&email, PASSWORD).await;
        owners.push(owner);
    }
    let adds = join_all(owners.iter_mut().map(|owner| {
        owner.post(
            "/v1/me/email_addresses",
            &[("email_address", "shared@example.com")],
        )
    }))
    .await;
    assert_eq!(with_params(&adds), one_winner("email_address"), "{adds:?}");
}
