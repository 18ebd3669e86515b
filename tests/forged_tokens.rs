//! RFC 8725 attacks on access tokens: every forgery is refused with 401, while a token
//! built the same way with the real key is accepted (so each refusal is meaningful).

mod common;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use common::TestServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "an-operator-configured-shared-secret-of-48-bytes!";

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(signature)
    )
}

fn hs256(header_kid: &str, typ: Option<&str>, claims: &Value, key: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(header_kid.into());
    header.typ = typ.map(Into::into);
    encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
}

async fn assert_refused(app: &TestServer, token: &str, what: &str) {
    let me = app.get("/auth/me", Some(token)).await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "{what} was accepted: {}",
        me.text
    );
    me.assert_error(401, "TOKEN_INVALID");
    let verify = app
        .post("/auth/token/verify", json!({"token": token}))
        .await;
    assert_eq!(
        verify.status,
        StatusCode::UNAUTHORIZED,
        "{what} verified: {}",
        verify.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forgeries_against_an_asymmetric_key_are_refused() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("mallory").await;
    let (header, claims) = parts(&access);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().unwrap().to_owned();

    // alg: none, with and without a signature part.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    assert_refused(&app, &unsigned(&none, &claims, b""), "alg none").await;
    assert_refused(
        &app,
        &format!(
            "{}.{}.",
            B64.encode(none.to_string()),
            B64.encode(claims.to_string())
        ),
        "alg none, empty sig",
    )
    .await;

    // HS256 keyed with the published public key, in each form an attacker might try.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let jwk = &jwks.body["keys"][0];
    let x = jwk["x"].as_str().unwrap();
    for key in [
        x.as_bytes().to_vec(),
        B64.decode(x).unwrap(),
        jwk.to_string().into_bytes(),
    ] {
        assert_refused(
            &app,
            &hs256(&kid, Some("at+jwt"), &claims, &key),
            "HS256 with the public key",
        )
        .await;
    }

    // A tampered payload under the original signature.
    let mut elevated = claims.clone();
    elevated["roles"] = json!(["admin"]);
    elevated["sub"] = json!("2");
    let signature = access.rsplit('.').next().unwrap();
    let tampered = format!(
        "{}.{}.{}",
        access.split('.').next().unwrap(),
        B64.encode(elevated.to_string()),
        signature
    );
    assert_refused(&app, &tampered, "tampered payload").await;

    // The attacker's own key, embedded as `jwk`, under the real kid and under its own.
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let attacker_x = B64.encode(pair.public_key().as_ref());
    for header_kid in [kid.as_str(), "attacker"] {
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(header_kid.into());
        h.typ = Some("at+jwt".into());
        h.jwk = Some(
            serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": attacker_x}))
                .unwrap(),
        );
        let token = encode(&h, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_refused(&app, &token, "embedded jwk").await;
        h.jwk = None;
        h.jku = Some("http://127.0.0.1:1/jwks.json".into());
        let token = encode(&h, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_refused(&app, &token, "jku").await;
    }

    // kid injection: paths, SQL, and absent.
    for bad_kid in [
        "../../../../dev/null",
        "' OR '1'='1",
        "",
        "x".repeat(5000).as_str(),
    ] {
        let mut h = header.clone();
        h["kid"] = json!(bad_kid);
        let token = format!(
            "{}.{}.{}",
            B64.encode(h.to_string()),
            access.split('.').nth(1).unwrap(),
            signature
        );
        assert_refused(&app, &token, "kid injection").await;
    }
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let token = format!(
        "{}.{}.{}",
        B64.encode(no_kid.to_string()),
        access.split('.').nth(1).unwrap(),
        signature
    );
    assert_refused(&app, &token, "no kid").await;

    // Garbage shapes.
    for junk in ["", "a", "a.b", "a.b.c.d", "....", "eyJ.eyJ.sig"] {
        let me = app.get("/auth/me", Some(junk)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "junk {junk:?}");
    }

    // The genuine token still works: the refusals above were about the forgeries.
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_another_deployment_is_refused() {
    let ours = TestServer::start().await;
    let theirs = TestServer::start().await;
    ours.register("olivia").await;
    let (foreign, _) = theirs.user_with_tokens("olivia").await;
    assert_refused(&ours, &foreign, "another deployment's token").await;
}

/// With an operator-configured HS256 secret the test can sign tokens itself, so every
/// claim check is exercised on a token whose signature is valid.
#[tokio::test(flavor = "multi_thread")]
async fn claim_checks_with_a_valid_signature() {
    let app = TestServer::start_with(&[
        ("CASTELLAN_TOKENS__ALGORITHM", "HS256"),
        ("CASTELLAN_TOKENS__SECRET", SECRET),
    ])
    .await;
    let (access, _) = app.user_with_tokens("peggy").await;
    let (header, claims) = parts(&access);
    assert_eq!(header["alg"], "HS256");
    let kid = header["kid"].as_str().unwrap().to_owned();
    let jwks = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(
        jwks.body["keys"],
        json!([]),
        "a shared secret is never published"
    );

    let sign = |claims: &Value| hs256(&kid, Some("at+jwt"), claims, SECRET.as_bytes());
    let now = claims["iat"].as_i64().unwrap();

    // Control: re-signing the real claims is accepted.
    let mut fresh = claims.clone();
    fresh["jti"] = json!("control");
    let control = app.get("/auth/me", Some(&sign(&fresh))).await;
    assert_eq!(
        control.status,
        StatusCode::OK,
        "control token refused: {}",
        control.text
    );

    let cases: Vec<(&str, Value)> = vec![
        ("wrong iss", json!({"iss": "http://evil.example"})),
        ("wrong aud", json!({"aud": "someone-else"})),
        ("expired", json!({"exp": now - 1})),
        ("expiring now", json!({"exp": now})),
        ("future nbf", json!({"nbf": now + 3600})),
        ("future iat", json!({"iat": now + 3600})),
    ];
    for (what, patch) in cases {
        let mut forged = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            forged[k] = v.clone();
        }
        assert_refused(&app, &sign(&forged), what).await;
    }
    for missing in ["exp", "iss", "aud", "sub"] {
        let mut forged = claims.clone();
        forged.as_object_mut().unwrap().remove(missing);
        assert_refused(&app, &sign(&forged), missing).await;
    }
    // typ must be at+jwt.
    assert_refused(
        &app,
        &hs256(&kid, Some("JWT"), &claims, SECRET.as_bytes()),
        "typ JWT",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&kid, None, &claims, SECRET.as_bytes()),
        "no typ",
    )
    .await;
    // A different secret under the right kid.
    assert_refused(
        &app,
        &hs256(
            &kid,
            Some("at+jwt"),
            &claims,
            b"another-secret-another-secret-another",
        ),
        "wrong secret",
    )
    .await;

    // Revoking the session refuses even freshly signed tokens naming it.
    let out = app
        .call(reqwest::Method::POST, "/auth/logout", Some(&access), None)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_refused(&app, &sign(&fresh), "token of a revoked session").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hs256_requires_a_long_secret() {
    let db = std::sync::Arc::new(common::TestDb::new().await);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_castellan"))
        .arg("serve")
        .env("CASTELLAN_DATABASE__URL", &db.url)
        .env("CASTELLAN_TOKENS__ALGORITHM", "HS256")
        .env("CASTELLAN_TOKENS__SECRET", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tokens.secret"), "{stderr}");
}
