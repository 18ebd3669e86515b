//! The admin API: every route refuses those without its permission, users are searched,
//! created, edited, disabled and deleted (ending their sessions and keys at once), roles
//! are created and granted without privilege escalation, and the audit trail tells who did
//! what.

mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use common::{PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every admin route with a body that would succeed for an administrator.
fn routes(target: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/admin/users?limit=5".into(), None),
        (
            Method::POST,
            "/admin/users".into(),
            Some(json!({"username": "made", "email": "made@example.com", "password": PASSWORD})),
        ),
        (Method::GET, format!("/admin/users/{target}"), None),
        (
            Method::PATCH,
            format!("/admin/users/{target}"),
            Some(json!({"first_name": "T"})),
        ),
        (
            Method::POST,
            format!("/admin/users/{target}/roles"),
            Some(json!({"role": "auditor"})),
        ),
        (
            Method::DELETE,
            format!("/admin/users/{target}/roles/auditor"),
            None,
        ),
        (Method::GET, "/admin/roles".into(), None),
        (
            Method::POST,
            "/admin/roles".into(),
            Some(json!({"name": "support", "permissions": ["users:read"]})),
        ),
        (Method::GET, "/admin/audit?limit=3".into(), None),
        (Method::DELETE, format!("/admin/users/{target}"), None),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_admin_route_needs_its_permission() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let (plain, _) = app.user_with_tokens("plain").await;
    let target = app.my_id(&app.user_with_tokens("target").await.0).await;
    // An auditor may read but not write.
    let auditor_id = app.cli_user("audrey", &["--role", "auditor"]);
    let (auditor, _) = app.login("audrey").await;
    assert!(auditor_id > 0);
    for (method, path, body) in routes(target) {
        let none = app.call(method.clone(), &path, None, body.clone()).await;
        none.assert_error(401, "UNAUTHORIZED");
        let denied = app
            .call(method.clone(), &path, Some(&plain), body.clone())
            .await;
        denied.assert_error(403, "FORBIDDEN");
        let reads = method == Method::GET;
        let audit = app
            .call(method.clone(), &path, Some(&auditor), body.clone())
            .await;
        if reads {
            assert_eq!(
                audit.status,
                StatusCode::OK,
                "auditor {method} {path}: {}",
                audit.text
            );
        } else {
            audit.assert_error(403, "FORBIDDEN");
        }
        let ok = app.call(method.clone(), &path, Some(&admin), body).await;
        assert!(ok.status.is_success(), "admin {method} {path}: {}", ok.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_paged_and_searched() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    for name in ["ann", "anton", "bea", "x_y", "xay"] {
        app.register(name).await;
    }
    let all = app.get("/admin/users?limit=2&offset=1", Some(&admin)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    assert_eq!(all.body["total"], 6);
    let names: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "anton"]);
    assert_eq!(all.body["items"][0]["roles"], json!(["user"]));

    let an = app.get("/admin/users?q=AN", Some(&admin)).await;
    assert_eq!(an.body["total"], 2, "{}", an.text);
    let by_mail = app.get("/admin/users?q=bea%40example", Some(&admin)).await;
    assert_eq!(by_mail.body["total"], 1);
    // `%` and `_` are literal characters in a search, not wildcards.
    let literal = app.get("/admin/users?q=x_", Some(&admin)).await;
    assert_eq!(literal.body["total"], 1, "{}", literal.text);
    assert_eq!(literal.body["items"][0]["username"], "x_y");
    let none = app.get("/admin/users?q=%25", Some(&admin)).await;
    assert_eq!(none.body["total"], 0);
    let bad = app
        .get("/admin/users?limit=0&offset=-1", Some(&admin))
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_created_read_edited_and_deleted() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let made = app
        .call(
            Method::POST,
            "/admin/users",
            Some(&admin),
            Some(json!({
            "username": "newbie", "email": "newbie@example.com", "password": PASSWORD,
            "first_name": "New", "roles": ["auditor"]})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["roles"], json!(["auditor", "user"]));
    let id = made.body["id"].as_i64().unwrap();
    let taken = app
        .call(
            Method::POST,
            "/admin/users",
            Some(&admin),
            Some(json!({"username": "newbie", "email": "n2@example.com", "password": PASSWORD})),
        )
        .await;
    taken.assert_error(409, "USER_EXISTS");

    let read = app.get(&format!("/admin/users/{id}"), Some(&admin)).await;
    assert_eq!(read.body["first_name"], "New");
    app.get("/admin/users/999999", Some(&admin))
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/admin/users/abc", Some(&admin))
        .await
        .assert_error(404, "NOT_FOUND");

    let patched = app
        .call(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            Some(json!({"last_name": "Comer", "email": "NEW@Example.com"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["last_name"], "Comer");
    assert_eq!(patched.body["email"], "NEW@example.com");
    assert_eq!(patched.body["email_verified"], false);
    let clash = app
        .call(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            Some(json!({"email": "root@example.com"})),
        )
        .await;
    clash.assert_error(409, "USER_EXISTS");
    let bad = app
        .call(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            Some(json!({"is_active": "no", "email": "x"})),
        )
        .await;
    bad.assert_error(400, "VALIDATION_ERROR");

    let deleted = app
        .call(
            Method::DELETE,
            &format!("/admin/users/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/admin/users/{id}"), Some(&admin))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_a_user_ends_sessions_and_keys_at_once() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let (access, refresh) = app.user_with_tokens("victim").await;
    let (access2, _) = app.login("victim").await;
    let id = app.my_id(&access).await;
    let key = app
        .call(
            Method::POST,
            "/auth/api-keys",
            Some(&access),
            Some(json!({"name": "k"})),
        )
        .await
        .str("key");

    let off = app
        .call(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    assert_eq!(off.body["is_active"], false);
    for token in [&access, &access2] {
        app.get("/auth/me", Some(token))
            .await
            .assert_error(401, "TOKEN_INVALID");
    }
    app.post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.call_with_key(Method::GET, "/auth/me", &key, None)
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.post(
        "/auth/token",
        json!({"username": "victim", "password": PASSWORD}),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");

    // Enabled again: new logins work, the revoked key stays dead.
    let on = app
        .call(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(on.body["is_active"], true);
    app.login("victim").await;
    app.call_with_key(Method::GET, "/auth/me", &key, None)
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_user_ends_sessions_at_once() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let (access, refresh) = app.user_with_tokens("leaver").await;
    let id = app.my_id(&access).await;
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/admin/users/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get("/auth/me", Some(&access))
        .await
        .assert_error(401, "TOKEN_INVALID");
    let verify = app
        .post("/auth/token/verify", json!({"token": access}))
        .await;
    verify.assert_error(401, "TOKEN_INVALID");
    app.post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "TOKEN_INVALID");
    // A superuser is off limits to a non-superuser admin.
    app.cli_user("boss", &["--superuser"]);
    let helper_id = app.cli_user("helper", &["--role", "admin"]);
    let (helper, _) = app.login("helper").await;
    let boss = app.get("/admin/users?q=boss", Some(&helper)).await.body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let refused = app
        .call(
            Method::DELETE,
            &format!("/admin/users/{boss}"),
            Some(&helper),
            None,
        )
        .await;
    refused.assert_error(403, "FORBIDDEN");
    let make = json!({"username": "su2", "email": "su2@example.com", "password": PASSWORD, "is_superuser": true});
    app.call(Method::POST, "/admin/users", Some(&helper), Some(make))
        .await
        .assert_error(403, "FORBIDDEN");
    assert!(helper_id > 0);
}

fn claims(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_created_granted_and_revoked() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let (before, _) = app.user_with_tokens("sam").await;
    let sam = app.my_id(&before).await;

    let role = app
        .call(Method::POST, "/admin/roles", Some(&admin), Some(json!({"name": "support", "description": "Helpdesk", "permissions": ["users:read"]})))
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.text);
    assert_eq!(
        role.body,
        json!({"name": "support", "description": "Helpdesk", "permissions": ["users:read"]})
    );
    app.call(
        Method::POST,
        "/admin/roles",
        Some(&admin),
        Some(json!({"name": "support", "permissions": []})),
    )
    .await
    .assert_error(409, "ROLE_EXISTS");
    app.call(
        Method::POST,
        "/admin/roles",
        Some(&admin),
        Some(json!({"name": "bad name", "permissions": ["x y"]})),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    let roles = app.get("/admin/roles", Some(&admin)).await;
    let names: Vec<&str> = roles.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "auditor", "support", "user"]);

    let granted = app
        .call(
            Method::POST,
            &format!("/admin/users/{sam}/roles"),
            Some(&admin),
            Some(json!({"role": "support"})),
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);
    assert_eq!(granted.body["roles"], json!(["support", "user"]));
    app.call(
        Method::POST,
        &format!("/admin/users/{sam}/roles"),
        Some(&admin),
        Some(json!({"role": "nope"})),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    // Effective on the next token.
    assert_eq!(claims(&before)["roles"], json!(["user"]));
    let (after, _) = app.login("sam").await;
    assert_eq!(claims(&after)["roles"], json!(["support", "user"]));
    assert_eq!(
        app.get("/admin/users", Some(&after)).await.status,
        StatusCode::OK
    );

    // Sam reads but cannot hand out what he lacks, nor give himself more.
    let escalate = app
        .call(
            Method::POST,
            &format!("/admin/users/{sam}/roles"),
            Some(&after),
            Some(json!({"role": "admin"})),
        )
        .await;
    escalate.assert_error(403, "FORBIDDEN");

    let removed = app
        .call(
            Method::DELETE,
            &format!("/admin/users/{sam}/roles/support"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.call(
        Method::DELETE,
        &format!("/admin/users/{sam}/roles/support"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    // Removing a role revokes nothing else: the session lives on, without the permission.
    assert_eq!(
        app.get("/auth/me", Some(&after)).await.status,
        StatusCode::OK
    );
    app.get("/admin/users", Some(&after))
        .await
        .assert_error(403, "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_holder_cannot_escalate() {
    let app = TestServer::start().await;
    let (_, admin) = app.superuser("root").await;
    let grantor = json!({"name": "grantor", "permissions": ["roles:write", "roles:read"]});
    app.call(Method::POST, "/admin/roles", Some(&admin), Some(grantor))
        .await;
    let gina = app.cli_user("gina", &["--role", "grantor"]);
    let (token, _) = app.login("gina").await;
    for role in ["admin", "auditor"] {
        let r = app
            .call(
                Method::POST,
                &format!("/admin/users/{gina}/roles"),
                Some(&token),
                Some(json!({"role": role})),
            )
            .await;
        r.assert_error(403, "FORBIDDEN");
    }
    let wider = json!({"name": "wider", "permissions": ["audit:read"]});
    app.call(Method::POST, "/admin/roles", Some(&token), Some(wider))
        .await
        .assert_error(403, "FORBIDDEN");
    let same = json!({"name": "same", "permissions": ["roles:read"]});
    assert_eq!(
        app.call(Method::POST, "/admin/roles", Some(&token), Some(same))
            .await
            .status,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_tells_who_did_what_from_where() {
    let app = TestServer::start().await;
    let (root_id, admin) = app.superuser("root").await;
    let (access, _) = app.user_with_tokens("tom").await;
    let tom = app.my_id(&access).await;
    app.post(
        "/auth/token",
        json!({"username": "tom", "password": "wrong-password-9"}),
    )
    .await;
    app.call(
        Method::POST,
        "/auth/password/change",
        Some(&access),
        Some(json!({"current_password": PASSWORD, "new_password": "a-new-long-passphrase"})),
    )
    .await;
    let reply = app
        .client
        .patch(app.url(&format!("/admin/users/{tom}")))
        .bearer_auth(&admin)
        .header("x-request-id", "audit-check-1")
        .json(&json!({"first_name": "Thomas"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    app.call(Method::POST, "/auth/logout", Some(&access), None)
        .await;

    let trail = app.get("/admin/audit?limit=50", Some(&admin)).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    let items = trail.body["items"].as_array().unwrap();
    let events: Vec<&str> = items.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for wanted in [
        "login.success",
        "login.failure",
        "password.changed",
        "admin.user_updated",
        "logout",
        "user.registered",
    ] {
        assert!(events.contains(&wanted), "{wanted} missing from {events:?}");
    }
    assert_eq!(events[0], "logout", "newest first: {events:?}");
    let edit = items
        .iter()
        .find(|e| e["event"] == "admin.user_updated")
        .unwrap();
    assert_eq!(edit["user_id"], tom);
    assert_eq!(edit["actor_id"], root_id);
    assert_eq!(edit["ip"], "127.0.0.1");
    assert_eq!(edit["request_id"], "audit-check-1");
    assert_eq!(edit["details"]["fields"], json!(["first_name"]));
    assert!(edit["at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let limited = app.get("/admin/audit?limit=2", Some(&admin)).await;
    assert_eq!(limited.body["items"].as_array().unwrap().len(), 2);
    let mine = app
        .get(
            &format!("/admin/audit?user_id={tom}&event=login.failure"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        mine.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        mine.text
    );
    app.get("/admin/audit?limit=abc", Some(&admin))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn old_audit_events_are_pruned_after_the_retention() {
    let app = TestServer::start_with(&[("CASTELLAN_AUDIT__RETENTION", "2d")]).await;
    let (_, admin) = app.superuser("root").await;
    app.user_with_tokens("old").await;
    let before = app.get("/admin/audit?limit=500", Some(&admin)).await;
    let before = before.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", before.text))
        .len();
    assert!(before >= 3);
    app.advance_clock(86400).await;
    app.user_with_tokens("new").await;
    app.advance_clock(86400 + 60).await;
    let (admin, _) = app.login("root").await;
    let trail = app.get("/admin/audit?limit=500", Some(&admin)).await;
    let items = trail.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", trail.text))
        .clone();
    let names: Vec<String> = items
        .iter()
        .map(|e| e["details"]["username"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(names.contains(&"new".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"old".to_owned()),
        "events past retention remain: {names:?}"
    );
}
