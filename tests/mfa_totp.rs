//! TOTP MFA with pyotp as the authenticator app: setup, confirmation, the second login
//! step, replay protection, parallel use of one code or one recovery code, and turning it off.

mod common;

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{
    PASSWORD, TestServer,
    python::{parse_otpauth, totp_code},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The first login step: asserts `MFA_REQUIRED` and returns the mfa_token.
async fn mfa_token(app: &TestServer, name: &str) -> String {
    let reply = app
        .post(
            "/auth/token",
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    reply.assert_error(401, "MFA_REQUIRED");
    assert!(reply.body.get("access_token").is_none());
    reply.body["error"]["details"]["mfa_token"]
        .as_str()
        .expect("mfa_token")
        .to_owned()
}

async fn verify(app: &TestServer, body: Value) -> common::Reply {
    app.post("/auth/mfa/verify", body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_gives_what_an_authenticator_app_reads() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("alice").await;
    let setup = app
        .call(Method::POST, "/auth/mfa/totp/setup", Some(&access), None)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    let secret = setup.str("secret");
    let (parsed_secret, issuer, name, digits, period) = parse_otpauth(&setup.str("otpauth_uri"));
    assert_eq!(parsed_secret, secret);
    assert_eq!(
        (issuer.as_str(), name.as_str(), digits, period),
        ("Castellan", "alice", 6, 30)
    );
    let qr = setup.str("qr");
    let png = STANDARD
        .decode(
            qr.strip_prefix("data:image/png;base64,")
                .expect("PNG data URI"),
        )
        .expect("base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(setup.header("cache-control").as_deref(), Some("no-store"));

    // Not on until confirmed; a wrong code does not confirm.
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        false
    );
    let wrong = app
        .call(
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&access),
            Some(json!({"code": "000000"})),
        )
        .await;
    wrong.assert_error(400, "VALIDATION_ERROR");
    app.login("alice").await;

    let code = totp_code(&secret, app.now().await);
    let ok = app
        .call(
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&access),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let codes: Vec<&str> = ok.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10
    );
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        true
    );
    let again = app
        .call(Method::POST, "/auth/mfa/totp/setup", Some(&access), None)
        .await;
    again.assert_error(409, "MFA_ALREADY_ENABLED");
    assert!(!app.logs().contains(&secret), "the TOTP secret was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_takes_a_second_step_and_a_code_works_once() {
    let app = TestServer::start().await;
    let (_, secret, _) = app.enable_mfa("bob").await;
    let form = app
        .client
        .post(app.url("/auth/token"))
        .form(&[("username", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNAUTHORIZED);

    let now = app.now().await;
    let token = mfa_token(&app, "bob").await;
    let ok = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now)}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.body["token_type"], "bearer");
    let me = app.get("/auth/me", Some(&ok.str("access_token"))).await;
    assert_eq!(me.body["username"], "bob");
    // The mfa_token is spent.
    let spent = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now)}),
    )
    .await;
    spent.assert_error(401, "TOKEN_INVALID");

    // Replay: the same code with a fresh mfa_token, and an older step, are refused.
    let token = mfa_token(&app, "bob").await;
    let replay = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now)}),
    )
    .await;
    replay.assert_error(401, "INVALID_MFA_CODE");
    let older = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now - 30)}),
    )
    .await;
    older.assert_error(401, "INVALID_MFA_CODE");
    // One step ahead is within the window; two steps are not.
    let far = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now + 90)}),
    )
    .await;
    far.assert_error(401, "INVALID_MFA_CODE");
    let ahead = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now + 30)}),
    )
    .await;
    assert_eq!(ahead.status, StatusCode::OK, "{}", ahead.text);

    // The trail tells the password step from the finished login and the failed codes.
    let (_, admin) = app.superuser("root").await;
    let bob = app.my_id(&ahead.str("access_token")).await;
    let trail = app
        .get(&format!("/admin/audit?user_id={bob}&limit=6"), Some(&admin))
        .await;
    let events: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "login.success",
            "login.mfa_failure",
            "login.mfa_failure",
            "login.mfa_failure",
            "login.mfa_required",
            "login.password_verified"
        ],
        "{}",
        trail.text
    );
    assert_eq!(trail.body["items"][0]["details"]["mfa"], "totp");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mfa_token_expires_and_allows_few_attempts() {
    let app = TestServer::start().await;
    let (_, secret, _) = app.enable_mfa("carol").await;
    let token = mfa_token(&app, "carol").await;
    for _ in 0..5 {
        let wrong = verify(&app, json!({"mfa_token": token, "code": "123456"})).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let now = app.now().await;
    let exhausted = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now)}),
    )
    .await;
    exhausted.assert_error(401, "TOKEN_INVALID");

    let token = mfa_token(&app, "carol").await;
    app.advance_clock(301).await;
    let now = app.now().await;
    let late = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, now)}),
    )
    .await;
    late.assert_error(401, "TOKEN_INVALID");
    let missing = verify(&app, json!({"mfa_token": token})).await;
    missing.assert_error(400, "VALIDATION_ERROR");
}

/// Sends every body at once; returns how many got 200.
async fn race(app: &TestServer, bodies: Vec<Value>) -> usize {
    let calls = bodies.into_iter().map(|b| verify(app, b));
    futures::future::join_all(calls)
        .await
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_code_used_in_parallel_succeeds_exactly_once() {
    let app = TestServer::start().await;
    let (_, secret, _) = app.enable_mfa("dave").await;
    let mut tokens = Vec::new();
    for _ in 0..6 {
        tokens.push(mfa_token(&app, "dave").await);
    }
    let code = totp_code(&secret, app.now().await);
    let bodies = tokens
        .iter()
        .map(|t| json!({"mfa_token": t, "code": code}))
        .collect();
    assert_eq!(race(&app, bodies).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn recovery_codes_are_single_use_even_in_parallel() {
    let app = TestServer::start().await;
    let (_, _, codes) = app.enable_mfa("erin").await;
    let mut tokens = Vec::new();
    for _ in 0..6 {
        tokens.push(mfa_token(&app, "erin").await);
    }
    let bodies = tokens
        .iter()
        .map(|t| json!({"mfa_token": t, "recovery_code": codes[0]}))
        .collect();
    assert_eq!(race(&app, bodies).await, 1);

    let token = mfa_token(&app, "erin").await;
    let reused = verify(&app, json!({"mfa_token": token, "recovery_code": codes[0]})).await;
    reused.assert_error(401, "INVALID_MFA_CODE");
    // Codes are read without regard to case or the dash.
    let other = codes[1].to_uppercase().replace('-', "");
    let ok = verify(&app, json!({"mfa_token": token, "recovery_code": other})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let both = verify(
        &app,
        json!({"mfa_token": "x", "code": "1", "recovery_code": "y"}),
    )
    .await;
    both.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_is_turned_off_with_a_code_or_the_password() {
    let app = TestServer::start().await;
    let (access, secret, _) = app.enable_mfa("frank").await;
    let off = |body: Value| app.call(Method::DELETE, "/auth/mfa/totp", Some(&access), Some(body));
    off(json!({"password": "not-the-password"}))
        .await
        .assert_error(401, "INVALID_MFA_CODE");
    off(json!({})).await.assert_error(400, "VALIDATION_ERROR");
    let done = off(json!({"password": PASSWORD})).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    app.login("frank").await;
    off(json!({"password": PASSWORD}))
        .await
        .assert_error(409, "MFA_NOT_ENABLED");

    // On again with a new secret, off with a current code.
    let setup = app
        .call(Method::POST, "/auth/mfa/totp/setup", Some(&access), None)
        .await;
    let new_secret = setup.str("secret");
    assert_ne!(new_secret, secret);
    let code = totp_code(&new_secret, app.now().await);
    let confirm = app
        .call(
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&access),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    mfa_token(&app, "frank").await;
    off(json!({"code": code}))
        .await
        .assert_error(401, "INVALID_MFA_CODE");
    app.advance_clock(30).await;
    let code = totp_code(&new_secret, app.now().await);
    assert_eq!(
        off(json!({"code": code})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_encrypted_at_rest_when_a_key_is_configured() {
    let key = STANDARD.encode([42u8; 32]);
    let app = TestServer::start_with(&[("CASTELLAN_MFA__ENCRYPTION_KEY", &key)]).await;
    let (_, secret, _) = app.enable_mfa("gina").await;
    let stored: String = match common::backend() {
        common::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            sqlx::query_scalar("SELECT secret FROM totp_secrets")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
        common::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            sqlx::query_scalar("SELECT secret FROM totp_secrets")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(stored.starts_with("aes256gcm:"), "{stored}");
    assert!(!stored.contains(&secret));
    let token = mfa_token(&app, "gina").await;
    let ok = verify(
        &app,
        json!({"mfa_token": token, "code": totp_code(&secret, app.now().await)}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}
