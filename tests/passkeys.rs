//! Passkeys (WebAuthn) with a software authenticator (webauthn-authenticator-rs'
//! SoftPasskey, which signs like a platform authenticator): registration, passwordless
//! login, the second step of a password login, replay, a foreign authenticator, removal.

mod common;

use common::{PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webauthn_authenticator_rs::{
    WebauthnAuthenticator,
    prelude::{CreationChallengeResponse, RequestChallengeResponse, Url},
    softpasskey::SoftPasskey,
};

/// The origin the browser would report: the server's default `server.public_url`.
fn origin() -> Url {
    Url::parse("http://localhost:8000").unwrap()
}

/// A user-verifying software authenticator.
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn register_passkey(app: &TestServer, access: &str, device: &mut SoftPasskey) -> Value {
    let start = app
        .call(
            Method::POST,
            "/auth/webauthn/register/start",
            Some(access),
            None,
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text);
    let options: CreationChallengeResponse =
        serde_json::from_value(start.body["options"].clone()).unwrap();
    let credential = device
        .do_registration(origin(), options)
        .expect("authenticator registration");
    let body = json!({"ceremony_id": start.str("ceremony_id"), "credential": credential, "name": "laptop"});
    let finish = app
        .call(
            Method::POST,
            "/auth/webauthn/register/finish",
            Some(access),
            Some(body),
        )
        .await;
    assert_eq!(finish.status, StatusCode::CREATED, "{}", finish.text);
    finish.body
}

/// Runs an assertion ceremony: `start` answers options, the device signs, returns the
/// finish body (without any extra fields).
async fn assert_with(
    app: &TestServer,
    start_path: &str,
    start_body: Value,
    device: &mut SoftPasskey,
) -> Value {
    let start = app.post(start_path, start_body).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text);
    let options: RequestChallengeResponse =
        serde_json::from_value(start.body["options"].clone()).unwrap();
    let credential = device
        .do_authentication(origin(), options)
        .expect("authenticator assertion");
    json!({"ceremony_id": start.str("ceremony_id"), "credential": credential})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_logs_in_without_a_password_and_works_once_per_ceremony() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("alice").await;
    let mut device = authenticator();
    let added = register_passkey(&app, &access, &mut device).await;
    assert_eq!(added["name"], "laptop");
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        true
    );
    let listed = app.get("/auth/webauthn/credentials", Some(&access)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.text);

    let body = assert_with(
        &app,
        "/auth/webauthn/login/start",
        json!({"username": "alice"}),
        &mut device,
    )
    .await;
    let login = app.post("/auth/webauthn/login/finish", body.clone()).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let me = app.get("/auth/me", Some(&login.str("access_token"))).await;
    assert_eq!(me.body["username"], "alice");
    // The ceremony is spent: the same answer again is refused.
    app.post("/auth/webauthn/login/finish", body.clone())
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // And an old answer does not fit a new ceremony's challenge.
    let fresh = app
        .post("/auth/webauthn/login/start", json!({"username": "alice"}))
        .await;
    let replay = json!({"ceremony_id": fresh.str("ceremony_id"), "credential": body["credential"]});
    app.post("/auth/webauthn/login/finish", replay)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // Someone else's authenticator does not log in as alice.
    let mut stranger = authenticator();
    let (other, _) = app.user_with_tokens("mallory").await;
    register_passkey(&app, &other, &mut stranger).await;
    // A valid assertion by mallory's passkey, sent into a ceremony for alice, is refused.
    let theirs = assert_with(
        &app,
        "/auth/webauthn/login/start",
        json!({"username": "mallory"}),
        &mut stranger,
    )
    .await;
    let for_alice = app
        .post("/auth/webauthn/login/start", json!({"username": "alice"}))
        .await;
    let forged =
        json!({"ceremony_id": for_alice.str("ceremony_id"), "credential": theirs["credential"]});
    app.post("/auth/webauthn/login/finish", forged)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let own = app.post("/auth/webauthn/login/finish", theirs).await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "mallory's own login: {}",
        own.text
    );
    // Without passkeys there is no passwordless login.
    app.register("bob").await;
    app.post("/auth/webauthn/login/start", json!({"username": "bob"}))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let malformed = app
        .post(
            "/auth/webauthn/login/finish",
            json!({"ceremony_id": "x", "credential": {"id": 1}}),
        )
        .await;
    malformed.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passkey_is_the_second_step_of_a_password_login() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("carol").await;
    let mut device = authenticator();
    let added = register_passkey(&app, &access, &mut device).await;

    let first = app
        .post(
            "/auth/token",
            json!({"username": "carol", "password": PASSWORD}),
        )
        .await;
    first.assert_error(401, "MFA_REQUIRED");
    let mfa_token = first.body["error"]["details"]["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = assert_with(
        &app,
        "/auth/webauthn/mfa/start",
        json!({"mfa_token": mfa_token}),
        &mut device,
    )
    .await;
    body["mfa_token"] = json!(mfa_token);
    let done = app.post("/auth/webauthn/mfa/finish", body.clone()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["token_type"], "bearer");
    // The mfa_token is spent with the step.
    app.post("/auth/webauthn/mfa/start", json!({"mfa_token": mfa_token}))
        .await
        .assert_error(401, "TOKEN_INVALID");

    // Removing the only passkey turns MFA off again.
    let id = added["id"].as_str().unwrap();
    let removed = app
        .call(
            Method::DELETE,
            &format!("/auth/webauthn/credentials/{id}"),
            Some(&access),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        false
    );
    app.login("carol").await;
    let again = app
        .call(
            Method::DELETE,
            &format!("/auth/webauthn/credentials/{id}"),
            Some(&access),
            None,
        )
        .await;
    again.assert_error(404, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_stays_on_while_a_passkey_remains() {
    let app = TestServer::start().await;
    let (access, _) = app.user_with_tokens("dana").await;
    let setup = app
        .call(Method::POST, "/auth/mfa/totp/setup", Some(&access), None)
        .await;
    let code = common::python::totp_code(&setup.str("secret"), app.now().await);
    let confirm = app
        .call(
            Method::POST,
            "/auth/mfa/totp/confirm",
            Some(&access),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    register_passkey(&app, &access, &mut authenticator()).await;
    let off = app
        .call(
            Method::DELETE,
            "/auth/mfa/totp",
            Some(&access),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/auth/me", Some(&access)).await.body["mfa_enabled"],
        true
    );
    let login = app
        .post(
            "/auth/token",
            json!({"username": "dana", "password": PASSWORD}),
        )
        .await;
    login.assert_error(401, "MFA_REQUIRED");
}
