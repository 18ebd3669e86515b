//! Contract section 5, by mail: verification and password reset, delivered through a real
//! SMTP server (aiosmtpd), and the outbox that survives SMTP outages and restarts.

mod common;

use std::{sync::Arc, time::Instant};

use common::{
    PASSWORD, TestServer,
    smtp::{SmtpSink, free_port},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn server_with(sink: &SmtpSink, extra: &[(&str, &str)]) -> TestServer {
    let url = sink.url();
    let mut env = vec![
        ("CASTELLAN_SMTP__URL", url.as_str()),
        ("CASTELLAN_SMTP__FROM", "Castellan <auth@example.com>"),
    ];
    env.extend_from_slice(extra);
    TestServer::start_with(&env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_mails_a_link_that_verifies_the_address_once() {
    let sink = SmtpSink::start().await;
    let app = server_with(&sink, &[]).await;
    app.register("alice").await;
    let mail = sink.wait_for("alice@example.com", 1).await;
    assert_eq!(mail.from, "auth@example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    assert!(
        mail.link()
            .starts_with("http://localhost:8000/verify-email?token="),
        "{}",
        mail.text
    );
    let token = mail.token();
    assert!(token.len() >= 40, "{token}");
    assert!(
        mail.html.contains(&format!("token={token}")),
        "{}",
        mail.html
    );
    assert!(mail.text.contains("alice"));

    let wrong = app
        .post("/auth/email/verify", json!({"token": "nope"}))
        .await;
    wrong.assert_error(401, "TOKEN_INVALID");
    let missing = app.post("/auth/email/verify", json!({})).await;
    missing.assert_error(400, "VALIDATION_ERROR");

    let ok = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["email_verified"], true);
    assert_eq!(ok.body["username"], "alice");
    let (access, _) = app.login("alice").await;
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["email_verified"],
        true
    );

    let again = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    again.assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn resend_is_limited_per_user_and_sends_a_fresh_link() {
    let sink = SmtpSink::start().await;
    let app = server_with(
        &sink,
        &[(
            "CASTELLAN_ACCOUNTS__LINK_BASE",
            "https://app.example.com/account",
        )],
    )
    .await;
    let (alice, _) = app.user_with_tokens("alice").await;
    let (bob, _) = app.user_with_tokens("bob").await;
    let first = sink.wait_for("alice@example.com", 1).await;
    assert!(
        first
            .link()
            .starts_with("https://app.example.com/account/verify-email?token=")
    );

    // The registration mail was just sent: a resend now is too soon.
    let soon = app
        .call(Method::POST, "/auth/email/resend", Some(&alice), None)
        .await;
    soon.assert_error(429, "RATE_LIMITED");
    assert!(soon.header("retry-after").is_some());
    assert_eq!(
        app.call(Method::POST, "/auth/email/resend", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    app.advance_clock(61).await;
    let ok = app
        .call(Method::POST, "/auth/email/resend", Some(&alice), None)
        .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text);
    assert!(ok.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Alice's limit is hers alone.
    let other = app
        .call(Method::POST, "/auth/email/resend", Some(&bob), None)
        .await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    let again = app
        .call(Method::POST, "/auth/email/resend", Some(&alice), None)
        .await;
    again.assert_error(429, "RATE_LIMITED");

    let second = sink.wait_for("alice@example.com", 2).await;
    assert_ne!(second.token(), first.token());
    let ok = app
        .post("/auth/email/verify", json!({"token": second.token()}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let done = app
        .call(Method::POST, "/auth/email/resend", Some(&alice), None)
        .await;
    done.assert_error(409, "ALREADY_VERIFIED");
}

#[tokio::test(flavor = "multi_thread")]
async fn unverified_users_cannot_log_in_when_verification_is_required() {
    let sink = SmtpSink::start().await;
    let app = server_with(
        &sink,
        &[("CASTELLAN_ACCOUNTS__REQUIRE_VERIFIED_EMAIL", "true")],
    )
    .await;
    app.register("carol").await;
    let refused = app
        .post(
            "/auth/token",
            json!({"username": "carol", "password": PASSWORD}),
        )
        .await;
    refused.assert_error(403, "EMAIL_NOT_VERIFIED");
    // A wrong password still gets the ordinary answer: nothing is revealed without it.
    let wrong = app
        .post(
            "/auth/token",
            json!({"username": "carol", "password": "wrong-password-1"}),
        )
        .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");

    let mail = sink.wait_for("carol@example.com", 1).await;
    let ok = app
        .post("/auth/email/verify", json!({"token": mail.token()}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    app.login("carol").await;
}

async fn timed_forgot(app: &TestServer, email: &str) -> (u128, common::Reply) {
    let started = Instant::now();
    let reply = app
        .post("/auth/password/forgot", json!({"email": email}))
        .await;
    (started.elapsed().as_micros(), reply)
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_answers_alike_for_unknown_addresses() {
    let sink = SmtpSink::start().await;
    let app = server_with(&sink, &[]).await;
    app.register("dave").await;
    sink.wait_for("dave@example.com", 1).await;

    let (_, known) = timed_forgot(&app, "dave@example.com").await;
    let (_, unknown) = timed_forgot(&app, "nobody@example.com").await;
    assert_eq!(known.status, StatusCode::ACCEPTED, "{}", known.text);
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.text, known.text, "bodies differ");

    // Same work on the request path: medians of interleaved samples stay close.
    let (mut k, mut u) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        k.push(timed_forgot(&app, "dave@example.com").await.0);
        u.push(timed_forgot(&app, "nobody@example.com").await.0);
    }
    k.sort();
    u.sort();
    let (k, u) = (k[4] as i128, u[4] as i128);
    assert!(
        (k - u).abs() < 25_000,
        "median known {k} µs vs unknown {u} µs"
    );

    let reset = sink.wait_for("dave@example.com", 2).await;
    assert_eq!(reset.subject, "Reset your password");
    assert!(reset.link().contains("/reset-password?token="));
    assert!(sink.mails_to("nobody@example.com").is_empty());

    let bad = app.post("/auth/password/forgot", json!({})).await;
    bad.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_is_single_use_and_ends_every_session() {
    let sink = SmtpSink::start().await;
    let app = server_with(&sink, &[]).await;
    let (access, refresh) = app.user_with_tokens("erin").await;
    let (access2, _) = app.login("erin").await;
    app.post(
        "/auth/password/forgot",
        json!({"email": "ERIN@example.com"}),
    )
    .await;
    // Mail 1 verifies the address, mail 2 resets the password.
    let mail = sink.wait_for("erin@example.com", 2).await;
    let token = mail.token();

    let weak = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "password"}),
        )
        .await;
    weak.assert_error(400, "VALIDATION_ERROR");
    assert!(weak.body["error"]["details"]["new_password"].is_array());

    let new_password = "a-brand-new-passphrase";
    let ok = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    for a in [&access, &access2] {
        app.get("/auth/me", Some(a))
            .await
            .assert_error(401, "TOKEN_INVALID");
    }
    let old_refresh = app
        .post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await;
    old_refresh.assert_error(401, "TOKEN_INVALID");
    let old = app
        .post(
            "/auth/token",
            json!({"username": "erin", "password": PASSWORD}),
        )
        .await;
    old.assert_error(401, "INVALID_CREDENTIALS");
    let new = app
        .post(
            "/auth/token",
            json!({"username": "erin", "password": new_password}),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);

    let reuse = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "yet-another-passphrase"}),
        )
        .await;
    reuse.assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_links_expire() {
    let sink = SmtpSink::start().await;
    let app = server_with(&sink, &[("CASTELLAN_ACCOUNTS__RESET_TTL", "10m")]).await;
    app.register("frank").await;
    app.post(
        "/auth/password/forgot",
        json!({"email": "frank@example.com"}),
    )
    .await;
    let first = sink.wait_for("frank@example.com", 2).await;
    assert!(first.text.contains("10 minutes"), "{}", first.text);
    app.advance_clock(601).await;
    let late = app
        .post(
            "/auth/password/reset",
            json!({"token": first.token(), "new_password": "a-brand-new-passphrase"}),
        )
        .await;
    late.assert_error(401, "TOKEN_INVALID");

    // A fresh link made after the clock moved still works.
    app.post(
        "/auth/password/forgot",
        json!({"email": "frank@example.com"}),
    )
    .await;
    let second = sink.wait_for("frank@example.com", 3).await;
    let ok = app
        .post(
            "/auth/password/reset",
            json!({"token": second.token(), "new_password": "a-brand-new-passphrase"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_outage_and_a_crash_lose_no_acknowledged_mail() {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let env = [("CASTELLAN_SMTP__URL", url.as_str())];
    let mut first = TestServer::start_with(&env).await;
    let db = first.db.clone();
    // SMTP is down: requests still succeed.
    first.register("gina").await;
    let forgot = first
        .post(
            "/auth/password/forgot",
            json!({"email": "gina@example.com"}),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED);
    // Let the worker fail at least once, then crash without any chance to clean up.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(
        first.logs().contains("mail not delivered"),
        "{}",
        first.logs()
    );
    first.kill().await;

    let sink = SmtpSink::start_on(port).await;
    let second = TestServer::start_on(Arc::clone(&db), &env).await;
    // Past any retry backoff and lease the crashed worker held.
    second.advance_clock(700).await;
    let mut subjects: Vec<String> = Vec::new();
    for n in 1..=2 {
        subjects.push(sink.wait_for("gina@example.com", n).await.subject);
    }
    subjects.sort();
    assert_eq!(
        subjects,
        ["Confirm your email address", "Reset your password"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_mail_goes_to_the_log_and_tokens_nowhere_else() {
    // The development opt-in: links (with their tokens) in the logged mail.
    let app = TestServer::start_with(&[("CASTELLAN_MAIL__LOG_LINKS", "true")]).await;
    app.register("hana").await;
    let mut token = None;
    for _ in 0..100 {
        let logs = app.logs();
        if let Some(line) = logs.lines().find(|l| l.contains("verify-email?token=")) {
            let at = line.find("token=").unwrap() + "token=".len();
            token = Some(
                line[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>(),
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("the verification mail was not logged");
    let ok = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let (access, refresh) = app.login("hana").await;
    app.get("/auth/me", Some(&access)).await;
    let logs = app.logs();
    let mentions: Vec<&str> = logs.lines().filter(|l| l.contains(&token)).collect();
    assert_eq!(
        mentions.len(),
        1,
        "the token is logged outside its mail: {mentions:?}"
    );
    assert!(mentions[0].contains("mail (no smtp.url configured)"));
    assert!(!logs.contains(&access) && !logs.contains(&refresh));
}

#[tokio::test(flavor = "multi_thread")]
async fn templates_from_a_directory_replace_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("verify_email.subject"),
        "Welcome, {{username}}!\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("verify_email.txt"),
        "Hi {{username}}, confirm here: {{link}} (valid {{expires_minutes}} min)\n",
    )
    .unwrap();
    let sink = SmtpSink::start().await;
    let templates = dir.path().to_str().unwrap().to_owned();
    let app = server_with(&sink, &[("CASTELLAN_MAIL__TEMPLATES_DIR", &templates)]).await;
    app.register("ivan").await;
    let mail = sink.wait_for("ivan@example.com", 1).await;
    assert_eq!(mail.subject, "Welcome, ivan!");
    assert!(
        mail.text
            .starts_with("Hi ivan, confirm here: http://localhost:8000/verify-email?token=")
    );
    assert!(mail.text.contains("(valid 2880 min)"));
    // The HTML body had no file of its own: the default stays.
    assert!(
        mail.html
            .contains("<a href=\"http://localhost:8000/verify-email?token=")
    );
}
