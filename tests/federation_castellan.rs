//! Castellan as its own upstream: one instance is the OpenID Connect provider, a second one
//! signs its users in through it, from an app (the one-time code exchange) and from the
//! second instance's own hosted login page ("Sign in with …"), including the linking rule
//! for an existing account whose email the upstream has not verified.

mod common;
#[allow(dead_code)] // each test binary uses a different part of the helpers
mod oidc;

use common::{PASSWORD, TestServer};
use oidc::*;
use reqwest::StatusCode;
use serde_json::json;

const APP: &str = "https://app.example.com/done";

struct Pair {
    upstream: TestServer,
    castellan: TestServer,
    _config: tempfile::NamedTempFile,
}

/// The upstream with user `ada` and a first-party client for the second instance, and the
/// second instance configured to sign in through it.
async fn pair() -> Pair {
    let upstream = provider(&[]).await;
    upstream.register("ada").await;
    let port = common::smtp::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let callback = format!("{base}/auth/federation/upstream/callback");
    let client = add_client(
        &upstream,
        &[
            "downstream",
            "--redirect-uri",
            &callback,
            "--first-party",
            "--scope",
            "openid",
            "--scope",
            "profile",
            "--scope",
            "email",
        ],
    )
    .await;
    let config = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "[federation]\nredirect_allow_list = [\"{APP}\"]\n\n[[federation.providers]]\n\
         id = \"upstream\"\ndisplay_name = \"Upstream Castellan\"\nissuer = \"{}\"\n\
         client_id = \"downstream\"\nclient_secret = \"{}\"\n",
        upstream.base,
        client["client_secret"].as_str().unwrap()
    );
    std::fs::write(config.path(), toml).unwrap();
    let castellan = TestServer::start_with(&[
        ("CASTELLAN_SERVER__BIND", &format!("127.0.0.1:{port}")),
        ("CASTELLAN_SERVER__PUBLIC_URL", &base),
        ("CASTELLAN_CONFIG", config.path().to_str().unwrap()),
    ])
    .await;
    Pair {
        upstream,
        castellan,
        _config: config,
    }
}

/// The path and query of an absolute URL on `server`.
fn on(server: &TestServer, url: &str) -> String {
    url.strip_prefix(&server.base)
        .unwrap_or_else(|| panic!("{url} is not on {}", server.base))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_signs_users_in_through_an_upstream_castellan() {
    let p = pair().await;
    let mut at_upstream = Browser::new(&p.upstream);
    let mut at_castellan = Browser::new(&p.castellan);

    let start = at_castellan
        .get(&format!("/auth/federation/upstream/start?redirect={APP}"))
        .await;
    let authorize = on(&p.upstream, &start.location.expect("to the upstream"));
    let login = at_upstream.get(&authorize).await;
    let signed_in = at_upstream.sign_in(&login, "ada", PASSWORD).await;
    let back = signed_in.location.expect("back to the callback");
    let landed = at_castellan.get(&on(&p.castellan, &back)).await;
    let to_app = landed.location.expect("to the app");
    assert!(to_app.starts_with(APP), "{to_app}");
    let code = param(&to_app, "code").expect("a code");

    let tokens = p
        .castellan
        .post("/auth/federation/exchange", json!({"code": code}))
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let me = p
        .castellan
        .get("/auth/me", Some(&tokens.str("access_token")))
        .await;
    assert_eq!(me.body["username"], "ada");
    assert_eq!(me.body["email"], "ada@example.com");
    let ids = p
        .castellan
        .get("/auth/identities", Some(&tokens.str("access_token")))
        .await;
    let upstream_me = p.upstream.login("ada").await.0;
    let upstream_id = p.upstream.get("/auth/me", Some(&upstream_me)).await.body["id"].clone();
    assert_eq!(ids.body[0]["subject"], upstream_id.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosted_login_page_offers_the_upstream_and_resumes_the_authorization() {
    let p = pair().await;
    web_app(&p.castellan, "webapp").await;
    let mut at_upstream = Browser::new(&p.upstream);
    let mut at_castellan = Browser::new(&p.castellan);

    let page = at_castellan.get(&authorize_path("webapp", &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Sign in with Upstream Castellan"),
        "{}",
        page.body
    );
    let href = page
        .body
        .split("href=\"")
        .find_map(|rest| {
            rest.split('"')
                .next()
                .filter(|h| h.contains("/federation/upstream/start"))
        })
        .expect("a link to the upstream")
        .replace("&amp;", "&");
    let start = at_castellan.get(&href).await;
    let login = at_upstream
        .get(&on(&p.upstream, &start.location.expect("to the upstream")))
        .await;
    let signed_in = at_upstream.sign_in(&login, "ada", PASSWORD).await;
    let back = at_castellan
        .get(&on(&p.castellan, &signed_in.location.expect("callback")))
        .await;
    let resume = back.location.expect("back to the authorization request");
    assert!(at_castellan.cookies.contains_key("castellan_sso"));
    let done = at_castellan.get(&on(&p.castellan, &resume)).await;
    let location = done.location.expect("to the client");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(param(&location, "code").is_some());
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverified_upstream_email_does_not_take_over_a_local_account() {
    let p = pair().await;
    // A local `ada` with the same email; the upstream has not verified its address.
    p.castellan.register("ada").await;
    let mut at_upstream = Browser::new(&p.upstream);
    let mut at_castellan = Browser::new(&p.castellan);
    let start = at_castellan
        .get(&format!("/auth/federation/upstream/start?redirect={APP}"))
        .await;
    let login = at_upstream
        .get(&on(&p.upstream, &start.location.unwrap()))
        .await;
    let signed_in = at_upstream.sign_in(&login, "ada", PASSWORD).await;
    let landed = at_castellan
        .get(&on(&p.castellan, &signed_in.location.unwrap()))
        .await;
    let to_app = landed.location.unwrap();
    assert_eq!(param(&to_app, "error").as_deref(), Some("account_exists"));
    assert_eq!(
        p.castellan
            .query_i64("SELECT COUNT(*) FROM federated_identities")
            .await,
        0
    );
    assert_eq!(p.castellan.query_i64("SELECT COUNT(*) FROM users").await, 1);
}
