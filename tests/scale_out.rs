//! Several instances on one database: tokens, rotation, revocation and keys are shared.
//! On PostgreSQL revocations travel by LISTEN/NOTIFY; on a shared SQLite file by the
//! once-a-second poll. The measured propagation delay is printed.

mod common;

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Backend, TestDb, TestServer, backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn pair() -> (TestServer, TestServer) {
    let db = Arc::new(TestDb::new().await);
    let a = TestServer::start_on(db.clone(), &[]).await;
    let b = TestServer::start_on(db, &[]).await;
    (a, b)
}

/// The documented bound on cross-instance propagation.
fn bound() -> Duration {
    match backend() {
        Backend::Postgres => Duration::from_millis(500),
        Backend::Sqlite => Duration::from_millis(2500),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_issued_by_one_instance_works_at_another() {
    let (a, b) = pair().await;
    let (access, refresh) = a.user_with_tokens("amy").await;
    let me = b.get("/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "amy");
    assert_eq!(
        a.get("/.well-known/jwks.json", None).await.body,
        b.get("/.well-known/jwks.json", None).await.body
    );

    // A refresh at B of A's token rotates, and A then refuses the rotated token as reuse.
    let r = b
        .post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let next = r.str("refresh_token");
    let r2 = a
        .post("/auth/token/refresh", json!({"refresh_token": next}))
        .await;
    assert_eq!(r2.status, StatusCode::OK, "{}", r2.text);
    a.advance_clock(11).await;
    a.post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_at_one_instance_is_refused_at_another_promptly() {
    let (a, b) = pair().await;
    let (access, _) = a.user_with_tokens("ben").await;
    assert_eq!(
        b.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
    let out = a
        .call(Method::POST, "/auth/logout", Some(&access), None)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let started = Instant::now();
    loop {
        let me = b.get("/auth/me", Some(&access)).await;
        if me.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < bound() * 4,
            "B still accepts the token after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delay = started.elapsed();
    eprintln!("revocation propagation delay ({:?}): {delay:?}", backend());
    assert!(
        delay <= bound(),
        "propagation took {delay:?}, bound {:?}",
        bound()
    );
    // And B's verify endpoint agrees.
    b.post("/auth/token/verify", json!({"token": access}))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotated_elsewhere_is_served_and_accepted() {
    let (a, b) = pair().await;
    let before = b.get("/.well-known/jwks.json", None).await.body["keys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_castellan"))
        .args(["keys", "rotate"])
        .env("CASTELLAN_DATABASE__URL", &a.db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // Every instance learns of it (by notification on PostgreSQL, by its poll on SQLite).
    let started = Instant::now();
    for server in [&a, &b] {
        loop {
            let keys = server.get("/.well-known/jwks.json", None).await.body["keys"].clone();
            let kids: HashSet<_> = keys
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            if kids.contains(&kid) {
                assert_eq!(kids.len(), 2, "the retired key stays published");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(12),
                "new key not served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Tokens signed with the new key at A verify at B.
    let (access, _) = a.user_with_tokens("cal").await;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(
        b.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_across_instances_yield_one_successor() {
    let (a, b) = pair().await;
    let (_, refresh) = a.user_with_tokens("dee").await;
    let calls = (0..32).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        server.post("/auth/token/refresh", json!({"refresh_token": refresh}))
    });
    let replies = futures::future::join_all(calls).await;
    let successors: HashSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.str("refresh_token")
        })
        .collect();
    assert_eq!(successors.len(), 1, "{successors:?}");
}
