//! Seed 001: the SimpleJWT dialect at `/auth` with rotation and the extras (register,
//! getuser), the native API moved to `/auth/v1`. Every endpoint of the document with its
//! documented success and error bodies (capitalised as SimpleJWT really answers, contract
//! section 3), sent as the form data the document lists.

mod common;

use common::{PASSWORD, TestServer, jwt_claims};
use reqwest::StatusCode;
use serde_json::json;

const DEPLOYMENT: &[(&str, &str)] = &[
    ("CASTELLAN_API__SIMPLEJWT__PREFIX", "/auth"),
    ("CASTELLAN_API__SIMPLEJWT__ROTATE_REFRESH", "true"),
    ("CASTELLAN_API__SIMPLEJWT__EXTRAS", "true"),
    ("CASTELLAN_API__NATIVE__PREFIXES", "/auth/v1"),
];

const INVALID: &str = r#"{"detail":"Token is invalid or expired","code":"token_not_valid"}"#;
const BOTH_REQUIRED: &str =
    r#"{"username":["This field is required."],"password":["This field is required."]}"#;

async fn deployment(extra: &[(&str, &str)]) -> TestServer {
    let env: Vec<_> = DEPLOYMENT.iter().chain(extra.iter()).copied().collect();
    TestServer::start_with(&env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn register_and_get_tokens() {
    let app = deployment(&[]).await;
    let r = app
        .post_form(
            "/auth/register",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.keys(), ["refresh", "access"]);
    assert_eq!(jwt_claims(&r.str("access"))["username"], "alice");

    let again = app
        .post(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body, json!({"detail": "User already exists"}));
    let case = app
        .post(
            "/auth/register",
            json!({"username": "ALICE", "password": PASSWORD}),
        )
        .await;
    assert_eq!(case.status, StatusCode::CONFLICT);

    let missing = app.post("/auth/register", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.text, BOTH_REQUIRED);
    let only = app
        .post_form("/auth/register/", &[("username", "bob")])
        .await;
    assert_eq!(only.body, json!({"password": ["This field is required."]}));
    let weak = app
        .post(
            "/auth/register",
            json!({"username": "bob", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        weak.body,
        json!({"password": ["This password is too short. It must contain at least 8 characters."]})
    );
    let bad = app
        .post(
            "/auth/register",
            json!({"username": "bad name", "password": "x", "email": "nope"}),
        )
        .await;
    assert_eq!(
        bad.keys(),
        ["username", "password", "email"],
        "{}",
        bad.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn register_without_email_stores_none_and_with_email_keeps_it() {
    let app = deployment(&[]).await;
    for name in ["noemail1", "noemail2"] {
        let r = app
            .post(
                "/auth/register",
                json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let me = app.get("/auth/v1/me", Some(&r.str("access"))).await;
        assert_eq!(me.body["email"], "", "{}", me.text);
    }
    let with = app
        .post(
            "/auth/register",
            json!({"username": "mailer", "password": PASSWORD, "email": "Mailer@Example.COM"}),
        )
        .await;
    assert_eq!(with.status, StatusCode::CREATED, "{}", with.text);
    let me = app.get("/auth/v1/me", Some(&with.str("access"))).await;
    assert_eq!(me.body["email"], "Mailer@example.com");
    // The address is unique and also logs in.
    let taken = app
        .post(
            "/auth/register",
            json!({"username": "other", "password": PASSWORD, "email": "mailer@example.com"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.body, json!({"detail": "User already exists"}));
    let by_mail = app
        .post(
            "/auth/token",
            json!({"username": "mailer@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(by_mail.status, StatusCode::OK);
    let invalid = app
        .post(
            "/auth/register",
            json!({"username": "x1", "password": PASSWORD, "email": "nope"}),
        )
        .await;
    assert_eq!(
        invalid.body,
        json!({"email": ["Enter a valid email address."]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_form_data() {
    let app = deployment(&[]).await;
    app.post(
        "/auth/register",
        json!({"username": "alice", "password": PASSWORD}),
    )
    .await;
    let r = app
        .post_form(
            "/auth/token",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["refresh", "access"]);
    let wrong = app
        .post_form(
            "/auth/token",
            &[("username", "alice"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        json!({"detail": "No active account found with the given credentials"})
    );
    let missing = app.post_form("/auth/token/", &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.text, BOTH_REQUIRED);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_detects_reuse() {
    let app = deployment(&[("CASTELLAN_TOKENS__REFRESH_REUSE_GRACE", "0s")]).await;
    let reg = app
        .post(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let first = reg.str("refresh");

    let r = app
        .post_form("/auth/token/refresh", &[("refresh", &first)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["access", "refresh"]);
    let second = r.str("refresh");
    assert_ne!(second, first);
    assert_eq!(
        app.get("/auth/getuser", Some(&r.str("access")))
            .await
            .status,
        StatusCode::OK
    );

    // The rotated-away token is reuse: refused, and the whole session ends with it.
    let reuse = app
        .post("/auth/token/refresh", json!({"refresh": first}))
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.text, INVALID);
    let successor = app
        .post("/auth/token/refresh/", json!({"refresh": second}))
        .await;
    assert_eq!(successor.status, StatusCode::UNAUTHORIZED);
    assert_eq!(successor.text, INVALID);
    let gone = app.get("/auth/getuser", Some(&r.str("access"))).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);

    let missing = app.post("/auth/token/refresh", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body,
        json!({"refresh": ["This field is required."]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_token() {
    let app = deployment(&[]).await;
    let reg = app
        .post(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    for token in [reg.str("access"), reg.str("refresh")] {
        let r = app
            .post_form("/auth/token/verify", &[("token", &token)])
            .await;
        assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "{}"));
    }
    let bad = app
        .post("/auth/token/verify", json!({"token": "garbage"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.text, INVALID);
    let missing = app.post("/auth/token/verify", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body, json!({"token": ["This field is required."]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_user() {
    let app = deployment(&[]).await;
    let reg = app
        .post(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let r = app.get("/auth/getuser", Some(&reg.str("access"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body, json!({"username": "alice"}));
    assert_eq!(
        app.get("/auth/getuser/", Some(&reg.str("access")))
            .await
            .body,
        json!({"username": "alice"})
    );

    let anonymous = app.get("/auth/getuser", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );

    let forged = app
        .get("/auth/getuser", Some("eyJhbGciOiJIUzI1NiJ9.e30.x"))
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        forged.text,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid or expired"}]}"#
    );
    // A refresh token is not an access token.
    let refresh = app.get("/auth/getuser", Some(&reg.str("refresh"))).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh.body["code"], "token_not_valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_native_api_lives_at_v1_only() {
    let app = deployment(&[]).await;
    let reg = app
        .post(
            "/auth/register",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    let native = app
        .post(
            "/auth/v1/token",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.text);
    assert_eq!(native.body["token_type"], "bearer");
    let me = app.get("/auth/v1/me", Some(&reg.str("access"))).await;
    assert_eq!(me.body["username"], "alice");
    // /auth/me belongs to no mount in this deployment.
    assert_eq!(
        app.get("/auth/me", Some(&reg.str("access"))).await.status,
        StatusCode::NOT_FOUND
    );
    // The native register at /auth/v1 still insists on an email.
    let r = app
        .post(
            "/auth/v1/register",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    r.assert_error(400, "VALIDATION_ERROR");
    assert!(r.body["error"]["details"]["email"].is_array());
}
