//! Contract section 0 and 2: bodies, headers, error shapes, operations endpoints, overload.

mod common;

use common::{Backend, PASSWORD, TestServer, backend};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A failure body with its per-request parts blanked, for byte comparison.
fn stable(text: &str) -> String {
    let mut v: Value = serde_json::from_str(text).unwrap();
    v["error"]["timestamp"] = Value::Null;
    v["error"]["request_id"] = Value::Null;
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let app = TestServer::start().await;
    app.register("xena").await;
    let wrong = app
        .post(
            "/auth/token",
            json!({"username": "xena", "password": "not-her-password"}),
        )
        .await;
    let unknown = app
        .post(
            "/auth/token",
            json!({"username": "nobody-at-all", "password": "not-her-password"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(stable(&wrong.text), stable(&unknown.text));
    let mut a: Vec<_> = wrong
        .headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let mut b: Vec<_> = unknown
        .headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(
        wrong.headers.get("content-length"),
        unknown.headers.get("content-length")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_bounded_and_typed() {
    let app = TestServer::start().await;
    let huge = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(70 * 1024)
    );
    let r = app
        .client
        .post(app.url("/auth/token"))
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    common::Reply::from(r)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    // Without a Content-Length (chunked) the limit still holds.
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(huge.into_bytes())]);
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    common::Reply::from(r)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");

    for malformed in ["{", "{\"username\":", "[1,2]", "\"text\"", "nul"] {
        let r = app
            .client
            .post(app.url("/auth/token"))
            .header("content-type", "application/json")
            .body(malformed)
            .send()
            .await
            .unwrap();
        common::Reply::from(r)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let r = app
            .client
            .post(app.url("/auth/token"))
            .header("content-type", ct)
            .body("username=a")
            .send()
            .await
            .unwrap();
        common::Reply::from(r)
            .await
            .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // Register takes JSON only; forms are for the OAuth-style login and refresh.
    let r = app
        .client
        .post(app.url("/auth/register"))
        .form(&[("username", "a")])
        .send()
        .await
        .unwrap();
    common::Reply::from(r)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    // Wrong JSON types are field errors, not 500s.
    let r = app
        .post(
            "/auth/token",
            json!({"username": ["a"], "password": {"x": 1}}),
        )
        .await;
    r.assert_error(400, "VALIDATION_ERROR");
    assert!(r.body["error"]["details"]["username"].is_array());
    let r = app.post("/auth/register", json!({"username": "u", "email": "u@example.com", "password": PASSWORD, "first_name": 7})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["first_name"], "7");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_request_id_and_nosniff() {
    let app = TestServer::start().await;
    for path in ["/health", "/auth/me", "/nope", "/.well-known/jwks.json"] {
        let r = app.get(path, None).await;
        assert!(
            r.header("x-request-id").is_some_and(|id| !id.is_empty()),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
    let echoed = app
        .client
        .get(app.url("/auth/me"))
        .header("x-request-id", "req-123.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-123.abc");
    let body: Value = echoed.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "req-123.abc");
    let insane = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(insane.headers()["x-request-id"], "bad id\twith spaces");
}

#[tokio::test(flavor = "multi_thread")]
async fn not_found_and_wrong_method_use_the_error_shape() {
    let app = TestServer::start().await;
    app.get("/auth/nothing-here", None)
        .await
        .assert_error(404, "NOT_FOUND");
    let r = app.get("/auth/token", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.body["status"], "error");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_jwks() {
    let app = TestServer::start().await;
    for path in ["/health", "/health/ready"] {
        let h = app.get(path, None).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.body["status"], "healthy");
        assert_eq!(h.body["service"], "castellan");
        assert!(h.body["version"].is_string());
        assert!(h.body["uptime"].as_str().unwrap().parse::<u64>().is_ok());
        assert_eq!(h.body["dependencies"]["database"], "connected");
        assert_eq!(h.body["dependencies"]["redis"], "not_configured");
    }
    assert_eq!(app.get("/health/live", None).await.status, StatusCode::OK);

    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "private key material published");
    let (access, _) = app.user_with_tokens("yuri").await;
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            access.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], key["kid"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_survive_a_restart() {
    let mut first = TestServer::start().await;
    let (access, _) = first.user_with_tokens("zoe").await;
    let jwks = first.get("/.well-known/jwks.json", None).await.body;
    first.kill().await;
    let second = TestServer::start_on(first.db.clone(), &[]).await;
    assert_eq!(second.get("/.well-known/jwks.json", None).await.body, jwks);
    assert_eq!(
        second.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_PASSWORDS__MEMORY_KIB", "65536"),
        ("CASTELLAN_PASSWORDS__ITERATIONS", "3"),
        ("CASTELLAN_PASSWORDS__WORKERS", "1"),
        ("CASTELLAN_PASSWORDS__QUEUE", "1"),
    ])
    .await;
    let logins = (0..16).map(|i| {
        app.post(
            "/auth/token",
            json!({"username": format!("ghost{i}"), "password": "whatever-it-is"}),
        )
    });
    let replies = futures::future::join_all(logins).await;
    let refused: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = replies
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    assert!(!refused.is_empty(), "no request was refused");
    assert!(checked >= 1, "no request was served");
    assert_eq!(refused.len() + checked, 16);
    for r in refused {
        r.assert_error(503, "SERVICE_UNAVAILABLE");
        assert!(
            r.header("retry-after")
                .is_some_and(|s| s.parse::<u64>().is_ok())
        );
    }
}

/// The one test that pays the production argon2id cost (m = 19 MiB, t = 2, p = 1).
#[tokio::test(flavor = "multi_thread")]
async fn production_argon2_parameters() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_PASSWORDS__MEMORY_KIB", "19456"),
        ("CASTELLAN_PASSWORDS__ITERATIONS", "2"),
    ])
    .await;
    app.register("prod").await;
    app.login("prod").await;
    let sql = "SELECT password_hash FROM users WHERE username = 'prod'";
    let hash: String = match backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let h = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            h
        }
    };
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn weaker_hashes_are_upgraded_on_login() {
    let db = std::sync::Arc::new(common::TestDb::new().await);
    let mut weak = TestServer::start_on(db.clone(), &[]).await;
    weak.register("upgrade").await;
    weak.kill().await;
    let strong =
        TestServer::start_on(db.clone(), &[("CASTELLAN_PASSWORDS__MEMORY_KIB", "128")]).await;
    strong.login("upgrade").await;
    strong.login("upgrade").await;
    let sql = "SELECT password_hash FROM users WHERE username = 'upgrade'";
    let hash: String = match backend() {
        Backend::Sqlite => sqlx::query_scalar(sql)
            .fetch_one(&sqlx::SqlitePool::connect(&db.url).await.unwrap())
            .await
            .unwrap(),
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let h = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            h
        }
    };
    assert!(hash.contains("m=128,"), "{hash}");
}
