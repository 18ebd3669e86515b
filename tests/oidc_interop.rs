//! A relying party this project did not write — Python authlib — signs a user in through
//! Castellan: discovery, authorization URL with PKCE and nonce, the hosted login page, code
//! exchange, ID-token validation against the JWKS, UserInfo, refresh, client credentials,
//! introspection and revocation.

mod common;
#[allow(dead_code)] // each test binary uses a different part of the helpers
mod oidc;

use std::{process::Stdio, time::Duration};

use common::{
    PASSWORD,
    python::{manifest_dir, python},
};
use oidc::{REDIRECT, provider, web_app};
use serde_json::Value;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn authlib_signs_a_user_in_and_uses_every_endpoint() {
    let server = provider(&[]).await;
    server.register("alice").await;
    let secret = web_app(&server, "webapp").await;
    let mut cmd = Command::new(python());
    cmd.arg(manifest_dir().join("tests/interop/oidc_rp.py"))
        .args([
            server.base.as_str(),
            "webapp",
            &secret,
            REDIRECT,
            "alice",
            PASSWORD,
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the authlib relying party did not finish within 120 s")
        .expect("run the authlib relying party");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "authlib failed:\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.logs()
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary in {stdout}"));
    assert_eq!(summary["id_token_alg"], "RS256");
    assert_eq!(summary["email"], "alice@example.com");
    assert_eq!(summary["userinfo_sub"], summary["sub"]);
    assert_eq!(summary["cc_scope"], "api:read");
    assert_eq!(summary["introspected_active"], true);
    assert_eq!(summary["introspected_client"], "webapp");
    assert_eq!(summary["revoked_active"], false);
    assert_eq!(summary["refresh_revoked_active"], false);
}
