//! One core behind every dialect: tokens from one work with all the others, failures keep
//! each dialect's own shape whatever layer produced them, and mounting follows the
//! configured prefixes (empty turns a dialect off; two mounts claiming a path stop start-up).

mod common;

use common::{PASSWORD, TestServer, castellan_cli};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EXTRAS: &[(&str, &str)] = &[("CASTELLAN_API__SIMPLEJWT__EXTRAS", "true")];

#[tokio::test(flavor = "multi_thread")]
async fn envelope_login_native_refresh_simplejwt_verify() {
    let app = TestServer::start_with(EXTRAS).await;
    app.register("cross").await;
    let login = app
        .post(
            "/api/auth/login",
            json!({"username": "cross", "password": PASSWORD}),
        )
        .await;
    let data = &login.body["data"];
    let refreshed = app
        .post(
            "/auth/token/refresh",
            json!({"refresh_token": data["refreshToken"]}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    let access = refreshed.str("access_token");
    for token in [access.clone(), refreshed.str("refresh_token")] {
        let v = app
            .post("/api/token/verify/", json!({"token": token}))
            .await;
        assert_eq!((v.status, v.text.as_str()), (StatusCode::OK, "{}"));
    }
    assert_eq!(
        app.get("/api/getuser", Some(&access)).await.body,
        json!({"username": "cross"})
    );
    assert_eq!(
        app.get("/auth/me", Some(data["token"].as_str().unwrap()))
            .await
            .body["username"],
        "cross"
    );
    // The envelope's refresh token was rotated by the native refresh: reuse outside the
    // grace window ends the session for every dialect.
    app.advance_clock(11).await;
    let reuse = app
        .post(
            "/api/auth/refresh-token",
            json!({"refreshToken": data["refreshToken"]}),
        )
        .await;
    assert_eq!(
        reuse.body,
        json!({"success": false, "message": "Invalid refresh token"})
    );
    let after = app
        .post("/api/token/verify/", json!({"token": access}))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.body["code"], "token_not_valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn simplejwt_login_envelope_refresh_native_logout() {
    let app = TestServer::start_with(EXTRAS).await;
    let reg = app
        .post(
            "/api/register",
            json!({"username": "sj", "password": PASSWORD, "email": "sj@example.com"}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.text);
    // Registered through SimpleJWT, logs in through the native API and the envelope.
    app.login("sj").await;
    let pair = app
        .post(
            "/api/token/",
            json!({"username": "sj", "password": PASSWORD}),
        )
        .await;
    let env = app
        .post(
            "/api/auth/refresh-token",
            json!({"refreshToken": pair.str("refresh")}),
        )
        .await;
    assert_eq!(env.status, StatusCode::OK, "{}", env.text);
    assert_eq!(env.body["data"]["email"], "sj@example.com");
    let access = env.body["data"]["accessToken"].as_str().unwrap().to_owned();
    let out = app
        .call(Method::POST, "/auth/logout", Some(&access), Some(json!({})))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    for token in [
        access.as_str(),
        env.body["data"]["refreshToken"].as_str().unwrap(),
    ] {
        let v = app
            .post("/api/token/verify/", json!({"token": token}))
            .await;
        assert_eq!(v.status, StatusCode::UNAUTHORIZED, "{}", v.text);
    }
    assert_eq!(
        app.get("/api/getuser", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_rotating_simplejwt_refresh_of_a_native_session() {
    let app = TestServer::start().await;
    let (_, refresh) = app.user_with_tokens("native").await;
    let sj = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(sj.keys(), ["access"]);
    // The native client's refresh token is still current: it rotates normally.
    let native = app
        .post("/auth/token/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.text);
    // ... after which the old one is reuse everywhere, SimpleJWT included.
    app.advance_clock(11).await;
    let stale = app
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    let successor = app
        .post(
            "/auth/token/refresh",
            json!({"refresh_token": native.str("refresh_token")}),
        )
        .await;
    successor.assert_error(401, "TOKEN_INVALID");
}

/// 413, 415, malformed JSON, 405 and 404 in each dialect's own shape.
#[tokio::test(flavor = "multi_thread")]
async fn transport_failures_keep_the_dialect_shape() {
    let app = TestServer::start().await;
    let huge = format!("{{\"username\":\"{}\"}}", "a".repeat(70 * 1024));
    for (path, envelope) in [("/api/token/", false), ("/api/auth/login", true)] {
        let cases: Vec<(u16, common::Reply)> = vec![
            (
                413,
                app.post_raw(path, "application/json", huge.clone()).await,
            ),
            (415, app.post_raw(path, "text/plain", "username=a").await),
            (
                400,
                app.post_raw(path, "application/json", "{\"username\":")
                    .await,
            ),
            (400, app.post_raw(path, "application/json", "[1]").await),
            (405, app.get(path, None).await),
        ];
        for (status, r) in cases {
            assert_eq!(r.status.as_u16(), status, "{path}: {}", r.text);
            if envelope {
                assert_eq!(r.keys(), ["success", "message"], "{path}: {}", r.text);
                assert_eq!(r.body["success"], false);
                assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
            } else {
                assert_eq!(r.keys(), ["detail"], "{path}: {}", r.text);
                assert!(r.body["detail"].as_str().is_some_and(|m| !m.is_empty()));
            }
            assert!(r.header("x-request-id").is_some());
        }
    }
    let m = app.get("/api/token/", None).await;
    assert_eq!(m.body, json!({"detail": "Method \"GET\" not allowed."}));
    // Outside every dialect's routes the native shape applies.
    app.get("/api/nothing", None)
        .await
        .assert_error(404, "NOT_FOUND");
}

/// An overloaded hashing pool answers 503 with Retry-After, in each dialect's shape.
#[tokio::test(flavor = "multi_thread")]
async fn overload_keeps_the_dialect_shape() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_PASSWORDS__MEMORY_KIB", "65536"),
        ("CASTELLAN_PASSWORDS__ITERATIONS", "3"),
        ("CASTELLAN_PASSWORDS__WORKERS", "1"),
        ("CASTELLAN_PASSWORDS__QUEUE", "1"),
    ])
    .await;
    for (path, envelope) in [("/api/token/", false), ("/api/auth/login", true)] {
        let logins = (0..12).map(|i| {
            app.post(
                path,
                json!({"username": format!("ghost{i}"), "password": "whatever-it-is"}),
            )
        });
        let replies = futures::future::join_all(logins).await;
        let refused: Vec<_> = replies
            .iter()
            .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
            .collect();
        assert!(!refused.is_empty(), "{path}: no request was refused");
        for r in refused {
            assert!(
                r.header("retry-after")
                    .is_some_and(|s| s.parse::<u64>().is_ok())
            );
            let expected = if envelope {
                json!({"success": false, "message": "Service temporarily unavailable"})
            } else {
                json!({"detail": "Service temporarily unavailable"})
            };
            assert_eq!(r.body, expected, "{path}");
        }
    }
}

/// A request that outlives `server.request_timeout` is answered 503 by the middleware,
/// still in the route's dialect.
#[tokio::test(flavor = "multi_thread")]
async fn timeouts_keep_the_dialect_shape() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_SERVER__REQUEST_TIMEOUT", "1ms"),
        ("CASTELLAN_PASSWORDS__MEMORY_KIB", "65536"),
        ("CASTELLAN_PASSWORDS__ITERATIONS", "3"),
    ])
    .await;
    let sj = app
        .post(
            "/api/token/",
            json!({"username": "slow", "password": "whatever-it-is"}),
        )
        .await;
    assert_eq!(sj.status, StatusCode::SERVICE_UNAVAILABLE, "{}", sj.text);
    assert_eq!(
        sj.body,
        json!({"detail": "Service temporarily unavailable"})
    );
    let env = app
        .post(
            "/api/auth/login",
            json!({"username": "slow", "password": "whatever-it-is"}),
        )
        .await;
    assert_eq!(env.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        env.body,
        json!({"success": false, "message": "Service temporarily unavailable"})
    );
    assert!(env.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn dialects_mount_at_their_prefixes_or_not_at_all() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_API__SIMPLEJWT__PREFIX", ""),
        ("CASTELLAN_API__ENVELOPE__PREFIX", "/legacy/v2"),
    ])
    .await;
    app.register("mounted").await;
    let body = json!({"username": "mounted", "password": PASSWORD});
    app.post("/api/token/", body.clone())
        .await
        .assert_error(404, "NOT_FOUND");
    app.post("/api/auth/login", body.clone())
        .await
        .assert_error(404, "NOT_FOUND");
    let moved = app.post("/legacy/v2/login", body.clone()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["message"], "Login successful");

    let off = TestServer::start_with(&[("CASTELLAN_API__ENVELOPE__PREFIX", "")]).await;
    off.post("/api/auth/login", body)
        .await
        .assert_error(404, "NOT_FOUND");
}

/// Starts `castellan serve` expecting it to refuse: returns its exit status and stderr.
async fn refused_start(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let db = common::TestDb::new().await;
    let mut all = vec![("CASTELLAN_SERVER__BIND", "127.0.0.1:0")];
    all.extend_from_slice(env);
    let out = castellan_cli(&db.url, &["serve"], "", &all).await;
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_mounts_claiming_one_path_stop_start_up() {
    let (status, stderr) = refused_start(&[("CASTELLAN_API__SIMPLEJWT__PREFIX", "/auth")]).await;
    assert!(!status.success());
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("conflicting API mounts"), "{stderr}");
    assert!(stderr.contains("the native API at `/auth`"), "{stderr}");
    assert!(
        stderr.contains("the SimpleJWT dialect at `/auth`"),
        "{stderr}"
    );
    assert!(stderr.contains("/auth/token"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");

    let (status, stderr) = refused_start(&[
        ("CASTELLAN_API__ENVELOPE__PREFIX", "/auth/v1"),
        ("CASTELLAN_API__NATIVE__PREFIXES", "/auth/v1"),
        ("CASTELLAN_API__SIMPLEJWT__PREFIX", "/auth/v1"),
    ])
    .await;
    assert!(!status.success());
    assert!(
        stderr.contains("the native API at `/auth/v1`")
            && stderr.contains("the SimpleJWT dialect at `/auth/v1`"),
        "{stderr}"
    );
    // The envelope's paths clash with nobody here, so it is not named.
    assert!(!stderr.contains("envelope"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_prefix_may_serve_two_dialects_whose_paths_differ() {
    let app = TestServer::start_with(&[("CASTELLAN_API__ENVELOPE__PREFIX", "/api")]).await;
    app.register("shared").await;
    let body = json!({"username": "shared", "password": PASSWORD});
    let env = app.post("/api/login", body.clone()).await;
    assert_eq!(env.body["success"], true, "{}", env.text);
    let sj = app.post("/api/token/", body).await;
    assert_eq!(sj.keys(), ["refresh", "access"]);
    let unknown: Value = app.get("/api/login", None).await.body;
    assert_eq!(unknown["success"], false);
}
