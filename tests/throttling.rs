//! Brute-force defence: exact counting under parallel bursts, soft locks that expire by
//! themselves, per-account caps across sources, per-source caps, the per-client request
//! limit, and forwarding headers believed only from trusted proxies.

mod common;

use common::{PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::json;

async fn login_from(
    app: &TestServer,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> common::Reply {
    let mut req = app
        .client
        .post(app.url("/auth/token"))
        .json(&json!({"username": user, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    common::Reply::from(req.send().await.unwrap()).await
}

async fn audit_count(app: &TestServer, event: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE event = '{event}'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_burst_is_counted_exactly_and_locks_softly() {
    let app = TestServer::start().await;
    app.register("burst").await;
    let burst = (0..50).map(|_| login_from(&app, "burst", "wrong-password", None));
    let replies = futures::future::join_all(burst).await;
    let first = common::Reply::from(
        app.client
            .post(app.url("/auth/token"))
            .json(&json!({"username": "burst", "password": "wrong"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for r in replies.iter().chain([&first]) {
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    // 51 attempts counted, exactly 5 of them checked against the hash.
    if common::backend() == common::Backend::Postgres {
        // Shared by every instance on PostgreSQL (kept in memory, per instance, on SQLite).
        assert_eq!(
            app.query_i64("SELECT count FROM throttle WHERE key LIKE 'login:src:%'")
                .await,
            51
        );
    }
    assert_eq!(audit_count(&app, "login.failure").await, 5);
    assert_eq!(audit_count(&app, "login.throttled").await, 46);

    // Soft lock: the right password is refused too, with the same answer as a wrong one.
    let locked = login_from(&app, "burst", PASSWORD, None).await;
    locked.assert_error(401, "INVALID_CREDENTIALS");
    // The lock expires by itself (first lock: limits.lock_base = 60 s).
    app.advance_clock(3601).await;
    let ok = login_from(&app, "burst", PASSWORD, None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn locks_grow_and_expire() {
    let app = TestServer::start_with(&[("CASTELLAN_LIMITS__ACCOUNT_SOURCE_FAILURES", "3")]).await;
    app.register("grow").await;
    for _ in 0..3 {
        login_from(&app, "grow", "wrong-password", None)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // Locked for limits.lock_base (60 s): even the right password is refused.
    login_from(&app, "grow", PASSWORD, None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.advance_clock(61).await;
    // More failures right after: the second lock lasts twice as long.
    for _ in 0..3 {
        login_from(&app, "grow", "wrong-password", None)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.advance_clock(61).await;
    login_from(&app, "grow", PASSWORD, None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.advance_clock(60).await;
    let ok = login_from(&app, "grow", PASSWORD, None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    // A success forgets the history: the next lock is a first lock again.
    for _ in 0..3 {
        login_from(&app, "grow", "wrong-password", None)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.advance_clock(61).await;
    assert_eq!(
        login_from(&app, "grow", PASSWORD, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_takes_at_most_100_checked_failures_an_hour_from_all_sources() {
    let app = TestServer::start_with(&[("CASTELLAN_SERVER__TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.register("target").await;
    let spray = (0..130).map(|i| {
        let ip = format!("198.51.{}.{}", i / 200, i % 200 + 1);
        let app = &app;
        async move { login_from(app, "target", "wrong-password", Some(&ip)).await }
    });
    // 16 at a time: more would overflow the hashing queue (503), which is its own test.
    let replies: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
        futures::stream::iter(spray),
        16,
    ))
    .await;
    for r in replies {
        r.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(audit_count(&app, "login.failure").await, 100);
    assert_eq!(audit_count(&app, "login.throttled").await, 30);
    // Not forever: the next hour the owner gets in.
    login_from(&app, "target", PASSWORD, Some("203.0.113.50"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.advance_clock(3601).await;
    assert_eq!(
        login_from(&app, "target", PASSWORD, Some("203.0.113.50"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_fails_too_often_is_told_to_wait() {
    let app = TestServer::start_with(&[("CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR", "10")]).await;
    for i in 0..10 {
        login_from(&app, &format!("nobody{i}"), "wrong-password", None)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let blocked = login_from(&app, "nobody-else", "wrong-password", None).await;
    blocked.assert_error(429, "RATE_LIMITED");
    let retry: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600);
    assert_eq!(audit_count(&app, "login.failure").await, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_limit_answers_429_with_ratelimit_headers() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_LIMITS__REQUESTS", "5"),
        ("CASTELLAN_LIMITS__WINDOW", "1m"),
    ])
    .await;
    for expected_remaining in (0..5).rev() {
        let r = app.get("/auth/me", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(expected_remaining.to_string())
        );
        assert!(
            r.header("ratelimit-reset")
                .is_some_and(|s| s.parse::<u64>().unwrap() <= 60)
        );
    }
    let over = app
        .post("/auth/token", json!({"username": "a", "password": "b"}))
        .await;
    over.assert_error(429, "RATE_LIMITED");
    assert!(
        over.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| (1..=60).contains(&n)))
    );
    assert_eq!(over.header("ratelimit-remaining").as_deref(), Some("0"));
    // Health and keys have their own, larger budget.
    assert_eq!(app.get("/health/live", None).await.status, StatusCode::OK);
    // The limit covers every API path, the test clock's included.
    let moved = app
        .client
        .post(app.url("/__test/clock"))
        .json(&json!({"advance": 61}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_limit_window_passes() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_LIMITS__REQUESTS", "3"),
        ("CASTELLAN_LIMITS__WINDOW", "1m"),
    ])
    .await;
    app.advance_clock(0).await; // 1
    app.get("/auth/me", None).await; // 2
    app.advance_clock(61).await; // 3: the last one this window; it moves time past the window
    let r = app.get("/auth/me", None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a new window brings a fresh budget: {}",
        r.text
    );
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_headers_count_only_behind_a_trusted_proxy() {
    let untrusted = TestServer::start_with(&[("CASTELLAN_LIMITS__REQUESTS", "3")]).await;
    for i in 0..3 {
        let r = untrusted
            .client
            .get(untrusted.url("/auth/me"))
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let spoofed = untrusted
        .client
        .get(untrusted.url("/auth/me"))
        .header("x-forwarded-for", "10.0.0.99")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoofed.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header must not buy a fresh budget"
    );

    let trusted = TestServer::start_with(&[
        ("CASTELLAN_LIMITS__REQUESTS", "3"),
        ("CASTELLAN_SERVER__TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    for i in 0..6 {
        let r = trusted
            .client
            .get(trusted.url("/auth/me"))
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "each forwarded client has its own budget"
        );
    }
    // And the audit trail records the forwarded address.
    trusted
        .client
        .post(trusted.url("/auth/token"))
        .header("forwarded", "for=192.0.2.60")
        .json(&json!({"username": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        trusted
            .query_i64("SELECT COUNT(*) FROM audit_log WHERE ip = '192.0.2.60'")
            .await,
        1
    );
}
