//! Optional Redis: revocation fan-out between instances, health reporting, and surviving
//! a Redis outage without a restart. Needs Redis at 127.0.0.1:6379 (the test script
//! starts it under CI); every test here is named `redis_*` so it can be selected.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{TestDb, TestServer, proxy::Proxy};
use reqwest::{Method, StatusCode};

fn redis_env(url: &str, prefix: &str) -> Vec<(String, String)> {
    vec![
        ("CASTELLAN_REDIS__URL".into(), url.into()),
        ("CASTELLAN_REDIS__PREFIX".into(), prefix.into()),
    ]
}

async fn start(db: Arc<TestDb>, env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_on(db, &env).await
}

async fn redis_status(app: &TestServer) -> String {
    let h = app.get("/health", None).await;
    assert_eq!(
        h.status,
        StatusCode::OK,
        "Redis must never make the service unhealthy: {}",
        h.text
    );
    h.body["dependencies"]["redis"].as_str().unwrap().to_owned()
}

/// Waits until `check` holds, for at most `limit`; returns how long it took.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_fans_revocations_out_between_instances() {
    let prefix = format!(
        "castellan-test-{}",
        castellan::core::secrets::random_token(8)
    );
    let env = redis_env("redis://127.0.0.1:6379", &prefix);
    let db = Arc::new(TestDb::new().await);
    let a = start(db.clone(), &env).await;
    let b = start(db, &env).await;
    assert_eq!(redis_status(&a).await, "connected");
    let (access, _) = a.user_with_tokens("rory").await;
    assert_eq!(
        b.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
    // Give B's subscription a moment to be in place before the announcement.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.call(Method::POST, "/auth/logout", Some(&access), None)
            .await
            .status,
        StatusCode::OK
    );
    let delay = within(Duration::from_secs(3), async || {
        b.get("/auth/me", Some(&access)).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("revocation propagation with Redis: {delay:?}");
    assert!(
        delay < Duration::from_millis(900),
        "took {delay:?}: slower than the database poll alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_degrades_and_recovers_without_restart() {
    let proxy = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let prefix = format!(
        "castellan-test-{}",
        castellan::core::secrets::random_token(8)
    );
    let env = redis_env(&format!("redis://{}", proxy.addr), &prefix);
    let app = start(Arc::new(TestDb::new().await), &env).await;
    assert_eq!(redis_status(&app).await, "connected");

    proxy.cut().await;
    within(Duration::from_secs(5), async || {
        redis_status(&app).await == "disconnected"
    })
    .await;
    // Logins, refreshes and logouts keep working.
    let (access, refresh) = app.user_with_tokens("remy").await;
    let r = app
        .post(
            "/auth/token/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.call(Method::POST, "/auth/logout", Some(&access), None)
            .await
            .status,
        StatusCode::OK
    );
    app.get("/auth/me", Some(&access))
        .await
        .assert_error(401, "TOKEN_INVALID");

    proxy.restore().await;
    within(Duration::from_secs(10), async || {
        redis_status(&app).await == "connected"
    })
    .await;
}
