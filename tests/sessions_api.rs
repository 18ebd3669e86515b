//! A user's own sessions: listed with the current one marked, and ended one by one with
//! immediate effect; someone else's session is not found. Also `PATCH /auth/me`.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn login_as(app: &TestServer, name: &str, agent: &str) -> (String, String) {
    let reply = app
        .client
        .post(app.url("/auth/token"))
        .header("user-agent", agent)
        .json(&json!({"username": name, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    let reply = common::Reply::from(reply).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    (reply.str("access_token"), reply.str("refresh_token"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_and_ended_one_by_one() {
    let app = TestServer::start().await;
    app.register("alice").await;
    let (laptop, _) = login_as(&app, "alice", "Laptop/1.0").await;
    let (phone, phone_refresh) = login_as(&app, "alice", "Phone/2.0").await;
    let (gone, _) = login_as(&app, "alice", "Old/0.1").await;
    app.call(Method::POST, "/auth/logout", Some(&gone), None)
        .await;

    let list = app.get("/auth/sessions", Some(&laptop)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only live sessions: {}", list.text);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for field in ["id", "created_at", "last_used_at"] {
        assert!(current[0][field].is_string(), "{field} in {}", current[0]);
    }
    let phone_session = sessions
        .iter()
        .find(|s| s["user_agent"] == "Phone/2.0")
        .unwrap();
    let phone_id = phone_session["id"].as_str().unwrap();

    // Someone else cannot see or end it.
    let (mallory, _) = app.user_with_tokens("mallory").await;
    let theirs = app
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            Some(&mallory),
            None,
        )
        .await;
    theirs.assert_error(404, "NOT_FOUND");
    assert_eq!(
        app.get("/auth/me", Some(&phone)).await.status,
        StatusCode::OK
    );

    let ended = app
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT, "{}", ended.text);
    app.get("/auth/me", Some(&phone))
        .await
        .assert_error(401, "TOKEN_INVALID");
    let refresh = app
        .post(
            "/auth/token/refresh",
            json!({"refresh_token": phone_refresh}),
        )
        .await;
    refresh.assert_error(401, "TOKEN_INVALID");
    assert_eq!(
        app.get("/auth/me", Some(&laptop)).await.status,
        StatusCode::OK
    );
    let again = app
        .call(
            Method::DELETE,
            &format!("/auth/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    again.assert_error(404, "NOT_FOUND");
    let after = app.get("/auth/sessions", Some(&laptop)).await;
    assert_eq!(after.body.as_array().unwrap().len(), 1);
    app.get("/auth/sessions", None)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_edit_their_own_names() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("bob").await;
    let patched = app
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&access),
            Some(json!({"first_name": " Bob ", "last_name": "Builder"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["first_name"], "Bob");
    assert_eq!(patched.body["last_name"], "Builder");
    let partial = app
        .call(
            Method::PATCH,
            "/auth/v1/me",
            Some(&access),
            Some(json!({"last_name": "B."})),
        )
        .await;
    assert_eq!(partial.body["first_name"], "Bob");
    assert_eq!(partial.body["last_name"], "B.");
    let long = app
        .call(
            Method::PATCH,
            "/auth/me",
            Some(&access),
            Some(json!({"first_name": "x".repeat(151)})),
        )
        .await;
    long.assert_error(400, "VALIDATION_ERROR");
    app.call(Method::PATCH, "/auth/me", None, Some(json!({})))
        .await
        .assert_error(401, "UNAUTHORIZED");
}
