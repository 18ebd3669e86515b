//! OAuth clients through `castellan client add|list|remove|rotate-secret` and through
//! `/admin/clients`: hashed secrets, public and first-party flags, permissions, and key
//! rotation that keeps old public keys published.

mod common;
#[allow(dead_code)] // each test binary uses a different part of the helpers
mod oidc;

use common::{TestServer, castellan_cli};
use oidc::{REDIRECT, add_client, provider};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = castellan_cli(&server.db.url, args, "", &[]).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn client_credentials(server: &TestServer, id: &str, secret: &str) -> StatusCode {
    server
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_adds_lists_rotates_and_removes_clients() {
    let server = provider(&[]).await;
    let made = add_client(
        &server,
        &[
            "svc",
            "--redirect-uri",
            REDIRECT,
            "--grant-type",
            "client_credentials",
            "--grant-type",
            "authorization_code",
            "--scope",
            "openid",
            "--scope",
            "api:read",
        ],
    )
    .await;
    assert_eq!(made["client_id"], "svc");
    let secret = made["client_secret"].as_str().expect("secret").to_owned();
    assert!(secret.len() >= 40);
    // Stored hashed: the secret is nowhere in the table.
    let stored = server
        .query_i64(&format!(
            "SELECT COUNT(*) FROM oauth_clients WHERE secret_hash = '{secret}'"
        ))
        .await;
    assert_eq!(stored, 0);
    assert_eq!(
        client_credentials(&server, "svc", &secret).await,
        StatusCode::OK
    );

    let public = add_client(
        &server,
        &[
            "spa",
            "--public",
            "--first-party",
            "--redirect-uri",
            REDIRECT,
        ],
    )
    .await;
    assert_eq!(public["client_secret"], Value::Null);
    assert_eq!(public["public"], true);
    assert_eq!(public["first_party"], true);

    let (ok, out, _) = cli(&server, &["client", "list"]).await;
    assert!(ok);
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(!out.contains(&secret) && !out.contains("secret_hash"));

    let (ok, out, _) = cli(&server, &["client", "rotate-secret", "svc"]).await;
    assert!(ok);
    let rotated: Value = serde_json::from_str(out.trim()).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        client_credentials(&server, "svc", &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&server, "svc", new_secret).await,
        StatusCode::OK
    );

    let (ok, _, err) = cli(
        &server,
        &["client", "add", "svc", "--redirect-uri", REDIRECT],
    )
    .await;
    assert!(!ok && err.contains("client"), "{err}");
    let (ok, _, err) = cli(
        &server,
        &["client", "add", "bad", "--redirect-uri", "not a uri"],
    )
    .await;
    assert!(!ok && err.contains("redirect_uris"), "{err}");
    let (ok, _, _) = cli(&server, &["client", "remove", "svc"]).await;
    assert!(ok);
    assert_eq!(
        client_credentials(&server, "svc", new_secret).await,
        StatusCode::UNAUTHORIZED
    );
    let (ok, _, _) = cli(&server, &["client", "remove", "svc"]).await;
    assert!(!ok, "removing twice fails");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_manages_clients_with_permissions() {
    let server = provider(&[]).await;
    let (_, admin) = server.superuser("root").await;
    let (plain, _) = server.user_with_tokens("bob").await;
    let body = json!({"client_id": "web", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "client_credentials"], "scopes": ["openid", "email"]});
    let denied = server
        .call(
            Method::POST,
            "/admin/clients",
            Some(&plain),
            Some(body.clone()),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let anonymous = server.call(Method::GET, "/admin/clients", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let made = server
        .call(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let secret = made.str("client_secret");
    assert_eq!(made.body["redirect_uris"], json!([REDIRECT]));
    let again = server
        .call(Method::POST, "/admin/clients", Some(&admin), Some(body))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let invalid = server
        .call(
            Method::POST,
            "/admin/clients",
            Some(&admin),
            Some(
                json!({"client_id": "x", "grant_types": ["password"], "redirect_uris": [REDIRECT]}),
            ),
        )
        .await;
    invalid.assert_error(400, "VALIDATION_ERROR");

    let list = server.get("/admin/clients", Some(&admin)).await;
    assert_eq!(list.body["items"][0]["client_id"], "web");
    assert!(!list.text.contains(&secret));
    let one = server.get("/admin/clients/web", Some(&admin)).await;
    assert_eq!(
        one.body["grant_types"],
        json!(["authorization_code", "client_credentials"])
    );

    let rotated = server
        .call(
            Method::POST,
            "/admin/clients/web/secret",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        client_credentials(&server, "web", &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&server, "web", &rotated.str("client_secret")).await,
        StatusCode::OK
    );

    let gone = server
        .call(Method::DELETE, "/admin/clients/web", Some(&admin), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/admin/clients/web", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_keeps_old_public_keys_until_their_tokens_expire() {
    let server = provider(&[]).await;
    let (_, admin) = server.superuser("root").await;
    let web = json!({"client_id": "web", "redirect_uris": [REDIRECT]});
    let made = server
        .call(Method::POST, "/admin/clients", Some(&admin), Some(web))
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let kids = |v: &Value| -> Vec<(String, String)> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["kid"].as_str().unwrap().to_owned(),
                    k["alg"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = kids(&server.get("/.well-known/jwks.json", None).await.body);
    assert!(
        before.iter().any(|(_, alg)| alg == "RS256"),
        "an RS256 key exists once a client does: {before:?}"
    );
    let rotated = server
        .call(Method::POST, "/admin/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let after = kids(&server.get("/.well-known/jwks.json", None).await.body);
    assert_eq!(
        after.len(),
        before.len() * 2,
        "old keys stay published: {after:?}"
    );
    for old in &before {
        assert!(after.contains(old));
    }
    // After the longest token lifetime they are dropped.
    server.advance_clock(3600 + 60).await;
    let (admin, _) = server.login("root").await;
    let again = server
        .call(Method::POST, "/admin/keys/rotate", Some(&admin), None)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let later = kids(&server.get("/.well-known/jwks.json", None).await.body);
    assert!(before.iter().all(|k| !later.contains(k)), "{later:?}");
}
