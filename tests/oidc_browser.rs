//! A real headless browser (Debian's chromium driven by npm playwright-core, both installed
//! by scripts/browser-env.sh) signs a user in on the hosted login page and lands on the
//! client's redirect URI with a code that the client then redeems. The test photographs the
//! filled-in login page for the README (docs/hosted-login.png). Without a browser it is
//! skipped, except under CI=true, where it fails.

mod common;
#[allow(dead_code)]
mod oidc;

use std::{path::PathBuf, process::Stdio, time::Duration};

use common::{PASSWORD, python::manifest_dir};
use oidc::*;
use reqwest::StatusCode;
use serde_json::Value;

/// The chromium binary, installed if need be; `None` (skip) only outside CI.
fn chromium() -> Option<PathBuf> {
    let script = manifest_dir().join("scripts/browser-env.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/browser-env.sh");
    if output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        return Some(PathBuf::from(
            stdout.lines().last().unwrap_or_default().trim(),
        ));
    }
    let why = format!(
        "scripts/browser-env.sh failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "a headless browser is required under CI: {why}"
    );
    eprintln!("skipping the browser test: {why}");
    None
}

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

    let run = tokio::process::Command::new("node")
        .arg(manifest_dir().join("tests/browser/sign_in.mjs"))
        .args([authorize.as_str(), REDIRECT, "alice", PASSWORD])
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser did not finish")
        .expect("run node");
    assert!(
        output.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.logs()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("browser report {stdout:?}: {e}"));
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
