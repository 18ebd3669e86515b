//! A real headless browser (Debian's chromium driven by npm playwright-core, both installed
//! by scripts/browser-env.sh) signs a user in on the hosted login page and lands on the
//! client's redirect URI with a code that the client then redeems. The test photographs the
//! filled-in login page for the README (docs/hosted-login.png). Without a browser it is
//! skipped, except under CI=true, where it fails.

mod common;
#[allow(dead_code)]
mod oidc;

use common::{
    PASSWORD,
    browser::{chromium, run_script},
    python::manifest_dir,
};
use oidc::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn headless_chromium_signs_in_on_the_hosted_page_and_lands_with_a_code() {
    let Some(chromium) = tokio::task::spawn_blocking(chromium).await.unwrap() else {
        return;
    };
    let server = provider(&[]).await;
    server.register("alice").await;
    let secret = web_app(&server, "webapp").await;
    let authorize = format!("{}{}", server.base, authorize_path("webapp", &[]));
    let screenshot = manifest_dir().join("docs/hosted-login.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();

    let report = run_script(
        &chromium,
        "sign_in.mjs",
        &[
            authorize.as_str(),
            REDIRECT,
            "alice",
            PASSWORD,
            &screenshot.to_string_lossy(),
        ],
        || server.logs(),
    )
    .await;
    assert_eq!(report["title"], "Sign in");
    let landed = report["landed"].as_str().expect("landed URL");
    assert!(landed.starts_with(&format!("{REDIRECT}?")), "{landed}");
    assert_eq!(param(landed, "state").as_deref(), Some("st-123"));
    let code = param(landed, "code").expect("a code on the redirect URI");

    // The code the browser carried is a real one: the client redeems it for an ID token.
    let tokens = redeem(&server, "webapp", &secret, &code, VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(claims(&tokens.str("id_token"))["nonce"], "n-456");

    let png = std::fs::read(&screenshot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2_000,
        "a real screenshot"
    );
}
