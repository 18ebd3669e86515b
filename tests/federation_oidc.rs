//! Signing in with an upstream OpenID Connect provider (a stub served by the test): the
//! flow end to end with PKCE, state and nonce; account creation and linking rules; every
//! way an ID token can be bad; denied consent, a down upstream, state misuse, upstream key
//! rotation and open-redirect refusal. Every failure leaves no user behind.

mod common;

use common::{
    PASSWORD, TestServer,
    upstream::{Flavor, IdToken, Upstream},
};
use reqwest::{Method, StatusCode, redirect::Policy};
use serde_json::{Value, json};

const APP: &str = "https://app.example.com/signed-in";

struct Setup {
    server: TestServer,
    upstream: Upstream,
    _config: tempfile::NamedTempFile,
    browser: reqwest::Client,
}

async fn setup(extra: &str) -> Setup {
    let upstream = Upstream::start(Flavor::Oidc).await;
    let config = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "[federation]\nredirect_allow_list = [\"https://app.example.com/\"]\n\n{}",
        upstream.provider_toml("corp", extra)
    );
    std::fs::write(config.path(), toml).unwrap();
    let path = config.path().to_str().unwrap().to_owned();
    let server = TestServer::start_with(&[("CASTELLAN_CONFIG", &path)]).await;
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Setup {
        server,
        upstream,
        _config: config,
        browser,
    }
}

/// Where a response redirects to.
fn location(resp: &reqwest::Response) -> String {
    assert!(
        resp.status().is_redirection(),
        "expected a redirect, got {}",
        resp.status()
    );
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// The query parameters of a URL.
fn params(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(query).unwrap()
}

async fn register(server: &TestServer, name: &str, email: &str) {
    let reply = server
        .post(
            "/auth/register",
            json!({"username": name, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

impl Setup {
    /// Starts at Castellan, visits the upstream, comes back through the callback; yields
    /// the URL the app is finally sent to.
    async fn sign_in(&self) -> String {
        let start = self
            .browser
            .get(self.server.url("/auth/federation/corp/start"))
            .query(&[("redirect", APP)])
            .send()
            .await
            .unwrap();
        let at_upstream = location(&start);
        assert!(
            at_upstream.starts_with(&self.upstream.base()),
            "{at_upstream}"
        );
        let back = location(&self.browser.get(&at_upstream).send().await.unwrap());
        self.callback(&back).await
    }

    /// Follows the upstream's redirect to the callback (on the test server's real address).
    async fn callback(&self, url: &str) -> String {
        let path = &url[url.find("/auth/federation/").expect("callback URL")..];
        let resp = self
            .browser
            .get(self.server.url(path))
            .send()
            .await
            .unwrap();
        location(&resp)
    }

    async fn exchange(&self, app_url: &str) -> common::Reply {
        self.server.federation_exchange(app_url).await
    }

    async fn users(&self) -> i64 {
        self.server.query_i64("SELECT COUNT(*) FROM users").await
    }
}

#[tokio::test]
async fn a_first_sign_in_creates_a_user_and_issues_ordinary_tokens() {
    let s = setup("").await;
    let landed = s.sign_in().await;
    assert!(landed.starts_with(APP), "{landed}");
    let sent = s.upstream.last_authorize();
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["response_type"], "code");
    assert!(sent["state"].len() >= 32 && sent["nonce"].len() >= 24);
    assert!(sent["scope"].split(' ').any(|s| s == "openid"));

    let tokens = s.exchange(&landed).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let access = tokens.str("access_token");
    let me = s.server.get("/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["username"], "ada");
    assert_eq!(me.body["email"], "ada@example.org");
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(me.body["first_name"], "Ada");

    // The refresh token is an ordinary one.
    let refreshed = s
        .server
        .post(
            "/auth/token/refresh",
            json!({"refresh_token": tokens.str("refresh_token")}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);

    // The identity is listed; the code cannot be used twice.
    let ids = s.server.get("/auth/identities", Some(&access)).await;
    assert_eq!(ids.status, StatusCode::OK);
    assert_eq!(ids.body[0]["provider"], "corp");
    assert_eq!(ids.body[0]["subject"], "upstream-user-1");
    s.exchange(&landed).await.assert_error(401, "TOKEN_INVALID");

    // Signing in again finds the same user.
    let again = s.exchange(&s.sign_in().await).await;
    let me2 = s
        .server
        .get("/auth/me", Some(&again.str("access_token")))
        .await;
    assert_eq!(me2.body["id"], me.body["id"]);
    assert_eq!(s.users().await, 1);

    let providers = s.server.get("/auth/federation/providers", None).await;
    assert_eq!(
        providers.body,
        json!([{"id": "corp", "display_name": "Upstream corp"}])
    );
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_create_nobody() {
    let s = setup("").await;
    for (spoil, why) in [
        (IdToken::Tampered, "tampered"),
        (IdToken::Expired, "expired"),
        (IdToken::WrongAudience, "wrong audience"),
        (IdToken::WrongNonce, "wrong nonce"),
        (IdToken::WrongIssuer, "wrong issuer"),
        (IdToken::Unsigned, "alg none"),
    ] {
        s.upstream.set(|b| b.id_token = spoil);
        let landed = s.sign_in().await;
        assert!(landed.starts_with(APP), "{why}: {landed}");
        assert_eq!(params(&landed)["error"], "invalid_id_token", "{why}");
        assert!(!params(&landed).contains_key("code"), "{why}");
    }
    assert_eq!(s.users().await, 0);
    assert_eq!(
        s.server
            .query_i64("SELECT COUNT(*) FROM federated_identities")
            .await,
        0
    );
}

#[tokio::test]
async fn upstream_failures_come_back_as_errors_for_the_app() {
    let s = setup("").await;
    s.upstream.set(|b| b.deny = true);
    assert_eq!(params(&s.sign_in().await)["error"], "access_denied");

    s.upstream.set(|b| {
        b.deny = false;
        b.token_down = true;
    });
    assert_eq!(params(&s.sign_in().await)["error"], "upstream_unavailable");
    assert_eq!(s.users().await, 0);
}

#[tokio::test]
async fn state_must_be_the_one_issued_and_is_single_use() {
    let s = setup("").await;
    let start = s
        .browser
        .get(s.server.url("/auth/federation/corp/start"))
        .query(&[("redirect", APP)])
        .send()
        .await
        .unwrap();
    let back = location(&s.browser.get(location(&start)).send().await.unwrap());
    let path = &back[back.find("/auth/federation/").unwrap()..];

    // A forged state is refused with an error, not a redirect anywhere.
    let forged = path.replace(&format!("state={}", params(&back)["state"]), "state=forged");
    let resp = s.browser.get(s.server.url(&forged)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "FEDERATION_STATE_INVALID");

    // The real one works once; replaying it is refused.
    let first = s.browser.get(s.server.url(path)).send().await.unwrap();
    assert!(params(&location(&first)).contains_key("code"));
    let replay = s.browser.get(s.server.url(path)).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // A state from one provider is no good at another's callback.
    let missing = s
        .browser
        .get(s.server.url("/auth/federation/corp/callback?code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn redirect_targets_outside_the_allow_list_are_refused() {
    let s = setup("").await;
    for target in [
        "https://evil.example.com/",
        "https://app.example.com.evil.example/",
        "//evil.example.com",
        "javascript:alert(1)",
    ] {
        let resp = s
            .browser
            .get(s.server.url("/auth/federation/corp/start"))
            .query(&[("redirect", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{target}");
    }
    let none = s
        .browser
        .get(s.server.url("/auth/federation/corp/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
    let unknown = s
        .browser
        .get(s.server.url("/auth/federation/nope/start"))
        .query(&[("redirect", APP)])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_existing_account_is_linked_only_by_verified_email_when_allowed() {
    // Not allowed: the user must sign in and link from the account.
    let s = setup("").await;
    register(&s.server, "ada", "ada@example.org").await;
    let refused = s.sign_in().await;
    assert_eq!(params(&refused)["error"], "account_exists");
    assert_eq!(s.users().await, 1);

    // Signed in, the user links the upstream account explicitly.
    let (access, _) = s.server.login("ada").await;
    let link = s
        .server
        .call(
            Method::POST,
            "/auth/federation/corp/link",
            Some(&access),
            Some(json!({"redirect": APP})),
        )
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.text);
    let at_upstream = link.str("authorization_url");
    let back = location(&s.browser.get(&at_upstream).send().await.unwrap());
    let landed = s.callback(&back).await;
    let tokens = s.exchange(&landed).await;
    let me = s.server.me_with(&tokens).await;
    assert_eq!(me["username"], "ada");
    assert_eq!(s.users().await, 1);

    // Unlinking: a user with a password may unlink; then the upstream is refused again.
    let gone = s.server.unlink_first_identity(&access).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_eq!(params(&s.sign_in().await)["error"], "account_exists");
}

#[tokio::test]
async fn verified_email_links_when_configured_but_unverified_never_does() {
    let s = setup("link_verified_email = true").await;
    register(&s.server, "ada", "ada@example.org").await;
    s.upstream.set(|b| b.user["email_verified"] = json!(false));
    assert_eq!(params(&s.sign_in().await)["error"], "account_exists");

    s.upstream.set(|b| b.user["email_verified"] = json!(true));
    let tokens = s.exchange(&s.sign_in().await).await;
    let me = s.server.me_with(&tokens).await;
    assert_eq!(me["username"], "ada");
    assert_eq!(s.users().await, 1);
}

#[tokio::test]
async fn the_upstream_may_rotate_its_signing_key() {
    let s = setup("").await;
    assert!(params(&s.sign_in().await).contains_key("code"));
    // A new key, published alongside the old one: the unknown kid triggers a JWKS refetch
    // (after the short refetch guard).
    s.upstream.set(|b| {
        b.key = 1;
        b.publish_both_keys = true;
    });
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let landed = s.sign_in().await;
    assert!(params(&landed).contains_key("code"), "{landed}");
}

#[tokio::test]
async fn a_user_created_upstream_without_password_cannot_unlink_the_last_identity() {
    let s = setup("").await;
    let tokens = s.exchange(&s.sign_in().await).await;
    let access = tokens.str("access_token");
    let refused = s.server.unlink_first_identity(&access).await;
    refused.assert_error(409, "LAST_SIGN_IN_METHOD");
    // And the user cannot log in with any password.
    let login = s
        .server
        .post(
            "/auth/token",
            json!({"username": "ada", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn castellan_mfa_still_applies_unless_the_upstream_is_trusted() {
    let s = setup("").await;
    let (access, _, _) = s.server.enable_mfa("ada").await;
    let link = s
        .server
        .call(
            Method::POST,
            "/auth/federation/corp/link",
            Some(&access),
            Some(json!({"redirect": APP})),
        )
        .await;
    let back = location(
        &s.browser
            .get(link.str("authorization_url"))
            .send()
            .await
            .unwrap(),
    );
    s.callback(&back).await;
    let answer = s.exchange(&s.sign_in().await).await;
    answer.assert_error(401, "MFA_REQUIRED");
}
