//! The logs of a full run, in both formats and at debug level, never contain a secret the
//! run used, and every request leaves exactly one line with its id, route, status and
//! latency.

mod common;
#[allow(dead_code)] // each test binary uses a different part of the helpers
mod oidc;

use common::{PASSWORD, Reply, TestServer, python::totp_code, smtp::SmtpSink};
use oidc::{REDIRECT, add_client, provider};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKENS_SECRET: &str = "log-secrecy-hs256-secret-0123456789abcdef";

/// What a run sent and received: every secret, and every request id the server answered.
struct Run {
    app: TestServer,
    secrets: Vec<(String, String)>,
    request_ids: Vec<String>,
}

impl Run {
    fn secret(&mut self, what: &str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.secrets.push((what.to_owned(), value.to_owned()));
    }

    /// A token and, for a structured one, each part long enough to be a secret on its own
    /// (a JWT's header is the same for every token and is left out).
    fn token(&mut self, what: &str, value: &str) {
        self.secret(what, value);
        let parts: Vec<&str> = value.split('.').collect();
        let skip = usize::from(parts.len() == 3);
        for (i, part) in parts.iter().enumerate().skip(skip) {
            for piece in part.split('_').filter(|p| p.len() >= 16) {
                self.secret(&format!("{what} part {i}"), piece);
            }
        }
    }

    fn note(&mut self, reply: &Reply) {
        let id = reply
            .header("x-request-id")
            .expect("every answer has a request id");
        self.request_ids.push(id);
    }

    async fn post(&mut self, path: &str, body: Value) -> Reply {
        let reply = self.app.post(path, body).await;
        self.note(&reply);
        reply
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> Reply {
        let reply = self.app.call(method, path, Some(bearer), body).await;
        self.note(&reply);
        reply
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let reply = Reply::from(req.send().await.expect("request")).await;
        self.note(&reply);
        reply
    }

    async fn login(&mut self, username: &str, password: &str) -> Reply {
        let reply = self
            .post(
                "/auth/token",
                json!({"username": username, "password": password}),
            )
            .await;
        if reply.status == StatusCode::OK {
            self.token("access token", &reply.str("access_token"));
            self.token("refresh token", &reply.str("refresh_token"));
        }
        reply
    }
}

/// `text` without terminal colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack` as a word of its own: short numeric secrets (TOTP
/// codes) must not match inside timestamps or latencies.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '.'));
    haystack.match_indices(needle).any(|(at, _)| {
        edge(haystack[..at].chars().next_back())
            && edge(haystack[at + needle.len()..].chars().next())
    })
}

async fn full_run(format: &str, algorithm: &str) {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = provider(&[
        ("CASTELLAN_SMTP__URL", &smtp),
        ("CASTELLAN_LOG__FORMAT", format),
        ("CASTELLAN_LOG__LEVEL", "info,castellan=debug"),
        ("CASTELLAN_TOKENS__ALGORITHM", algorithm),
        ("CASTELLAN_TOKENS__SECRET", TOKENS_SECRET),
    ])
    .await;
    let mut run = Run {
        app,
        secrets: Vec::new(),
        request_ids: Vec::new(),
    };
    run.secret("tokens.secret", TOKENS_SECRET);
    run.secret("password", PASSWORD);

    // Register, verify the address from the mail, log in, refresh, read the profile.
    let user = "logan";
    let email = "logan@example.com";
    let registered = run
        .post(
            "/auth/register",
            json!({"username": user, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let verification = sink.wait_for(email, 1).await.token();
    run.token("verification token", &verification);
    let verified = run
        .post("/auth/email/verify", json!({"token": verification}))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    let login = run.login(user, PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let refreshed = run
        .post(
            "/auth/token/refresh",
            json!({"refresh_token": login.str("refresh_token")}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    run.token("rotated access token", &refreshed.str("access_token"));
    run.token("rotated refresh token", &refreshed.str("refresh_token"));
    let access = refreshed.str("access_token");
    assert_eq!(
        run.call(Method::GET, "/auth/me", &access, None)
            .await
            .status,
        StatusCode::OK
    );

    // API key: created, then used.
    let created = run
        .call(
            Method::POST,
            "/auth/api-keys",
            &access,
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let key = created.str("key");
    run.token("API key", &key);
    let by_key = run
        .send(
            run.app
                .client
                .get(run.app.url("/auth/me"))
                .header("x-api-key", &key),
        )
        .await;
    assert_eq!(by_key.status, StatusCode::OK, "{}", by_key.text);

    // MFA: enrol, then a login that needs the TOTP step.
    let setup = run
        .call(Method::POST, "/auth/mfa/totp/setup", &access, None)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text);
    let totp_secret = setup.str("secret");
    run.secret("TOTP secret", &totp_secret);
    let code = totp_code(&totp_secret, run.app.now().await);
    run.secret("TOTP code", &code);
    let confirmed = run
        .call(
            Method::POST,
            "/auth/mfa/totp/confirm",
            &access,
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    for recovery in confirmed.body["recovery_codes"].as_array().expect("codes") {
        run.secret("recovery code", recovery.as_str().unwrap());
    }
    run.app.advance_clock(30).await;
    let step = run.login(user, PASSWORD).await;
    step.assert_error(401, "MFA_REQUIRED");
    let mfa_token = step.body["error"]["details"]["mfa_token"]
        .as_str()
        .expect("mfa_token")
        .to_owned();
    run.token("mfa_token", &mfa_token);
    let code = totp_code(&totp_secret, run.app.now().await);
    run.secret("second TOTP code", &code);
    let second = run
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    run.token("MFA access token", &second.str("access_token"));
    run.token("MFA refresh token", &second.str("refresh_token"));

    // Password reset by mail, then a login with the new password (and its TOTP step).
    let forgot = run
        .post("/auth/password/forgot", json!({"email": email}))
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED, "{}", forgot.text);
    let reset_token = sink.wait_for(email, 2).await.token();
    run.token("reset token", &reset_token);
    let new_password = "log-secrecy-new-passphrase";
    run.secret("new password", new_password);
    let reset = run
        .post(
            "/auth/password/reset",
            json!({"token": reset_token, "new_password": new_password}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    run.login(user, new_password)
        .await
        .assert_error(401, "MFA_REQUIRED");

    // A wrong password is logged as a failure, never as the password itself.
    let wrong = "log-secrecy-wrong-password";
    run.secret("wrong password", wrong);
    run.login(user, wrong)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // OAuth client credentials with a client secret.
    let client = add_client(
        &run.app,
        &[
            "svc",
            "--redirect-uri",
            REDIRECT,
            "--grant-type",
            "client_credentials",
        ],
    )
    .await;
    let client_secret = client["client_secret"]
        .as_str()
        .expect("client secret")
        .to_owned();
    run.secret("client secret", &client_secret);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_secret", client_secret.as_str()),
    ];
    let granted = run
        .send(run.app.client.post(run.app.url("/oauth/token")).form(&form))
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);
    run.token(
        "client-credentials access token",
        &granted.str("access_token"),
    );

    // Cookie mode: a browser login, then a refresh with cookies and the CSRF token.
    run.app.register("cookie_logan").await;
    let cookie_login = run
        .send(
            run.app
                .client
                .post(run.app.url("/auth/token"))
                .header("x-auth-mode", "cookie")
                .json(&json!({"username": "cookie_logan", "password": PASSWORD})),
        )
        .await;
    assert_eq!(cookie_login.status, StatusCode::OK, "{}", cookie_login.text);
    let mut jar = Vec::new();
    for set in cookie_login.headers.get_all("set-cookie") {
        let set = set.to_str().unwrap();
        let (pair, _) = set.split_once(';').unwrap_or((set, ""));
        let (name, value) = pair.split_once('=').unwrap();
        run.token(&format!("cookie {name}"), value);
        jar.push((name.to_owned(), value.to_owned()));
    }
    let csrf = jar
        .iter()
        .find(|(n, _)| n.ends_with("csrf"))
        .map(|(_, v)| v.clone())
        .expect("CSRF cookie");
    let cookie_header = jar
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let cookie_refresh = run
        .send(
            run.app
                .client
                .post(run.app.url("/auth/token/refresh"))
                .header("cookie", &cookie_header)
                .header("x-csrf-token", &csrf),
        )
        .await;
    assert_eq!(
        cookie_refresh.status,
        StatusCode::OK,
        "{}",
        cookie_refresh.text
    );
    for set in cookie_refresh.headers.get_all("set-cookie") {
        let set = set.to_str().unwrap();
        let pair = set.split(';').next().unwrap_or_default();
        if let Some((name, value)) = pair.split_once('=').filter(|(_, v)| !v.is_empty()) {
            run.token(&format!("rotated cookie {name}"), value);
        }
    }

    // Stop the server so that every line is written, then read all of it.
    let Run {
        mut app,
        secrets,
        request_ids,
    } = run;
    assert!(app.terminate().await, "{}", app.logs());
    app.wait_for_log("stopped").await;
    let logs = plain(&app.logs());
    assert!(logs.lines().count() > request_ids.len(), "{logs}");
    for (what, value) in &secrets {
        let leaked = if value.len() < 16 {
            contains_word(&logs, value)
        } else {
            logs.contains(value.as_str())
        };
        assert!(
            !leaked,
            "the {what} ({value}) is in the {format} log:\n{logs}"
        );
    }
    for id in &request_ids {
        let lines = request_lines(&logs, format, id);
        assert_eq!(lines.len(), 1, "request {id}: {lines:?}\n{logs}");
    }
}

/// The lines that finish request `id`: the id, a route, a status and a latency.
fn request_lines<'a>(logs: &'a str, format: &str, id: &str) -> Vec<&'a str> {
    logs.lines()
        .filter(|line| match format {
            "json" => serde_json::from_str::<Value>(line).is_ok_and(|v| {
                let f = &v["fields"];
                f["request_id"] == id
                    && f["route"].as_str().is_some_and(|r| r.starts_with('/'))
                    && f["status"]
                        .as_u64()
                        .is_some_and(|s| (100..600).contains(&s))
                    && f["latency_ms"].as_f64().is_some_and(|l| l >= 0.0)
            }),
            _ => {
                line.contains(&format!("request_id={id}"))
                    && line.contains("route=/")
                    && line.contains(" status=")
                    && line.contains(" latency_ms=")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_run_logs_no_secret_in_text_format() {
    full_run("text", "HS256").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_run_logs_no_secret_in_json_format() {
    full_run("json", "EdDSA").await;
}

/// Without SMTP the mail goes to the log, showing its link but not the link's token.
#[tokio::test(flavor = "multi_thread")]
async fn the_development_mail_log_masks_link_tokens() {
    let app = TestServer::start_with(&[("CASTELLAN_LOG__LEVEL", "info,castellan=debug")]).await;
    app.register("devon").await;
    let forgot = app
        .post(
            "/auth/password/forgot",
            json!({"email": "devon@example.com"}),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED);
    for _ in 0..300 {
        if app.logs().matches("mail (no smtp.url configured)").count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let logs = plain(&app.logs());
    let mails: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("mail (no smtp.url configured)"))
        .collect();
    assert_eq!(mails.len(), 2, "{logs}");
    for mail in mails {
        assert!(
            mail.contains("/verify-email?token=[masked")
                || mail.contains("/reset-password?token=[masked"),
            "{mail}"
        );
        // Every `token=` in the mail is masked.
        for (at, _) in mail.match_indices("token=") {
            assert!(mail[at..].starts_with("token=[masked"), "{mail}");
        }
    }
}
