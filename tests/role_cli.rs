//! `castellan role …` and `castellan user list`, run as the real binary on a server's
//! database; their effect is checked through the HTTP API.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::Value;

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_managed_from_the_command_line() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("alice").await;

    let (ok, out, err) = app.cli(
        &[
            "role",
            "add",
            "support",
            "--permission",
            "users:read",
            "-p",
            "audit:read",
            "--description",
            "Helpdesk",
        ],
        "",
    );
    assert!(ok, "{err}");
    let role: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        role["permissions"],
        serde_json::json!(["users:read", "audit:read"])
    );
    let (ok, _, err) = app.cli(&["role", "add", "support"], "");
    assert!(!ok && err.contains("already exists"), "{err}");

    let (ok, out, _) = app.cli(&["role", "list"], "");
    assert!(ok);
    let names: Vec<String> = lines(&out)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["admin", "auditor", "support", "user"]);

    // Before the grant alice may not read users; after it, on her next token, she may.
    assert_eq!(
        app.get("/admin/users", Some(&access)).await.status,
        StatusCode::FORBIDDEN
    );
    let (ok, out, err) = app.cli(&["role", "grant", "alice", "support"], "");
    assert!(ok, "{err}");
    let user: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(user["roles"], serde_json::json!(["support", "user"]));
    let (fresh, _) = app.login("alice").await;
    assert_eq!(
        app.get("/admin/users", Some(&fresh)).await.status,
        StatusCode::OK
    );

    let (ok, _, err) = app.cli(&["role", "revoke", "alice@example.com", "support"], "");
    assert!(ok, "{err}");
    assert_eq!(
        app.get("/admin/users", Some(&fresh)).await.status,
        StatusCode::FORBIDDEN
    );
    let (ok, _, err) = app.cli(&["role", "revoke", "alice", "support"], "");
    assert!(!ok && err.contains("does not hold"), "{err}");
    let (ok, _, err) = app.cli(&["role", "grant", "nobody", "support"], "");
    assert!(!ok && err.contains("no user nobody"), "{err}");
    let (ok, _, err) = app.cli(&["role", "grant", "alice", "ghost"], "");
    assert!(!ok && err.contains("Unknown role"), "{err}");

    let (ok, out, _) = app.cli(&["user", "list"], "");
    assert!(ok);
    assert_eq!(lines(&out).len(), 1);
    let (ok, out, _) = app.cli(&["user", "list", "nomatch"], "");
    assert!(ok && out.trim().is_empty());
    let (ok, out, _) = app.cli(&["--help"], "");
    assert!(ok && out.contains("role"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_made_from_the_command_line() {
    let app = TestServer::start().await;
    app.cli_user("robot", &["--role", "auditor"]);
    let (ok, out, err) = app.cli(
        &[
            "apikey",
            "add",
            "robot",
            "--name",
            "nightly",
            "--scope",
            "audit:read",
            "--expires-in",
            "3600",
        ],
        "",
    );
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let key = created["key"].as_str().unwrap();
    assert_eq!(
        app.call_with_key(reqwest::Method::GET, "/admin/audit", key, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call_with_key(reqwest::Method::GET, "/admin/users", key, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let (ok, out, _) = app.cli(&["apikey", "list", "robot"], "");
    assert!(ok && !out.contains(key));
    assert_eq!(lines(&out).len(), 1);
    let (ok, _, err) = app.cli(
        &[
            "apikey",
            "add",
            "robot",
            "--name",
            "x",
            "--scope",
            "users:write",
        ],
        "",
    );
    assert!(!ok && err.contains("users:write"), "{err}");
    let id = created["id"].as_str().unwrap();
    let (ok, _, err) = app.cli(&["apikey", "revoke", "robot", id], "");
    assert!(ok, "{err}");
    app.call_with_key(reqwest::Method::GET, "/auth/me", key, None)
        .await
        .assert_error(401, "TOKEN_INVALID");
}
