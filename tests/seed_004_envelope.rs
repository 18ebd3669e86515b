//! Seed 004: the `{success, message, data}` envelope at `/api/auth`. Every example of the
//! document with its documented body, field by field, and every documented error.

mod common;

use common::{PASSWORD, TestServer, castellan_cli, jwt_claims};
use reqwest::StatusCode;
use serde_json::json;

/// johndoe of the document, with the roles of its example.
async fn johndoe(app: &TestServer) {
    let out = castellan_cli(
        &app.db.url,
        &[
            "user",
            "add",
            "johndoe",
            "--email",
            "john@example.com",
            "--role",
            "admin",
        ],
        &format!("{PASSWORD}\n"),
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sorted(roles: &serde_json::Value) -> Vec<String> {
    let mut r: Vec<String> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    r.sort();
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn login() {
    let app = TestServer::start().await;
    johndoe(&app).await;
    let r = app
        .post(
            "/api/auth/login",
            json!({"username": "johndoe", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["success", "message", "data"]);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["message"], "Login successful");
    let data = &r.body["data"];
    let keys: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["token", "refreshToken", "username", "email", "roles"]
    );
    assert_eq!(data["username"], "johndoe");
    assert_eq!(data["email"], "john@example.com");
    assert_eq!(sorted(&data["roles"]), ["admin", "user"]);
    let claims = jwt_claims(data["token"].as_str().unwrap());
    assert_eq!(claims["username"], "johndoe");
    // Access token valid for 1 hour.
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(data["refreshToken"].as_str().is_some_and(|t| t.len() >= 43));

    // Used in the Authorization header for protected endpoints.
    let me = app
        .get("/auth/me", Some(data["token"].as_str().unwrap()))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "johndoe");

    // Refresh token valid for 7 days.
    let v = app
        .post("/auth/token/verify", json!({"token": data["refreshToken"]}))
        .await;
    let expires = time::OffsetDateTime::parse(
        v.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((7 * 24 - 1..=7 * 24).contains(&days), "{days} hours");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_errors() {
    let app = TestServer::start().await;
    johndoe(&app).await;
    let invalid = json!({"success": false, "message": "Invalid username or password"});
    for body in [
        json!({"username": "johndoe", "password": "wrong-password"}),
        json!({"username": "nobody", "password": "wrong-password"}),
    ] {
        let r = app.post("/api/auth/login", body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body, invalid);
    }
    let required = json!({"success": false, "message": "Username and password are required"});
    for body in [
        json!({}),
        json!({"username": "johndoe"}),
        json!({"password": PASSWORD}),
        json!({"username": "", "password": ""}),
    ] {
        let r = app.post("/api/auth/login", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.body, required);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_token() {
    let app = TestServer::start().await;
    johndoe(&app).await;
    let login = app
        .post(
            "/api/auth/login",
            json!({"username": "johndoe", "password": PASSWORD}),
        )
        .await;
    let refresh = login.body["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .post("/api/auth/refresh-token", json!({"refreshToken": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["success", "message", "data"]);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["message"], "Token refreshed");
    let data = &r.body["data"];
    let keys: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["accessToken", "refreshToken", "username", "email", "roles"]
    );
    assert_eq!(data["username"], "johndoe");
    assert_eq!(data["email"], "john@example.com");
    assert_eq!(sorted(&data["roles"]), ["admin", "user"]);
    assert_ne!(data["refreshToken"].as_str().unwrap(), refresh);
    let me = app
        .get("/auth/me", Some(data["accessToken"].as_str().unwrap()))
        .await;
    assert_eq!(me.status, StatusCode::OK);

    let invalid = app
        .post(
            "/api/auth/refresh-token",
            json!({"refreshToken": "not-a-token"}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        invalid.body,
        json!({"success": false, "message": "Invalid refresh token"})
    );
    let missing = app.post("/api/auth/refresh-token", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body,
        json!({"success": false, "message": "Refresh token is required"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_refresh_token_says_so() {
    let app = TestServer::start_with(&[("CASTELLAN_TOKENS__REFRESH_TTL", "7d")]).await;
    johndoe(&app).await;
    let login = app
        .post(
            "/api/auth/login",
            json!({"username": "johndoe", "password": PASSWORD}),
        )
        .await;
    let refresh = login.body["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance_clock(7 * 86400 + 1).await;
    let r = app
        .post("/api/auth/refresh-token", json!({"refreshToken": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body,
        json!({"success": false, "message": "Refresh token expired"})
    );
    // If the refresh token expired, the user must log in again, which works.
    let again = app
        .post(
            "/api/auth/login",
            json!({"username": "johndoe", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
}
