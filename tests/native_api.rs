//! Contract section 1: every native endpoint's success case and documented errors.

mod common;

use common::{PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn register_returns_the_user() {
    let app = TestServer::start().await;
    let reply = app
        .post(
            "/auth/register",
            json!({"username": "testuser", "email": "test@example.com", "password": PASSWORD,
                   "first_name": "Test", "last_name": "User"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let u = &reply.body;
    assert!(u["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(u["username"], "testuser");
    assert_eq!(u["email"], "test@example.com");
    assert_eq!(u["first_name"], "Test");
    assert_eq!(u["last_name"], "User");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_superuser"], false);
    assert_eq!(u["email_verified"], false);
    assert_eq!(u["mfa_enabled"], false);
    assert_eq!(u["roles"], json!(["user"]));
    assert!(
        u["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T'))
    );
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn register_validation_names_the_fields() {
    let app = TestServer::start().await;
    let reply = app.post("/auth/register", json!({"username": "bob"})).await;
    reply.assert_error(400, "VALIDATION_ERROR");
    let details = &reply.body["error"]["details"];
    assert!(
        details["email"].is_array() && details["password"].is_array(),
        "{details}"
    );
    assert!(details.get("username").is_none());

    let bad = app
        .post(
            "/auth/register",
            json!({"username": "bad name", "email": "nope", "password": "password"}),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
    let details = &bad.body["error"]["details"];
    for field in ["username", "email", "password"] {
        assert!(details[field].is_array(), "{field} missing in {details}");
    }

    let short = app
        .post(
            "/auth/register",
            json!({"username": "bob", "email": "b@example.com", "password": "x7!"}),
        )
        .await;
    short.assert_error(400, "VALIDATION_ERROR");
    let same = app
        .post(
            "/auth/register",
            json!({"username": "bobbybobby", "email": "b@example.com", "password": "bobbybobby"}),
        )
        .await;
    same.assert_error(400, "VALIDATION_ERROR");
    let long = app
        .post(
            "/auth/register",
            json!({"username": "bob", "email": "b@example.com", "password": "y".repeat(1025)}),
        )
        .await;
    long.assert_error(400, "VALIDATION_ERROR");
    let ok = app.post("/auth/register", json!({"username": "bob", "email": "b@example.com", "password": "y".repeat(1024) + "z"})).await;
    ok.assert_error(400, "VALIDATION_ERROR");
    let max = app
        .post(
            "/auth/register",
            json!({"username": "bob", "email": "b@example.com", "password": "yz".repeat(512)}),
        )
        .await;
    assert_eq!(max.status, StatusCode::CREATED, "{}", max.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_username_or_email_conflicts() {
    let app = TestServer::start().await;
    app.register("carol").await;
    let again = app
        .post(
            "/auth/register",
            json!({"username": "CAROL", "email": "other@example.com", "password": PASSWORD}),
        )
        .await;
    again.assert_error(409, "USER_EXISTS");
    let email = app
        .post(
            "/auth/register",
            json!({"username": "carol2", "email": "Carol@Example.com", "password": PASSWORD}),
        )
        .await;
    email.assert_error(409, "USER_EXISTS");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_json_form_and_email() {
    let app = TestServer::start().await;
    app.register("dave").await;
    let json_login = app
        .post(
            "/auth/token",
            json!({"username": "dave", "password": PASSWORD}),
        )
        .await;
    assert_eq!(json_login.status, StatusCode::OK);
    assert_eq!(json_login.body["token_type"], "bearer");
    assert_eq!(json_login.body["expires_in"], 3600);
    assert_eq!(json_login.str("access_token").split('.').count(), 3);
    let refresh = json_login.str("refresh_token");
    assert!(
        refresh.len() >= 43 && !refresh.contains('.'),
        "opaque refresh token: {refresh}"
    );
    assert_eq!(
        json_login.header("cache-control").as_deref(),
        Some("no-store")
    );

    let form = app
        .client
        .post(app.url("/auth/token"))
        .form(&[("username", "dave@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let body: serde_json::Value = form.json().await.unwrap();
    assert!(body["access_token"].is_string());

    let v1 = app
        .post(
            "/auth/v1/token",
            json!({"username": "DAVE", "password": PASSWORD}),
        )
        .await;
    assert_eq!(v1.status, StatusCode::OK, "{}", v1.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_errors() {
    let app = TestServer::start().await;
    app.register("erin").await;
    app.post(
        "/auth/token",
        json!({"username": "erin", "password": "wrong-password"}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    app.post(
        "/auth/token",
        json!({"username": "nobody", "password": PASSWORD}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    let missing = app.post("/auth/token", json!({"username": "erin"})).await;
    missing.assert_error(400, "VALIDATION_ERROR");
    assert!(missing.body["error"]["details"]["password"].is_array());
    assert!(missing.body["error"]["details"].get("username").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn me_requires_a_valid_bearer() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("frank").await;
    let me = app.get("/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "frank");
    assert_eq!(me.body["roles"], json!(["user"]));
    let v1 = app.get("/auth/v1/me", Some(&access)).await;
    assert_eq!(v1.body, me.body);

    let none = app.get("/auth/me", None).await;
    none.assert_error(401, "UNAUTHORIZED");
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    app.get("/auth/me", Some("not-a-token"))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_and_v1_renew_rotate() {
    let app = TestServer::start().await;
    let (_, refresh) = app.user_with_tokens("gina").await;
    let first = app
        .post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let next = first.str("refresh_token");
    assert_ne!(next, refresh);
    assert_eq!(first.header("cache-control").as_deref(), Some("no-store"));
    let me = app.get("/auth/me", Some(&first.str("access_token"))).await;
    assert_eq!(me.body["username"], "gina");

    let renewed = app
        .post("/auth/v1/renew", json!({"refresh_token": next}))
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    assert_ne!(renewed.str("refresh_token"), next);
    // The alias exists on the v1 mount only.
    app.post("/auth/renew", json!({"refresh_token": "x"}))
        .await
        .assert_error(404, "NOT_FOUND");

    app.post("/auth/token/refresh", json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post("/auth/token/refresh", json!({"refresh_token": "garbage"}))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_access_and_refresh_tokens() {
    let app = TestServer::start().await;
    let (access, refresh) = app.user_with_tokens("hank").await;
    let a = app
        .post("/auth/token/verify", json!({"token": access}))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["valid"], true);
    assert_eq!(a.body["token_type"], "access");
    assert_eq!(a.body["claims"]["username"], "hank");
    for claim in [
        "iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "user_id",
    ] {
        assert!(!a.body["claims"][claim].is_null(), "claim {claim}");
    }
    assert!(
        a.body["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let r = app
        .post("/auth/token/verify", json!({"token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "refresh");
    assert_eq!(r.body["claims"]["sid"], a.body["claims"]["sid"]);

    app.post("/auth/token/verify", json!({"token": "abc.def.ghi"}))
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.post("/auth/token/verify", json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_kills_access_and_refresh_at_once() {
    let app = TestServer::start().await;
    let (access, refresh) = app.user_with_tokens("ivan").await;
    let (other_access, other_refresh) = app.login("ivan").await;
    let out = app
        .call(Method::POST, "/auth/logout", Some(&access), None)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.body, json!({"message": "Logout successful"}));
    app.get("/auth/me", Some(&access))
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.post("/auth/token/verify", json!({"token": access}))
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "TOKEN_INVALID");
    // The other session is untouched.
    assert_eq!(
        app.get("/auth/me", Some(&other_access)).await.status,
        StatusCode::OK
    );

    // Logout by refresh token, ending every session.
    let (third_access, _) = app.login("ivan").await;
    let all = app
        .post(
            "/auth/logout",
            json!({"refresh_token": other_refresh, "all": true}),
        )
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    app.get("/auth/me", Some(&other_access))
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.get("/auth/me", Some(&third_access))
        .await
        .assert_error(401, "TOKEN_INVALID");

    app.post("/auth/logout", json!({}))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_expire_on_the_server_clock() {
    let app = TestServer::start_with(&[("CASTELLAN_TOKENS__ACCESS_TTL", "5m")]).await;
    let (access, refresh) = app.user_with_tokens("judy").await;
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
    app.advance_clock(301).await;
    app.get("/auth/me", Some(&access))
        .await
        .assert_error(401, "TOKEN_INVALID");
    // The refresh token outlives it and yields a working access token.
    let renewed = app
        .post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert_eq!(
        app.get("/auth/me", Some(&renewed.str("access_token")))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_at_their_absolute_lifetime() {
    let app = TestServer::start_with(&[("CASTELLAN_TOKENS__REFRESH_TTL", "1d")]).await;
    let (_, mut refresh) = app.user_with_tokens("kate").await;
    for _ in 0..3 {
        app.advance_clock(6 * 3600).await;
        let r = app
            .post("/auth/token/refresh", json!({"refresh_token": refresh}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        refresh = r.str("refresh_token");
    }
    app.advance_clock(6 * 3600 + 1).await;
    app.post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "TOKEN_INVALID");
}
