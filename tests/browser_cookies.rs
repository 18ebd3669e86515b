//! Cookie mode for browsers: attributes, CSRF refusal and acceptance, cross-origin refusal,
//! CORS, and a single-page app's whole flow with cookies only.

mod common;

use common::{PASSWORD, TestServer};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::json;

const APP_ORIGIN: &str = "https://app.example.com";

/// The browser's view: cookie name → (value, attributes).
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let s = v.to_str().unwrap().to_owned();
            let (pair, attrs) = s.split_once(';').unwrap_or((&s, ""));
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), attrs.to_owned())
        })
        .collect()
}

fn cookie<'a>(all: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    all.iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no cookie {name} in {all:?}"))
}

struct Browser {
    jar: Vec<(String, String)>,
}

impl Browser {
    fn absorb(&mut self, headers: &HeaderMap) {
        for (name, value, attrs) in set_cookies(headers) {
            self.jar.retain(|(n, _)| *n != name);
            if !attrs.contains("Max-Age=0") {
                self.jar.push((name, value));
            }
        }
    }

    fn header(&self) -> String {
        self.jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, name: &str) -> Option<String> {
        self.jar
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

async fn cookie_login(app: &TestServer, user: &str) -> (Browser, reqwest::Response) {
    let r = app
        .client
        .post(app.url("/auth/token"))
        .header("x-auth-mode", "cookie")
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let mut browser = Browser { jar: Vec::new() };
    browser.absorb(r.headers());
    (browser, r)
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_mode_sets_host_prefixed_http_only_strict_cookies() {
    let app = TestServer::start().await;
    app.register("cora").await;
    let (_, r) = cookie_login(&app, "cora").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies = set_cookies(r.headers());
    for name in ["__Host-castellan_access", "__Host-castellan_refresh"] {
        let (_, value, attrs) = cookie(&cookies, name);
        assert!(!value.is_empty());
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(attrs.contains(attr), "{name} lacks {attr}: {attrs}");
        }
        assert!(!attrs.contains("Domain"), "__Host- cookies carry no Domain");
    }
    let (_, csrf, attrs) = cookie(&cookies, "__Host-castellan_csrf");
    assert!(!csrf.is_empty());
    assert!(
        !attrs.contains("HttpOnly"),
        "the CSRF cookie must be readable by the page"
    );
    assert!(attrs.contains("Secure") && attrs.contains("SameSite=Strict"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["refresh_token"].is_null());
    assert!(body["access_token"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spa_logs_in_calls_me_refreshes_and_logs_out_with_cookies_only() {
    let app = TestServer::start_with(&[("CASTELLAN_CORS__ALLOWED_ORIGINS", APP_ORIGIN)]).await;
    app.register("sid").await;
    let (mut browser, _) = cookie_login(&app, "sid").await;
    let csrf = browser.get("__Host-castellan_csrf").unwrap();

    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", browser.header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Refresh from the allowed origin, with the CSRF token, and no body at all.
    let r = app
        .client
        .post(app.url("/auth/token/refresh"))
        .header("cookie", browser.header())
        .header("origin", APP_ORIGIN)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let old_refresh = browser.get("__Host-castellan_refresh").unwrap();
    browser.absorb(r.headers());
    assert_ne!(
        browser.get("__Host-castellan_refresh").unwrap(),
        old_refresh,
        "rotated"
    );
    assert_eq!(
        browser.get("__Host-castellan_csrf").unwrap(),
        csrf,
        "bound to the session, which stays"
    );

    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", browser.header())
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let cleared = set_cookies(out.headers());
    for name in [
        "__Host-castellan_access",
        "__Host-castellan_refresh",
        "__Host-castellan_csrf",
    ] {
        assert!(
            cookie(&cleared, name).2.contains("Max-Age=0"),
            "{name} not cleared"
        );
    }
    let stale = format!("__Host-castellan_access={}", old_refresh);
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", stale)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn cookie_authenticated_changes_need_the_session_csrf_token() {
    let app = TestServer::start().await;
    app.register("csrf").await;
    let (browser, _) = cookie_login(&app, "csrf").await;
    let csrf = browser.get("__Host-castellan_csrf").unwrap();
    let post = |path: &'static str, token: Option<String>| {
        let mut req = app
            .client
            .post(app.url(path))
            .header("cookie", browser.header());
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    for token in [None, Some("forged".to_owned()), Some(String::new())] {
        let r =
            common::Reply::from(post("/auth/token/refresh", token.clone()).await.unwrap()).await;
        r.assert_error(403, "CSRF_FAILED");
        let r = common::Reply::from(post("/auth/logout", token).await.unwrap()).await;
        r.assert_error(403, "CSRF_FAILED");
    }
    // Another session's valid CSRF token does not fit this session.
    let (other, _) = cookie_login(&app, "csrf").await;
    let foreign = other.get("__Host-castellan_csrf").unwrap();
    assert_ne!(foreign, csrf);
    let r = common::Reply::from(post("/auth/logout", Some(foreign)).await.unwrap()).await;
    r.assert_error(403, "CSRF_FAILED");
    // Reads need none.
    let me = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", browser.header())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // The right token passes.
    let ok = post("/auth/token/refresh", Some(csrf)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_requests_are_refused_even_with_the_token() {
    let app = TestServer::start_with(&[("CASTELLAN_CORS__ALLOWED_ORIGINS", APP_ORIGIN)]).await;
    app.register("xs").await;
    let (browser, _) = cookie_login(&app, "xs").await;
    let csrf = browser.get("__Host-castellan_csrf").unwrap();
    let attempt = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = app
            .client
            .post(app.url("/auth/logout"))
            .header("cookie", browser.header())
            .header("x-csrf-token", &csrf);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let r = common::Reply::from(
        attempt(vec![("origin", "https://evil.example")])
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(403, "CSRF_FAILED");
    let r = common::Reply::from(
        attempt(vec![("sec-fetch-site", "cross-site")])
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(403, "CSRF_FAILED");
    // A cookie-mode login from a foreign origin is refused too (login CSRF).
    let r = app
        .client
        .post(app.url("/auth/token"))
        .header("x-auth-mode", "cookie")
        .header("origin", "https://evil.example")
        .json(&json!({"username": "xs", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Bearer requests need neither a CSRF token nor a known origin.
    let (access, _) = app.login("xs").await;
    let r = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&access)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The allowed origin passes.
    let ok = attempt(vec![
        ("origin", APP_ORIGIN),
        ("sec-fetch-site", "cross-site"),
    ])
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_answers_only_configured_origins() {
    let app = TestServer::start_with(&[("CASTELLAN_CORS__ALLOWED_ORIGINS", APP_ORIGIN)]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-token",
            )
            .send()
    };
    let ok = preflight(APP_ORIGIN).await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(ok.headers()["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(
        evil.headers().get("access-control-allow-origin").is_none(),
        "an arbitrary origin is never reflected"
    );
    let simple = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let closed = TestServer::start().await;
    let r = closed
        .client
        .get(closed.url("/health"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "no origin is allowed unless configured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transport_cookie_setting_and_relaxed_development_cookies() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_TOKENS__TRANSPORT", "cookie"),
        ("CASTELLAN_COOKIES__SECURE", "false"),
    ])
    .await;
    app.register("dev").await;
    let r = app
        .post(
            "/auth/token",
            json!({"username": "dev", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["refresh_token"].is_null());
    let cookies = set_cookies(&r.headers);
    let (_, _, attrs) = cookie(&cookies, "castellan_refresh");
    assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"));
    assert!(
        !attrs.contains("Secure"),
        "relaxed for plain-http development"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers() {
    let app = TestServer::start_with(&[("CASTELLAN_SERVER__HSTS_MAX_AGE", "1d")]).await;
    let r = app.get("/health", None).await;
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );
    assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=86400; includeSubDomains")
    );
    let plain = TestServer::start().await;
    assert!(
        plain
            .get("/health", None)
            .await
            .header("strict-transport-security")
            .is_none()
    );
}
