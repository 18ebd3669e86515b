//! Interoperability: access tokens verify in PyJWT, a third-party implementation, using only
//! the published JWKS, for every asymmetric algorithm; a tampered token does not.
//!
//! Python is located by `common::python` (a virtualenv set up by `scripts/python-env.sh`).

mod common;

use std::{process::Stdio, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use common::{
    TestServer,
    python::{manifest_dir, python},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::Command;

/// `iss` and `aud` of access tokens under the default `server.public_url`.
const ISSUER: &str = "http://localhost:8000";

struct PyJwt {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs tests/interop/verify_with_pyjwt.py against the server's JWKS.
async fn pyjwt(server: &TestServer, token: &str, audience: &str, expect_failure: bool) -> PyJwt {
    let mut cmd = Command::new(python());
    cmd.arg(manifest_dir().join("tests/interop/verify_with_pyjwt.py"));
    if expect_failure {
        cmd.arg("--expect-failure");
    }
    cmd.args([server.base.as_str(), token, ISSUER, audience])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the PyJWT verifier did not finish within 120 s")
        .expect("run the PyJWT verifier");
    PyJwt {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three segments");
    serde_json::from_slice(&B64.decode(part).expect("base64url")).expect("JSON segment")
}

/// Registers and logs in `username`, has PyJWT verify the access token, and checks the
/// claims it printed against what the server says about the same user and session.
async fn verified_by_pyjwt(server: &TestServer, username: &str, algorithm: &str) {
    let user = server.register(username).await.body;
    let (access, refresh) = server.login(username).await;

    let header = segment(&access, 0);
    assert_eq!(header["alg"], algorithm, "header: {header}");
    assert_eq!(header["typ"], "at+jwt", "header: {header}");
    let jwks = server.get("/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let key = jwks.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} not in {}", header["kid"], jwks.body));
    assert_eq!(key["alg"], algorithm, "jwk: {key}");
    assert!(
        key.get("d").is_none() && key.get("p").is_none(),
        "private material published: {key}"
    );

    let run = pyjwt(server, &access, ISSUER, false).await;
    assert!(
        run.success,
        "PyJWT refused a {algorithm} token:\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let claims: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("PyJWT printed no JSON ({e}): {}", run.stdout));

    // The session the refresh token belongs to, as the server reports it.
    let session = server
        .post("/auth/token/verify", json!({"token": refresh}))
        .await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
    let sid = session.body["claims"]["sid"]
        .as_str()
        .expect("sid of the refresh token");

    assert_eq!(claims["sub"], user["id"].to_string(), "claims: {claims}");
    assert_eq!(claims["username"], username, "claims: {claims}");
    assert_eq!(claims["sid"], sid, "claims: {claims}");
    assert_eq!(claims["iss"], ISSUER, "claims: {claims}");
    assert_eq!(claims["aud"], ISSUER, "claims: {claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "claims: {claims}"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 3600, "default access_ttl; claims: {claims}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_verifies_default_eddsa_tokens() {
    let server = TestServer::start().await;
    verified_by_pyjwt(&server, "alice", "EdDSA").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_verifies_rs256_tokens() {
    let server = TestServer::start_with(&[("CASTELLAN_TOKENS__ALGORITHM", "RS256")]).await;
    verified_by_pyjwt(&server, "rosa", "RS256").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_verifies_es256_tokens() {
    let server = TestServer::start_with(&[("CASTELLAN_TOKENS__ALGORITHM", "ES256")]).await;
    verified_by_pyjwt(&server, "elena", "ES256").await;
}

const B64_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Changes one character of the payload segment, near its middle, so that the segment is
/// still valid base64url, decodes to different bytes, and is still a JSON object: only the
/// signature can tell.
fn tamper_payload(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS: {token}");
    let payload = parts[1].as_bytes();
    let original = B64.decode(payload).expect("base64url payload");
    let middle = payload.len() / 2;
    // Walk outwards from the middle; never the last character, whose spare bits may not count.
    let positions = (0..payload.len() - 1).map(|d| {
        if d % 2 == 0 {
            middle + d / 2
        } else {
            middle.wrapping_sub(d / 2 + 1)
        }
    });
    for at in positions.filter(|&at| at < payload.len() - 1) {
        for &replacement in B64_ALPHABET.iter().filter(|&&c| c != payload[at]) {
            let mut changed = payload.to_vec();
            changed[at] = replacement;
            let Ok(bytes) = B64.decode(&changed) else {
                continue;
            };
            if bytes != original
                && serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v.is_object())
            {
                let changed = String::from_utf8(changed).expect("ascii");
                return format!("{}.{changed}.{}", parts[0], parts[2]);
            }
        }
    }
    panic!("no one-character change keeps the payload valid JSON: {token}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pyjwt_refuses_a_tampered_token() {
    let server = TestServer::start().await;
    let (access, _) = server.user_with_tokens("mallory").await;

    // The untouched token passes, so the refusals below are about the changes.
    let genuine = pyjwt(&server, &access, ISSUER, false).await;
    assert!(
        genuine.success,
        "genuine token refused:\n{}",
        genuine.stderr
    );

    let tampered = tamper_payload(&access);
    assert_ne!(tampered, access);
    assert_eq!(
        tampered.split('.').nth(1).unwrap().len(),
        access.split('.').nth(1).unwrap().len()
    );
    assert_ne!(
        segment(&tampered, 1),
        segment(&access, 1),
        "the change must alter the claims"
    );

    let run = pyjwt(&server, &tampered, ISSUER, true).await;
    assert!(
        run.success,
        "PyJWT accepted a tampered token:\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("Signature"),
        "refused for another reason than the signature: {}",
        run.stderr
    );
    // Castellan itself refuses it too.
    server
        .get("/auth/me", Some(&tampered))
        .await
        .assert_error(401, "TOKEN_INVALID");

    // The verifier also enforces the audience: the same genuine token, another audience.
    let run = pyjwt(&server, &access, "https://another.example", true).await;
    assert!(
        run.success,
        "PyJWT accepted a token for another audience:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Audience"),
        "refused for another reason than the audience: {}",
        run.stderr
    );
}
