//! `/metrics`: Prometheus series after real logins, refreshes, reuse and throttling.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;

/// The value of one exact series line, e.g. `castellan_logins_total{outcome="success"}`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("scrape");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn series_count_logins_refreshes_reuse_and_throttling() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR", "3"),
        ("CASTELLAN_TOKENS__REFRESH_REUSE_GRACE", "0s"),
    ])
    .await;
    let (_, first) = app.user_with_tokens("metric_ann").await;
    let rotated = app
        .post("/auth/token/refresh", json!({"refresh_token": first}))
        .await;
    assert_eq!(rotated.status, 200);
    let reused = app
        .post("/auth/token/refresh", json!({"refresh_token": first}))
        .await;
    assert_eq!(reused.status, 401);
    let mut failures = 0.0;
    for _ in 0..10 {
        let reply = app
            .post(
                "/auth/token",
                json!({"username": "metric_ann", "password": "wrong-password-1"}),
            )
            .await;
        match reply.status.as_u16() {
            401 => failures += 1.0,
            429 => break,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(failures >= 2.0);

    let (status, text) = scrape(&app.url("/metrics"), None).await;
    assert_eq!(status, 200);
    let v = |s: &str| value(&text, s).unwrap_or_else(|| panic!("no {s} in:\n{text}"));
    assert_eq!(v("castellan_logins_total{outcome=\"success\"}"), 1.0);
    assert_eq!(
        v("castellan_logins_total{outcome=\"invalid_credentials\"}"),
        failures
    );
    assert_eq!(v("castellan_logins_total{outcome=\"throttled\"}"), 1.0);
    assert_eq!(v("castellan_refreshes_total{outcome=\"success\"}"), 1.0);
    assert_eq!(v("castellan_refreshes_total{outcome=\"failure\"}"), 1.0);
    assert_eq!(v("castellan_refresh_reuse_detections_total"), 1.0);
    assert_eq!(
        v("castellan_throttled_requests_total{route=\"/auth/token\"}"),
        1.0
    );
    assert_eq!(
        v("castellan_http_requests_total{route=\"/auth/token\",method=\"POST\",status=\"401\"}"),
        failures
    );
    assert_eq!(
        v("castellan_http_request_duration_seconds_count{route=\"/auth/token/refresh\"}"),
        2.0
    );
    assert!(v("castellan_password_hash_wait_seconds_count") >= 4.0);
    assert_eq!(v("castellan_password_hash_queue_depth"), 0.0);
    assert!(v("castellan_db_pool_connections") >= 1.0);
    assert!(
        text.contains("# TYPE castellan_http_request_duration_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_paths_are_counted_under_no_raw_path() {
    let app = TestServer::start().await;
    let secret_path = "/auth/reset/secret-looking-value-123";
    assert_eq!(app.get(secret_path, None).await.status, 404);
    let (_, text) = scrape(&app.url("/metrics"), None).await;
    assert!(!text.contains("secret-looking-value-123"), "{text}");
    assert!(text.contains("route=\"-\""), "{text}");
}

#[tokio::test]
async fn a_token_guards_the_scrape() {
    let token = "scrape-token-0123456789";
    let app = TestServer::start_with(&[("CASTELLAN_METRICS__TOKEN", token)]).await;
    let (status, text) = scrape(&app.url("/metrics"), None).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("UNAUTHORIZED"));
    let (status, _) = scrape(&app.url("/metrics"), Some("scrape-token-wrong-value")).await;
    assert_eq!(status, 401);
    let (status, text) = scrape(&app.url("/metrics"), Some(token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("castellan_db_pool_connections"));
}

#[tokio::test]
async fn a_separate_listener_moves_the_endpoint() {
    let app = TestServer::start_with(&[("CASTELLAN_METRICS__BIND", "127.0.0.1:0")]).await;
    let mut addr = None;
    for _ in 0..100 {
        addr = app.logs().lines().find_map(|l| {
            let rest = &l[l.find("metrics on http://")? + "metrics on http://".len()..];
            Some(rest.split('/').next()?.to_owned())
        });
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = addr.expect("metrics listener address in the log");
    assert_eq!(app.get("/metrics", None).await.status, 404);
    let (status, text) = scrape(&format!("http://{addr}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("castellan_http_requests_total{route=\"-\""),
        "{text}"
    );
}

#[tokio::test]
async fn every_published_key_has_its_age_and_rotation_resets_the_signing_key_age() {
    let app = TestServer::start().await;
    let kid_alg = |app_jwks: &serde_json::Value| -> Vec<(String, String)> {
        app_jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| {
                let field = |f: &str| k[f].as_str().expect("kid and alg").to_owned();
                (field("kid"), field("alg"))
            })
            .collect()
    };
    let first = kid_alg(&app.get("/.well-known/jwks.json", None).await.body);
    assert_eq!(first.len(), 1, "{first:?}");
    let (kid, alg) = first[0].clone();
    let age_of = |text: &str, kid: &str, alg: &str| {
        let series = format!("castellan_jwks_key_age_seconds{{kid=\"{kid}\",alg=\"{alg}\"}}");
        value(text, &series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };

    // Ages follow the server's clock, so moving it an hour makes the key an hour older.
    let (_, text) = scrape(&app.url("/metrics"), None).await;
    let young = age_of(&text, &kid, &alg);
    assert!((0.0..3600.0).contains(&young), "{young}");
    assert!(text.contains("# TYPE castellan_jwks_key_age_seconds gauge"));
    app.advance_clock(7200).await;
    let (_, text) = scrape(&app.url("/metrics"), None).await;
    let old = age_of(&text, &kid, &alg);
    assert!(
        old >= young + 7200.0 && old < young + 7200.0 + 600.0,
        "{young} -> {old}"
    );
    assert_eq!(value(&text, "castellan_signing_key_age_seconds"), Some(old));

    // A rotation publishes a new key beside the old one; the signing key is young again.
    let (_, admin) = app.superuser("metric_root").await;
    let rotated = app
        .call(
            reqwest::Method::POST,
            "/admin/keys/rotate",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let keys = kid_alg(&app.get("/.well-known/jwks.json", None).await.body);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let (_, text) = scrape(&app.url("/metrics"), None).await;
    for (k, a) in &keys {
        let age = age_of(&text, k, a);
        if *k == kid {
            assert!(age >= old, "{age}");
        } else {
            assert!(age < 600.0, "new key {k}: {age}");
            assert_eq!(value(&text, "castellan_signing_key_age_seconds"), Some(age));
        }
    }
}
