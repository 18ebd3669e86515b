//! Refresh-token rotation: reuse detection, the retry grace window, and concurrency.

mod common;

use std::collections::HashSet;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

async fn refresh(app: &TestServer, token: &str) -> common::Reply {
    app.post("/auth/token/refresh", json!({"refresh_token": token}))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_after_the_grace_window_revokes_the_session() {
    let app = TestServer::start().await;
    let (_, first) = app.user_with_tokens("rita").await;
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let second = rotated.str("refresh_token");
    let access = rotated.str("access_token");

    app.advance_clock(11).await;
    refresh(&app, &first)
        .await
        .assert_error(401, "TOKEN_INVALID");
    // The whole family is dead: the live successor and its access token too.
    refresh(&app, &second)
        .await
        .assert_error(401, "TOKEN_INVALID");
    app.get("/auth/me", Some(&access))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_inside_the_grace_window_gets_the_same_successor() {
    let app = TestServer::start().await;
    let (_, first) = app.user_with_tokens("sam").await;
    let a = refresh(&app, &first).await;
    let b = refresh(&app, &first).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::OK, "{}", b.text);
    assert_eq!(a.str("refresh_token"), b.str("refresh_token"));
    // Both access tokens belong to the one live session.
    assert_eq!(
        app.get("/auth/me", Some(&b.str("access_token")))
            .await
            .status,
        StatusCode::OK
    );
    // And the successor still rotates normally.
    let c = refresh(&app, &a.str("refresh_token")).await;
    assert_eq!(c.status, StatusCode::OK);
    // The grandparent is now two generations old: reuse, even inside the window.
    refresh(&app, &first)
        .await
        .assert_error(401, "TOKEN_INVALID");
    refresh(&app, &c.str("refresh_token"))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_zero_treats_any_second_use_as_reuse() {
    let app = TestServer::start_with(&[("CASTELLAN_TOKENS__REFRESH_REUSE_GRACE", "0s")]).await;
    let (_, first) = app.user_with_tokens("tess").await;
    let a = refresh(&app, &first).await;
    assert_eq!(a.status, StatusCode::OK);
    refresh(&app, &first)
        .await
        .assert_error(401, "TOKEN_INVALID");
    refresh(&app, &a.str("refresh_token"))
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_concurrent_refreshes_yield_one_live_successor() {
    let app = TestServer::start().await;
    let (_, first) = app.user_with_tokens("uma").await;
    let replies = futures::future::join_all((0..32).map(|_| refresh(&app, &first))).await;
    let mut successors = HashSet::new();
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        successors.insert(r.str("refresh_token"));
    }
    assert_eq!(successors.len(), 1, "distinct successors: {successors:?}");
    let successor = successors.into_iter().next().unwrap();
    let next = refresh(&app, &successor).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    // Exactly one session exists for these tokens: logging it out ends them all.
    let out = app
        .call(
            reqwest::Method::POST,
            "/auth/logout",
            Some(&next.str("access_token")),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    for r in &replies {
        app.get("/auth/me", Some(&r.str("access_token")))
            .await
            .assert_error(401, "TOKEN_INVALID");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_without_grace_never_produce_two_live_successors() {
    let app = TestServer::start_with(&[("CASTELLAN_TOKENS__REFRESH_REUSE_GRACE", "0s")]).await;
    let (_, first) = app.user_with_tokens("vera").await;
    let replies = futures::future::join_all((0..32).map(|_| refresh(&app, &first))).await;
    let issued: HashSet<String> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .map(|r| r.str("refresh_token"))
        .collect();
    assert!(issued.len() <= 1, "{issued:?}");
    // Whatever was issued, at most one token can still refresh.
    let mut live = 0;
    for token in &issued {
        if refresh(&app, token).await.status == StatusCode::OK {
            live += 1;
        }
    }
    assert!(live <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_identity_and_roles() {
    let app = TestServer::start().await;
    let (access, first) = app.user_with_tokens("wes").await;
    let before = app
        .post("/auth/token/verify", json!({"token": access}))
        .await
        .body["claims"]
        .clone();
    let r = refresh(&app, &first).await;
    let after = app
        .post(
            "/auth/token/verify",
            json!({"token": r.str("access_token")}),
        )
        .await
        .body["claims"]
        .clone();
    for claim in ["sub", "sid", "username", "roles", "user_id"] {
        assert_eq!(before[claim], after[claim], "{claim}");
    }
    assert_ne!(before["jti"], after["jti"]);
}

/// Concurrent rotations of different sessions are committed together; each caller must get
/// its own session's successor, and a reuse in the same burst must still be caught.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_rotations_answers_each_session_with_its_own_successor() {
    const SESSIONS: usize = 24;
    let app = TestServer::start().await;
    app.register("xena").await;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let (access, refresh_token) = app.login("xena").await;
        sessions.push((common::jwt_claims(&access)["sid"].clone(), refresh_token));
    }
    // A session whose first token is rotated, then presented again after the grace window.
    let (reused_access, reused) = app.login("xena").await;
    let reused_sid = common::jwt_claims(&reused_access)["sid"].clone();
    let live = refresh(&app, &reused).await;
    assert_eq!(live.status, StatusCode::OK);
    app.advance_clock(11).await;

    let rotations = futures::future::join_all(sessions.iter().map(|(_, t)| refresh(&app, t)));
    let reuses = futures::future::join_all((0..4).map(|_| refresh(&app, &reused)));
    let (rotated, reuse_replies) = futures::future::join(rotations, reuses).await;

    for reply in &reuse_replies {
        reply.assert_error(401, "TOKEN_INVALID");
    }
    // Reuse ended the whole family, the successor handed out before included.
    refresh(&app, &live.str("refresh_token"))
        .await
        .assert_error(401, "TOKEN_INVALID");
    let mut successors = HashSet::new();
    for ((sid, presented), reply) in sessions.iter().zip(&rotated) {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let successor = reply.str("refresh_token");
        assert_ne!(&successor, presented);
        assert!(successors.insert(successor.clone()), "one successor twice");
        let claims = common::jwt_claims(&reply.str("access_token"));
        assert_eq!(&claims["sid"], sid, "an answer for another session");
        assert_ne!(&claims["sid"], &reused_sid);
        // The acknowledged successor was stored: it rotates again, in the same session.
        let next = refresh(&app, &successor).await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.text);
        assert_eq!(&common::jwt_claims(&next.str("access_token"))["sid"], sid);
        assert_eq!(
            app.get("/auth/me", Some(&next.str("access_token")))
                .await
                .status,
            StatusCode::OK
        );
    }
}

/// A rotation is answered only once committed: after SIGKILL and a restart on the same
/// database, every successor handed out works and every token it replaced is spent. With
/// `database.sqlite_synchronous = "normal"` too, which gives up only power-loss durability.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_rotations_survive_kill_9() {
    for synchronous in ["full", "normal"] {
        let db = std::sync::Arc::new(common::TestDb::new().await);
        let env = [("CASTELLAN_DATABASE__SQLITE_SYNCHRONOUS", synchronous)];
        let mut first = TestServer::start_on(db.clone(), &env).await;
        first.register("yuri").await;
        let mut tokens = Vec::new();
        for _ in 0..8 {
            tokens.push(first.login("yuri").await.1);
        }
        let rotated =
            futures::future::join_all(tokens.iter().map(|token| refresh(&first, token))).await;
        first.kill().await;

        let second = TestServer::start_on(db.clone(), &env).await;
        for (old, reply) in tokens.iter().zip(&rotated) {
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{synchronous}: {}",
                reply.text
            );
            let next = refresh(&second, &reply.str("refresh_token")).await;
            assert_eq!(next.status, StatusCode::OK, "{synchronous}: {}", next.text);
            second.advance_clock(11).await;
            refresh(&second, old)
                .await
                .assert_error(401, "TOKEN_INVALID");
        }
    }
}
