//! API keys: shown once, stored hashed, accepted only in `X-API-Key`, limited to their
//! scopes, refused for session-only operations, and dead at once when revoked — on every
//! instance.

mod common;

use std::sync::Arc;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create_key(app: &TestServer, access: &str, body: Value) -> common::Reply {
    app.call(Method::POST, "/auth/api-keys", Some(access), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_is_shown_once_works_and_stops_when_revoked() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("alice").await;
    let created = create_key(&app, &access, json!({"name": "ci", "expires_in": 86400})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.str("key");
    let id = created.str("id");
    assert!(key.starts_with(&format!("ck_{id}_")), "{key}");
    assert_eq!(created.str("prefix"), format!("ck_{id}"));
    assert_eq!(created.body["name"], "ci");
    assert_eq!(created.body["scopes"], json!([]));
    assert!(created.str("created_at").ends_with('Z') && created.str("expires_at").ends_with('Z'));

    let me = app.call_with_key(Method::GET, "/auth/me", &key, None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "alice");

    let list = app.get("/auth/api-keys", Some(&access)).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body.as_array().expect("a list");
    assert_eq!(items.len(), 1);
    assert!(
        items[0].get("key").is_none(),
        "the secret must not be listed"
    );
    assert_eq!(items[0]["id"], id.as_str());
    assert!(
        items[0]["last_used_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(!list.text.contains(&key));

    let wrong = app
        .call_with_key(Method::GET, "/auth/me", &format!("{key}x"), None)
        .await;
    wrong.assert_error(401, "TOKEN_INVALID");
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/auth/api-keys/{id}"),
            Some(&access),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = app.call_with_key(Method::GET, "/auth/me", &key, None).await;
    after.assert_error(401, "TOKEN_INVALID");
    assert_eq!(
        app.get("/auth/api-keys", Some(&access)).await.body,
        json!([])
    );
    let again = app
        .call(
            Method::DELETE,
            &format!("/auth/api-keys/{id}"),
            Some(&access),
            None,
        )
        .await;
    again.assert_error(404, "NOT_FOUND");
    assert!(!app.logs().contains(&key), "the key was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_cannot_manage_keys_passwords_or_mfa() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("bob").await;
    let key = create_key(&app, &access, json!({"name": "robot"}))
        .await
        .str("key");
    let refused = [
        (
            Method::POST,
            "/auth/api-keys",
            Some(json!({"name": "child"})),
        ),
        (Method::GET, "/auth/api-keys", None),
        (
            Method::POST,
            "/auth/password/change",
            Some(
                json!({"current_password": common::PASSWORD, "new_password": "another-long-passphrase"}),
            ),
        ),
        (Method::POST, "/auth/mfa/totp/setup", None),
        (
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(json!({"code": "123456"})),
        ),
        (
            Method::DELETE,
            "/auth/mfa/totp",
            Some(json!({"password": common::PASSWORD})),
        ),
    ];
    for (method, path, body) in refused {
        let reply = app.call_with_key(method.clone(), path, &key, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.text
        );
        reply.assert_error(403, "FORBIDDEN");
    }
    // A bad key is not a 403 but a 401, and a query string is no place for a key.
    let bad = app
        .call_with_key(
            Method::POST,
            "/auth/api-keys",
            "ck_0000000000000000_x",
            None,
        )
        .await;
    bad.assert_error(401, "TOKEN_INVALID");
    let query = app
        .get(&format!("/auth/me?api_key={key}&x-api-key={key}"), None)
        .await;
    query.assert_error(401, "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_limit_what_a_key_may_do() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let reader = create_key(
        &app,
        &admin,
        json!({"name": "reader", "scopes": ["users:read"]}),
    )
    .await;
    assert_eq!(reader.status, StatusCode::CREATED, "{}", reader.text);
    assert_eq!(reader.body["scopes"], json!(["users:read"]));
    let key = reader.str("key");
    let list = app
        .call_with_key(Method::GET, "/admin/users", &key, None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    app.call_with_key(Method::GET, "/admin/audit", &key, None)
        .await
        .assert_error(403, "FORBIDDEN");
    let create = json!({"username": "x1", "email": "x1@example.com", "password": common::PASSWORD});
    app.call_with_key(Method::POST, "/admin/users", &key, Some(create))
        .await
        .assert_error(403, "FORBIDDEN");

    // A key without scopes only identifies its owner, even a superuser's.
    let bare = create_key(&app, &admin, json!({"name": "bare"}))
        .await
        .str("key");
    app.call_with_key(Method::GET, "/admin/users", &bare, None)
        .await
        .assert_error(403, "FORBIDDEN");

    // Nobody gives a key a permission they do not hold.
    let (plain, _) = app.user_with_tokens("carol").await;
    let beyond = create_key(
        &app,
        &plain,
        json!({"name": "sneaky", "scopes": ["audit:read"]}),
    )
    .await;
    beyond.assert_error(400, "VALIDATION_ERROR");
    assert!(beyond.body["error"]["details"]["scopes"].is_array());
    let invalid = create_key(
        &app,
        &plain,
        json!({"name": "", "scopes": "users:read", "expires_in": -5}),
    )
    .await;
    invalid.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_expire() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("dave").await;
    let key = create_key(&app, &access, json!({"name": "short", "expires_in": 60}))
        .await
        .str("key");
    assert_eq!(
        app.call_with_key(Method::GET, "/auth/me", &key, None)
            .await
            .status,
        StatusCode::OK
    );
    app.advance_clock(61).await;
    app.call_with_key(Method::GET, "/auth/me", &key, None)
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stops_on_every_instance_at_once() {
    let a = TestServer::start().await;
    let b = TestServer::start_on(Arc::clone(&a.db), &[]).await;
    let (access, _) = a.user_with_tokens("erin").await;
    let created = create_key(&a, &access, json!({"name": "shared"})).await;
    let (key, id) = (created.str("key"), created.str("id"));
    assert_eq!(
        b.call_with_key(Method::GET, "/auth/me", &key, None)
            .await
            .status,
        StatusCode::OK
    );
    let revoked = a
        .call(
            Method::DELETE,
            &format!("/auth/api-keys/{id}"),
            Some(&access),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    b.call_with_key(Method::GET, "/auth/me", &key, None)
        .await
        .assert_error(401, "TOKEN_INVALID");
}
