//! The authorization code flow over HTTP, following the hosted pages with a cookie-keeping
//! client, and every refusal the provider owes: near-miss redirect URIs, reused codes,
//! PKCE mismatches, bad clients, unsupported grants and scopes.

mod common;
#[allow(dead_code)] // each test binary uses a different part of the helpers
mod oidc;

use common::{PASSWORD, TestServer};
use oidc::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn setup() -> (TestServer, String) {
    let server = provider(&[]).await;
    server.register("alice").await;
    let secret = web_app(&server, "webapp").await;
    (server, secret)
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_names_every_endpoint_with_absolute_urls() {
    let server = provider(&[]).await;
    let d = server.get("/.well-known/openid-configuration", None).await;
    assert_eq!(d.status, StatusCode::OK);
    let issuer = d.body["issuer"].as_str().unwrap().to_owned();
    assert_eq!(issuer, server.base);
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("end_session_endpoint", "/oauth/logout"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(d.body[key], format!("{issuer}{path}"), "{key}");
    }
    assert_eq!(
        d.body["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d.body["response_types_supported"],
        serde_json::json!(["code"])
    );
    let algs = d.body["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.iter().any(|a| a == "RS256"));
    let grants = d.body["grant_types_supported"].as_array().unwrap();
    assert!(!grants.iter().any(|g| g == "password" || g == "implicit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn code_flow_end_to_end_with_id_token_userinfo_and_refresh() {
    let (server, secret) = setup().await;
    let mut browser = Browser::new(&server);
    let page = browser
        .get(&authorize_path("webapp", &[("login_hint", "alice")]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert!(page.body.contains("<label for=\"username\">"));
    assert_eq!(
        input(&page.body, "username"),
        "alice",
        "login_hint prefills"
    );
    let code = {
        let done = browser.sign_in(&page, "alice", PASSWORD).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        param(done.location.as_deref().unwrap(), "code").unwrap()
    };
    let tokens = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.body["token_type"], "Bearer");
    let access = tokens.str("access_token");
    let id_token = tokens.str("id_token");
    let h = header(&id_token);
    assert_eq!(h["alg"], "RS256");
    let kid = h["kid"].as_str().unwrap();
    let jwks = server.get("/.well-known/jwks.json", None).await;
    assert!(
        jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid && k["kty"] == "RSA")
    );
    let c = claims(&id_token);
    assert_eq!(c["iss"], server.base.as_str());
    assert_eq!(c["aud"], "webapp");
    assert_eq!(c["azp"], "webapp");
    assert_eq!(c["nonce"], "n-456");
    assert!(c["auth_time"].as_i64().is_some() && c["at_hash"].as_str().is_some());
    assert_eq!(header(&access)["typ"], "at+jwt");
    assert_eq!(claims(&access)["client_id"], "webapp");

    // UserInfo over GET and POST answers by scope.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let info = server
            .call(method, "/oauth/userinfo", Some(&access), None)
            .await;
        assert_eq!(info.status, StatusCode::OK, "{}", info.text);
        assert_eq!(info.body["sub"], c["sub"]);
        assert_eq!(info.body["email"], "alice@example.com");
        assert_eq!(info.body["preferred_username"], "alice");
    }
    let bad = server.get("/oauth/userinfo", Some("not-a-token")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    // Refresh rotates; the old refresh token is then reuse.
    let refresh = tokens.str("refresh_token");
    let form = |t: &str| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), t.to_owned()),
        ]
    };
    let renewed = server
        .client
        .post(server.url("/oauth/token"))
        .basic_auth("webapp", Some(&secret))
        .form(&form(&refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    assert_ne!(renewed["refresh_token"].as_str().unwrap(), refresh);
    assert!(renewed["id_token"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn single_sign_on_skips_the_login_page_and_logout_ends_it() {
    let (server, _) = setup().await;
    let mut browser = Browser::new(&server);
    code_for(&mut browser, "webapp", "alice").await;
    let again = browser.get(&authorize_path("webapp", &[])).await;
    assert_eq!(
        again.status,
        StatusCode::SEE_OTHER,
        "SSO cookie skips login: {}",
        again.body
    );
    assert!(param(again.location.as_deref().unwrap(), "code").is_some());

    // prompt=login forces the page, prompt=none answers without one.
    let forced = browser
        .get(&authorize_path("webapp", &[("prompt", "login")]))
        .await;
    assert_eq!(forced.status, StatusCode::OK);
    assert!(forced.body.contains("name=\"password\""));
    // max_age=0 after time passes demands a fresh login too.
    server.advance_clock(5).await;
    let aged = browser
        .get(&authorize_path("webapp", &[("max_age", "1")]))
        .await;
    assert_eq!(aged.status, StatusCode::OK);
    assert!(aged.body.contains("name=\"password\""));

    // Logout to an unregistered URI is refused with a page; to the registered one it redirects.
    let near = browser
        .get(&format!(
            "/oauth/logout?client_id=webapp&post_logout_redirect_uri={}",
            urlencode("http://127.0.0.1:9/callback/")
        ))
        .await;
    assert_eq!(near.status, StatusCode::BAD_REQUEST);
    let out = browser
        .get(&format!(
            "/oauth/logout?client_id=webapp&state=s1&post_logout_redirect_uri={}",
            urlencode(REDIRECT)
        ))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        out.location.as_deref(),
        Some(&*format!("{REDIRECT}?state=s1"))
    );
    let none = browser
        .get(&authorize_path("webapp", &[("prompt", "none")]))
        .await;
    assert_eq!(none.status, StatusCode::SEE_OTHER);
    assert_eq!(
        param(none.location.as_deref().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_stays_on_the_login_page() {
    let (server, _) = setup().await;
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path("webapp", &[])).await;
    let again = browser.sign_in(&page, "alice", "wrong-password-here").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("Invalid username or password"));
    assert!(again.location.is_none());
    // A form without the CSRF cookie is refused.
    let mut stranger = Browser::new(&server);
    let q = input(&page.body, "q");
    let forged = stranger
        .post(
            "/oauth/login",
            &[
                ("csrf", &input(&page.body, "csrf")),
                ("q", &q),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_page_for_third_party_clients_is_remembered_and_revocable() {
    let server = provider(&[]).await;
    server.register("alice").await;
    let c = add_client(&server, &["thirdparty", "--redirect-uri", REDIRECT]).await;
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path("thirdparty", &[])).await;
    let consent = browser.sign_in(&page, "alice", PASSWORD).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    let csrf = input(&consent.body, "csrf");
    let q = input(&consent.body, "q");
    let done = browser
        .post(
            "/oauth/consent",
            &[("csrf", &csrf), ("q", &q), ("decision", "allow")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let code = param(done.location.as_deref().unwrap(), "code").unwrap();
    assert_eq!(
        redeem(&server, "thirdparty", &secret, &code, VERIFIER)
            .await
            .status,
        StatusCode::OK
    );
    // Remembered: no consent page next time.
    let again = browser.get(&authorize_path("thirdparty", &[])).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    // The user lists and revokes it; then it is asked again (prompt=none says so).
    let (access, _) = server.login("alice").await;
    let list = server.get("/auth/consents", Some(&access)).await;
    assert_eq!(list.body[0]["client_id"], "thirdparty", "{}", list.text);
    let gone = server
        .call(
            reqwest::Method::DELETE,
            "/auth/consents/thirdparty",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let none = browser
        .get(&authorize_path("thirdparty", &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(none.location.as_deref().unwrap(), "error").as_deref(),
        Some("consent_required")
    );
    // Denying sends access_denied back.
    let ask = browser.get(&authorize_path("thirdparty", &[])).await;
    let denied = browser
        .post(
            "/oauth/consent",
            &[
                ("csrf", &input(&ask.body, "csrf")),
                ("q", &input(&ask.body, "q")),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(
        param(denied.location.as_deref().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_client_or_redirect_uri_shows_an_error_page_and_never_redirects() {
    let (server, _) = setup().await;
    let mut browser = Browser::new(&server);
    let near_misses = [
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/Callback",
        "https://127.0.0.1:9/callback",
        "http://127.0.0.1:90/callback",
        "http://127.0.0.1:9/callback#f",
        "",
    ];
    for uri in near_misses {
        let page = browser
            .get(&authorize_path("webapp", &[("redirect_uri", uri)]))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.location.is_none(), "{uri} must not redirect");
        assert!(page.body.contains("redirect_uri"), "{}", page.body);
    }
    let unknown = browser.get(&authorize_path("nosuchclient", &[])).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.location.is_none());
    assert!(unknown.body.contains("Unknown client"));
    assert!(unknown.body.contains("<html"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_authorization_requests_go_back_with_an_error() {
    let server = provider(&[]).await;
    web_app(&server, "webapp").await;
    add_client(&server, &["spa", "--public", "--redirect-uri", REDIRECT]).await;
    let mut browser = Browser::new(&server);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "webapp",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "webapp",
            vec![("response_type", "id_token token")],
            "unsupported_response_type",
        ),
        (
            "webapp",
            vec![("scope", "openid admin:all")],
            "invalid_scope",
        ),
        (
            "webapp",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "webapp",
            vec![("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "spa",
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        ("webapp", vec![("prompt", "none login")], "invalid_request"),
    ];
    for (client, extra, error) in cases {
        let page = browser.get(&authorize_path(client, &extra)).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{extra:?}: {}",
            page.body
        );
        let location = page.location.unwrap();
        assert!(location.starts_with(REDIRECT));
        assert_eq!(
            param(&location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    }
    // Unknown parameters are ignored.
    let page = browser
        .get(&authorize_path("webapp", &[("frobnicate", "1")]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_code_is_refused_and_revokes_the_tokens_issued_from_it() {
    let (server, secret) = setup().await;
    let mut browser = Browser::new(&server);
    let code = code_for(&mut browser, "webapp", "alice").await;
    let first = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.str("access_token");
    assert_eq!(
        server.get("/oauth/userinfo", Some(&access)).await.status,
        StatusCode::OK
    );
    let second = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.body["error"], "invalid_grant");
    assert_eq!(
        server.get("/oauth/userinfo", Some(&access)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &first.str("refresh_token")),
                ("client_id", "webapp"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(refresh.body["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn codes_expire_after_sixty_seconds_and_pkce_must_match() {
    let (server, secret) = setup().await;
    let mut browser = Browser::new(&server);
    let code = code_for(&mut browser, "webapp", "alice").await;
    let wrong = redeem(&server, "webapp", &secret, &code, &"x".repeat(43)).await;
    assert_eq!(
        wrong.body["error"], "invalid_grant",
        "PKCE mismatch: {}",
        wrong.text
    );
    let code = code_for(&mut browser, "webapp", "alice").await;
    let missing = redeem(&server, "webapp", &secret, &code, "").await;
    assert_eq!(missing.body["error"], "invalid_grant");
    let code = code_for(&mut browser, "webapp", "alice").await;
    server.advance_clock(61).await;
    let late = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    assert_eq!(late.body["error"], "invalid_grant");
    // Another redirect_uri than the request's is refused.
    let code = code_for(&mut browser, "webapp", "alice").await;
    let other = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", VERIFIER),
                ("client_id", "webapp"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(other.body["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_errors_follow_rfc_6749() {
    let (server, secret) = setup().await;
    // Wrong secret: 401 invalid_client with a Basic challenge.
    let wrong = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "webapp"),
                ("client_secret", "nope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"], "invalid_client");
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let unknown = server
        .client
        .post(server.url("/oauth/token"))
        .basic_auth("ghost", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // The password grant and made-up grants are not offered.
    for grant in ["password", "implicit", "urn:x"] {
        let r = server
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", grant),
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("client_id", "webapp"),
                    ("client_secret", &secret),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"], "unsupported_grant_type", "{grant}");
    }
    let scope = server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "admin:all"),
                ("client_id", "webapp"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(scope.body["error"], "invalid_scope");
    let bad_code = redeem(&server, "webapp", &secret, "made-up", VERIFIER).await;
    assert_eq!(bad_code.body["error"], "invalid_grant");
    // A public client cannot use client_credentials.
    add_client(&server, &["spa", "--public", "--redirect-uri", REDIRECT]).await;
    let public = server
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", "spa")],
        )
        .await;
    assert_eq!(public.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_introspection_and_revocation() {
    let (server, secret) = setup().await;
    let r = server
        .client
        .post(server.url("/oauth/token"))
        .basic_auth("webapp", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap().to_owned();
    let auth = [("client_id", "webapp"), ("client_secret", secret.as_str())];
    let introspect = |t: String| {
        let server = &server;
        let secret = secret.clone();
        async move {
            let form = [
                ("client_id", "webapp"),
                ("client_secret", secret.as_str()),
                ("token", t.as_str()),
            ];
            server.post_form("/oauth/introspect", &form).await
        }
    };
    let live = introspect(token.clone()).await;
    assert_eq!(live.body["active"], true, "{}", live.text);
    assert_eq!(live.body["scope"], "api:read");
    assert_eq!(live.body["client_id"], "webapp");
    assert_eq!(
        introspect("garbage".into()).await.body,
        serde_json::json!({"active": false})
    );
    // Introspection needs client authentication.
    let anonymous = server
        .post_form("/oauth/introspect", &[("token", &token)])
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let mut form = auth.to_vec();
    form.push(("token", &token));
    assert_eq!(
        server.post_form("/oauth/revoke", &form).await.status,
        StatusCode::OK
    );
    assert_eq!(introspect(token.clone()).await.body["active"], false);

    // A user's refresh token: revocation ends its session.
    let mut browser = Browser::new(&server);
    let code = code_for(&mut browser, "webapp", "alice").await;
    let tokens = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    let refresh = tokens.str("refresh_token");
    assert_eq!(
        introspect(refresh.clone()).await.body["token_type"],
        "refresh_token"
    );
    let mut form = auth.to_vec();
    form.push(("token", &refresh));
    assert_eq!(
        server.post_form("/oauth/revoke", &form).await.status,
        StatusCode::OK
    );
    assert_eq!(introspect(refresh).await.body["active"], false);
    assert_eq!(
        introspect(tokens.str("access_token")).await.body["active"],
        false
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_with_totp_get_the_code_step_on_the_hosted_page() {
    use common::python::totp_code;
    let server = provider(&[]).await;
    let secret = web_app(&server, "webapp").await;
    let (access, _) = server.user_with_tokens("carol").await;
    let setup = server
        .call(
            reqwest::Method::POST,
            "/auth/mfa/totp/setup",
            Some(&access),
            None,
        )
        .await;
    let totp = setup.str("secret");
    let code = totp_code(&totp, server.now().await);
    let confirm = server
        .call(
            reqwest::Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&access),
            Some(serde_json::json!({"code": code})),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    server.advance_clock(30).await;

    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path("webapp", &[])).await;
    let step = browser.sign_in(&page, "carol", PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.body.contains("<label for=\"code\">"), "{}", step.body);
    assert!(step.location.is_none(), "no code before the second factor");
    let form = |code: &str| {
        vec![
            ("csrf".to_owned(), input(&step.body, "csrf")),
            ("q".to_owned(), input(&step.body, "q")),
            ("mfa_token".to_owned(), input(&step.body, "mfa_token")),
            ("code".to_owned(), code.to_owned()),
        ]
    };
    let wrong = form("000000");
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let refused = browser.post("/oauth/mfa", &wrong).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.location.is_none());
    let right = form(&totp_code(&totp, server.now().await));
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = browser.post("/oauth/mfa", &right).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let code = param(done.location.as_deref().unwrap(), "code").unwrap();
    assert_eq!(
        redeem(&server, "webapp", &secret, &code, VERIFIER)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_directory_themes_the_hosted_pages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("login.html"),
        "<html><body><h1>Acme sign-in</h1><p>{{client}}</p><form method=\"post\" action=\"{{action}}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{{csrf}}\"><input type=\"hidden\" name=\"q\" value=\"{{q}}\">\
         <input name=\"username\"><input name=\"password\" type=\"password\"></form></body></html>",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let server = provider(&[("CASTELLAN_OIDC__TEMPLATES_DIR", path.as_str())]).await;
    server.register("alice").await;
    let secret = web_app(&server, "webapp").await;
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path("webapp", &[])).await;
    assert!(
        page.body.contains("<h1>Acme sign-in</h1><p>webapp</p>"),
        "{}",
        page.body
    );
    // Pages without a replacement keep the built-in one.
    let unknown = browser.get(&authorize_path("ghost", &[])).await;
    assert!(unknown.body.contains("Unknown client"));
    let done = browser.sign_in(&page, "alice", PASSWORD).await;
    let code = param(done.location.as_deref().unwrap(), "code").unwrap();
    assert_eq!(
        redeem(&server, "webapp", &secret, &code, VERIFIER)
            .await
            .status,
        StatusCode::OK
    );
}
