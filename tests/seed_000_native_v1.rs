//! Seed 000: the versioned native API — `POST /auth/v1/token` and `POST /auth/v1/renew` —
//! with the bodies and error structure the document shows, in the default deployment and
//! with the native API at `/auth/v1` only.

mod common;

use common::{PASSWORD, TestServer, jwt_claims};
use reqwest::StatusCode;
use serde_json::json;

async fn token_and_renew(app: &TestServer) {
    let reg = app
        .post(
            "/auth/v1/register",
            json!({"username": "your_username", "email": "you@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.text);

    let r = app
        .post(
            "/auth/v1/token",
            json!({"username": "your_username", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["token_type"], "bearer");
    assert!(r.str("access_token").split('.').count() == 3);
    assert_eq!(
        jwt_claims(&r.str("access_token"))["username"],
        "your_username"
    );
    let refresh = r.str("refresh_token");
    assert!(!refresh.is_empty());

    let renewed = app
        .post("/auth/v1/renew", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    assert_eq!(renewed.body["token_type"], "bearer");
    assert_ne!(renewed.str("access_token"), r.str("access_token"));
    assert_ne!(renewed.str("refresh_token"), refresh);
    let me = app
        .get("/auth/v1/me", Some(&renewed.str("access_token")))
        .await;
    assert_eq!(me.body["username"], "your_username");

    // Error responses: {"status":"error","error":{"code","message"}}.
    let wrong = app
        .post(
            "/auth/v1/token",
            json!({"username": "your_username", "password": "not-it-at-all"}),
        )
        .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let bad = app
        .post(
            "/auth/v1/renew",
            json!({"refresh_token": "your_refresh_token"}),
        )
        .await;
    bad.assert_error(401, "TOKEN_INVALID");
    let missing = app.post("/auth/v1/renew", json!({})).await;
    missing.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn default_deployment() {
    let app = TestServer::start().await;
    token_and_renew(&app).await;
    // `renew` is a v1 alias only.
    assert_eq!(
        app.post("/auth/renew", json!({"refresh_token": "x"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_only_deployment() {
    let app = TestServer::start_with(&[("CASTELLAN_API__NATIVE__PREFIXES", "/auth/v1")]).await;
    token_and_renew(&app).await;
    let unversioned = app
        .post(
            "/auth/token",
            json!({"username": "your_username", "password": PASSWORD}),
        )
        .await;
    unversioned.assert_error(404, "NOT_FOUND");
}
