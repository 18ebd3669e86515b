//! Seed 003 (DRF + SimpleJWT at `/api`, no rotation, no extras): every request example of
//! the document, with the status and body it documents, plus the SimpleJWT behaviour its
//! clients rely on (field errors, trailing slashes, form bodies).

mod common;

use common::{PASSWORD, TestServer, jwt_claims};
use reqwest::StatusCode;
use serde_json::json;

const INVALID: &str = r#"{"detail":"Token is invalid or expired","code":"token_not_valid"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn obtain_token_pair() {
    let app = TestServer::start().await;
    app.register("testuser").await;

    let r = app
        .post(
            "/api/token/",
            json!({"username": "testuser", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["refresh", "access"], "{}", r.text);
    let access = r.str("access");
    let claims = jwt_claims(&access);
    assert_eq!(claims["token_type"], "access");
    assert_eq!(claims["username"], "testuser");
    assert!(claims["user_id"].as_i64().is_some_and(|id| id > 0));
    assert!(!r.str("refresh").is_empty() && !r.str("refresh").contains('.'));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));

    let wrong = app
        .post(
            "/api/token/",
            json!({"username": "testuser", "password": "not-the-password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        json!({"detail": "No active account found with the given credentials"})
    );
    let unknown = app
        .post(
            "/api/token/",
            json!({"username": "nobody", "password": "not-the-password"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text, wrong.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_answers_access_only_and_keeps_the_refresh_token() {
    let app = TestServer::start().await;
    app.register("testuser").await;
    let pair = app
        .post(
            "/api/token/",
            json!({"username": "testuser", "password": PASSWORD}),
        )
        .await;
    let refresh = pair.str("refresh");

    let r = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.keys(), ["access"], "{}", r.text);
    let access = r.str("access");
    assert_ne!(access, pair.str("access"));
    let me = app.get("/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "testuser");

    // Without rotation the same refresh token keeps working, well past any grace window.
    app.advance_clock(60).await;
    for _ in 0..3 {
        let again = app
            .post("/api/token/refresh/", json!({"refresh": refresh}))
            .await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.keys(), ["access"]);
    }

    let bad = app
        .post(
            "/api/token/refresh/",
            json!({"refresh": "not-a-refresh-token"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.text, INVALID);
    let missing = app.post("/api/token/refresh/", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.body,
        json!({"refresh": ["This field is required."]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_accepts_access_and_refresh_tokens() {
    let app = TestServer::start().await;
    app.register("testuser").await;
    let pair = app
        .post(
            "/api/token/",
            json!({"username": "testuser", "password": PASSWORD}),
        )
        .await;

    for token in [pair.str("access"), pair.str("refresh")] {
        let r = app
            .post("/api/token/verify/", json!({"token": token}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.text, "{}");
    }
    for token in ["your_access_or_refresh_token", "a.b.c", ""] {
        let r = app
            .post("/api/token/verify/", json!({"token": token}))
            .await;
        if token.is_empty() {
            assert_eq!(r.status, StatusCode::BAD_REQUEST);
            assert_eq!(r.body, json!({"token": ["This field may not be blank."]}));
        } else {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}");
            assert_eq!(r.text, INVALID);
        }
    }
    let missing = app.post("/api/token/verify/", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body, json!({"token": ["This field is required."]}));

    // An expired access token is refused the same way.
    app.advance_clock(3601).await;
    let r = app
        .post("/api/token/verify/", json!({"token": pair.str("access")}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.text, INVALID);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_token_calls_protected_apis() {
    let app = TestServer::start().await;
    app.register("testuser").await;
    let pair = app
        .post(
            "/api/token/",
            json!({"username": "testuser", "password": PASSWORD}),
        )
        .await;
    let me = app.get("/auth/me", Some(&pair.str("access"))).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "testuser");
    // Resource servers verify offline: the token names a key published in the JWKS.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let kid = {
        use base64::Engine;
        let header = pair.str("access").split('.').next().unwrap().to_owned();
        let header: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert!(
        jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn field_errors_name_only_the_missing_fields_in_declaration_order() {
    let app = TestServer::start().await;
    let both = app.post("/api/token/", json!({})).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        both.text,
        r#"{"username":["This field is required."],"password":["This field is required."]}"#
    );
    let password = app
        .post("/api/token/", json!({"username": "testuser"}))
        .await;
    assert_eq!(
        password.body,
        json!({"password": ["This field is required."]})
    );
    let username = app
        .post("/api/token/", json!({"password": "whatever"}))
        .await;
    assert_eq!(
        username.body,
        json!({"username": ["This field is required."]})
    );
    let blank = app
        .post("/api/token/", json!({"username": "", "password": "x"}))
        .await;
    assert_eq!(
        blank.body,
        json!({"username": ["This field may not be blank."]})
    );
    let typed = app
        .post("/api/token/", json!({"username": ["a"], "password": "x"}))
        .await;
    assert_eq!(typed.body, json!({"username": ["Not a valid string."]}));
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_answer_with_and_without_the_slash_and_take_forms() {
    let app = TestServer::start().await;
    app.register("testuser").await;
    let plain = app
        .post(
            "/api/token",
            json!({"username": "testuser", "password": PASSWORD}),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    let form = app
        .post_form(
            "/api/token/",
            &[("username", "testuser"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert_eq!(form.keys(), ["refresh", "access"]);
    let refresh = form.str("refresh");
    let r = app
        .post_form("/api/token/refresh", &[("refresh", &refresh)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = app
        .post_form("/api/token/verify", &[("token", &r.str("access"))])
        .await;
    assert_eq!((v.status, v.text.as_str()), (StatusCode::OK, "{}"));
    // Extras are off in this deployment.
    assert_eq!(
        app.post(
            "/api/register",
            json!({"username": "x", "password": PASSWORD})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/getuser", None).await.status,
        StatusCode::NOT_FOUND
    );
}
