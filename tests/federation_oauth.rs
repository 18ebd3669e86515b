//! Signing in with a plain OAuth 2.0 provider that has no discovery and no ID tokens (a
//! GitHub-like stub): explicit endpoints, the user from its `/user` API through a claim
//! mapping, and the same one-time code exchange.

mod common;

use common::{
    TestServer,
    upstream::{Flavor, Upstream},
};
use reqwest::redirect::Policy;

const APP: &str = "https://app.example.com/signed-in";

fn location(resp: &reqwest::Response) -> String {
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_plain_oauth_provider_signs_users_in_through_its_user_api() {
    let upstream = Upstream::start(Flavor::PlainOAuth).await;
    let config = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "[federation]\nredirect_allow_list = [\"{APP}\"]\n\n{}",
        upstream.provider_toml("hub", "")
    );
    std::fs::write(config.path(), toml).unwrap();
    let server =
        TestServer::start_with(&[("CASTELLAN_CONFIG", config.path().to_str().unwrap())]).await;
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();

    let start = browser
        .get(server.url("/auth/federation/hub/start"))
        .query(&[("redirect", APP)])
        .send()
        .await
        .unwrap();
    let at_upstream = location(&start);
    assert!(at_upstream.starts_with(&format!("{}/authorize?", upstream.base())));
    let back = location(&browser.get(&at_upstream).send().await.unwrap());
    let sent = upstream.last_authorize();
    assert!(
        !sent.contains_key("nonce"),
        "no nonce without OpenID Connect"
    );
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["scope"], "read:user user:email");
    let path = &back[back.find("/auth/federation/").unwrap()..];
    let landed = location(&browser.get(server.url(path)).send().await.unwrap());
    assert!(landed.starts_with(&format!("{APP}?code=")), "{landed}");
    let tokens = server.federation_exchange(&landed).await;
    let me = server.me_with(&tokens).await;
    assert_eq!(me["username"], "ada");
    assert_eq!(me["first_name"], "");
    let ids = server
        .get("/auth/identities", Some(&tokens.str("access_token")))
        .await;
    assert_eq!(
        ids.body[0]["subject"], "4242",
        "the numeric id is the subject"
    );
    assert_eq!(upstream.token_requests(), 1);
}

#[tokio::test]
async fn settings_for_a_provider_without_endpoints_stop_start_up() {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[[federation.providers]]\nid = \"hub\"\nclient_id = \"x\"\nauthorization_url = \"https://hub.example/authorize\"\n",
    )
    .unwrap();
    let db = common::TestDb::new().await;
    let out = common::castellan_cli(
        &db.url,
        &["--config", config.path().to_str().unwrap(), "migrate"],
        "",
        &[],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("federation.providers"), "{err}");
}
